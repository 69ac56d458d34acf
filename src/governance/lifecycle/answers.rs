//! What owners (and members, for an ownerless team) answer on the
//! lifecycle cards, checked and written to the team under its ETag, with an
//! audit entry naming who answered. Each answer returns the Graph actions
//! it asks for; the caller queues them through
//! [`actions::request`](super::actions::request) under keys that make a
//! replayed click a no-op.
//!
//! Who may answer is decided from the kept team, never from the card: a
//! card's data only names the team.

use std::collections::HashMap;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::machine::{Cause, LifecycleEvent, LifecycleState, Waiver};
use super::policy::PolicyKind;
use super::transitions;
use crate::governance::audit::{self, AuditEntry};
use crate::governance::people::Person;
use crate::governance::teams::{self, GuestAnswer, TeamRecord};
use crate::ids::TenantId;
use crate::jobs::governance_action::Action;
use crate::platform::PlatformError;
use crate::platform::documents::Documents;

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("no such team")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    /// The answer itself is wrong (a nominee that is not a person's id).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// An answer taken: the team as it is now, and the actions it asks for
/// (empty when the answer was already given: a replayed click).
#[derive(Debug)]
pub struct Answered {
    pub team: TeamRecord,
    pub actions: Vec<Action>,
}

/// Reads `team_id`, lets `decide` change it (or not), writes it when it
/// changed, and returns it with what `decide` asked for. A team gone from
/// Entra is not found.
async fn answer(
    docs: &dyn Documents,
    tenant: &TenantId,
    team_id: &str,
    mut decide: impl FnMut(&mut TeamRecord) -> Result<Vec<Action>, AnswerError>,
) -> Result<(TeamRecord, Vec<Action>, bool), AnswerError> {
    let answered = teams::modify(docs, tenant, team_id, |team| {
        if !team.is_present() {
            return Err(AnswerError::NotFound);
        }
        decide(team)
    })
    .await?
    .ok_or(AnswerError::NotFound)?;
    Ok((answered.team, answered.out, answered.written))
}

async fn audit_answer(
    docs: &dyn Documents,
    tenant: &TenantId,
    by: &Person,
    at: OffsetDateTime,
    action: &str,
    team: &TeamRecord,
    details: serde_json::Value,
) -> Result<(), AnswerError> {
    let mut details = details;
    details["teamId"] = json!(team.group_id);
    details["displayName"] = json!(team.display_name);
    let entry = AuditEntry {
        at,
        actor: by.actor(),
        action: action.to_owned(),
        details,
    };
    Ok(audit::record(docs, tenant, &entry).await?)
}

/// `by` names `nominee` an owner of a team short of owners: an owner may,
/// and in a team without owners a member may. Someone already an owner
/// asks for nothing. The action it asks for is audited by its job, naming
/// `by` (the caller audits the nomination once it is queued).
pub async fn nominate(
    docs: &dyn Documents,
    tenant: &TenantId,
    team_id: &str,
    by: &Person,
    nominee: &str,
    _now: OffsetDateTime,
) -> Result<Answered, AnswerError> {
    let nominee = uuid::Uuid::parse_str(nominee.trim())
        .map_err(|_| AnswerError::Invalid("Choose a person from your organisation.".into()))?
        .to_string();
    let team = teams::get(docs, tenant, team_id)
        .await
        .map_err(|e| match e {
            teams::TeamError::Platform(e) => AnswerError::Platform(e),
            _ => AnswerError::NotFound,
        })?;
    let may = team.is_owner(&by.aad_object_id)
        || (team.owners.is_empty() && team.is_member(&by.aad_object_id));
    if !may || !team.is_present() {
        return Err(AnswerError::Forbidden(
            "Only an owner of the team (or a member, when it has no owner) can name an owner.",
        ));
    }
    if team.is_owner(&nominee) {
        return Ok(Answered {
            team,
            actions: Vec::new(),
        });
    }
    Ok(Answered {
        team,
        actions: vec![Action::AddOwner { user: nominee }],
    })
}

/// What an owner answers on the inactivity card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inactive {
    /// Kept: the inactivity policy leaves the team alone for
    /// `inactive_days` (a waiver given by the owner).
    Keep {
        inactive_days: u32,
    },
    Archive,
    Delete,
}

/// An owner answers the inactivity card. Keep is taken once per period;
/// archive or delete ask for the action (its key makes a second click a
/// no-op).
pub async fn inactive(
    docs: &dyn Documents,
    tenant: &TenantId,
    team_id: &str,
    by: &Person,
    choice: Inactive,
    now: OffsetDateTime,
) -> Result<Answered, AnswerError> {
    let mut moved = None;
    let (team, actions, written) = answer(docs, tenant, team_id, |team| {
        moved = None;
        if !team.is_owner(&by.aad_object_id) {
            return Err(AnswerError::Forbidden(
                "Only an owner of the team can keep, archive or delete it.",
            ));
        }
        if team.lifecycle == LifecycleState::Archived {
            return Ok(Vec::new());
        }
        Ok(match choice {
            Inactive::Keep { inactive_days } => {
                if team
                    .waivers
                    .iter()
                    .any(|w| w.covers(PolicyKind::Inactivity, now))
                {
                    return Ok(Vec::new());
                }
                let until = now + Duration::days(inactive_days.clamp(1, 366).into());
                let waiver = Waiver::new(
                    PolicyKind::Inactivity,
                    until,
                    &format!("kept by an owner ({})", by.name),
                    &by.aad_object_id,
                    now,
                )
                .map_err(AnswerError::Invalid)?;
                team.waivers.retain(|w| w.until > now);
                team.waivers.push(waiver);
                if team.lifecycle == LifecycleState::Warned {
                    let cause = Cause {
                        actor: by.actor(),
                        policy: None,
                        reason: "an owner kept the inactive team".into(),
                    };
                    moved = Some(
                        transitions::step(team, LifecycleEvent::Activate, now, cause)
                            .map_err(|e| AnswerError::Invalid(e.to_string()))?,
                    );
                }
                Vec::new()
            }
            Inactive::Archive => vec![Action::Archive],
            Inactive::Delete => vec![Action::SoftDelete],
        })
    })
    .await?;
    if written {
        audit_answer(
            docs,
            tenant,
            by,
            now,
            "team.kept",
            &team,
            json!({"policy": PolicyKind::Inactivity}),
        )
        .await?;
        if let Some(moved) = &moved {
            audit::record(
                docs,
                tenant,
                &transitions::audit_entry(&team.group_id, &team.display_name, moved),
            )
            .await?;
        }
    }
    Ok(Answered { team, actions })
}

/// An owner answers the open guest review: `decisions` by guest id,
/// `true` to remove. Guests the card did not list, or not decided, are
/// kept. Only the first answer counts.
pub async fn review_guests(
    docs: &dyn Documents,
    tenant: &TenantId,
    team_id: &str,
    by: &Person,
    decisions: &HashMap<String, bool>,
    now: OffsetDateTime,
) -> Result<Answered, AnswerError> {
    let (team, actions, written) = answer(docs, tenant, team_id, |team| {
        if !team.is_owner(&by.aad_object_id) {
            return Err(AnswerError::Forbidden(
                "Only an owner of the team can review its guests.",
            ));
        }
        let Some(review) = team.guest_review.as_mut() else {
            return Err(AnswerError::Invalid(
                "No guest review is open for this team.".into(),
            ));
        };
        if review.answer.is_some() {
            return Ok(Vec::new());
        }
        let removed: Vec<String> = review
            .guests
            .iter()
            .filter(|g| decisions.get(&g.aad_object_id.to_ascii_lowercase()) == Some(&true))
            .map(|g| g.aad_object_id.clone())
            .collect();
        review.answer = Some(GuestAnswer {
            by: Some(by.clone()),
            at: now,
            removed: removed.clone(),
        });
        team.guests_reviewed_at = Some(now);
        Ok(removed
            .into_iter()
            .map(|user| Action::RemoveGuest { user })
            .collect())
    })
    .await?;
    if written {
        let review = team.guest_review.as_ref();
        audit_answer(
            docs,
            tenant,
            by,
            now,
            "team.guestsReviewed",
            &team,
            json!({
                "guests": review.map_or(0, |r| r.guests.len()),
                "removed": review.and_then(|r| r.answer.as_ref()).map(|a| a.removed.clone()),
            }),
        )
        .await?;
    }
    Ok(Answered {
        team,
        actions: if written { actions } else { Vec::new() },
    })
}
