//! Queues in a SQLite file: the embedded default for `handler local`.
//!
//! It copies Storage Queue semantics the local host relies on: a receive
//! leases a message for a visibility timeout (whole seconds, 1 s to 7 days),
//! increments its dequeue count and hands out a fresh pop receipt; delete
//! and release need the current receipt (a stale one gets `NotFound`);
//! messages expire 7 days after they were sent. Each change is one SQLite
//! transaction in a WAL-mode file, so queued work survives a restart.
//! `wait` wakes as soon as something is sent to the queue.

use crate::platform::sqlite_cached::{Cached, STATEMENT_CACHE};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::{
    QueueMessage, QueueName, Queues, validate_message_text, validate_receive_count, visibility_secs,
};
use crate::platform::clock::Clock;
use crate::platform::{PlatformError, PlatformResult};

const SERVICE: &str = "queues";
/// How long a message lives, as in Storage Queues by default.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
const TIME_TO_LIVE: time::Duration = time::Duration::days(7);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    text TEXT NOT NULL,
    pop_receipt TEXT,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    inserted_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible_ms);
";

fn db_error(err: rusqlite::Error) -> PlatformError {
    PlatformError::backend(SERVICE, err)
}

fn to_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub struct LocalQueues {
    db: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    wakers: Mutex<HashMap<QueueName, Arc<Notify>>>,
    /// When each queue's expired messages were last deleted.
    purged_at: Mutex<HashMap<QueueName, i64>>,
}

impl std::fmt::Debug for LocalQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalQueues").finish_non_exhaustive()
    }
}

impl LocalQueues {
    /// Opens (or creates) the queue database at `path`.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> PlatformResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| PlatformError::backend(SERVICE, e))?;
        }
        let db = Connection::open(path).map_err(db_error)?;
        db.busy_timeout(Duration::from_secs(5)).map_err(db_error)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error)?;
        // WAL + NORMAL: a committed message survives the process being
        // stopped or killed (what `handler local` needs); only a power loss
        // can drop the last commits, and it saves an fsync per message.
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_error)?;
        db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        db.execute_batch(SCHEMA).map_err(db_error)?;
        // Checkpoints (the only fsyncs in WAL + NORMAL) run on a thread of
        // their own, so no send waits behind one.
        db.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(db_error)?;
        let checkpointer = Connection::open(path).map_err(db_error)?;
        let db = Arc::new(Mutex::new(db));
        spawn_checkpointer(checkpointer, Arc::downgrade(&db));
        Ok(LocalQueues {
            db,
            clock,
            wakers: Mutex::new(HashMap::new()),
            purged_at: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `receive` should delete `queue`'s expired messages now. It
    /// does so at most every [`PURGE_EVERY_MS`]: the delete walks the whole
    /// queue, which under a backlog cost more than the rest of a receive.
    /// Expired messages are never handed out in between.
    fn purge_due(&self, queue: &QueueName) -> bool {
        let now = to_ms(self.clock.now());
        let mut purged = self.purged_at.lock().expect("purge map lock poisoned");
        let last = purged.entry(queue.clone()).or_insert(i64::MIN);
        if now.saturating_sub(*last) >= PURGE_EVERY_MS {
            *last = now;
            true
        } else {
            false
        }
    }

    fn waker(&self, queue: &QueueName) -> Arc<Notify> {
        let mut wakers = self.wakers.lock().expect("waker map lock poisoned");
        wakers.entry(queue.clone()).or_default().clone()
    }

    /// Runs `work` on the connection off the async threads, with "now".
    async fn with_db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, i64) -> PlatformResult<T> + Send + 'static,
    ) -> PlatformResult<T> {
        let db = self.db.clone();
        let now = to_ms(self.clock.now());
        tokio::task::spawn_blocking(move || {
            let mut db = db.lock().expect("queue database lock poisoned");
            work(&mut db, now)
        })
        .await
        .map_err(|e| PlatformError::backend(SERVICE, e))?
    }
}

/// Checkpoints the WAL into the database every second (PASSIVE: it never
/// blocks a writer) until the queues are dropped.
fn spawn_checkpointer(conn: Connection, alive: std::sync::Weak<Mutex<Connection>>) {
    let run = move || {
        while alive.strong_count() > 0 {
            std::thread::sleep(CHECKPOINT_EVERY);
            if let Err(e) = conn.query_row_cached("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            {
                tracing::warn!(error = %e, "local queues: WAL checkpoint failed; retried");
            }
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("queues-checkpoint".into())
        .spawn(run)
    {
        tracing::warn!(error = %e, "local queues: no checkpoint thread; the WAL grows until restart");
    }
}

fn require_queue(db: &Connection, queue: &str) -> PlatformResult<()> {
    let exists = db
        .query_row_cached("SELECT 1 FROM queues WHERE name = ?1", [queue], |_| Ok(()))
        .optional()
        .map_err(db_error)?;
    exists.ok_or(PlatformError::NotFound)
}

const PURGE_EVERY_MS: i64 = 60_000;

fn purge_expired(db: &Connection, queue: &str, now: i64) -> PlatformResult<()> {
    db.exec_cached(
        "DELETE FROM messages WHERE queue = ?1 AND expires_ms <= ?2",
        params![queue, now],
    )
    .map_err(db_error)?;
    Ok(())
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

#[async_trait]
impl Queues for LocalQueues {
    async fn ensure(&self, queue: &QueueName) -> PlatformResult<()> {
        let name = queue.as_str().to_owned();
        self.with_db(move |db, _| {
            db.exec_cached("INSERT OR IGNORE INTO queues (name) VALUES (?1)", [name])
                .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn send(
        &self,
        queue: &QueueName,
        text: &str,
        delay: Option<Duration>,
    ) -> PlatformResult<String> {
        validate_message_text(text)?;
        let delay_ms = secs_ms(visibility_secs(delay.unwrap_or_default(), 0)?);
        let name = queue.as_str().to_owned();
        let text = text.to_owned();
        let id = uuid::Uuid::new_v4().to_string();
        let ttl_ms = TIME_TO_LIVE.whole_milliseconds() as i64;
        let sent_id = id.clone();
        self.with_db(move |db, now| {
            require_queue(db, &name)?;
            db.exec_cached(
                "INSERT INTO messages (id, queue, text, inserted_ms, expires_ms, visible_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![sent_id, name, text, now, now + ttl_ms, now + delay_ms],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await?;
        let waker = self.waker(queue);
        // Wake every current waiter, and leave a permit for one that is
        // about to wait (a spurious wake-up is harmless).
        waker.notify_waiters();
        waker.notify_one();
        Ok(id)
    }

    async fn receive(
        &self,
        queue: &QueueName,
        max: u32,
        visibility: Duration,
    ) -> PlatformResult<Vec<QueueMessage>> {
        validate_receive_count(max)?;
        let lease_ms = secs_ms(visibility_secs(visibility, 1)?);
        let name = queue.as_str().to_owned();
        let purge = self.purge_due(queue);
        self.with_db(move |db, now| {
            let tx = db.transaction().map_err(db_error)?;
            require_queue(&tx, &name)?;
            if purge {
                purge_expired(&tx, &name, now)?;
            }
            let due: Vec<(i64, String, String, i64, i64, i64)> = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT seq, id, text, dequeue_count, inserted_ms, expires_ms
                         FROM messages WHERE queue = ?1 AND visible_ms <= ?2 AND expires_ms > ?2
                         ORDER BY visible_ms, seq LIMIT ?3",
                    )
                    .map_err(db_error)?;
                stmt.query_map(params![name, now, max], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                })
                .map_err(db_error)?
                .collect::<Result<_, _>>()
                .map_err(db_error)?
            };
            let mut leased = Vec::with_capacity(due.len());
            for (seq, id, text, dequeue_count, inserted, expires) in due {
                let receipt = uuid::Uuid::new_v4().to_string();
                let visible = now + lease_ms;
                tx.exec_cached(
                    "UPDATE messages SET pop_receipt = ?1, dequeue_count = dequeue_count + 1,
                     visible_ms = ?2 WHERE seq = ?3",
                    params![receipt, visible, seq],
                )
                .map_err(db_error)?;
                leased.push(QueueMessage {
                    id,
                    pop_receipt: receipt,
                    text,
                    dequeue_count: u32::try_from(dequeue_count + 1).unwrap_or(u32::MAX),
                    insertion_time: from_ms(inserted),
                    expiration_time: from_ms(expires),
                    next_visible_time: from_ms(visible),
                });
            }
            tx.commit().map_err(db_error)?;
            Ok(leased)
        })
        .await
    }

    async fn delete(&self, queue: &QueueName, id: &str, pop_receipt: &str) -> PlatformResult<()> {
        let (name, id, receipt) = (
            queue.as_str().to_owned(),
            id.to_owned(),
            pop_receipt.to_owned(),
        );
        self.with_db(move |db, _| {
            let deleted = db
                .exec_cached(
                    "DELETE FROM messages WHERE queue = ?1 AND id = ?2 AND pop_receipt = ?3",
                    params![name, id, receipt],
                )
                .map_err(db_error)?;
            if deleted == 0 {
                Err(PlatformError::NotFound)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn release(
        &self,
        queue: &QueueName,
        id: &str,
        pop_receipt: &str,
        visibility: Duration,
    ) -> PlatformResult<String> {
        let hidden_ms = secs_ms(visibility_secs(visibility, 0)?);
        let (name, id, receipt) = (
            queue.as_str().to_owned(),
            id.to_owned(),
            pop_receipt.to_owned(),
        );
        let fresh = uuid::Uuid::new_v4().to_string();
        let new_receipt = fresh.clone();
        self.with_db(move |db, now| {
            let updated = db
                .exec_cached(
                    "UPDATE messages SET pop_receipt = ?1, visible_ms = ?2
                     WHERE queue = ?3 AND id = ?4 AND pop_receipt = ?5 AND expires_ms > ?6",
                    params![fresh, now + hidden_ms, name, id, receipt, now],
                )
                .map_err(db_error)?;
            if updated == 0 {
                Err(PlatformError::NotFound)
            } else {
                Ok(())
            }
        })
        .await?;
        Ok(new_receipt)
    }

    async fn count(&self, queue: &QueueName) -> PlatformResult<u64> {
        let name = queue.as_str().to_owned();
        self.with_db(move |db, now| {
            require_queue(db, &name)?;
            purge_expired(db, &name, now)?;
            let count: i64 = db
                .query_row_cached(
                    "SELECT COUNT(*) FROM messages WHERE queue = ?1",
                    [&name],
                    |row| row.get(0),
                )
                .map_err(db_error)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn ping(&self) -> PlatformResult<()> {
        self.with_db(|db, _| {
            db.query_row_cached("SELECT 1", [], |_| Ok(()))
                .map_err(db_error)
        })
        .await
    }

    /// Wakes on a send to `queue`, or when its next hidden message becomes
    /// visible, whichever comes first, and at the latest after `max`.
    async fn wait(&self, queue: &QueueName, max: Duration) {
        let waker = self.waker(queue);
        let notified = waker.notified();
        tokio::pin!(notified);
        // Registered now, so a send during the query below still wakes us.
        notified.as_mut().enable();
        let name = queue.as_str().to_owned();
        let next_visible = self
            .with_db(move |db, now| {
                let next: Option<i64> = db
                    .query_row_cached(
                        "SELECT MIN(visible_ms) FROM messages WHERE queue = ?1 AND visible_ms > ?2",
                        params![name, now],
                        |row| row.get(0),
                    )
                    .map_err(db_error)?;
                Ok(next.map(|at| Duration::from_millis(u64::try_from(at - now).unwrap_or(0))))
            })
            .await
            .ok()
            .flatten();
        let limit = next_visible.map_or(max, |due| due.min(max));
        let _ = tokio::time::timeout(limit, notified).await;
    }
}
