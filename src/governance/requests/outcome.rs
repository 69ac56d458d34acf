//! The provisioning states of an approved request: `Approved ->
//! Provisioning -> (Provisioned | Failed)`. Each is idempotent for the job
//! that drives it (a resumed job may mark the same state again, and only
//! the first time is audited), and any other transition is an error.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Provisioned, RequestError, RequestState, TeamRequest, audit, transition};
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::Documents;

const ACTOR: &str = "system:ProvisionTeam";

/// One provisioning transition, described whole.
struct Move<'a> {
    from: &'a [RequestState],
    to: RequestState,
    outcome: Option<Provisioned>,
    /// The audit action and its reason.
    action: &'a str,
    why: &'a str,
}

impl Move<'_> {
    /// Moves request `id` to `to` from any of `from` (setting `outcome`),
    /// or leaves it when it is already there; audits when it moved.
    async fn apply(
        self,
        docs: &dyn Documents,
        clock: &dyn Clock,
        tenant: &TenantId,
        id: &str,
    ) -> Result<TeamRequest, RequestError> {
        let moved = AtomicBool::new(false);
        let request = transition(docs, tenant, id, |r| {
            moved.store(false, Ordering::Relaxed);
            if r.state == self.to {
                return Ok(());
            }
            if !self.from.contains(&r.state) {
                return Err(RequestError::AlreadyDecided(Box::new(r.clone())));
            }
            r.state = self.to;
            if self.outcome.is_some() {
                r.outcome = self.outcome.clone();
            }
            moved.store(true, Ordering::Relaxed);
            Ok(())
        })
        .await?;
        if moved.load(Ordering::Relaxed) {
            let now = clock.now();
            audit(docs, tenant, now, ACTOR, self.action, &request, self.why).await?;
        }
        Ok(request)
    }
}

/// The job starts (or resumes) creating the team.
pub async fn mark_provisioning(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
) -> Result<TeamRequest, RequestError> {
    Move {
        from: &[RequestState::Approved],
        to: RequestState::Provisioning,
        outcome: None,
        action: "request.provisioning",
        why: "",
    }
    .apply(docs, clock, tenant, id)
    .await
}

/// The team exists and every step is done.
pub async fn mark_provisioned(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    group_id: &str,
    web_url: Option<String>,
) -> Result<TeamRequest, RequestError> {
    Move {
        from: &[RequestState::Approved, RequestState::Provisioning],
        to: RequestState::Provisioned,
        outcome: Some(Provisioned {
            group_id: Some(group_id.to_owned()),
            web_url,
            reason: None,
            at: clock.now(),
        }),
        action: "request.provisioned",
        why: group_id,
    }
    .apply(docs, clock, tenant, id)
    .await
}

/// Provisioning gave up; `reason` is for the requester and the admins.
pub async fn mark_failed(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    reason: &str,
    group_id: Option<&str>,
) -> Result<TeamRequest, RequestError> {
    Move {
        from: &[RequestState::Approved, RequestState::Provisioning],
        to: RequestState::Failed,
        outcome: Some(Provisioned {
            group_id: group_id.map(str::to_owned),
            web_url: None,
            reason: Some(reason.to_owned()),
            at: clock.now(),
        }),
        action: "request.failed",
        why: reason,
    }
    .apply(docs, clock, tenant, id)
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::governance::audit;
    use crate::governance::requests::{Container, get, sample_request, to_document};
    use crate::platform::clock::ManualClock;
    use crate::platform::documents::sqlite::SqliteDocuments;

    struct Store {
        docs: SqliteDocuments,
        clock: Arc<ManualClock>,
        tenant: TenantId,
        _dir: tempfile::TempDir,
    }

    async fn store_with(state: RequestState) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(
            time::macros::datetime!(2026-11-25 12:00 UTC),
        ));
        let docs = SqliteDocuments::open(&dir.path().join("d.sqlite"), clock.clone()).unwrap();
        docs.ensure().await.unwrap();
        let tenant = TenantId::parse("3f1c2b7a-9d4e-4c5b-8a6f-0e1d2c3b4a59").unwrap();
        let doc = to_document(&tenant, &sample_request(state)).unwrap();
        docs.create(Container::Requests, &doc).await.unwrap();
        Store {
            docs,
            clock,
            tenant,
            _dir: dir,
        }
    }

    impl Store {
        async fn state(&self) -> RequestState {
            get(&self.docs, &self.tenant, "req-1").await.unwrap().state
        }

        async fn audited(&self) -> Vec<String> {
            audit::trail(&self.docs, &self.tenant)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .collect()
        }
    }

    #[tokio::test]
    async fn provisioning_states_follow_each_other_once_each_and_nothing_else() {
        let s = store_with(RequestState::Approved).await;
        let (docs, clock, t) = (&s.docs, s.clock.as_ref(), &s.tenant);
        mark_provisioning(docs, clock, t, "req-1").await.unwrap();
        mark_provisioning(docs, clock, t, "req-1").await.unwrap();
        assert_eq!(s.state().await, RequestState::Provisioning);
        // The trail is in time order; the clock moves as a job takes time.
        s.clock.advance(time::Duration::seconds(30));
        let done = mark_provisioned(docs, clock, t, "req-1", "g-1", None)
            .await
            .unwrap();
        assert_eq!(done.outcome.unwrap().group_id.as_deref(), Some("g-1"));
        mark_provisioned(docs, clock, t, "req-1", "g-1", None)
            .await
            .unwrap();
        assert_eq!(
            s.audited().await,
            ["request.provisioning", "request.provisioned"],
            "each state audited once, however often a resumed job marks it"
        );
        for wrong in [
            mark_failed(docs, clock, t, "req-1", "late", None).await,
            mark_provisioning(docs, clock, t, "req-1").await,
        ] {
            assert!(
                matches!(wrong, Err(RequestError::AlreadyDecided(_))),
                "{wrong:?}"
            );
        }
        assert_eq!(s.state().await, RequestState::Provisioned);
    }

    #[tokio::test]
    async fn a_request_not_approved_cannot_be_provisioned_or_failed() {
        for state in [
            RequestState::Draft,
            RequestState::Submitted,
            RequestState::Rejected,
            RequestState::Cancelled,
        ] {
            let s = store_with(state).await;
            let (docs, clock, t) = (&s.docs, s.clock.as_ref(), &s.tenant);
            for wrong in [
                mark_provisioning(docs, clock, t, "req-1").await,
                mark_provisioned(docs, clock, t, "req-1", "g", None).await,
                mark_failed(docs, clock, t, "req-1", "why", None).await,
            ] {
                assert!(
                    matches!(wrong, Err(RequestError::AlreadyDecided(_))),
                    "{state:?}: {wrong:?}"
                );
            }
            assert_eq!(s.state().await, state, "unchanged");
            assert!(s.audited().await.is_empty());
        }
        let s = store_with(RequestState::Approved).await;
        let missing = mark_provisioning(&s.docs, s.clock.as_ref(), &s.tenant, "req-2").await;
        assert!(
            matches!(missing, Err(RequestError::NotFound)),
            "{missing:?}"
        );
    }
}
