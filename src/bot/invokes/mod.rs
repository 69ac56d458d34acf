//! Invoke activities: Teams asks, and the answer goes back synchronously in
//! the HTTP response (PROTOCOLS.md §3.1). One file per invoke kind; this
//! file routes by `name`, gates the tenant, and holds the response shapes and
//! the request submission that several of them share.

mod card_action;
mod compose_action;
mod compose_query;
mod crm;
mod lifecycle_card;
mod request_flow;
mod task_module;

#[cfg(test)]
mod proptests;

/// The messaging extension's command ids the bot answers, as the manifest
/// must declare them: search (`query`) commands, then the action command.
pub fn command_ids() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        compose_query::SEARCH_COMMANDS
            .iter()
            .map(|(id, _)| *id)
            .collect(),
        vec![compose_action::COMMAND],
    )
}

use serde_json::{Value, json};
use warp::http::StatusCode;

use super::activity::{ADAPTIVE_CARD, Activity};
use super::gate::{self, Closed};
use crate::app::App;
use crate::error::AppError;
use crate::governance::people::Person;
use crate::ids::TenantId;

/// Ids in card data are our own tokens; anything else is not ours.
fn id_in(data: &Value, name: &str) -> Option<String> {
    data.get(name)
        .and_then(Value::as_str)
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 100
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
}

/// What goes back to Teams: the HTTP status and the JSON body.
#[derive(Debug, PartialEq)]
pub struct InvokeReply {
    pub status: StatusCode,
    pub body: Value,
}

impl InvokeReply {
    fn ok(body: Value) -> Self {
        InvokeReply {
            status: StatusCode::OK,
            body,
        }
    }
}

/// Everything a handler needs about the invoke.
pub(crate) struct Ctx<'a> {
    pub app: &'a App,
    pub tenant: &'a TenantId,
    pub activity: &'a Activity,
    /// Who acted, when Teams says (`from.aadObjectId`).
    pub user: Option<Person>,
}

impl Ctx<'_> {
    fn value(&self) -> &Value {
        self.activity.value.as_ref().unwrap_or(&Value::Null)
    }
}

/// The kinds of invoke the bot answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CardAction,
    TaskFetch,
    TaskSubmit,
    Query,
    QueryLink,
    FetchTask,
    SubmitAction,
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "adaptiveCard/action" => Kind::CardAction,
            "task/fetch" => Kind::TaskFetch,
            "task/submit" => Kind::TaskSubmit,
            "composeExtension/query" => Kind::Query,
            "composeExtension/queryLink" | "composeExtension/anonymousQueryLink" => Kind::QueryLink,
            "composeExtension/fetchTask" => Kind::FetchTask,
            "composeExtension/submitAction" => Kind::SubmitAction,
            _ => return None,
        })
    }

    /// The notice for a closed tenant, in this invoke's response shape.
    fn closed(self, app: &App, closed: &Closed) -> Value {
        match self {
            Kind::CardAction => card_response(closed.card(app)),
            Kind::TaskFetch | Kind::TaskSubmit | Kind::FetchTask | Kind::SubmitAction => {
                task_continue("SalesTim", closed.card(app))
            }
            Kind::Query | Kind::QueryLink => compose_message(&closed.title),
        }
    }
}

/// Answers an invoke from a tenant whose token was validated.
pub async fn handle(
    app: &App,
    tenant: &TenantId,
    activity: &Activity,
) -> Result<InvokeReply, AppError> {
    let name = activity.name.as_deref().unwrap_or_default();
    let Some(kind) = Kind::of(name) else {
        // As botbuilder answers an invoke it has no handler for.
        tracing::info!(name, "invoke not handled");
        return Ok(InvokeReply {
            status: StatusCode::NOT_IMPLEMENTED,
            body: json!({}),
        });
    };
    if let Some(closed) = gate::closed(app, tenant).await? {
        tracing::info!(name, reason = %closed.title, "invoke from a tenant that cannot use the product now");
        return Ok(InvokeReply::ok(kind.closed(app, &closed)));
    }
    let user = acting_user(activity);
    let ctx = Ctx {
        app,
        tenant,
        activity,
        user,
    };
    let body = match kind {
        Kind::CardAction => card_action::handle(&ctx).await?,
        Kind::TaskFetch => task_module::fetch(&ctx).await?,
        Kind::TaskSubmit => task_module::submit(&ctx).await?,
        Kind::Query => compose_query::query(&ctx).await?,
        Kind::QueryLink => compose_query::query_link(&ctx).await?,
        Kind::FetchTask => compose_action::fetch_task(&ctx).await?,
        Kind::SubmitAction => compose_action::submit_action(&ctx).await?,
    };
    Ok(InvokeReply::ok(body))
}

/// Who sent the activity, when Teams says (`from.aadObjectId`, a GUID).
pub fn acting_user(activity: &Activity) -> Option<Person> {
    let from = activity.from.as_ref()?;
    let aad = from
        .aad_object_id
        .as_deref()
        .filter(|a| uuid::Uuid::parse_str(a).is_ok())?;
    Some(Person::new(
        aad,
        from.name.clone().unwrap_or_else(|| "Someone".into()),
    ))
}

pub(crate) fn attachment(card: Value) -> Value {
    json!({"contentType": ADAPTIVE_CARD, "content": card})
}

/// `adaptiveCard/action`: the card that replaces the clicked one.
pub(crate) fn card_response(card: Value) -> Value {
    json!({"statusCode": 200, "type": ADAPTIVE_CARD, "value": card})
}

/// `adaptiveCard/action`: an error Teams shows on the card.
pub(crate) fn card_error(status: u16, code: &str, message: &str) -> Value {
    json!({"statusCode": status, "type": "application/vnd.microsoft.error", "value": {"code": code, "message": message}})
}

/// Task modules: show (or keep showing) a card.
pub(crate) fn task_continue(title: &str, card: Value) -> Value {
    json!({"task": {"type": "continue", "value": {"title": title, "height": "medium", "width": "medium", "card": attachment(card)}}})
}

/// Task modules: close with a message.
pub(crate) fn task_message(text: &str) -> Value {
    json!({"task": {"type": "message", "value": text}})
}

/// Messaging extensions: a plain message instead of results.
pub(crate) fn compose_message(text: &str) -> Value {
    json!({"composeExtension": {"type": "message", "text": text}})
}

/// Messaging extensions: result cards with their list previews.
pub(crate) fn compose_result(items: Vec<(Value, String, String)>) -> Value {
    let attachments: Vec<Value> = items
        .into_iter()
        .map(|(card, title, text)| {
            let mut a = attachment(card);
            a["preview"] = json!({"contentType": "application/vnd.microsoft.card.thumbnail", "content": {"title": title, "text": text}});
            a
        })
        .collect();
    json!({"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": attachments}})
}
