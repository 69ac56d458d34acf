//! `BotOutbox` — queue trigger on `bot-outbox`: sends what the bot could not
//! say inline (throttled, failing, or past its budget) and its proactive
//! messages, through the Bot Connector, once per key (`bot::replies`).
//! Throttling and outages fail the invocation (the host retries, then
//! poisons); a request the Connector refuses for good is logged and
//! completed.

use crate::app::App;
use crate::bot::replies::{self, Delivery};
use crate::error::AppError;
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::jobs::bot_outbox;

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let trigger = req
        .queue_trigger("msg")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let message = bot_outbox::decode(&trigger.text)
        .map_err(|e| AppError::BadRequest(format!("message {}: {e}", trigger.id)))?;
    tracing::Span::current().record("tenant_id", message.tenant_id.as_str());
    if trigger.dequeue_count > 1 {
        crate::telemetry::metrics::outbox_retry();
    }
    let log = match replies::deliver_queued(&app, &message).await? {
        Delivery::Sent(activity_id) => format!("{} delivered as {activity_id}", message.key),
        Delivery::AlreadyDelivered => format!("{} already delivered", message.key),
        Delivery::Refused(e) => format!("{} refused by the connector: {e}", message.key),
    };
    Ok(InvokeResponse::done(log))
}
