//! `BotMessages` — `POST /api/messages`, the Teams bot endpoint. Before the
//! body is read ([`check_head`]): the Bot Framework token is validated (or,
//! without authentication, only a tool may post), then the activity is
//! admitted (a bounded number in hand, else 429). Then parse, bind the token to the activity's
//! channel and serviceUrl, and answer: the reply is sent inline within a
//! short budget and falls back to the durable `bot-outbox` queue
//! (`bot::replies`).

use warp::http::StatusCode;

use crate::app::App;
use crate::bot::activity::Activity;
use crate::bot::auth::VerifiedToken;
use crate::bot::commands::{self, Command};
use crate::bot::conversations::{self, ConversationRef};
use crate::bot::gate;
use crate::bot::invokes;
use crate::bot::replies;
use crate::bot::{Bot, Inbound};
use crate::error::AppError;
use crate::governance::{requests, teams};
use crate::http::{HttpRequest, HttpResponse, RequestHead};
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::documents::{Container, Document};
use crate::teams::cards;

pub const MAX_BODY_BYTES: usize = 256 * 1024;

fn bot(app: &App) -> Result<&Bot, AppError> {
    app.bot.as_ref().ok_or(AppError::NotConfigured(
        "the bot (MicrosoftAppId, MicrosoftAppPassword)",
    ))
}

fn unauthorized(e: crate::bot::auth::AuthError) -> AppError {
    AppError::Unauthorized(e.to_string())
}

/// Everything decided before the body is read: the bot is configured, and
/// the token is valid (left in the head's extensions for [`run`]); without
/// authentication, the request comes from a tool, not a web page.
pub async fn check_head(app: &App, head: &mut RequestHead) -> Result<(), AppError> {
    let bot = bot(app)?;
    if matches!(bot.inbound, Inbound::Disabled) {
        if let Some(reason) = crate::http::browser_request_reason(&head.headers) {
            return Err(AppError::Forbidden(reason.into()));
        }
        if !crate::http::is_json(&head.headers) {
            return Err(AppError::UnsupportedMediaType(
                "an activity is application/json".into(),
            ));
        }
    }
    if let Some(token) = bot
        .verify(head.header("authorization"), app.clock.as_ref())
        .await
        .map_err(unauthorized)?
    {
        head.extensions.insert(token);
    }
    // Admitted only once authenticated, so forged requests hold no place.
    head.extensions.insert(bot.replies.admit()?);
    Ok(())
}

pub async fn run(app: App, mut req: HttpRequest) -> Result<HttpResponse, AppError> {
    let bot = bot(&app)?;
    let _in_hand = req.head.extensions.remove::<replies::InHand>();
    let activity: Activity = serde_json::from_slice(&req.body)
        .map_err(|e| AppError::BadRequest(format!("not an activity: {e}")))?;
    if activity.service_url.is_empty() || activity.channel_id.is_empty() {
        return Err(AppError::BadRequest(
            "an activity needs serviceUrl and channelId".into(),
        ));
    }
    let token = req.head.extensions.remove::<VerifiedToken>();
    bot.bind(token, &activity.channel_id, &activity.service_url)
        .map_err(unauthorized)?;
    let tenant = activity
        .tenant_id()
        .ok_or_else(|| AppError::BadRequest("the activity names no tenant".into()))?;
    tracing::Span::current().record("tenant_id", tenant.as_str());

    match activity.kind.as_str() {
        "conversationUpdate" | "installationUpdate" => on_install(&app, &tenant, &activity).await?,
        "message" => on_message(&app, &tenant, &activity).await?,
        "invoke" => {
            let reply = invokes::handle(&app, &tenant, &activity).await?;
            return Ok(HttpResponse::json(reply.status, &reply.body));
        }
        other => tracing::debug!(kind = other, "activity ignored"),
    }
    Ok(HttpResponse::empty(StatusCode::OK))
}

fn bot_was_added(activity: &Activity) -> bool {
    let bot_id = activity.recipient.as_ref().map(|r| r.id.as_str());
    match activity.kind.as_str() {
        "installationUpdate" => activity
            .extra
            .get("action")
            .and_then(|a| a.as_str())
            .is_some_and(|a| a.starts_with("add")),
        _ => activity
            .members_added
            .iter()
            .any(|m| Some(m.id.as_str()) == bot_id),
    }
}

/// Gates the tenant; when it may use the product, remembers the
/// conversation for proactive messages. `Some(notice)` when it may not.
async fn admit(
    app: &App,
    tenant: &TenantId,
    activity: &Activity,
) -> Result<Option<serde_json::Value>, AppError> {
    if let Some(closed) = gate::closed(app, tenant).await? {
        tracing::info!(reason = %closed.title, "activity from a tenant that cannot use the product now");
        return Ok(Some(closed.card(app)));
    }
    if let Some(reference) = ConversationRef::of(activity) {
        conversations::remember(app.docs.as_ref(), app.cache.as_ref(), tenant, &reference).await?;
    }
    Ok(None)
}

/// Says `card` in `activity`'s conversation (threaded when `as_reply`), once
/// per `key`: inline within the budget, else through the outbox.
async fn answer(
    app: &App,
    tenant: &TenantId,
    activity: &Activity,
    key: String,
    as_reply: bool,
    card: serde_json::Value,
) -> Result<(), AppError> {
    let message = replies::into_conversation_of(
        tenant,
        activity,
        key,
        as_reply,
        &activity.reply().with_card(card),
    );
    replies::answer(app, message).await
}

/// How long a conversation is remembered as greeted (Teams sends
/// `installationUpdate` and `conversationUpdate` for one install, and again
/// on an upgrade; an uninstall forgets it at once).
const WELCOMED_TTL_SECS: u32 = 180 * 24 * 3600;

fn welcomed_id(conversation: &str) -> String {
    use sha2::Digest;
    format!(
        "welcomed-{}",
        hex::encode(sha2::Sha256::digest(conversation.as_bytes()))
    )
}

fn bot_was_removed(activity: &Activity) -> bool {
    activity.kind == "installationUpdate"
        && activity.extra.get("action").and_then(|a| a.as_str()) == Some("remove")
}

/// Greets a conversation the bot was added to, once: Teams sends both
/// `installationUpdate` and `conversationUpdate` for one personal install,
/// at the same moment (and possibly to two regions), so the outbox's
/// delivered-key check, made when each is sent, cannot stop the second.
/// The decision is taken here instead, by creating the conversation's
/// `welcomed` record: the store lets exactly one create win.
async fn on_install(app: &App, tenant: &TenantId, activity: &Activity) -> Result<(), AppError> {
    let conversation = activity
        .conversation
        .as_ref()
        .map(|c| c.id.as_str())
        .unwrap_or_default();
    if bot_was_removed(activity) {
        app.docs
            .delete(Container::Events, tenant, &welcomed_id(conversation))
            .await?;
        return Ok(());
    }
    if !bot_was_added(activity) {
        return Ok(());
    }
    if conversation.is_empty() {
        return Err(AppError::BadRequest(
            "an install activity needs its conversation".into(),
        ));
    }
    let card = admit(app, tenant, activity)
        .await?
        .unwrap_or_else(cards::welcome);
    let id = welcomed_id(conversation);
    // Each greeting is a new thing to say (a reinstall greets again), so
    // its outbox key is its own.
    let greeting = uuid::Uuid::new_v4().simple().to_string();
    let record =
        serde_json::json!({"greeting": greeting, "activityId": activity.id, "kind": activity.kind});
    let doc = Document::new(tenant, "conversationWelcomed", id.clone(), &record)?
        .with_ttl(WELCOMED_TTL_SECS);
    match app.docs.create(Container::Events, &doc).await {
        Ok(_) => {}
        Err(PlatformError::Conflict) => {
            tracing::info!(kind = %activity.kind, "conversation already greeted; no second welcome");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    let queued = answer(
        app,
        tenant,
        activity,
        format!("welcome-{conversation}-{greeting}"),
        false,
        card,
    )
    .await;
    if queued.is_err() {
        // Not greeted after all: Teams' retry (or the other event) may try again.
        if let Err(e) = app.docs.delete(Container::Events, tenant, &id).await {
            tracing::warn!(error = %e, "could not forget a welcome that was not queued");
        }
    }
    queued
}

/// How many of their requests `my requests` lists.
const MY_REQUESTS: usize = 10;

fn user_id(activity: &Activity) -> Option<String> {
    invokes::acting_user(activity).map(|p| p.aad_object_id)
}

fn no_user() -> serde_json::Value {
    cards::error(
        "I can't tell who you are",
        "Teams did not say which account sent this; try again from the Teams app.",
    )
}

async fn on_message(app: &App, tenant: &TenantId, activity: &Activity) -> Result<(), AppError> {
    let card = match admit(app, tenant, activity).await? {
        Some(notice) => notice,
        None => match commands::parse(activity.text.as_deref().unwrap_or_default()) {
            Command::Help => cards::help(None),
            Command::Unknown(text) => cards::help(Some(&text)),
            Command::MyRequests => match user_id(activity) {
                Some(user) => {
                    let mine =
                        requests::list_for_requester(app.docs.as_ref(), tenant, &user, MY_REQUESTS)
                            .await?;
                    cards::my_requests(&mine, &app.links)
                }
                None => no_user(),
            },
            Command::MyTeams => match user_id(activity) {
                Some(user) => {
                    cards::my_teams(&teams::owned_by(app.docs.as_ref(), tenant, &user).await?)
                }
                None => no_user(),
            },
            Command::RequestTeam => cards::open_request_form(),
        },
    };
    answer(
        app,
        tenant,
        activity,
        replies::reply_key(activity),
        true,
        card,
    )
    .await
}
