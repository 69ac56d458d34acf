//! After Graph: the inventory says what happened (the team's lifecycle
//! state through the machine, its owners, members and guests, its dates
//! after a renewal), and the audit trail gets one entry naming who or what
//! decided it, when, under which policy version and why. Both writes can
//! be repeated by a resumed run and still leave one change and one entry.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::ActionError;
use super::job::{ActionJob, Run, Step, key_hash};
use crate::governance::audit::{self, AuditEntry};
use crate::governance::lifecycle::machine::{
    LifecycleEvent, LifecycleState, Transition, transition,
};
use crate::governance::lifecycle::transitions;
use crate::governance::people::Person;
use crate::governance::teams::{self, Removal, Removed, Renewal, TeamRecord};
use crate::jobs::governance_action::Action;
use crate::platform::documents::Container;
use crate::platform::documents::update::{Decision, update};

/// The lifecycle event an action makes; `None` for the member actions.
pub fn event_of(action: &Action) -> Option<LifecycleEvent> {
    Some(match action {
        Action::Archive => LifecycleEvent::Archive,
        Action::Unarchive => LifecycleEvent::Unarchive,
        Action::SoftDelete => LifecycleEvent::SoftDelete,
        Action::Restore => LifecycleEvent::Restore,
        Action::Renew => LifecycleEvent::Renew,
        Action::AddOwner { .. } | Action::RemoveGuest { .. } | Action::ReAddMember { .. } => {
            return None;
        }
    })
}

/// Whether the action may be taken on `team` now: the transition it makes
/// (lifecycle actions), or why not. Checked before Graph is asked.
pub(super) fn check(
    team: &TeamRecord,
    job: &ActionJob,
    now: OffsetDateTime,
) -> Result<Option<Transition>, String> {
    if let Some(event) = event_of(&job.action) {
        return transition(team.lifecycle, event, now, job.cause.clone())
            .map(Some)
            .map_err(|e| e.to_string());
    }
    if !team.lifecycle.is_live() || !team.is_present() {
        return Err(format!(
            "a team that is {:?} keeps its people as they are",
            team.lifecycle
        ));
    }
    if let Action::RemoveGuest { user } = &job.action
        && team.is_member(user)
        && !team.guest_ids.iter().any(|g| g.eq_ignore_ascii_case(user))
    {
        return Err(format!("{user} is not a guest of the team"));
    }
    Ok(None)
}

pub(super) async fn recorded(run: &mut Run<'_>) -> Result<(), ActionError> {
    if run.job.is_done(Step::Recorded) {
        return Ok(());
    }
    let at = run
        .job
        .done_at(Step::Done)
        .unwrap_or_else(|| run.clock.now());
    let tenant = run.tenant;
    let job = run.job.clone();
    let mut made = None;
    update(
        run.docs,
        Container::Teams,
        tenant,
        &job.team_id,
        |doc| -> Result<Decision, ActionError> {
            let Some(mut team) = doc.map(teams::parse).transpose()?.flatten() else {
                return Err(ActionError::Permanent(format!(
                    "the team {} left the inventory while Graph acted on it",
                    job.team_id
                )));
            };
            made = None;
            let changed = apply(&mut team, &job, at, &mut made)?;
            Ok(if changed {
                Decision::Write(teams::to_document(tenant, &team)?)
            } else {
                Decision::Keep
            })
        },
    )
    .await?;
    if made.is_some() {
        run.job.transition = made;
    }
    let entry = AuditEntry {
        at,
        actor: run.job.cause.actor.clone(),
        action: audit_action(&run.job.action).to_owned(),
        details: details(&run.job),
    };
    audit::record_once(run.docs, tenant, &key_hash(&run.job.key), &entry).await?;
    run.checkpoint(Step::Recorded, "").await
}

/// Changes `team` as the action did; `false` when it already says so.
fn apply(
    team: &mut TeamRecord,
    job: &ActionJob,
    at: OffsetDateTime,
    made: &mut Option<Transition>,
) -> Result<bool, ActionError> {
    if let Some(event) = event_of(&job.action) {
        let planned = job.transition.as_ref().map(|t| match t.to {
            LifecycleState::Renewed | LifecycleState::Restored => LifecycleState::Active,
            to => to,
        });
        if Some(team.lifecycle) == planned && team.lifecycle_since == Some(at) {
            return Ok(false);
        }
        let t = transitions::step(team, event, at, job.cause.clone()).map_err(|e| {
            ActionError::Permanent(format!("Graph did it, but the team changed meanwhile: {e}"))
        })?;
        // Renewed and restored teams are active again at once: nothing
        // else is waited for.
        if matches!(t.to, LifecycleState::Renewed | LifecycleState::Restored) {
            transitions::step(team, LifecycleEvent::Activate, at, job.cause.clone())
                .map_err(|e| ActionError::Permanent(e.to_string()))?;
        }
        *made = Some(t);
    }
    match &job.action {
        Action::SoftDelete => {
            team.removed = Some(Removed {
                reason: Removal::SoftDeleted,
                at,
            });
        }
        Action::Restore => team.removed = None,
        Action::Renew => renewed(team, job, at),
        Action::AddOwner { user } => {
            if team.is_owner(user) {
                return Ok(made.is_some());
            }
            let name = job.user_name.clone().unwrap_or_default();
            team.owners.push(Person::new(user, name));
        }
        Action::ReAddMember { user } => {
            if team.member_ids.iter().any(|m| m.eq_ignore_ascii_case(user)) {
                return Ok(false);
            }
            team.member_ids.push(user.to_ascii_lowercase());
        }
        // The membership goes; an owner link (rare for a guest) is Graph's
        // to report through the sync.
        Action::RemoveGuest { user } => {
            let listed = |ids: &[String]| ids.iter().any(|m| m.eq_ignore_ascii_case(user));
            if !listed(&team.member_ids) && !listed(&team.guest_ids) {
                return Ok(false);
            }
            team.member_ids.retain(|m| !m.eq_ignore_ascii_case(user));
            team.guest_ids.retain(|m| !m.eq_ignore_ascii_case(user));
        }
        Action::Archive | Action::Unarchive => {}
    }
    Ok(true)
}

/// A renewal moves SalesTim's expiry to Entra's when the tenant's group
/// lifecycle policy covers the group (Entra deletes the group then, so no
/// other date holds); otherwise by the team's own renewal period.
fn renewed(team: &mut TeamRecord, job: &ActionJob, at: OffsetDateTime) {
    team.renewal = Renewal::Renewed;
    let facts = job.renewal.clone().unwrap_or(super::job::RenewalFacts {
        renewed_at: None,
        entra_expires_at: None,
        lifetime_days: None,
    });
    if facts.renewed_at.is_some() {
        team.entra_renewed_at = facts.renewed_at;
    }
    let days = |d: u32| time::Duration::days(i64::from(d));
    team.expires_at = match (
        facts.entra_expires_at,
        team.renewal_days,
        facts.lifetime_days,
    ) {
        (Some(entra), _, _) => {
            team.entra_expires_at = Some(entra);
            Some(entra)
        }
        (None, Some(period), _) => Some(team.expires_at.unwrap_or(at).max(at) + days(period)),
        (None, None, Some(lifetime)) => Some(facts.renewed_at.unwrap_or(at) + days(lifetime)),
        (None, None, None) => team.expires_at,
    };
}

fn audit_action(action: &Action) -> &'static str {
    if let Some(event) = event_of(action) {
        return event.audit_action();
    }
    match action {
        Action::AddOwner { .. } => "team.ownerAdded",
        Action::RemoveGuest { .. } => "team.guestRemoved",
        _ => "team.memberReAdded",
    }
}

/// What the audit entry (and a failure's) says: the team, the change, the
/// policy version and the reason.
pub(super) fn details(job: &ActionJob) -> Value {
    let mut d = json!({
        "groupId": job.team_id,
        "displayName": job.team_name,
        "action": job.action,
        "reason": job.cause.reason,
        "key": job.key,
    });
    if let Some((kind, version)) = job.cause.policy {
        d["policy"] = json!({"kind": kind.name(), "version": version});
    }
    if let Some(t) = &job.transition {
        d["from"] = json!(t.from);
        d["to"] = json!(t.to);
    }
    if let Some(name) = &job.user_name {
        d["userName"] = json!(name);
    }
    if let Some(r) = &job.renewal {
        d["entraExpiresAt"] = json!(r.entra_expires_at.map(|t| t.unix_timestamp()));
        d["groupLifetimeDays"] = json!(r.lifetime_days);
    }
    if let Some(failure) = &job.failure {
        d["failure"] = json!(failure);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::lifecycle::machine::{Cause, LifecycleState};
    use crate::ids::TenantId;
    use crate::jobs::governance_action::ActionMessage;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-02 09:00 UTC);
    const GUEST: &str = "0a000000-0000-4000-8000-00000000d004";
    const MEMBER: &str = "0a000000-0000-4000-8000-00000000b002";

    fn job(action: Action) -> ActionJob {
        let message = ActionMessage {
            tenant_id: TenantId::parse("0a000000-0000-4000-8000-000000000001").unwrap(),
            team_id: "team".into(),
            action,
            cause: Cause {
                actor: "user:ann".into(),
                policy: None,
                reason: "asked".into(),
            },
            key: "k".into(),
        };
        ActionJob::new(&message, NOW)
    }

    fn team(state: LifecycleState) -> TeamRecord {
        TeamRecord {
            lifecycle: state,
            member_ids: vec![MEMBER.into(), GUEST.into()],
            guest_ids: vec![GUEST.into()],
            ..TeamRecord::default()
        }
    }

    #[test]
    fn the_machine_decides_lifecycle_actions_and_people_change_only_on_live_teams() {
        let active = team(LifecycleState::Active);
        let t = check(&active, &job(Action::Archive), NOW).unwrap().unwrap();
        assert_eq!(
            (t.from, t.to),
            (LifecycleState::Active, LifecycleState::Archived)
        );
        assert!(check(&active, &job(Action::Renew), NOW).is_err());
        let guest = Action::RemoveGuest { user: GUEST.into() };
        assert_eq!(check(&active, &job(guest.clone()), NOW), Ok(None));
        let not_guest = Action::RemoveGuest {
            user: MEMBER.into(),
        };
        assert!(check(&active, &job(not_guest), NOW).is_err());
        let deleted = team(LifecycleState::SoftDeleted);
        assert!(check(&deleted, &job(guest), NOW).is_err());
        // Archived teams still take membership changes.
        let archived = team(LifecycleState::Archived);
        let owner = Action::AddOwner {
            user: MEMBER.into(),
        };
        assert_eq!(check(&archived, &job(owner), NOW), Ok(None));
    }

    #[test]
    fn applying_twice_changes_the_team_once() {
        let mut t = team(LifecycleState::Active);
        let mut j = job(Action::Archive);
        j.transition = check(&t, &j, NOW).unwrap();
        let mut made = None;
        assert!(apply(&mut t, &j, NOW, &mut made).unwrap());
        assert_eq!(t.lifecycle, LifecycleState::Archived);
        assert!(!apply(&mut t, &j, NOW, &mut made).unwrap());

        let j = job(Action::RemoveGuest { user: GUEST.into() });
        assert!(apply(&mut t, &j, NOW, &mut made).unwrap());
        assert!(!t.is_member(GUEST) && t.guest_ids.is_empty());
        assert!(!apply(&mut t, &j, NOW, &mut made).unwrap());
    }

    #[test]
    fn a_renewal_follows_entra_when_its_policy_covers_the_group() {
        let expiry = NOW + time::Duration::days(5);
        let mut t = TeamRecord {
            expires_at: Some(expiry),
            renewal_days: Some(90),
            ..team(LifecycleState::Warned)
        };
        let mut j = job(Action::Renew);
        renewed(&mut t, &j, NOW);
        assert_eq!(t.expires_at, Some(expiry + time::Duration::days(90)));
        assert_eq!(t.renewal, Renewal::Renewed);
        let entra = NOW + time::Duration::days(180);
        j.renewal = Some(super::super::job::RenewalFacts {
            renewed_at: Some(NOW),
            entra_expires_at: Some(entra),
            lifetime_days: Some(180),
        });
        renewed(&mut t, &j, NOW);
        assert_eq!(t.expires_at, Some(entra));
        assert_eq!(t.entra_expires_at, Some(entra));
        assert_eq!(t.entra_renewed_at, Some(NOW));
    }
}
