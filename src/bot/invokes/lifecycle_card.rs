//! The lifecycle cards' Universal Actions: a refresh shows the card as the
//! team stands now for the person looking; the answers (name an owner;
//! keep, archive or delete an inactive team; the guest review) are checked
//! against the kept team ([`answers`]) and queue their Graph actions under
//! keys that make a replayed click ask nothing more.

use std::collections::HashMap;

use serde_json::Value;

use super::id_in;
use super::{Ctx, card_error, card_response};
use crate::bot::lifecycle::queue_answer;
use crate::error::AppError;
use crate::governance::audit::{self, AuditEntry};
use crate::governance::lifecycle::answers::{self, AnswerError, Inactive};
use crate::governance::lifecycle::policy::{PolicyKind, PolicySet};
use crate::governance::lifecycle::{recorded, store};
use crate::governance::people::Person;
use crate::governance::teams::{self, TeamRecord};
use crate::teams::cards::lifecycle::{self, kinds};
use crate::teams::cards::verbs;

/// Longest a guest decision's input id may be (`guest.<object id>`).
const MAX_INPUT_ID: usize = 80;

fn refused(verb: &str, why: &str) -> Value {
    tracing::info!(verb, why, "lifecycle card action refused");
    card_error(400, "BadRequest", why)
}

pub(super) async fn handle(
    ctx: &Ctx<'_>,
    user: &Person,
    verb: &str,
    data: &Value,
) -> Result<Value, AppError> {
    let Some(team_id) = id_in(data, "groupId") else {
        return Ok(refused(verb, "the card names no team"));
    };
    let (app, tenant) = (ctx.app, ctx.tenant);
    let now = app.clock.now();
    let docs = app.docs.as_ref();
    let answered = match verb {
        verbs::LIFECYCLE_REFRESH => None,
        verbs::TEAM_NOMINATE => {
            let nominee = data
                .get("nominee")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some(
                answers::nominate(docs, tenant, &team_id, user, nominee, now)
                    .await
                    .map(|a| {
                        // One nomination of a person a day, however often clicked.
                        (
                            a,
                            "an owner named another owner",
                            format!("nominate-{}", now.date()),
                        )
                    }),
            )
        }
        verbs::TEAM_KEEP | verbs::TEAM_ARCHIVE | verbs::TEAM_DELETE => {
            let set = policies(ctx, &team_id).await?;
            let choice = match verb {
                verbs::TEAM_KEEP => Inactive::Keep {
                    inactive_days: set.inactivity.as_ref().map_or(90, |p| p.inactive_days),
                },
                verbs::TEAM_ARCHIVE => Inactive::Archive,
                _ => Inactive::Delete,
            };
            Some(
                answers::inactive(docs, tenant, &team_id, user, choice, now)
                    .await
                    .map(|a| {
                        (
                            a,
                            "an owner answered the inactivity card",
                            "inactive".to_owned(),
                        )
                    }),
            )
        }
        verbs::TEAM_REVIEW_GUESTS => {
            let decisions = match guest_decisions(data) {
                Ok(d) => d,
                Err(why) => return Ok(refused(verb, why)),
            };
            Some(
                answers::review_guests(docs, tenant, &team_id, user, &decisions, now)
                    .await
                    .map(|a| {
                        let key = a
                            .team
                            .guest_review
                            .as_ref()
                            .map_or(0, |r| r.asked_at.unix_timestamp())
                            .to_string();
                        (a, "an owner reviewed the team's guests", key)
                    }),
            )
        }
        _ => return Ok(refused(verb, "this card action is not known")),
    };
    let team = match answered {
        None => match teams::get(docs, tenant, &team_id).await {
            Ok(team) => team,
            Err(teams::TeamError::NotFound) => return Ok(gone()),
            Err(e) => return Err(AppError::Internal(e.into())),
        },
        Some(Ok((answer, reason, key))) => {
            let asked = answer.actions.clone();
            let queued = if asked.is_empty() {
                0
            } else {
                queue_answer(app, tenant, &team_id, user, answer.actions, &key, reason).await?
            };
            if queued > 0 && verb == verbs::TEAM_NOMINATE {
                let entry = AuditEntry {
                    at: now,
                    actor: user.actor(),
                    action: "team.ownerNominated".into(),
                    details: serde_json::json!({"teamId": team_id, "displayName": answer.team.display_name, "nominees": asked}),
                };
                audit::record(docs, tenant, &entry).await?;
            }
            answer.team
        }
        Some(Err(AnswerError::NotFound)) => return Ok(gone()),
        Some(Err(AnswerError::Forbidden(why))) => {
            tracing::warn!(%tenant, team = %team_id, user = %user.aad_object_id, verb, "a lifecycle answer by someone who may not give it");
            return Ok(card_error(403, "Forbidden", why));
        }
        Some(Err(AnswerError::Invalid(why))) => return Ok(refused(verb, &why)),
        Some(Err(AnswerError::Platform(e))) => return Err(e.into()),
    };
    let kind = data.get("card").and_then(Value::as_str).unwrap_or_default();
    Ok(card_response(render(ctx, &team, user, kind).await?))
}

fn gone() -> Value {
    card_error(404, "NotFound", "SalesTim no longer tracks this team.")
}

/// The effective policies of the team's template (the tenant's defaults
/// where it has none); empty when no policies are stored.
async fn policies(ctx: &Ctx<'_>, team_id: &str) -> Result<PolicySet, AppError> {
    let docs = ctx.app.docs.as_ref();
    let Some(stored) = store::current(docs, ctx.tenant).await? else {
        return Ok(PolicySet::default());
    };
    let template = match teams::get(docs, ctx.tenant, team_id).await {
        Ok(team) => team.template_id,
        Err(_) => None,
    };
    Ok(stored.policies.effective(template.as_deref()))
}

/// The card of `kind` for `user`, as `team` stands now.
async fn render(
    ctx: &Ctx<'_>,
    team: &TeamRecord,
    user: &Person,
    kind: &str,
) -> Result<Value, AppError> {
    let set = policies(ctx, &team.group_id).await?;
    let viewer = Some(user.aad_object_id.as_str());
    let then = |policy: PolicyKind| async move {
        let kept = recorded::of_team(ctx.app.docs.as_ref(), ctx.tenant, &team.group_id).await?;
        Ok::<_, AppError>(
            kept.into_iter()
                .find(|r| r.policy == policy)
                .and_then(|r| r.finding.then)
                .unwrap_or_default(),
        )
    };
    Ok(match kind {
        kinds::INACTIVE => {
            let days = set.inactivity.as_ref().map_or(90, |p| p.inactive_days);
            lifecycle::inactive(team, viewer, days, &then(PolicyKind::Inactivity).await?)
        }
        kinds::GUESTS => {
            lifecycle::guest_review(team, viewer, &then(PolicyKind::GuestReview).await?)
        }
        _ => {
            let min = set.minimum_owners.as_ref().map_or(2, |p| p.min_owners);
            lifecycle::owner_needed(team, viewer, min)
        }
    })
}

/// The review's decisions from the card's inputs (`guest.<id>`: `keep` or
/// `remove`); anything else in the data is not ours and refused.
fn guest_decisions(data: &Value) -> Result<HashMap<String, bool>, &'static str> {
    let Some(map) = data.as_object() else {
        return Err("the review has no answers");
    };
    let mut decisions = HashMap::new();
    for (key, value) in map {
        let Some(id) = key.strip_prefix("guest.") else {
            continue;
        };
        if key.len() > MAX_INPUT_ID || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("a guest in the review is not one of ours");
        }
        let remove = match value.as_str() {
            Some("remove") => true,
            Some("keep") => false,
            _ => return Err("each guest is kept or removed"),
        };
        decisions.insert(id.to_ascii_lowercase(), remove);
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn guest_decisions_take_only_our_inputs() {
        let d = guest_decisions(
            &json!({"groupId": "g", "card": "guests", "guest.AB-1": "remove", "guest.c2": "keep"}),
        )
        .unwrap();
        assert_eq!(d.get("ab-1"), Some(&true));
        assert_eq!(d.get("c2"), Some(&false));
        assert!(guest_decisions(&json!({"guest.x": "delete"})).is_err());
        assert!(guest_decisions(&json!({"guest.x/../y": "remove"})).is_err());
        assert!(guest_decisions(&json!("nope")).is_err());
    }
}
