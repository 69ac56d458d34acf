//! The request form as several invokes share it (a task module from a card
//! button, the message action): reading the form, checking the final name
//! (a draft), submitting, and telling the people concerned — the approvers
//! of the waiting stage, the requester — in their chat with the bot
//! ([`crate::bot::requests`], which the Request tab shares).

use serde_json::Value;

use super::Ctx;
pub(crate) use crate::bot::requests::{self as requests_flow, Submitted, after_decision};
use crate::error::AppError;
use crate::governance::directory;
use crate::governance::requests::{RequestForm, TeamRequest};
use crate::governance::templates;
use crate::teams::cards;

/// The string field `name` of a submitted form (missing or not a string: empty).
fn field(data: &Value, name: &str) -> String {
    data.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn form_from(data: &Value) -> RequestForm {
    RequestForm {
        template_id: field(data, "templateId"),
        display_name: field(data, "displayName"),
        description: field(data, "description"),
        justification: field(data, "justification"),
        owners: directory::entries(&field(data, "owners")),
        members: directory::entries(&field(data, "members")),
        // Looked up from the record the card names ([`super::crm`]).
        crm_record: None,
    }
}

/// The draft a form was previewed as (our own id, else ignored).
pub(crate) fn draft_id(data: &Value) -> Option<String> {
    data.get("draftId")
        .and_then(Value::as_str)
        .filter(|s| {
            s.len() <= 100
                && s.starts_with("req-")
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
}

/// The request form with the tenant's templates.
pub(crate) async fn form_card(
    ctx: &Ctx<'_>,
    prefill: &RequestForm,
    problems: &[String],
    draft: Option<&TeamRequest>,
) -> Result<Value, AppError> {
    let all = templates::list_active(ctx.app.docs.as_ref(), ctx.tenant).await?;
    form_card_of(ctx, all, prefill, problems, draft).await
}

/// The request form with `all`, the tenant's active templates, already read.
pub(crate) async fn form_card_of(
    ctx: &Ctx<'_>,
    mut all: Vec<templates::StoredTemplate>,
    prefill: &RequestForm,
    problems: &[String],
    draft: Option<&TeamRequest>,
) -> Result<Value, AppError> {
    // A team for a CRM record is made from a template for its type.
    if let Some(r) = &prefill.crm_record {
        all.retain(|t| t.template.crm_link == Some(r.record.record_type));
    }
    // Only the templates offered to this user (their audience).
    let mut offered = Vec::with_capacity(all.len());
    for t in all {
        let user = ctx
            .user
            .as_ref()
            .map(|u| u.aad_object_id.as_str())
            .unwrap_or_default();
        let graph = ctx.app.graph.as_ref();
        match directory::in_audience(graph, ctx.tenant, user, &t.template.audience).await {
            Ok(true) => offered.push(t),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, template = %t.id, "audience unknown: not offered"),
        }
    }
    Ok(cards::request_form(&offered, prefill, problems, draft))
}

/// Checks (`preview`) or submits the form for the acting user.
pub(crate) async fn submit_request(
    ctx: &Ctx<'_>,
    form: &RequestForm,
    draft: Option<&str>,
    preview: bool,
) -> Result<Submitted, AppError> {
    let Some(user) = &ctx.user else {
        return Err(AppError::BadRequest(
            "the invoke names no user (from.aadObjectId)".into(),
        ));
    };
    let origin = ctx.activity.conversation.as_ref().map(|c| c.id.clone());
    let mode = if preview {
        requests_flow::Mode::Preview
    } else {
        requests_flow::Mode::Submit
    };
    requests_flow::submit_form(ctx.app, ctx.tenant, user, form, draft, mode, origin).await
}
