//! The provisioning states of an approved request: `Approved ->
//! Provisioning -> (Provisioned | Failed)`. Each is idempotent for the job
//! that drives it (a resumed job may mark the same state again), and any
//! other transition is an error.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Provisioned, RequestError, RequestState, TeamRequest, audit, transition};
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::Documents;

const ACTOR: &str = "system:ProvisionTeam";

/// The job starts (or resumes) creating the team.
pub async fn mark_provisioning(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
) -> Result<TeamRequest, RequestError> {
    let changed = AtomicBool::new(false);
    let request = transition(docs, tenant, id, |r| match r.state {
        RequestState::Approved => {
            r.state = RequestState::Provisioning;
            changed.store(true, Ordering::Relaxed);
            Ok(())
        }
        RequestState::Provisioning => {
            changed.store(false, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(RequestError::AlreadyDecided(Box::new(r.clone()))),
    })
    .await?;
    if changed.load(Ordering::Relaxed) {
        audit(
            docs,
            tenant,
            clock.now(),
            ACTOR,
            "request.provisioning",
            &request,
            "",
        )
        .await?;
    }
    Ok(request)
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
    let now = clock.now();
    let changed = AtomicBool::new(false);
    let request = transition(docs, tenant, id, |r| match r.state {
        RequestState::Provisioning | RequestState::Approved => {
            changed.store(true, Ordering::Relaxed);
            r.state = RequestState::Provisioned;
            r.outcome = Some(Provisioned {
                group_id: Some(group_id.to_owned()),
                web_url: web_url.clone(),
                reason: None,
                at: now,
            });
            Ok(())
        }
        RequestState::Provisioned => {
            changed.store(false, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(RequestError::AlreadyDecided(Box::new(r.clone()))),
    })
    .await?;
    if changed.load(Ordering::Relaxed) {
        audit(
            docs,
            tenant,
            now,
            ACTOR,
            "request.provisioned",
            &request,
            group_id,
        )
        .await?;
    }
    Ok(request)
}

/// Provisioning gave up; `reason` is for the requester and the admins.
/// The group, when one was made, is named so that the team can be found.
pub async fn mark_failed(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    reason: &str,
    group_id: Option<&str>,
) -> Result<TeamRequest, RequestError> {
    let now = clock.now();
    let changed = AtomicBool::new(false);
    let request = transition(docs, tenant, id, |r| match r.state {
        RequestState::Approved | RequestState::Provisioning => {
            changed.store(true, Ordering::Relaxed);
            r.state = RequestState::Failed;
            r.outcome = Some(Provisioned {
                group_id: group_id.map(str::to_owned),
                web_url: None,
                reason: Some(reason.to_owned()),
                at: now,
            });
            Ok(())
        }
        RequestState::Failed => {
            changed.store(false, Ordering::Relaxed);
            Ok(())
        }
        _ => Err(RequestError::AlreadyDecided(Box::new(r.clone()))),
    })
    .await?;
    if changed.load(Ordering::Relaxed) {
        audit(docs, tenant, now, ACTOR, "request.failed", &request, reason).await?;
    }
    Ok(request)
}
