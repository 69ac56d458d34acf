//! `adaptiveCard/action` (Universal Actions): an `Action.Execute` on one of
//! our cards, routed by verb. The answer is the card as the clicking user
//! should now see it, or an error Teams shows on the card (400 for bad data,
//! 403 for someone who may not do that, 404 for what no longer exists).
//! A lost race (two approvers at once) is not an error: the loser gets the
//! card in its current state.

use serde_json::Value;

use super::request_flow::after_decision;
use super::{Ctx, card_error, card_response, id_in};
use crate::bot::lifecycle::answer_expiry;
use crate::error::AppError;
use crate::governance::people::Person;
use crate::governance::requests::{self, RequestError};
use crate::governance::teams::{self, TeamError};
use crate::teams::cards::{self, verbs};

fn bad_data(verb: &str, why: &str) -> Value {
    tracing::info!(verb, why, "card action refused");
    card_error(400, "BadRequest", why)
}

pub(super) async fn handle(ctx: &Ctx<'_>) -> Result<Value, AppError> {
    let action = ctx.value().get("action").unwrap_or(&Value::Null);
    if action.get("type").and_then(Value::as_str) != Some("Action.Execute") {
        return Ok(bad_data("", "only Action.Execute is handled here"));
    }
    let verb = action
        .get("verb")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let data = action.get("data").unwrap_or(&Value::Null);
    let Some(user) = &ctx.user else {
        return Ok(bad_data(verb, "the action names no user"));
    };
    match verb {
        verbs::REQUEST_REFRESH
        | verbs::REQUEST_APPROVE
        | verbs::REQUEST_REJECT
        | verbs::REQUEST_CANCEL => {
            let Some(id) = id_in(data, "requestId") else {
                return Ok(bad_data(verb, "the card names no request"));
            };
            on_request(ctx, user, verb, &id, data).await
        }
        verbs::TEAM_REFRESH | verbs::TEAM_RENEW | verbs::TEAM_LET_EXPIRE => {
            let Some(id) = id_in(data, "groupId") else {
                return Ok(bad_data(verb, "the card names no team"));
            };
            on_team(ctx, user, verb, &id).await
        }
        verbs::LIFECYCLE_REFRESH
        | verbs::TEAM_NOMINATE
        | verbs::TEAM_KEEP
        | verbs::TEAM_ARCHIVE
        | verbs::TEAM_DELETE
        | verbs::TEAM_REVIEW_GUESTS => super::lifecycle_card::handle(ctx, user, verb, data).await,
        _ => Ok(bad_data(verb, "this card action is not known")),
    }
}

async fn on_request(
    ctx: &Ctx<'_>,
    user: &Person,
    verb: &str,
    id: &str,
    data: &Value,
) -> Result<Value, AppError> {
    let (app, tenant) = (ctx.app, ctx.tenant);
    let (docs, clock) = (app.docs.as_ref(), app.clock.as_ref());
    let comment = data
        .get("comment")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let outcome = match verb {
        verbs::REQUEST_APPROVE => {
            requests::decide(docs, clock, tenant, id, user, true, comment).await
        }
        verbs::REQUEST_REJECT => {
            requests::decide(docs, clock, tenant, id, user, false, comment).await
        }
        verbs::REQUEST_CANCEL => requests::cancel(docs, clock, tenant, id, user).await,
        _ => requests::get(docs, tenant, id).await,
    };
    let viewer = Some(user.aad_object_id.as_str());
    match outcome {
        Ok(request) => {
            if verb != verbs::REQUEST_REFRESH {
                tracing::info!(request = %request.id, state = ?request.state, "team request decided");
                if verb != verbs::REQUEST_CANCEL {
                    after_decision(app, tenant, &request).await?;
                }
            }
            Ok(card_response(cards::approval(&request, viewer, &app.links)))
        }
        Err(RequestError::AlreadyDecided(current)) => {
            tracing::info!(request = %current.id, state = ?current.state, "card action on a request already decided");
            Ok(card_response(cards::approval(&current, viewer, &app.links)))
        }
        Err(RequestError::NotFound) => {
            tracing::info!(request = id, "card action on an unknown request");
            Ok(card_error(
                404,
                "NotFound",
                "This request no longer exists.",
            ))
        }
        Err(RequestError::NotApprover) => {
            tracing::warn!(request = id, user = %user.aad_object_id, "decision by someone who is not an approver");
            Ok(card_error(
                403,
                "Forbidden",
                "Only an approver of this request can decide on it.",
            ))
        }
        Err(RequestError::Invalid(reasons)) => Ok(bad_data(verb, &reasons.join(" "))),
        Err(RequestError::Platform(e)) => Err(e.into()),
        // Only submitting gives it; decisions never do.
        Err(e @ RequestError::NameNotSeen(_)) => Err(AppError::Internal(e.into())),
    }
}

async fn on_team(
    ctx: &Ctx<'_>,
    user: &Person,
    verb: &str,
    group_id: &str,
) -> Result<Value, AppError> {
    let (app, tenant) = (ctx.app, ctx.tenant);
    let docs = app.docs.as_ref();
    let outcome = match verb {
        verbs::TEAM_RENEW => answer_expiry(app, tenant, group_id, user, true).await?,
        verbs::TEAM_LET_EXPIRE => answer_expiry(app, tenant, group_id, user, false).await?,
        _ => teams::get(docs, tenant, group_id).await,
    };
    match outcome {
        Ok(team) => Ok(card_response(cards::team_expiring(
            &team,
            Some(&user.aad_object_id),
        ))),
        Err(TeamError::NotFound) => Ok(card_error(
            404,
            "NotFound",
            "SalesTim no longer tracks this team.",
        )),
        Err(TeamError::NotOwner) => {
            tracing::warn!(team = group_id, user = %user.aad_object_id, "expiry answer by someone who is not an owner");
            Ok(card_error(
                403,
                "Forbidden",
                "Only an owner of the team can renew it or let it expire.",
            ))
        }
        Err(TeamError::NoExpiry) => Ok(bad_data(verb, "This team has no expiry to renew.")),
        Err(TeamError::Platform(e)) => Err(e.into()),
    }
}
