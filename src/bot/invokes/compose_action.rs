//! The "Request a team from this conversation" action command
//! (`composeExtension/fetchTask` + `submitAction`): the request form,
//! pre-filled from the message it was started on, answered by a result card.

use serde_json::Value;

use super::request_flow::{Submitted, draft_id, form_card, form_from, submit_request};
use super::{Ctx, compose_message, compose_result, task_continue};
use crate::error::AppError;
use crate::governance::requests::{MAX_TEXT_CHARS, RequestForm};
use crate::teams::cards::{self, verbs};

/// The manifest's `action` command id.
pub const COMMAND: &str = "requestTeam";
const TITLE: &str = "Request a team";
/// Names taken from a message are cut to a sensible length.
const NAME_FROM_MESSAGE_CHARS: usize = 60;

/// The text of a message payload (`body.content`, HTML for most Teams
/// messages), with tags dropped, entities decoded and spacing collapsed.
pub(super) fn message_text(payload: &Value) -> String {
    let content = payload
        .pointer("/body/content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let html = payload.pointer("/body/contentType").and_then(Value::as_str) == Some("html");
    let mut text = String::with_capacity(content.len().min(16 * 1024));
    let mut in_tag = false;
    for c in content.chars().take(16 * 1024) {
        match c {
            '<' if html => in_tag = true,
            '>' if html && in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if in_tag => {}
            _ => text.push(c),
        }
    }
    let text = if html {
        text.replace("&nbsp;", " ")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    } else {
        text
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn prefill(value: &Value) -> RequestForm {
    let payload = value.get("messagePayload").unwrap_or(&Value::Null);
    let text = message_text(payload);
    let subject = payload
        .get("subject")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    let name_source = if subject.is_empty() {
        text.as_str()
    } else {
        subject
    };
    RequestForm {
        display_name: name_source
            .chars()
            .take(NAME_FROM_MESSAGE_CHARS)
            .collect::<String>()
            .trim()
            .to_owned(),
        description: text.chars().take(MAX_TEXT_CHARS).collect(),
        ..RequestForm::default()
    }
}

fn command_id(ctx: &Ctx<'_>) -> String {
    ctx.value()
        .get("commandId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub(super) async fn fetch_task(ctx: &Ctx<'_>) -> Result<Value, AppError> {
    let id = command_id(ctx);
    if id != COMMAND {
        tracing::info!(command_id = %id, "action command not known");
        return Ok(task_continue(
            "SalesTim",
            cards::error("Not available", "This action is not available."),
        ));
    }
    Ok(task_continue(
        TITLE,
        form_card(ctx, &prefill(ctx.value()), &[], None).await?,
    ))
}

pub(super) async fn submit_action(ctx: &Ctx<'_>) -> Result<Value, AppError> {
    let id = command_id(ctx);
    if id != COMMAND {
        tracing::info!(command_id = %id, "action command not known");
        return Ok(compose_message("This action is not available."));
    }
    let data = ctx.value().get("data").unwrap_or(&Value::Null);
    let form = form_from(data);
    let draft = draft_id(data);
    let preview = data.get("action").and_then(Value::as_str) == Some(verbs::REQUEST_PREVIEW);
    match submit_request(ctx, &form, draft.as_deref(), preview).await? {
        Submitted::Previewed(draft) => Ok(task_continue(
            TITLE,
            form_card(ctx, &form, &[], Some(&draft)).await?,
        )),
        Submitted::Done(request) => {
            let card = cards::approval(&request, None, &ctx.app.links);
            let text = format!("Team request · {}", request.state.label());
            Ok(compose_result(vec![(
                card,
                request.display_name.clone(),
                text,
            )]))
        }
        Submitted::Refused(problems) => Ok(task_continue(
            TITLE,
            form_card(ctx, &form, &problems, None).await?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_prefills_name_and_description_without_markup() {
        let value = json!({"messagePayload": {"subject": "", "body": {"contentType": "html",
            "content": "<p>Launch&nbsp;plan for <b>Falcon</b> &amp; partners</p><p>Q3</p>"}}});
        let form = prefill(&value);
        assert_eq!(form.description, "Launch plan for Falcon & partners Q3");
        assert_eq!(form.display_name, "Launch plan for Falcon & partners Q3");
        let with_subject = prefill(
            &json!({"messagePayload": {"subject": "Falcon", "body": {"contentType": "text", "content": "a <b> c"}}}),
        );
        assert_eq!(with_subject.display_name, "Falcon");
        assert_eq!(with_subject.description, "a <b> c");
        let long = prefill(
            &json!({"messagePayload": {"body": {"contentType": "text", "content": "word ".repeat(500)}}}),
        );
        assert!(long.display_name.chars().count() <= NAME_FROM_MESSAGE_CHARS);
        assert!(long.description.chars().count() <= MAX_TEXT_CHARS);
        assert_eq!(prefill(&json!({})), RequestForm::default());
    }
}
