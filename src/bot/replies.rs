//! Delivering what the bot says, once per key, without keeping anyone
//! waiting.
//!
//! The reply to an activity is computed while Teams waits for the HTTP
//! answer, so it is sent there and then: one Connector attempt within a
//! short budget (`SALESTIM_BOT_REPLY_BUDGET_MS`). Only what that attempt
//! cannot finish goes to the durable `bot-outbox` queue, before Teams gets
//! its 200: throttling (queued after the Connector's `Retry-After`), a
//! server error or an unreachable Connector (queued at once), or a budget
//! spent (queued after [`LINGER`], while the attempt runs on in the
//! background and records the key if it lands, so the queued copy finds it
//! delivered). Before an inline send the reply's key is claimed in the
//! `events` container (one create wins), and the claim becomes a delivery
//! record when the Connector has taken the activity; whoever comes second
//! finds it and sends nothing: a retried activity after the answer, the
//! outbox after an inline send, or the same activity repeated while its
//! answer is still on its way (that one queues a copy after [`LINGER`],
//! which finds the answer delivered). A crash before the 200 makes Teams
//! send the activity again, and its copy goes through the outbox; a crash
//! after it leaves a queued message or a sent reply: nothing is lost.
//!
//! The front door is bounded: at most `SALESTIM_BOT_MAX_IN_FLIGHT`
//! activities are in hand at once, and the next one is answered 429 with
//! `Retry-After` at once, rather than taking work the bot cannot finish in
//! seconds. Inline sends have the same bound; past it, replies queue.

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Bot;
use super::activity::Activity;
use super::connector::{ConnectorError, Patience};
use super::conversations::ConversationRef;
use crate::app::App;
use crate::config::ReplySettings;
use crate::error::AppError;
use crate::ids::TenantId;
use crate::jobs::bot_outbox::{self, OutboxMessage};
use crate::platform::PlatformError;
use crate::platform::documents::{Container, Document, Documents};

/// How long a delivery is remembered (Teams retries within minutes; a queued
/// message lives at most 7 days).
const DELIVERED_TTL_SECS: u32 = 7 * 24 * 3600;
/// One inline request may take this long after its budget is spent; a copy
/// queued then waits as long, so it never races the attempt.
const LINGER: Duration = Duration::from_secs(10);
/// A `Retry-After` longer than this is cut short (the queue retries again).
const MAX_QUEUE_DELAY: Duration = Duration::from_secs(15 * 60);

/// `activity` as the outbox carries it.
fn raw(activity: &Activity) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(activity)
        .expect("an activity is JSON: string keys, no failing Serialize impl")
}

/// A message into `incoming`'s conversation, threaded as a reply when
/// `as_reply` (and `incoming` has an id to reply to).
pub fn into_conversation_of(
    tenant: &TenantId,
    incoming: &Activity,
    key: String,
    as_reply: bool,
    activity: &Activity,
) -> OutboxMessage {
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
        activity: raw(activity),
    }
}

/// A proactive message into a stored conversation.
pub fn into_conversation(
    tenant: &TenantId,
    reference: &ConversationRef,
    key: String,
    activity: &Activity,
) -> OutboxMessage {
    OutboxMessage {
        tenant_id: tenant.clone(),
        key,
        service_url: reference.service_url.clone(),
        conversation_id: reference.conversation_id.clone(),
        reply_to_id: None,
        activity: raw(activity),
    }
}

/// The bounds on the bot's work in hand.
pub struct Replies {
    budget: Duration,
    in_flight: Arc<Semaphore>,
    sending: Arc<Semaphore>,
}

impl Replies {
    pub fn new(settings: &ReplySettings) -> Self {
        Replies {
            budget: settings.budget,
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight)),
            sending: Arc::new(Semaphore::new(settings.max_in_flight)),
        }
    }

    /// A place for one more activity, held until it is answered; with
    /// none, the activity is answered 429 at once (before its body is
    /// read), to come back in a second.
    pub fn admit(&self) -> Result<InHand, AppError> {
        match self.in_flight.clone().try_acquire_owned() {
            Ok(permit) => Ok(InHand(Arc::new(permit))),
            Err(_) => {
                tracing::warn!(
                    "too many activities in hand; answered 429 (SALESTIM_BOT_MAX_IN_FLIGHT)"
                );
                Err(AppError::TooManyRequests("the bot is busy"))
            }
        }
    }
}

/// An activity's place among those in hand, released when it is answered.
#[derive(Clone)]
pub struct InHand(#[allow(dead_code, reason = "held, not read")] Arc<OwnedSemaphorePermit>);

/// The id under which `key`'s delivery is recorded (keys hold conversation
/// ids of any length; the id is bounded).
fn delivered_id(key: &str) -> String {
    use sha2::Digest;
    format!(
        "outbox-{}",
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    )
}

/// A delivery record says "sent" once it names the activity the Connector
/// made; before that it is a claim: someone is sending it now.
fn is_sent(doc: &Document) -> bool {
    doc.body.contains_key("activityId")
}

async fn is_delivered(docs: &dyn Documents, message: &OutboxMessage) -> Result<bool, AppError> {
    Ok(docs
        .get(
            Container::Events,
            &message.tenant_id,
            &delivered_id(&message.key),
        )
        .await?
        .is_some_and(|doc| is_sent(&doc)))
}

/// Who may send a reply now.
enum Claim {
    /// This call: nobody had claimed the key.
    Ours,
    /// Sent already (a repeated activity).
    Sent,
    /// Someone is sending it now (the same activity, repeated while its
    /// first answer is still being sent).
    Claimed,
}

/// Claims the key before an inline send: the store lets one create win,
/// so a repeated activity never races its first answer to the Connector.
async fn claim(docs: &dyn Documents, message: &OutboxMessage) -> Result<Claim, AppError> {
    let id = delivered_id(&message.key);
    let record = serde_json::json!({"conversationId": message.conversation_id});
    let doc = Document::new(&message.tenant_id, "outboxDelivered", id.clone(), &record)?
        .with_ttl(DELIVERED_TTL_SECS);
    match docs.create(Container::Events, &doc).await {
        Ok(_) => Ok(Claim::Ours),
        Err(PlatformError::Conflict) => {
            let existing = docs.get(Container::Events, &message.tenant_id, &id).await?;
            Ok(match existing {
                Some(doc) if is_sent(&doc) => Claim::Sent,
                _ => Claim::Claimed,
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn record(
    docs: &dyn Documents,
    message: &OutboxMessage,
    activity_id: &str,
) -> Result<(), AppError> {
    let record =
        serde_json::json!({"activityId": activity_id, "conversationId": message.conversation_id});
    let doc = Document::new(
        &message.tenant_id,
        "outboxDelivered",
        delivered_id(&message.key),
        &record,
    )?
    .with_ttl(DELIVERED_TTL_SECS);
    docs.upsert(Container::Events, &doc).await?;
    Ok(())
}

async fn post(
    bot: &Bot,
    message: &OutboxMessage,
    patience: Patience,
) -> Result<String, ConnectorError> {
    bot.connector
        .post_activity(
            &message.service_url,
            &message.conversation_id,
            message.reply_to_id.as_deref(),
            &message.activity,
            patience,
        )
        .await
}

fn bot(app: &App) -> Result<&Bot, AppError> {
    app.bot.as_ref().ok_or(AppError::NotConfigured(
        "the bot (MicrosoftAppId, MicrosoftAppPassword)",
    ))
}

/// What became of a queued message.
#[derive(Debug)]
pub enum Delivery {
    /// Posted now, as this activity id.
    Sent(String),
    /// Its key was recorded already (sent inline, or an earlier run).
    AlreadyDelivered,
    /// The Connector refused it for good (logged; retrying cannot help).
    Refused(ConnectorError),
}

/// Delivers a message from the outbox, patiently (bounded retries that
/// honour `Retry-After`); `Err` when it should be tried again later (the
/// host retries, then poisons: never lost silently).
pub async fn deliver_queued(app: &App, message: &OutboxMessage) -> Result<Delivery, AppError> {
    let bot = bot(app)?;
    if is_delivered(app.docs.as_ref(), message).await? {
        return Ok(Delivery::AlreadyDelivered);
    }
    match post(bot, message, Patience::Retry).await {
        Ok(activity_id) => {
            record(app.docs.as_ref(), message, &activity_id).await?;
            Ok(Delivery::Sent(activity_id))
        }
        Err(e) if e.is_transient() => Err(AppError::Platform(PlatformError::unavailable(
            "bot connector",
            e,
        ))),
        Err(e) => {
            tracing::error!(error = %e, key = %message.key, "the connector refused a message; dropped");
            Ok(Delivery::Refused(e))
        }
    }
}

/// Says `message` now if it can be said within the budget, else leaves it
/// to the outbox; returns once it is sent, refused for good, or queued.
pub async fn answer(app: &App, message: OutboxMessage) -> Result<(), AppError> {
    let bot = bot(app)?;
    let replies = &bot.replies;
    match claim(app.docs.as_ref(), &message).await? {
        Claim::Ours => {}
        Claim::Sent => {
            tracing::info!(key = %message.key, "already answered (a repeated activity); not sent again");
            return Ok(());
        }
        Claim::Claimed => {
            // Its first answer is on its way; a copy waits in the outbox in
            // case that send fails without queueing (a crash), and finds it
            // delivered otherwise.
            tracing::info!(key = %message.key, "a repeated activity while its answer is being sent; queued as a safety net");
            return queue(app, &message, Some(LINGER)).await;
        }
    }
    let permit = match replies.budget.is_zero() {
        true => None,
        false => replies.sending.clone().try_acquire_owned().ok(),
    };
    let Some(permit) = permit else {
        return queue(app, &message, None).await;
    };
    // In the invocation's span: its log lines and its Connector call are
    // the invocation's, even when the send outlasts the budget.
    let attempt = tokio::spawn({
        let (app, message) = (app.clone(), message.clone());
        async move {
            let _permit = permit;
            send_inline(&app, &message).await
        }
        .in_current_span()
    });
    match tokio::time::timeout(replies.budget, attempt).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) if e.is_transient() => {
            tracing::info!(error = %e, key = %message.key, "reply not sent inline; queued");
            queue(app, &message, e.retry_after()).await
        }
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, key = %message.key, "the connector refused a reply; dropped");
            Ok(())
        }
        Ok(Err(panicked)) => {
            tracing::error!(error = %panicked, key = %message.key, "the inline send failed; queued");
            queue(app, &message, None).await
        }
        Err(_) => {
            tracing::info!(key = %message.key, "the inline send outlasted its budget; queued as well");
            queue(app, &message, Some(LINGER)).await
        }
    }
}

/// One attempt, bounded by [`LINGER`] past the budget; records the key when
/// the Connector took the activity.
async fn send_inline(app: &App, message: &OutboxMessage) -> Result<(), ConnectorError> {
    let bot = bot(app).map_err(|e| ConnectorError::Transport(e.to_string()))?;
    let timeout = bot.replies.budget + LINGER / 2;
    let activity_id = post(bot, message, Patience::Once { timeout }).await?;
    if let Err(e) = record(app.docs.as_ref(), message, &activity_id).await {
        // Sent; only a queued copy (if any) could send it again.
        tracing::error!(error = %e, key = %message.key, "a reply was sent but its key not recorded");
    }
    Ok(())
}

async fn queue(
    app: &App,
    message: &OutboxMessage,
    delay: Option<Duration>,
) -> Result<(), AppError> {
    let delay = delay.map(|d| d.min(MAX_QUEUE_DELAY));
    Ok(bot_outbox::enqueue(app.queues.as_ref(), message, delay).await?)
}

/// The key of the reply to `activity`: its conversation and its id, so two
/// conversations whose activities share an id each get their reply. An
/// activity without an id is keyed by its whole content (its timestamp
/// included): Teams sending that same activity again gets no second reply,
/// any other activity gets its own.
pub fn reply_key(activity: &Activity) -> String {
    let conversation = activity
        .conversation
        .as_ref()
        .map(|c| c.id.as_str())
        .unwrap_or_default();
    match activity.id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => format!("reply-{conversation}-{id}"),
        None => {
            use sha2::Digest;
            // Fields in declaration order, maps sorted: the same activity
            // always serialises to the same bytes.
            let content = serde_json::to_vec(activity).unwrap_or_default();
            let digest = hex::encode(sha2::Sha256::digest(&content));
            format!("reply-{conversation}-content-{digest}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(conversation: &str, id: Option<&str>, timestamp: &str) -> Activity {
        serde_json::from_value(serde_json::json!({
            "type": "message", "id": id, "conversation": {"id": conversation},
            "text": "help", "timestamp": timestamp,
        }))
        .expect("an activity")
    }

    #[test]
    fn reply_keys_are_per_conversation_and_per_activity() {
        let t = "2026-01-01T00:00:00.000Z";
        assert_ne!(
            reply_key(&activity("a:1", Some("7"), t)),
            reply_key(&activity("a:2", Some("7"), t))
        );
        assert_eq!(
            reply_key(&activity("a:1", Some("7"), t)),
            reply_key(&activity("a:1", Some("7"), "2026-01-01T00:00:09.000Z")),
            "a retried activity keeps its id"
        );
        let no_id = reply_key(&activity("a:1", None, t));
        assert_eq!(no_id, reply_key(&activity("a:1", None, t)), "sent again");
        assert_ne!(
            no_id,
            reply_key(&activity("a:1", None, "2026-01-01T00:00:01.000Z"))
        );
        assert_ne!(no_id, reply_key(&activity("a:2", None, t)));
    }

    #[test]
    fn delivered_ids_are_bounded() {
        assert_eq!(
            delivered_id(&"x".repeat(10_000)).len(),
            "outbox-".len() + 64
        );
    }
}
