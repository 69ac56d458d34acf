//! Telling people about their requests in their 1:1 chat with the bot
//! (proactive messages through the `BotOutbox` queue): the approvers of the
//! waiting stage get the approval card, the requester gets status cards.
//! Each message has a key, so a retried step never says it twice.

use serde_json::Value;

use crate::app::App;
use crate::bot::activity::Activity;
use crate::bot::conversations;
use crate::bot::replies;
use crate::error::AppError;
use crate::governance::people::Person;
use crate::governance::requests::TeamRequest;
use crate::ids::TenantId;
use crate::jobs::bot_outbox;
use crate::teams::cards;

/// Queues `card` for `person`'s 1:1 chat with the bot, once per `key`.
/// Someone who never installed the app cannot be reached by a bot; that is
/// logged.
pub async fn send_to_person(
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
    let message = replies::into_conversation(tenant, &chat, key, &activity);
    Ok(bot_outbox::enqueue(app.queues.as_ref(), &message, None).await?)
}

/// Sends each approver of the waiting stage the approval card, in their own
/// view; `tag` tells apart later sends of the same stage (a reminder).
pub async fn notify_stage(
    app: &App,
    tenant: &TenantId,
    request: &TeamRequest,
    tag: &str,
) -> Result<(), AppError> {
    for approver in request.approvers() {
        let card = cards::approval(request, Some(&approver.aad_object_id), &app.links);
        let key = format!(
            "approval-{}-{}-{}{tag}",
            request.id, request.current_stage, approver.aad_object_id
        );
        send_to_person(app, tenant, approver, key, card).await?;
    }
    Ok(())
}

/// Tells the requester where their request stands.
pub async fn notify_requester(
    app: &App,
    tenant: &TenantId,
    request: &TeamRequest,
) -> Result<(), AppError> {
    let card = cards::request_status(request, &app.links);
    let key = format!("status-{}-{:?}", request.id, request.state);
    send_to_person(app, tenant, &request.requester, key, card).await
}
