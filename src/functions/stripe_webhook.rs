//! `StripeWebhook` — `POST /api/billing/stripe`: verify the signature over
//! the raw body, enqueue the event for `BillingEvents`, answer 200 at once.
//! Anything unsigned, stale or malformed gets a 400 and is not enqueued.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use warp::http::StatusCode;

use crate::app::App;
use crate::billing::event::{self, Parsed};
use crate::billing::signature::{self, DEFAULT_TOLERANCE_SECS};
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::queues::QueueName;

pub const QUEUE: &str = "billing-events";
/// Where events too large for a queue message wait for `BillingEvents`.
pub const BLOB_CONTAINER: &str = "stripe-events";
/// Larger events go through a blob (a queue message holds 64 KiB).
const INLINE_LIMIT: usize = 48 * 1024;
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The message `BillingEvents` reads: the verified event inline, or the name
/// of the blob holding it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingMessage {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

pub async fn run(app: App, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let secrets = app
        .stripe_secrets
        .as_deref()
        .ok_or(AppError::NotConfigured(
            "Stripe billing (STRIPE_WEBHOOK_SECRET)",
        ))?;
    let header = req
        .header("stripe-signature")
        .ok_or_else(|| AppError::BadRequest("Stripe-Signature header is missing".into()))?;
    let now = app.clock.now().unix_timestamp();
    signature::verify(header, &req.body, secrets, now, DEFAULT_TOLERANCE_SECS)
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let parsed = event::parse(&req.body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let event = match parsed {
        Parsed::Ignored { id, type_name } => {
            tracing::info!(event_id = %id, event_type = %type_name, "stripe event type not used; acknowledged");
            return Ok(HttpResponse::json(
                StatusCode::OK,
                &serde_json::json!({"received": true, "ignored": true}),
            ));
        }
        Parsed::Handled(event) => event,
    };
    let message = if req.body.len() <= INLINE_LIMIT {
        let raw = std::str::from_utf8(&req.body)
            .map_err(|_| AppError::BadRequest("the body is not UTF-8".into()))?;
        let raw = RawValue::from_string(raw.to_owned())
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        BillingMessage {
            event_id: event.id.clone(),
            event_type: event.type_name.clone(),
            event: Some(raw),
            blob: None,
        }
    } else {
        let name = format!("{}.json", event.id);
        app.blobs
            .put(
                BLOB_CONTAINER,
                &name,
                Bytes::clone(&req.body),
                "application/json",
            )
            .await?;
        BillingMessage {
            event_id: event.id.clone(),
            event_type: event.type_name.clone(),
            event: None,
            blob: Some(name),
        }
    };
    let text = serde_json::to_string(&message).map_err(|e| AppError::Internal(e.into()))?;
    let queue = QueueName::parse(QUEUE).expect("the queue name is a valid constant");
    app.queues.send(&queue, &text, None).await?;
    tracing::info!(event_id = %event.id, event_type = %event.type_name, "stripe event verified and enqueued");
    Ok(HttpResponse::json(
        StatusCode::OK,
        &serde_json::json!({"received": true}),
    ))
}
