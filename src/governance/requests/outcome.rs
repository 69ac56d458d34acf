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
