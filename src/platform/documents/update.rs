//! The one optimistic-concurrency loop: read a document, let the caller
//! decide what it becomes, write it back under the ETag it was read with
//! (or create it when there was none), and on a lost race decide again
//! against the version that won.
//!
//! Every read-change-write in the app goes through [`update`], so there is
//! one rule for everyone: a conflict (`PreconditionFailed` on replace,
//! `Conflict` on a create that raced, `NotFound` when the document was
//! deleted in between) is retried at most [`MAX_ATTEMPTS`] times, with a
//! short jittered pause so that writers that collided do not collide again;
//! after that the store is reported unavailable (a transient error, so a
//! queue message is retried later rather than failed for good).

use std::time::Duration;

use rand::Rng;

use super::{Container, Document, Documents};
use crate::ids::TenantId;
use crate::platform::PlatformError;

/// Attempts per update, the first included.
pub const MAX_ATTEMPTS: u32 = 8;
/// The pause before attempt `n` is uniform in `[0, n * CONFLICT_PAUSE]`.
const CONFLICT_PAUSE: Duration = Duration::from_millis(5);

/// What the caller's decision does with the document it was shown.
pub enum Decision {
    /// Write this document (its id and partition must be the ones read).
    Write(Document),
    /// Nothing to write: the current version already says what it should.
    Keep,
}

/// Reads `id` in `tenant`'s partition of `container`, hands it (or `None`)
/// to `decide`, and writes what it returns: a replace under the read ETag,
/// or a create when nothing was there. `decide` runs again on every lost
/// race, against the newer version, so it must not have side effects
/// beyond what it returns (callers keep what they need to report in
/// variables it captures, overwritten on each run). Returns the written
/// document (with its new ETag), or `None` when `decide` kept it as it was.
pub async fn update<E>(
    docs: &dyn Documents,
    container: Container,
    tenant: &TenantId,
    id: &str,
    mut decide: impl FnMut(Option<&Document>) -> Result<Decision, E>,
) -> Result<Option<Document>, E>
where
    E: From<PlatformError>,
{
    for attempt in 1..=MAX_ATTEMPTS {
        if attempt > 1 {
            let ceiling = CONFLICT_PAUSE.as_micros() as u64 * u64::from(attempt - 1);
            let pause = rand::thread_rng().gen_range(0..=ceiling);
            tokio::time::sleep(Duration::from_micros(pause)).await;
        }
        let current = docs.get(container, tenant, id).await?;
        let next = match decide(current.as_ref())? {
            Decision::Keep => return Ok(None),
            Decision::Write(next) => next,
        };
        if next.id != id || &next.tenant_id != tenant {
            return Err(PlatformError::Invalid(format!(
                "an update of {id} may only write {id} in its own partition"
            ))
            .into());
        }
        let written = match current.as_ref().map(|d| d.etag.as_ref()) {
            Some(Some(etag)) => docs.replace(container, &next, etag).await,
            Some(None) => {
                return Err(PlatformError::backend(
                    "documents",
                    format!("{}/{id} was read without an ETag", container.name()),
                )
                .into());
            }
            None => docs.create(container, &next).await,
        };
        match written {
            Ok(doc) => return Ok(Some(doc)),
            Err(
                PlatformError::PreconditionFailed
                | PlatformError::Conflict
                | PlatformError::NotFound,
            ) => {
                tracing::debug!(container = container.name(), %tenant, id, attempt, "lost a write race; deciding again");
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(PlatformError::unavailable(
        "documents",
        format!(
            "{}/{id} kept changing under {MAX_ATTEMPTS} attempts to update it",
            container.name()
        ),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::platform::PlatformResult;
    use crate::platform::clock::SystemClock;
    use crate::platform::documents::sqlite::SqliteDocuments;

    fn store() -> SqliteDocuments {
        SqliteDocuments::in_memory(Arc::new(SystemClock)).unwrap()
    }

    fn counter(tenant: &TenantId, n: i64) -> Document {
        Document::new(tenant, "counter", "c", &json!({"n": n})).unwrap()
    }

    fn n(doc: Option<&Document>) -> i64 {
        doc.map_or(0, |d| d.body["n"].as_i64().unwrap())
    }

    #[tokio::test]
    async fn concurrent_increments_are_all_kept() {
        let docs = Arc::new(store());
        let tenant = TenantId::system("t");
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (docs, tenant) = (docs.clone(), tenant.clone());
                tokio::spawn(async move {
                    update::<PlatformError>(docs.as_ref(), Container::Jobs, &tenant, "c", |d| {
                        Ok(Decision::Write(counter(&tenant, n(d) + 1)))
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let doc = docs.get(Container::Jobs, &tenant, "c").await.unwrap();
        assert_eq!(n(doc.as_ref()), 6);
    }

    /// A store whose replace always loses the race.
    struct AlwaysStale(SqliteDocuments);

    #[async_trait::async_trait]
    impl Documents for AlwaysStale {
        async fn ensure(&self) -> PlatformResult<()> {
            self.0.ensure().await
        }
        async fn get(
            &self,
            c: Container,
            t: &TenantId,
            id: &str,
        ) -> PlatformResult<Option<Document>> {
            self.0.get(c, t, id).await
        }
        async fn create(&self, c: Container, d: &Document) -> PlatformResult<Document> {
            self.0.create(c, d).await
        }
        async fn replace(
            &self,
            _: Container,
            _: &Document,
            _: &super::super::ETag,
        ) -> PlatformResult<Document> {
            Err(PlatformError::PreconditionFailed)
        }
        async fn upsert(&self, c: Container, d: &Document) -> PlatformResult<Document> {
            self.0.upsert(c, d).await
        }
        async fn delete(&self, c: Container, t: &TenantId, id: &str) -> PlatformResult<bool> {
            self.0.delete(c, t, id).await
        }
        async fn query_page(
            &self,
            c: Container,
            scope: super::super::Scope<'_>,
            q: &super::super::Query,
            from: Option<&str>,
        ) -> PlatformResult<super::super::Page> {
            self.0.query_page(c, scope, q, from).await
        }
        async fn ping(&self) -> PlatformResult<()> {
            self.0.ping().await
        }
    }

    #[tokio::test]
    async fn a_document_that_keeps_changing_gives_up_as_unavailable_after_the_attempts() {
        let docs = AlwaysStale(store());
        let tenant = TenantId::system("t");
        docs.create(Container::Jobs, &counter(&tenant, 1))
            .await
            .unwrap();
        let mut decided = 0;
        let result = update::<PlatformError>(&docs, Container::Jobs, &tenant, "c", |d| {
            decided += 1;
            Ok(Decision::Write(counter(&tenant, n(d) + 1)))
        })
        .await;
        assert!(matches!(result, Err(PlatformError::Unavailable { .. })));
        assert_eq!(decided, MAX_ATTEMPTS);
    }

    #[tokio::test]
    async fn keep_writes_nothing_and_another_id_is_refused() {
        let docs = store();
        let tenant = TenantId::system("t");
        let kept =
            update::<PlatformError>(&docs, Container::Jobs, &tenant, "c", |_| Ok(Decision::Keep))
                .await
                .unwrap();
        assert!(kept.is_none());
        assert!(
            docs.get(Container::Jobs, &tenant, "c")
                .await
                .unwrap()
                .is_none()
        );
        let other = update::<PlatformError>(&docs, Container::Jobs, &tenant, "x", |_| {
            Ok(Decision::Write(counter(&tenant, 1)))
        })
        .await;
        assert!(matches!(other, Err(PlatformError::Invalid(_))));
    }
}
