//! The My teams and requests tab: the teams the caller owns, with their
//! lifecycle state, expiry and what waits for them, and their requests;
//! renewing or letting a team expire is the expiry card's own answer
//! ([`crate::bot::lifecycle::answer_expiry`]).

use serde_json::{Value, json};

use super::access::Caller;
use super::input::{invalid, ok, rfc3339};
use crate::app::App;
use crate::bot::lifecycle::answer_expiry;
use crate::error::AppError;
use crate::governance::lifecycle::machine::LifecycleState;
use crate::governance::requests::{self, RequestState};
use crate::governance::teams::{self, Renewal, TeamError, TeamRecord};
use crate::http::{HttpRequest, HttpResponse};

/// Most requests listed.
const MAX_REQUESTS: usize = 50;

fn team_json(team: &TeamRecord, viewer: &str) -> Value {
    let is_owner = team.is_owner(viewer);
    let can_renew = is_owner
        && team.expires_at.is_some()
        && team.renewal_days.is_some()
        && team.renewal == Renewal::Pending
        && team.lifecycle.is_live();
    let mut pending = Vec::new();
    if team.lifecycle == LifecycleState::Warned {
        pending.push("Renewal asked");
    }
    if team
        .guest_review
        .as_ref()
        .is_some_and(|r| r.answer.is_none())
    {
        pending.push("Guest review");
    }
    if team.owners.len() < 2 && team.lifecycle.is_live() {
        pending.push("Needs a second owner");
    }
    json!({
        "id": team.group_id, "name": team.display_name,
        "lifecycle": team.lifecycle, "expiresAt": team.expires_at.map(rfc3339),
        "webUrl": team.web_url, "isOwner": is_owner, "canRenew": can_renew,
        "renewal": team.renewal, "pending": pending,
    })
}

/// `GET my`.
pub async fn get(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let docs = app.docs.as_ref();
    let me = &caller.user.aad_object_id;
    let owned = teams::owned_by(docs, &caller.tenant, me).await?;
    let mine = requests::list_for_requester(docs, &caller.tenant, me, MAX_REQUESTS).await?;
    let teams: Vec<Value> = owned.iter().map(|t| team_json(t, me)).collect();
    let requests: Vec<Value> = mine
        .iter()
        .map(|r| {
            let reason = match r.state {
                RequestState::Rejected => r.decision.as_ref().map(|d| d.comment.clone()),
                _ => r.outcome.as_ref().and_then(|o| o.reason.clone()),
            };
            json!({
                "id": r.id, "name": r.display_name, "templateName": r.template_name,
                "state": format!("{:?}", r.state), "label": r.state.label(),
                "createdAt": rfc3339(r.created_at),
                "webUrl": r.outcome.as_ref().and_then(|o| o.web_url.clone()),
                "reason": reason,
            })
        })
        .collect();
    Ok(ok(&json!({ "teams": teams, "requests": requests })))
}

async fn answer(
    app: App,
    caller: Caller,
    req: HttpRequest,
    renew: bool,
) -> Result<HttpResponse, AppError> {
    let id = req.head.params.get("id").cloned().unwrap_or_default();
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(invalid("id", "a team id is an Entra group id (a GUID)"));
    }
    match answer_expiry(
        &app,
        &caller.tenant,
        &id.to_ascii_lowercase(),
        &caller.user,
        renew,
    )
    .await?
    {
        Ok(team) => Ok(ok(&team_json(&team, &caller.user.aad_object_id))),
        Err(TeamError::NotFound) => Err(AppError::NotFound),
        Err(TeamError::NotOwner) => {
            tracing::warn!(tenant_id = %caller.tenant, team = %id, user = %caller.user.aad_object_id, "expiry answer by someone who is not an owner");
            Err(AppError::Forbidden(
                "only an owner of the team can renew it or let it expire".into(),
            ))
        }
        Err(TeamError::NoExpiry) => Err(invalid("id", "this team has no expiry to renew")),
        Err(TeamError::Platform(e)) => Err(e.into()),
    }
}

/// `POST teams/{id}/renew`.
pub async fn renew(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    answer(app, caller, req, true).await
}

/// `POST teams/{id}/let-expire`.
pub async fn let_expire(
    app: App,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    answer(app, caller, req, false).await
}
