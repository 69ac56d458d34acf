//! The per-tenant rate governor: Graph throttles each app+tenant on its
//! own (PROTOCOLS-2 §1: token buckets per app and tenant), so the client
//! paces each tenant on its own too.
//!
//! - **Pacing**: one token bucket per tenant (the `governor` crate's keyed
//!   GCRA limiter): a tenant's requests go out at most at [`Pace`]'s rate
//!   after a burst, whatever the other tenants do, so one tenant's sweep
//!   cannot use up another's turn. A `$batch` costs its sub-requests
//!   (Graph throttles each on its own).
//! - **Pausing**: a 429 (or 503) with a `Retry-After` pauses that tenant's
//!   requests, every one of them from any invocation in this process, until
//!   the wait is over; the other tenants' requests go on. A pause longer
//!   than the retry policy's cap is not waited out: the request fails as
//!   throttled at once (for the queue to retry later), as the send loop
//!   does with such a `Retry-After`.
//!
//! The pause uses tokio's clock; the buckets the crate's own.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::GraphError;
use crate::ids::TenantId;

/// Buckets kept before idle ones are dropped (a bucket at rest is the same
/// as a fresh one, so dropping it changes nothing).
const MAX_BUCKETS: usize = 10_000;

/// How fast one tenant's requests may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests that may go at once after a quiet spell (at least a full
    /// `$batch`, twenty).
    pub burst: NonZeroU32,
}

impl Pace {
    /// Well under Graph's own limits per app and tenant (30 requests a
    /// second for most Teams reads, thousands of resource units per ten
    /// seconds for the directory), so a tenant's sweep rarely meets a 429
    /// and leaves room for its interactive requests.
    pub const DEFAULT: Pace = Pace {
        per_second: NonZeroU32::new(25).expect("not zero"),
        burst: NonZeroU32::new(50).expect("not zero"),
    };
}

impl Default for Pace {
    fn default() -> Self {
        Pace::DEFAULT
    }
}

pub(super) struct Governor {
    buckets: DefaultKeyedRateLimiter<TenantId>,
    burst: NonZeroU32,
    /// Tenants paused by a `Retry-After`, until when.
    paused: Mutex<HashMap<TenantId, Instant>>,
}

impl Governor {
    pub(super) fn new(pace: Pace) -> Governor {
        let quota = Quota::per_second(pace.per_second).allow_burst(pace.burst);
        Governor {
            buckets: RateLimiter::dashmap(quota),
            burst: pace.burst,
            paused: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for `tenant`'s turn to send `cost` requests: its pause, if
    /// any, then its bucket. A pause longer than `cap` fails at once.
    pub(super) async fn ready(
        &self,
        tenant: &TenantId,
        cost: u32,
        cap: Duration,
    ) -> Result<(), GraphError> {
        self.wait_pause(tenant, cap).await?;
        if self.buckets.len() > MAX_BUCKETS {
            self.buckets.retain_recent();
        }
        let cost = NonZeroU32::new(cost.min(self.burst.get()))
            .unwrap_or(NonZeroU32::MIN)
            .min(self.burst);
        self.buckets
            .until_key_n_ready(tenant, cost)
            .await
            .map_err(|e| GraphError::Invalid(format!("a request over the tenant's burst: {e}")))?;
        // A 429 may have paused the tenant while this request waited.
        self.wait_pause(tenant, cap).await
    }

    /// `tenant`'s requests wait `wait` from now (a longer pause already
    /// set stays).
    pub(super) fn pause(&self, tenant: &TenantId, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let until = Instant::now() + wait;
        let mut paused = self.lock();
        if paused.len() > MAX_BUCKETS {
            let now = Instant::now();
            paused.retain(|_, u| *u > now);
        }
        let at = paused.entry(tenant.clone()).or_insert(until);
        *at = (*at).max(until);
    }

    /// Until when `tenant` is paused; `None` when it is not (any more).
    pub(super) fn paused_until(&self, tenant: &TenantId) -> Option<Instant> {
        let mut paused = self.lock();
        match paused.get(tenant) {
            Some(until) if *until > Instant::now() => Some(*until),
            Some(_) => {
                paused.remove(tenant);
                None
            }
            None => None,
        }
    }

    async fn wait_pause(&self, tenant: &TenantId, cap: Duration) -> Result<(), GraphError> {
        // A pause can be lengthened while it is waited out: look again.
        for _ in 0..100 {
            let Some(until) = self.paused_until(tenant) else {
                return Ok(());
            };
            if until.saturating_duration_since(Instant::now()) > cap {
                tracing::warn!(%tenant, "Graph paused this tenant past the wait cap; giving up");
                return Err(GraphError::Throttled {
                    status: 429,
                    attempts: 0,
                });
            }
            tokio::time::sleep_until(until).await;
        }
        Err(GraphError::Throttled {
            status: 429,
            attempts: 0,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Instant>> {
        self.paused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::FutureExt;

    use super::*;

    fn pace(per_second: u32, burst: u32) -> Pace {
        Pace {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_pause_holds_its_tenant_only_until_it_ends() {
        let governor = Arc::new(Governor::new(pace(1000, 100)));
        let (a, b) = (TenantId::system("a"), TenantId::system("b"));
        let cap = Duration::from_secs(60);
        governor.pause(&a, Duration::from_millis(300));
        let waiting = {
            let (governor, a) = (governor.clone(), a.clone());
            tokio::spawn(async move { governor.ready(&a, 1, cap).await })
        };
        // B goes at once; A is held.
        assert!(governor.ready(&b, 1, cap).now_or_never().is_some());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert!(governor.paused_until(&a).is_some());
        waiting.await.unwrap().unwrap();
        assert!(governor.paused_until(&a).is_none(), "the pause ended");
    }

    #[tokio::test]
    async fn a_shorter_pause_does_not_cut_a_longer_one_and_a_pause_past_the_cap_fails_at_once() {
        let governor = Governor::new(pace(1000, 100));
        let a = TenantId::system("a");
        governor.pause(&a, Duration::from_secs(30));
        governor.pause(&a, Duration::from_secs(1));
        let until = governor.paused_until(&a).unwrap();
        assert!(until >= Instant::now() + Duration::from_secs(29));
        let failed = governor
            .ready(&a, 1, Duration::from_secs(10))
            .now_or_never()
            .expect("no wait");
        assert!(matches!(failed, Err(GraphError::Throttled { .. })));
    }

    #[tokio::test]
    async fn each_tenant_has_its_own_bucket() {
        // One request a second, a burst of two: A spends its burst; B's
        // bucket is untouched.
        let governor = Governor::new(pace(1, 2));
        let (a, b) = (TenantId::system("a"), TenantId::system("b"));
        let cap = Duration::from_secs(60);
        governor.ready(&a, 2, cap).await.unwrap();
        assert!(
            governor.ready(&a, 1, cap).now_or_never().is_none(),
            "A waits for its bucket"
        );
        assert!(governor.ready(&b, 2, cap).now_or_never().is_some());
        assert!(governor.ready(&b, 1, cap).now_or_never().is_none());
        // A batch larger than the burst costs the burst, not an error.
        let c = TenantId::system("c");
        assert!(governor.ready(&c, 20, cap).now_or_never().is_some());
    }
}
