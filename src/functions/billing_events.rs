//! `BillingEvents` — queue trigger on `billing-events`: applies each verified
//! Stripe event once. A message that cannot be read fails the invocation, so
//! the host retries it and finally moves it to `billing-events-poison`; an
//! event of a customer bound to no tenant is kept whole for its binding and
//! completes (never retried).

use crate::app::App;
use crate::billing::EventOutcome;
use crate::billing::event::{self, Parsed};
use crate::error::AppError;
use crate::host::invoke::{InvokeRequest, InvokeResponse};

use crate::jobs::{self, billing_events::BLOB_CONTAINER, billing_events::BillingMessage};

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let trigger = req
        .queue_trigger("msg")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let message: BillingMessage = jobs::decode(&trigger.text)
        .map_err(|e| AppError::BadRequest(format!("message {}: {e}", trigger.id)))?;
    let body = match (&message.event, &message.blob) {
        (Some(raw), _) => raw.get().as_bytes().to_vec(),
        (None, Some(name)) => {
            let blob = app
                .blobs
                .get(BLOB_CONTAINER, name)
                .await?
                .ok_or_else(|| AppError::BadRequest(format!("event blob {name} is missing")))?;
            blob.data.to_vec()
        }
        (None, None) => {
            return Err(AppError::BadRequest(format!(
                "billing message {} carries no event",
                trigger.id
            )));
        }
    };
    let Parsed::Handled(event) =
        event::parse(&body).map_err(|e| AppError::BadRequest(e.to_string()))?
    else {
        return Ok(InvokeResponse::done(format!(
            "{} is not a billing event; skipped",
            message.event_id
        )));
    };
    if event.id != message.event_id {
        return Err(AppError::BadRequest(format!(
            "message {} carries event {}",
            message.event_id, event.id
        )));
    }
    let outcome = app.billing.process(&event, &body).await?;
    if let Some(name) = &message.blob {
        // The event is applied; a leftover blob is only clutter.
        if let Err(e) = app.blobs.delete(BLOB_CONTAINER, name).await {
            tracing::warn!(error = %e, blob = %name, "could not delete a processed event blob");
        }
    }
    let line = match outcome {
        EventOutcome::Applied { tenant, applied } => format!(
            "{} ({}) for tenant {tenant}: {applied:?}",
            event.id, event.type_name
        ),
        EventOutcome::NotCurrent { tenant } => format!(
            "{} ({}) for tenant {tenant}: not its current subscription; audited, not applied",
            event.id, event.type_name
        ),
        EventOutcome::Waiting { kept: true } => format!(
            "{} ({}): customer bound to no tenant; kept until it is bound",
            event.id, event.type_name
        ),
        EventOutcome::Waiting { kept: false } => format!(
            "{} ({}): customer bound to no tenant and too many events waiting; dropped",
            event.id, event.type_name
        ),
        EventOutcome::BindingRefused { tenant, owner } => format!(
            "{} ({}): checkout of tenant {tenant} paid by a customer of tenant {owner}; binding refused",
            event.id, event.type_name
        ),
        EventOutcome::Dropped => format!(
            "{} ({}): no customer or no tenant; recorded and dropped",
            event.id, event.type_name
        ),
    };
    Ok(InvokeResponse::done(line))
}
