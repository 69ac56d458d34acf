//! The Approvals tab: the requests waiting for the caller's decision, and
//! the decision itself, through the same domain call and follow-up as the
//! approval card ([`crate::bot::requests::decide`]). Each item carries a
//! version (`etag`: the stage it waits at); a decision sent with a version
//! that is no longer current is refused with 409 and the current state, so
//! nobody approves a stage they have not seen. Two approvers deciding at
//! once are settled by the request document's own ETag: one wins, the
//! other gets 409.

use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Caller;
use super::input::{invalid, json, ok, rfc3339};
use crate::app::App;
use crate::bot::requests as flow;
use crate::error::AppError;
use crate::governance::requests::{
    self, MAX_COMMENT_CHARS, RequestError, RequestState, TeamRequest,
};
use crate::http::{HttpRequest, HttpResponse};

/// Most waiting requests listed (and scanned beyond the caller's).
const MAX_LISTED: usize = 200;
const MAX_SCANNED: usize = 5_000;

fn etag(r: &TeamRequest) -> String {
    format!("{}-{}", r.id, r.current_stage)
}

fn item(r: &TeamRequest) -> Value {
    json!({
        "id": r.id, "etag": etag(r), "finalName": r.display_name, "templateName": r.template_name,
        "requester": {"id": r.requester.aad_object_id, "name": r.requester.name},
        "createdAt": rfc3339(r.created_at),
        "stage": r.current_stage + 1, "stages": r.stages.len(),
        "description": r.description, "justification": r.justification,
    })
}

/// `GET approvals`.
pub async fn list(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let mut waiting = std::pin::pin!(requests::in_state(
        app.docs.as_ref(),
        &caller.tenant,
        RequestState::Submitted
    ));
    let mut pending = Vec::new();
    let mut scanned = 0;
    while let Some(r) = waiting.try_next().await? {
        scanned += 1;
        if r.is_approver(&caller.user.aad_object_id) {
            pending.push(r);
        }
        if pending.len() >= MAX_LISTED || scanned >= MAX_SCANNED {
            break;
        }
    }
    pending.sort_by_key(|r| r.created_at);
    let items: Vec<Value> = pending.iter().map(item).collect();
    Ok(ok(&json!({ "pending": items })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum Verdict {
    Approve,
    Reject,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Decision {
    decision: Verdict,
    #[serde(default)]
    comment: String,
    etag: String,
}

/// `POST approvals/{id}`.
pub async fn decide(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let body: Decision = json(&req)?;
    let id = req.head.params.get("id").cloned().unwrap_or_default();
    if body.comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(invalid(
            "comment",
            format!("at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    let approved = matches!(body.decision, Verdict::Approve);
    if !approved && body.comment.trim().is_empty() {
        return Err(invalid(
            "comment",
            "say why you reject the request, so the requester knows",
        ));
    }
    let (tenant, user) = (&caller.tenant, &caller.user);
    let current = match requests::get(app.docs.as_ref(), tenant, &id).await {
        Ok(r) => r,
        Err(RequestError::NotFound) => return Err(AppError::NotFound),
        Err(RequestError::Platform(e)) => return Err(e.into()),
        Err(e) => return Err(AppError::Internal(e.into())),
    };
    if !current.is_any_approver(&user.aad_object_id) {
        tracing::warn!(tenant_id = %tenant, request = %id, user = %user.aad_object_id, "decision by someone who is not an approver");
        return Err(AppError::Forbidden(
            "only an approver of this request can decide on it".into(),
        ));
    }
    if current.state != RequestState::Submitted || etag(&current) != body.etag {
        return Err(AppError::Conflict(format!(
            "the request changed since you saw it: it is now {} ({}); look at it again",
            current.state.label().to_lowercase(),
            if current.state == RequestState::Submitted {
                format!(
                    "stage {} of {}",
                    current.current_stage + 1,
                    current.stages.len()
                )
            } else {
                "decided".into()
            }
        )));
    }
    match flow::decide(&app, tenant, &id, user, approved, &body.comment).await? {
        Ok(r) => Ok(ok(
            &json!({"id": r.id, "state": format!("{:?}", r.state), "label": r.state.label()}),
        )),
        Err(RequestError::AlreadyDecided(r)) => Err(AppError::Conflict(format!(
            "someone decided first: the request is {}",
            r.state.label().to_lowercase()
        ))),
        Err(RequestError::NotApprover) => Err(AppError::Forbidden(
            "only an approver of the waiting stage can decide on it".into(),
        )),
        Err(RequestError::NotFound) => Err(AppError::NotFound),
        Err(RequestError::Invalid(reasons)) => Err(invalid("comment", reasons.join(" "))),
        Err(RequestError::Platform(e)) => Err(e.into()),
        Err(e @ RequestError::NameNotSeen(_)) => Err(AppError::Internal(e.into())),
    }
}
