//! `BotOutbox` — queue trigger on `bot-outbox`: sends what the bot has to
//! say through the Bot Connector. Each message carries a key recorded once
//! it is delivered, so a retried message is never posted twice. Throttling
//! and outages fail the invocation (the host retries, then poisons); a
//! request the Connector refuses for good is logged and completed.

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::bot::activity::Activity;
use crate::bot::connector::ConnectorError;
use crate::bot::conversations::ConversationRef;
use crate::error::AppError;
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::documents::{Container, Document};
use crate::platform::queues::QueueName;

pub const QUEUE: &str = "bot-outbox";
const DELIVERED_TTL_SECS: u32 = 7 * 24 * 3600;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    pub tenant_id: TenantId,
    /// Unique per thing to say; recorded when delivered.
    pub key: String,
    pub service_url: String,
    pub conversation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    pub activity: Activity,
}

impl OutboxMessage {
    /// A message into `incoming`'s conversation, threaded as a reply when
    /// `as_reply`.
    pub fn new(
        tenant: &TenantId,
        incoming: &Activity,
        key: String,
        as_reply: bool,
        activity: Activity,
    ) -> Self {
        OutboxMessage {
            tenant_id: tenant.clone(),
            key,
            service_url: incoming.service_url.clone(),
            conversation_id: incoming
                .conversation
                .as_ref()
                .map(|c| c.id.clone())
                .unwrap_or_default(),
            reply_to_id: if as_reply { incoming.id.clone() } else { None },
            activity,
        }
    }
}

impl OutboxMessage {
    /// A proactive message into a stored conversation.
    pub fn to_conversation(
        tenant: &TenantId,
        reference: &ConversationRef,
        key: String,
        activity: Activity,
    ) -> Self {
        OutboxMessage {
            tenant_id: tenant.clone(),
            key,
            service_url: reference.service_url.clone(),
            conversation_id: reference.conversation_id.clone(),
            reply_to_id: None,
            activity,
        }
    }
}

pub async fn enqueue(app: &App, message: &OutboxMessage) -> Result<(), AppError> {
    let text = crate::jobs::encode(message)?;
    let queue = QueueName::parse(QUEUE).expect("a valid queue name constant");
    app.queues.send(&queue, &text, None).await?;
    Ok(())
}

fn delivered_id(key: &str) -> String {
    use sha2::Digest;
    format!(
        "outbox-{}",
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    )
}

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let bot = app.bot.as_ref().ok_or(AppError::NotConfigured(
        "the bot (MicrosoftAppId, MicrosoftAppPassword)",
    ))?;
    let trigger = req
        .queue_trigger("msg")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let message: OutboxMessage = serde_json::from_str(&trigger.text)
        .map_err(|e| AppError::BadRequest(format!("outbox message {}: {e}", trigger.id)))?;
    tracing::Span::current().record("tenant_id", message.tenant_id.as_str());
    let id = delivered_id(&message.key);
    if app
        .docs
        .get(Container::Events, &message.tenant_id, &id)
        .await?
        .is_some()
    {
        return Ok(InvokeResponse::ok().log(format!("{} already delivered", message.key)));
    }
    let connector = &bot.connector;
    let sent = match &message.reply_to_id {
        Some(reply_to) => {
            connector
                .reply(
                    &message.service_url,
                    &message.conversation_id,
                    reply_to,
                    &message.activity,
                )
                .await
        }
        None => {
            connector
                .send(
                    &message.service_url,
                    &message.conversation_id,
                    &message.activity,
                )
                .await
        }
    };
    match sent {
        Ok(activity_id) => {
            let record = serde_json::json!({"activityId": activity_id, "conversationId": message.conversation_id});
            let doc = Document::new(&message.tenant_id, "outboxDelivered", id, &record)?
                .with_ttl(DELIVERED_TTL_SECS);
            app.docs.upsert(Container::Events, &doc).await?;
            Ok(InvokeResponse::ok().log(format!("{} delivered as {activity_id}", message.key)))
        }
        Err(e) if e.is_transient() => Err(AppError::Platform(PlatformError::unavailable(
            "bot connector",
            e,
        ))),
        Err(e @ (ConnectorError::Rejected { .. } | ConnectorError::ServiceUrl(_))) => {
            tracing::error!(error = %e, key = %message.key, "the connector refused a message; dropped");
            Ok(InvokeResponse::ok().log(format!("{} refused by the connector: {e}", message.key)))
        }
        Err(e) => Err(AppError::Platform(PlatformError::unavailable(
            "bot connector",
            e,
        ))),
    }
}
