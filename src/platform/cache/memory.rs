//! The in-process [`Cache`] that `handler local` uses when no `REDIS_URL` is
//! set: one map behind a mutex, with expiry read from the injected [`Clock`]
//! so tests can move time instead of sleeping.
//!
//! It is bounded: when a new key would exceed the entry limit, expired
//! entries go first, then the oldest writes. A cache may forget; callers
//! already treat a miss as "recompute".

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::Cache;
use crate::platform::clock::Clock;
use crate::platform::{PlatformError, PlatformResult};

/// Entries kept before the oldest are evicted.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

pub struct MemoryCache {
    clock: Arc<dyn Clock>,
    max_entries: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Write order (sequence number -> key), for evicting the oldest.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

struct Entry {
    value: Vec<u8>,
    expires_at: OffsetDateTime,
    seq: u64,
}

impl MemoryCache {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_max_entries(clock, DEFAULT_MAX_ENTRIES)
    }

    /// A cache that holds at most `max_entries` keys (at least one).
    pub fn with_max_entries(clock: Arc<dyn Clock>, max_entries: usize) -> Self {
        MemoryCache {
            clock,
            max_entries: max_entries.max(1),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated in
        // a way that matters for a cache, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expiry(&self, ttl: Duration) -> PlatformResult<OffsetDateTime> {
        if ttl.is_zero() {
            return Err(PlatformError::Invalid("cache ttl must be positive".into()));
        }
        let ttl = time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX);
        Ok(self
            .clock
            .now()
            .checked_add(ttl)
            .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc()))
    }
}

fn check_key(key: &str) -> PlatformResult<()> {
    if key.is_empty() {
        return Err(PlatformError::Invalid("cache key must not be empty".into()));
    }
    Ok(())
}

impl State {
    fn live(&mut self, key: &str, now: OffsetDateTime) -> Option<&Entry> {
        if self.entries.get(key).is_some_and(|e| e.expires_at <= now) {
            self.remove(key);
        }
        self.entries.get(key)
    }

    fn remove(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some(entry) => {
                self.order.remove(&entry.seq);
                true
            }
            None => false,
        }
    }

    fn insert(
        &mut self,
        key: &str,
        value: &[u8],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        max: usize,
    ) {
        self.remove(key);
        self.make_room(now, max);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key.to_owned());
        self.entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at,
                seq,
            },
        );
    }

    /// Frees a slot if the map is full: expired entries first, then the
    /// oldest writes.
    fn make_room(&mut self, now: OffsetDateTime, max: usize) {
        if self.entries.len() < max {
            return;
        }
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.remove(&key);
        }
        while self.entries.len() >= max {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> PlatformResult<Option<Vec<u8>>> {
        check_key(key)?;
        let now = self.clock.now();
        Ok(self.state().live(key, now).map(|e| e.value.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> PlatformResult<()> {
        check_key(key)?;
        let expires_at = self.expiry(ttl)?;
        let now = self.clock.now();
        self.state()
            .insert(key, value, expires_at, now, self.max_entries);
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> PlatformResult<bool> {
        check_key(key)?;
        let expires_at = self.expiry(ttl)?;
        let now = self.clock.now();
        let mut state = self.state();
        if state.live(key, now).is_some() {
            return Ok(false);
        }
        state.insert(key, value, expires_at, now, self.max_entries);
        Ok(true)
    }

    async fn delete(&self, key: &str) -> PlatformResult<bool> {
        check_key(key)?;
        let now = self.clock.now();
        let mut state = self.state();
        let was_live = state.live(key, now).is_some();
        state.remove(key);
        Ok(was_live)
    }

    async fn ping(&self) -> PlatformResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::clock::ManualClock;

    #[tokio::test]
    async fn a_full_cache_drops_expired_entries_before_live_ones() {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH));
        let cache = MemoryCache::with_max_entries(clock.clone(), 3);
        cache
            .set("short", b"1", Duration::from_secs(1))
            .await
            .unwrap();
        cache
            .set("long-a", b"2", Duration::from_secs(60))
            .await
            .unwrap();
        cache
            .set("long-b", b"3", Duration::from_secs(60))
            .await
            .unwrap();
        clock.advance(time::Duration::seconds(2));
        cache
            .set("new", b"4", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(cache.get("long-a").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(cache.get("long-b").await.unwrap(), Some(b"3".to_vec()));
        assert_eq!(cache.get("new").await.unwrap(), Some(b"4".to_vec()));
        assert_eq!(cache.state().entries.len(), 3);
    }

    #[tokio::test]
    async fn a_full_cache_of_live_entries_drops_the_oldest_write() {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH));
        let cache = MemoryCache::with_max_entries(clock, 2);
        let ttl = Duration::from_secs(60);
        cache.set("a", b"1", ttl).await.unwrap();
        cache.set("b", b"2", ttl).await.unwrap();
        // Rewriting "a" makes "b" the oldest write.
        cache.set("a", b"1bis", ttl).await.unwrap();
        cache.set("c", b"3", ttl).await.unwrap();
        assert_eq!(cache.get("b").await.unwrap(), None);
        assert_eq!(cache.get("a").await.unwrap(), Some(b"1bis".to_vec()));
        assert_eq!(cache.get("c").await.unwrap(), Some(b"3".to_vec()));
        let state = cache.state();
        assert_eq!(state.entries.len(), 2);
        assert_eq!(state.order.len(), 2);
    }

    #[tokio::test]
    async fn zero_ttl_and_empty_keys_are_rejected() {
        let cache = MemoryCache::new(Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH)));
        assert!(matches!(
            cache.set("k", b"v", Duration::ZERO).await,
            Err(PlatformError::Invalid(_))
        ));
        assert!(matches!(
            cache.get("").await,
            Err(PlatformError::Invalid(_))
        ));
    }
}
