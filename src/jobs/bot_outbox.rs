//! The `bot-outbox` queue: what the bot has to say that could not (or need
//! not) be said at once. A message names the conversation, the activity and
//! a key that is unique per thing to say; the key is recorded when the
//! Connector takes the activity (`bot::replies`), so a message delivered
//! inline and also queued, or retried by the host, is posted once.
//!
//! The bot makes these messages (`bot::replies`); this contract knows
//! nothing of the bot but the activity's JSON text.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Job;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::queues::Queues;

pub const QUEUE: &str = "bot-outbox";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    pub tenant_id: TenantId,
    /// Unique per thing to say; recorded when delivered.
    pub key: String,
    pub service_url: String,
    pub conversation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    /// The Bot Framework activity to post, as the Connector takes it: the
    /// outbox carries it and never reads it.
    pub activity: Box<RawValue>,
}

impl Job for OutboxMessage {
    const QUEUE: &'static str = QUEUE;
}

/// Queues `message`, visible after `delay` (a Connector's `Retry-After`, or
/// time for an inline attempt still under way to finish first).
pub async fn enqueue(
    queues: &dyn Queues,
    message: &OutboxMessage,
    delay: Option<Duration>,
) -> PlatformResult<()> {
    super::send(queues, message, delay).await?;
    Ok(())
}

/// The message a `bot-outbox` trigger carries; an error when it is not one
/// (the host then retries it into the poison queue, where it is kept).
pub fn decode(text: &str) -> Result<OutboxMessage, super::DecodeError> {
    super::decode(text)
}
