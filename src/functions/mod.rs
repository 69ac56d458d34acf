//! One file per function: the thin handler that parses, authenticates,
//! calls the domain and renders. The folder names match `functions/<Name>/`.

pub mod billing_dunning;
pub mod billing_events;
pub mod bot_messages;
pub mod bot_outbox;
pub mod governance_sweep;
pub mod graph_lifecycle;
pub mod graph_notifications;
pub mod graph_subscription;
pub mod graph_subscriptions;
pub mod health;
pub mod provision_team;
pub mod request_reminders;
pub mod stripe_webhook;
pub mod sweep_tenant;
pub mod tenant_work;

use crate::error::AppError;
use crate::host::invoke::InvokeRequest;
use crate::jobs::{self, Job};

/// A queue function's message (binding `msg`) read as its job; one that is
/// not is a bad request (the host retries it, then moves it to poison).
pub(crate) fn queue_job<J: Job>(req: &InvokeRequest) -> Result<J, AppError> {
    let trigger = req
        .queue_trigger("msg")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    jobs::decode(&trigger.text)
        .map_err(|e| AppError::BadRequest(format!("message {}: {e}", trigger.id)))
}
