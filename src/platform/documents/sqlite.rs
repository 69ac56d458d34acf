//! The embedded main store: one SQLite file that behaves like the Cosmos DB
//! containers it stands in for, so `handler local` and the tests exercise the
//! same contract as production.
//!
//! One table keyed by (container, tenant, id) holds each document's stored
//! JSON, its ETag and its expiry. Cosmos semantics are kept where callers can
//! see them: ETags are fresh quoted strings on every write, a `ttl` makes a
//! document invisible once the injected clock passes it (rows are purged
//! lazily), and query filters compare JSON values by type as well as value
//! (`true` never equals `1`, a missing field never equals `null`).
//!
//! rusqlite is blocking, so every call runs on `spawn_blocking` with the one
//! connection behind a mutex: the app's write rate is far below what a single
//! SQLite connection serves, and one connection keeps writes serialised.

use crate::platform::sqlite_cached::{Cached, STATEMENT_CACHE};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

mod sql;

use super::{Container, Document, Documents, ETag, Page, Query, Scope, check_id};
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::{PlatformError, PlatformResult};
use sql::{Row, SCHEMA, VISIBLE, is_visible, read_document, run_page, sql_error};

const SERVICE: &str = "sqlite documents";

/// How long a writer waits for a lock held by another process on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Expired rows are swept from the whole table at most this often (clock time).
const PURGE_INTERVAL_MS: i64 = 60_000;

struct State {
    conn: Connection,
    last_purge_ms: i64,
}

/// The SQLite implementation of [`Documents`].
#[derive(Clone)]
pub struct SqliteDocuments {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

impl SqliteDocuments {
    /// Opens (or creates) the database file, creating its parent folders.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> PlatformResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                PlatformError::unavailable(SERVICE, format!("creating {}: {e}", parent.display()))
            })?;
        }
        let conn = Connection::open(path).map_err(sql_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_error)?;
        Self::with_connection(conn, clock)
    }

    /// A private database that lives as long as this value (unit tests).
    pub fn in_memory(clock: Arc<dyn Clock>) -> PlatformResult<Self> {
        Self::with_connection(Connection::open_in_memory().map_err(sql_error)?, clock)
    }

    fn with_connection(conn: Connection, clock: Arc<dyn Clock>) -> PlatformResult<Self> {
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.execute_batch(SCHEMA).map_err(sql_error)?;
        Ok(SqliteDocuments {
            state: Arc::new(Mutex::new(State {
                conn,
                last_purge_ms: i64::MIN,
            })),
            clock,
        })
    }

    fn now_ms(&self) -> i64 {
        let nanos = self.clock.now().unix_timestamp_nanos() / 1_000_000;
        i64::try_from(nanos).unwrap_or(i64::MAX)
    }

    /// Runs `f` on the connection off the async threads, sweeping expired
    /// rows first when the last sweep is old enough.
    async fn run<T, F>(&self, f: F) -> PlatformResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, i64) -> PlatformResult<T> + Send + 'static,
    {
        let state = Arc::clone(&self.state);
        let now = self.now_ms();
        tokio::task::spawn_blocking(move || {
            let mut state = state
                .lock()
                .map_err(|_| PlatformError::backend(SERVICE, "connection lock poisoned"))?;
            if now.saturating_sub(state.last_purge_ms) >= PURGE_INTERVAL_MS {
                let purged = state
                    .conn
                    .exec_cached(
                        "DELETE FROM documents WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                        params![now],
                    )
                    .map_err(sql_error)?;
                if purged > 0 {
                    tracing::debug!(purged, "purged expired documents");
                }
                state.last_purge_ms = now;
            }
            f(&mut state.conn, now)
        })
        .await
        .map_err(|e| PlatformError::backend(SERVICE, format!("blocking task failed: {e}")))?
    }

    /// Inserts a row after purging an expired one with the same key;
    /// `on_conflict` decides what a live duplicate does.
    async fn insert(
        &self,
        container: Container,
        doc: &Document,
        on_conflict: &'static str,
    ) -> PlatformResult<Document> {
        let row = Row::new(container, doc)?;
        let doc = doc.clone();
        self.run(move |conn, now| {
            let tx = conn.transaction().map_err(sql_error)?;
            row.purge_expired(&tx, now)?;
            let sql = format!(
                "INSERT INTO documents (container, tenant_id, id, kind, body, etag, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) {on_conflict}"
            );
            tx.exec_cached(
                &sql,
                params![
                    row.container,
                    row.tenant_id,
                    row.id,
                    row.kind,
                    row.body,
                    row.etag,
                    row.expires_at(now)
                ],
            )
            .map_err(sql_error)?;
            tx.commit().map_err(sql_error)?;
            Ok(row.written(&doc))
        })
        .await
    }
}

#[async_trait]
impl Documents for SqliteDocuments {
    async fn ensure(&self) -> PlatformResult<()> {
        self.run(|conn, _| conn.execute_batch(SCHEMA).map_err(sql_error))
            .await
    }

    async fn get(
        &self,
        container: Container,
        tenant: &TenantId,
        id: &str,
    ) -> PlatformResult<Option<Document>> {
        check_id(id)?;
        let (tenant, id) = (tenant.as_str().to_owned(), id.to_owned());
        self.run(move |conn, now| {
            let sql = format!(
                "SELECT body, etag FROM documents
                 WHERE container = :container AND tenant_id = :tenant AND id = :id AND {VISIBLE}"
            );
            let found = conn
                .query_row_cached(
                    &sql,
                    rusqlite::named_params! {
                        ":container": container.name(), ":tenant": tenant, ":id": id, ":now": now,
                    },
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )
                .optional()
                .map_err(sql_error)?;
            found
                .map(|(body, etag)| read_document(body, etag))
                .transpose()
        })
        .await
    }

    async fn create(&self, container: Container, doc: &Document) -> PlatformResult<Document> {
        // A live duplicate violates the primary key: `sql_error` makes that `Conflict`.
        self.insert(container, doc, "").await
    }

    async fn replace(
        &self,
        container: Container,
        doc: &Document,
        if_match: &ETag,
    ) -> PlatformResult<Document> {
        let row = Row::new(container, doc)?;
        let (doc, expected) = (doc.clone(), if_match.0.clone());
        self.run(move |conn, now| {
            let sql = format!(
                "UPDATE documents SET kind = :kind, body = :body, etag = :etag,
                 expires_at = :expires_at
                 WHERE container = :container AND tenant_id = :tenant AND id = :id
                 AND etag = :expected AND {VISIBLE}"
            );
            let changed = conn
                .exec_cached(
                    &sql,
                    rusqlite::named_params! {
                        ":kind": row.kind, ":body": row.body, ":etag": row.etag,
                        ":expires_at": row.expires_at(now), ":container": row.container,
                        ":tenant": row.tenant_id, ":id": row.id, ":expected": expected,
                        ":now": now,
                    },
                )
                .map_err(sql_error)?;
            if changed == 1 {
                return Ok(row.written(&doc));
            }
            Err(
                if is_visible(conn, row.container, &row.tenant_id, &row.id, now)? {
                    PlatformError::PreconditionFailed
                } else {
                    PlatformError::NotFound
                },
            )
        })
        .await
    }

    async fn upsert(&self, container: Container, doc: &Document) -> PlatformResult<Document> {
        self.insert(
            container,
            doc,
            "ON CONFLICT (container, tenant_id, id) DO UPDATE SET
             kind = excluded.kind, body = excluded.body, etag = excluded.etag,
             expires_at = excluded.expires_at",
        )
        .await
    }

    async fn delete(
        &self,
        container: Container,
        tenant: &TenantId,
        id: &str,
    ) -> PlatformResult<bool> {
        check_id(id)?;
        let (tenant, id) = (tenant.as_str().to_owned(), id.to_owned());
        self.run(move |conn, now| {
            let visible = is_visible(conn, container.name(), &tenant, &id, now)?;
            // An expired row goes too, but it was already gone to readers.
            conn.exec_cached(
                "DELETE FROM documents WHERE container = ?1 AND tenant_id = ?2 AND id = ?3",
                params![container.name(), tenant, id],
            )
            .map_err(sql_error)?;
            Ok(visible)
        })
        .await
    }

    async fn query_page(
        &self,
        container: Container,
        scope: Scope<'_>,
        query: &Query,
        continuation: Option<&str>,
    ) -> PlatformResult<Page> {
        if !query.should_run()? {
            return Ok(Page::default());
        }
        let tenant = scope.tenant().map(|t| t.as_str().to_owned());
        let (query, continuation) = (query.clone(), continuation.map(str::to_owned));
        self.run(move |conn, now| {
            run_page(
                conn,
                now,
                container.name(),
                tenant,
                &query,
                continuation.as_deref(),
            )
        })
        .await
    }

    async fn ping(&self) -> PlatformResult<()> {
        self.run(|conn, _| {
            conn.query_row_cached("SELECT 1", [], |_| Ok(()))
                .map_err(sql_error)
        })
        .await
    }
}
