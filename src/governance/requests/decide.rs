//! Decisions on a submitted request: an approver of the waiting stage
//! approves (the next stage then waits, or the request is approved) or
//! rejects it; the requester may withdraw it while it waits. A request
//! waiting too long gets one reminder, then one escalation when the tenant
//! names someone to escalate to.

use time::{Duration, OffsetDateTime};

use super::{
    Decision, MAX_COMMENT_CHARS, RequestError, RequestState, TeamRequest, audit, in_state,
    transition,
};
use crate::governance::people::Person;
use crate::governance::tenants::TenantSettings;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::clock::Clock;
use crate::platform::documents::Documents;
use futures::TryStreamExt;

/// An approver approves or rejects the waiting stage of a request.
pub async fn decide(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    approver: &Person,
    approved: bool,
    comment: &str,
) -> Result<TeamRequest, RequestError> {
    let comment = comment.trim();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(RequestError::Invalid(vec![format!(
            "The comment is too long (at most {MAX_COMMENT_CHARS} characters)."
        )]));
    }
    if !approved && comment.is_empty() {
        return Err(RequestError::Invalid(vec![
            "Say why you reject the request, so the requester knows.".to_owned(),
        ]));
    }
    let now = clock.now();
    let request = transition(docs, tenant, id, |r| {
        if r.state != RequestState::Submitted {
            if r.is_any_approver(&approver.aad_object_id) {
                return Err(RequestError::AlreadyDecided(Box::new(r.clone())));
            }
            return Err(RequestError::NotApprover);
        }
        if !r.is_approver(&approver.aad_object_id) {
            return Err(RequestError::NotApprover);
        }
        let decision = Decision {
            by: approver.clone(),
            at: now,
            approved,
            comment: comment.to_owned(),
        };
        let stage = r.current_stage;
        r.stages[stage].decision = Some(decision.clone());
        if !approved {
            r.state = RequestState::Rejected;
            r.decision = Some(decision);
        } else if stage + 1 < r.stages.len() {
            r.current_stage = stage + 1;
            r.waiting_since = Some(now);
            r.reminded = false;
            r.escalated = false;
        } else {
            r.state = RequestState::Approved;
            r.decision = Some(decision);
        }
        Ok(())
    })
    .await?;
    let action = match request.state {
        RequestState::Rejected => "request.rejected",
        RequestState::Approved => "request.approved",
        _ => "request.stageApproved",
    };
    audit(
        docs,
        tenant,
        now,
        &approver.actor(),
        action,
        &request,
        comment,
    )
    .await?;
    crate::telemetry::custom_event(
        "RequestDecided",
        &[
            ("tenant", tenant.as_str()),
            ("requestId", id),
            ("decision", action),
            ("templateId", &request.template_id),
        ],
    );
    Ok(request)
}

/// The requester withdraws a request that is still a draft or waiting.
pub async fn cancel(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    requester: &Person,
) -> Result<TeamRequest, RequestError> {
    let request = transition(docs, tenant, id, |r| {
        if !r.requester.is(&requester.aad_object_id) {
            return Err(RequestError::NotFound);
        }
        if !matches!(r.state, RequestState::Submitted | RequestState::Draft) {
            return Err(RequestError::AlreadyDecided(Box::new(r.clone())));
        }
        r.state = RequestState::Cancelled;
        Ok(())
    })
    .await?;
    audit(
        docs,
        tenant,
        clock.now(),
        &requester.actor(),
        "request.cancelled",
        &request,
        "",
    )
    .await?;
    Ok(request)
}

/// What a waiting request is due.
#[derive(Clone, Debug, PartialEq)]
pub enum Due {
    /// Its approvers are reminded once.
    Remind,
    /// It is escalated once, to this person.
    Escalate(Person),
}

fn due(request: &TeamRequest, settings: &TenantSettings, now: OffsetDateTime) -> Option<Due> {
    let since = request.waiting_since.unwrap_or(request.created_at);
    let waited = now - since;
    if let (Some(hours), Some(to)) = (settings.escalate_after_hours, &settings.escalate_to)
        && !request.escalated
        && waited >= Duration::hours(hours.into())
    {
        return Some(Due::Escalate(to.clone()));
    }
    (!request.reminded
        && !request.escalated
        && waited >= Duration::hours(settings.reminder_after_hours.into()))
    .then_some(Due::Remind)
}

/// The tenant's waiting requests that are due a reminder or an escalation
/// (read page by page; only the due ones are kept).
pub async fn due_reminders(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    settings: &TenantSettings,
) -> PlatformResult<Vec<(TeamRequest, Due)>> {
    let now = clock.now();
    in_state(docs, tenant, RequestState::Submitted)
        .try_filter_map(|r| async move { Ok(due(&r, settings, now).map(|d| (r, d))) })
        .try_collect()
        .await
}

/// The request as it is once `due` is marked on its waiting `stage`, or
/// `None` when it needs nothing any more (already followed up, decided, or
/// in another stage). Pure: the cards are sent from it before the mark is
/// written, so that a failed send leaves the request unmarked for the next
/// run, and the mark is written with this same change.
pub fn followed_up(request: &TeamRequest, stage: usize, due: &Due) -> Option<TeamRequest> {
    let mut r = request.clone();
    mark(&mut r, stage, due).ok()?;
    Some(r)
}

fn mark(r: &mut TeamRequest, stage: usize, due: &Due) -> Result<(), RequestError> {
    let done = match due {
        Due::Remind => r.reminded,
        Due::Escalate(_) => r.escalated,
    };
    if r.state != RequestState::Submitted || r.current_stage != stage || done {
        return Err(RequestError::AlreadyDecided(Box::new(r.clone())));
    }
    r.reminded = true;
    if let Due::Escalate(to) = due {
        r.escalated = true;
        let approvers = &mut r.stages[stage].approvers;
        if !approvers.iter().any(|a| a.is(&to.aad_object_id)) {
            approvers.push(to.clone());
        }
    }
    Ok(())
}

/// Marks `due` on the request's waiting `stage` (a reminder, or `to` added
/// to its approvers), once. `None` when it needs no follow-up any more
/// (another run marked it, or it was decided or moved on).
pub async fn mark_followed_up(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    stage: usize,
    due: &Due,
) -> Result<Option<TeamRequest>, RequestError> {
    match transition(docs, tenant, id, |r| mark(r, stage, due)).await {
        Ok(request) => {
            let (action, why) = match due {
                Due::Remind => (
                    "request.reminded",
                    "waiting longer than the reminder period".to_owned(),
                ),
                Due::Escalate(to) => (
                    "request.escalated",
                    format!("escalated to {}", to.aad_object_id),
                ),
            };
            audit(
                docs,
                tenant,
                clock.now(),
                "system:RequestReminders",
                action,
                &request,
                &why,
            )
            .await?;
            Ok(Some(request))
        }
        Err(RequestError::AlreadyDecided(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(hours_ago: i64) -> TeamRequest {
        let now = time::macros::datetime!(2026-11-25 12:00 UTC);
        let mut r = super::super::sample_request(RequestState::Submitted);
        r.created_at = now - Duration::hours(hours_ago);
        r.waiting_since = Some(r.created_at);
        r
    }

    #[test]
    fn a_waiting_request_is_reminded_once_then_escalated_once() {
        let now = time::macros::datetime!(2026-11-25 12:00 UTC);
        let boss = Person::new("1c9f5d2b-8e3a-4b4f-8d72-6e5a4b3c2d1e", "Boss");
        let settings = TenantSettings {
            reminder_after_hours: 24,
            escalate_after_hours: Some(72),
            escalate_to: Some(boss.clone()),
            ..TenantSettings::default()
        };
        assert_eq!(due(&waiting(23), &settings, now), None);
        assert_eq!(due(&waiting(24), &settings, now), Some(Due::Remind));
        let mut reminded = waiting(48);
        reminded.reminded = true;
        assert_eq!(due(&reminded, &settings, now), None);
        reminded = waiting(72);
        reminded.reminded = true;
        assert_eq!(due(&reminded, &settings, now), Some(Due::Escalate(boss)));
        reminded.escalated = true;
        assert_eq!(due(&reminded, &settings, now), None);
        let plain = TenantSettings::default();
        assert_eq!(due(&waiting(100), &plain, now), Some(Due::Remind));
    }
}
