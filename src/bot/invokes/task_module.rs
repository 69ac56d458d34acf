//! `task/fetch` and `task/submit`: the request form in a task module, opened
//! from a card button (`Action.Submit` with `msteams.type = task/fetch`).

use serde_json::Value;

use super::request_flow::{Submitted, draft_id, form_card, form_from, submit_request};
use super::{Ctx, task_continue, task_message};
use crate::error::AppError;
use crate::governance::requests::RequestForm;
use crate::teams::cards::{self, verbs};

const TITLE: &str = "Request a team";

/// Task module data sits in `value.data` (with the button's own data and,
/// on submit, the inputs).
fn data<'a>(ctx: &'a Ctx<'_>) -> &'a Value {
    ctx.value().get("data").unwrap_or(&Value::Null)
}

pub(super) fn action(data: &Value) -> &str {
    data.get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub(super) async fn fetch(ctx: &Ctx<'_>) -> Result<Value, AppError> {
    let data = data(ctx);
    match action(data) {
        verbs::REQUEST_FORM => {
            let prefill = RequestForm {
                template_id: data
                    .get("templateId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                ..RequestForm::default()
            };
            Ok(task_continue(
                TITLE,
                form_card(ctx, &prefill, &[], None).await?,
            ))
        }
        verbs::CRM_TEAM_FORM => Ok(task_continue(
            TITLE,
            super::crm::team_form(ctx, data).await?,
        )),
        other => {
            tracing::info!(action = other, "task/fetch for an unknown action");
            Ok(task_continue(
                "SalesTim",
                cards::error(
                    "Nothing to open",
                    "This button does not open anything any more.",
                ),
            ))
        }
    }
}

pub(super) async fn submit(ctx: &Ctx<'_>) -> Result<Value, AppError> {
    let data = data(ctx);
    let preview = match action(data) {
        verbs::REQUEST_SUBMIT => false,
        verbs::REQUEST_PREVIEW => true,
        other => {
            tracing::info!(action = other, "task/submit for an unknown action");
            return Ok(task_message(
                "This form is not known any more; open it again.",
            ));
        }
    };
    let mut form = form_from(data);
    match super::crm::record_for_form(ctx, data).await? {
        Ok(record) => form.crm_record = record,
        Err(card) => return Ok(task_continue(TITLE, card)),
    }
    let draft = draft_id(data);
    match submit_request(ctx, &form, draft.as_deref(), preview).await? {
        Submitted::Previewed(draft) => Ok(task_continue(
            TITLE,
            form_card(ctx, &form, &[], Some(&draft)).await?,
        )),
        Submitted::Done(request) => {
            let text = if request.stages.is_empty() {
                format!("Your request for \"{}\" is approved.", request.display_name)
            } else {
                format!(
                    "Your request for \"{}\" was sent for approval. I'll tell you when it is decided.",
                    request.display_name
                )
            };
            Ok(task_message(&text))
        }
        Submitted::Refused(problems) => Ok(task_continue(
            TITLE,
            form_card(ctx, &form, &problems, None).await?,
        )),
    }
}
