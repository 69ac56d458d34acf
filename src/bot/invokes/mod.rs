//! Invoke activities: Teams asks, and the answer goes back synchronously in
//! the HTTP response (PROTOCOLS.md §3.1). One file per invoke kind; this
//! file routes by `name`, gates the tenant, and holds the response shapes and
//! the request submission that several of them share.

mod card_action;
mod compose_action;
mod compose_query;
mod task_module;

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
use super::conversations;
use super::gate::{self, Closed};
use crate::app::App;
use crate::error::AppError;
use crate::functions::bot_outbox::{self, OutboxMessage};
use crate::governance::people::Person;
use crate::governance::requests::{self, RequestError, RequestForm, TeamRequest};
use crate::ids::TenantId;
use crate::teams::cards;

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
    }
}

/// The request form with the tenant's templates.
pub(crate) async fn form_card(
    ctx: &Ctx<'_>,
    prefill: &RequestForm,
    problems: &[String],
) -> Result<Value, AppError> {
    let templates =
        crate::governance::templates::list_active(ctx.app.docs.as_ref(), ctx.tenant).await?;
    Ok(cards::request_form(&templates, prefill, problems))
}

/// What submitting the form came to.
pub(crate) enum Submitted {
    Done(Box<TeamRequest>),
    /// The form comes back with these reasons.
    Refused(Vec<String>),
}

/// Submits a request for the acting user and tells the approvers.
pub(crate) async fn submit_request(
    ctx: &Ctx<'_>,
    form: &RequestForm,
) -> Result<Submitted, AppError> {
    let Some(user) = &ctx.user else {
        return Err(AppError::BadRequest(
            "the invoke names no user (from.aadObjectId)".into(),
        ));
    };
    let origin = ctx.activity.conversation.as_ref().map(|c| c.id.clone());
    let app = ctx.app;
    match requests::submit(
        app.docs.as_ref(),
        app.clock.as_ref(),
        ctx.tenant,
        user,
        form,
        origin,
    )
    .await
    {
        Ok(request) => {
            tracing::info!(request = %request.id, template = %request.template_id, "team request submitted");
            notify_approvers(app, ctx.tenant, &request).await?;
            Ok(Submitted::Done(Box::new(request)))
        }
        Err(RequestError::Invalid(reasons)) => {
            tracing::info!(?reasons, "team request refused");
            Ok(Submitted::Refused(reasons))
        }
        Err(RequestError::Platform(e)) => Err(e.into()),
        Err(e) => Err(AppError::Internal(anyhow::anyhow!(
            "submitting a request: {e}"
        ))),
    }
}

/// Queues `card` for `person`'s 1:1 chat with the bot, once per `key`.
/// Someone who never installed the app cannot be reached by a bot; that is
/// logged (installing the app for people comes with Graph provisioning).
async fn send_to_person(
    app: &App,
    tenant: &TenantId,
    person: &Person,
    key: String,
    card: Value,
) -> Result<(), AppError> {
    let Some(chat) =
        conversations::personal_for(app.docs.as_ref(), tenant, &person.aad_object_id).await?
    else {
        tracing::warn!(user = %person.aad_object_id, %key, "no chat with the bot; not notified");
        return Ok(());
    };
    let activity = Activity::message().with_card(card);
    let message = OutboxMessage::to_conversation(tenant, &chat, key, activity);
    bot_outbox::enqueue(app, &message).await
}

/// Sends each approver the approval card, in their own view.
async fn notify_approvers(
    app: &App,
    tenant: &TenantId,
    request: &TeamRequest,
) -> Result<(), AppError> {
    for approver in &request.approvers {
        let card = cards::approval(request, Some(&approver.aad_object_id), &app.links);
        let key = format!("approval-{}-{}", request.id, approver.aad_object_id);
        send_to_person(app, tenant, approver, key, card).await?;
    }
    Ok(())
}

/// Tells the requester that their request was decided.
pub(crate) async fn notify_requester(
    app: &App,
    tenant: &TenantId,
    request: &TeamRequest,
) -> Result<(), AppError> {
    let card = cards::request_status(request, &app.links);
    let key = format!("status-{}-{:?}", request.id, request.state);
    send_to_person(app, tenant, &request.requester, key, card).await
}
