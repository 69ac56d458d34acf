//! Lifecycle transitions applied to the teams we keep: the machine
//! ([`machine`](super::machine)) decides whether a team may move, the
//! team's record changes under its ETag, and the audit trail gets one entry
//! saying who or what moved it, when, under which policy version, and why.
//! A transition the machine does not allow is an error and changes nothing.

use serde_json::json;
use time::OffsetDateTime;

use super::machine::{self, Cause, IllegalTransition, LifecycleEvent, LifecycleState, Transition};
use crate::governance::audit::{self, AuditEntry};
use crate::governance::teams::{self, TeamRecord};
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{Container, Documents, check_id};

#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error("no such team")]
    NotFound,
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// Moves `team` (in memory) by `event`; the caller writes it and audits
/// the returned transition.
pub fn step(
    team: &mut TeamRecord,
    event: LifecycleEvent,
    at: OffsetDateTime,
    cause: Cause,
) -> Result<Transition, IllegalTransition> {
    let moved = machine::transition(team.lifecycle, event, at, cause)?;
    team.lifecycle = moved.to;
    team.lifecycle_since = Some(at);
    Ok(moved)
}

/// The audit entry of one transition of `team_id`.
pub fn audit_entry(team_id: &str, team_name: &str, moved: &Transition) -> AuditEntry {
    let policy = moved
        .cause
        .policy
        .map(|(kind, version)| json!({"kind": kind.name(), "version": version}));
    AuditEntry {
        at: moved.at,
        actor: moved.cause.actor.clone(),
        action: moved.event.audit_action().to_owned(),
        details: json!({
            "groupId": team_id,
            "displayName": team_name,
            "from": moved.from,
            "to": moved.to,
            "policy": policy,
            "reason": moved.cause.reason,
        }),
    }
}

/// Applies `events` in order to the kept team `team_id` (all or none),
/// writes it, and audits each transition. Returns the team as written.
pub async fn apply(
    docs: &dyn Documents,
    tenant: &TenantId,
    team_id: &str,
    events: &[LifecycleEvent],
    at: OffsetDateTime,
    cause: &Cause,
) -> Result<(TeamRecord, Vec<Transition>), TransitionError> {
    if check_id(team_id).is_err() {
        return Err(TransitionError::NotFound);
    }
    let mut result = None;
    update::<TransitionError>(docs, Container::Teams, tenant, team_id, |doc| {
        let Some(mut team) = doc.map(teams::parse).transpose()?.flatten() else {
            return Err(TransitionError::NotFound);
        };
        let mut moved = Vec::new();
        for &event in events {
            moved.push(step(&mut team, event, at, cause.clone())?);
        }
        let next = teams::to_document(tenant, &team)?;
        result = Some((team, moved));
        Ok(Decision::Write(next))
    })
    .await?;
    let (team, moved) = result.expect("a write that did not fail decided");
    for transition in &moved {
        audit::record(
            docs,
            tenant,
            &audit_entry(team_id, &team.display_name, transition),
        )
        .await?;
    }
    Ok((team, moved))
}

/// Whether `state` can take `event` (for callers that choose whether to ask).
pub fn allows(state: LifecycleState, event: LifecycleEvent) -> bool {
    state.after(event).is_some()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::macros::datetime;

    use super::*;
    use crate::governance::lifecycle::policy::PolicyKind;
    use crate::platform::clock::SystemClock;
    use crate::platform::documents::sqlite::SqliteDocuments;

    #[tokio::test]
    async fn a_transition_is_written_with_one_audit_entry_and_an_illegal_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let docs =
            SqliteDocuments::open(&dir.path().join("d.sqlite"), Arc::new(SystemClock)).unwrap();
        let tenant = TenantId::parse("3f1c2b7a-9d4e-4c5b-8a6f-0e1d2c3b4a59").unwrap();
        let team = TeamRecord {
            group_id: "g1".into(),
            display_name: "Falcon".into(),
            ..TeamRecord::default()
        };
        teams::put(&docs, &tenant, &team).await.unwrap();
        let at = datetime!(2026-12-02 09:00 UTC);
        let cause = Cause {
            actor: "system:SweepTenant".into(),
            policy: Some((PolicyKind::Expiry, 3)),
            reason: "expires on 2026-12-20".into(),
        };
        let (team, moved) = apply(&docs, &tenant, "g1", &[LifecycleEvent::Warn], at, &cause)
            .await
            .unwrap();
        assert_eq!(team.lifecycle, LifecycleState::Warned);
        assert_eq!(team.lifecycle_since, Some(at));
        assert_eq!(moved.len(), 1);
        let trail = audit::trail(&docs, &tenant).await.unwrap();
        assert_eq!(trail.len(), 1);
        assert_eq!(trail[0].action, "team.warned");
        assert_eq!(trail[0].details["from"], "active");
        assert_eq!(trail[0].details["to"], "warned");
        assert_eq!(trail[0].details["policy"]["version"], 3);

        // Warned cannot be warned again, and a renewal then a purge is
        // refused as a whole: nothing written, nothing audited.
        let again = apply(&docs, &tenant, "g1", &[LifecycleEvent::Warn], at, &cause).await;
        assert!(
            matches!(again, Err(TransitionError::Illegal(_))),
            "{again:?}"
        );
        let half = apply(
            &docs,
            &tenant,
            "g1",
            &[LifecycleEvent::Renew, LifecycleEvent::Purge],
            at,
            &cause,
        )
        .await;
        assert!(matches!(half, Err(TransitionError::Illegal(_))));
        let kept = teams::get(&docs, &tenant, "g1").await.unwrap();
        assert_eq!(kept.lifecycle, LifecycleState::Warned);
        assert_eq!(audit::trail(&docs, &tenant).await.unwrap().len(), 1);
        let missing = apply(&docs, &tenant, "nope", &[LifecycleEvent::Warn], at, &cause).await;
        assert!(matches!(missing, Err(TransitionError::NotFound)));
    }
}
