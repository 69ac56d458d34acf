//! `StripeWebhook` — `POST /api/billing/stripe`: verify the signature over
//! the raw body, enqueue the event for `BillingEvents`, answer 200 at once.
//! Anything unsigned, stale or malformed gets a 400 and is not enqueued.
//!
//! Refusing costs less than accepting: [`check_head`] runs before the body
//! is read (a secret configured, the header present, parsed within its
//! bounds, its timestamp within tolerance), so a forged request without a
//! fresh, well-formed header is answered before any of its body arrives.
//! The MAC (one per configured secret) over a body larger than
//! [`INLINE_MAC_BYTES`] runs on the blocking pool, at most one per CPU at
//! once (`App::stripe_mac_slots`), so a burst of large forged requests never
//! holds the async workers that answer `/api/health`. A request waiting for
//! a slot holds only its body, already bounded, and waits at most
//! [`MAC_SLOT_WAIT`]: then it is answered 503 with `Retry-After`.

use std::time::Duration;

use bytes::Bytes;
use secrecy::SecretString;
use serde_json::value::RawValue;
use tokio::sync::Semaphore;
use warp::http::StatusCode;

use crate::app::App;
use crate::billing::event::{self, Parsed};
use crate::billing::signature::{DEFAULT_TOLERANCE_SECS, SignatureError, SignatureHeader};
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse, RequestHead};
use crate::jobs::{self, billing_events::BLOB_CONTAINER, billing_events::BillingMessage};

/// Larger events go through a blob (a queue message holds 64 KiB).
const INLINE_LIMIT: usize = 48 * 1024;
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// Bodies up to this size are MACed on the async worker (tens of
/// microseconds per secret); larger ones on the blocking pool.
const INLINE_MAC_BYTES: usize = 16 * 1024;
/// How long a large body waits for a MAC slot before it is answered 503.
/// Stripe retries a failed delivery for days, so shedding is safe.
const MAC_SLOT_WAIT: Duration = Duration::from_secs(2);

fn secrets(app: &App) -> Result<&[SecretString], AppError> {
    app.stripe_secrets.as_deref().ok_or(AppError::NotConfigured(
        "Stripe billing (STRIPE_WEBHOOK_SECRET)",
    ))
}

fn refused(e: SignatureError) -> AppError {
    AppError::BadRequest(e.to_string())
}

/// Everything checked before the body is read; leaves the parsed header in
/// the head's extensions for [`run`].
pub async fn check_head(app: &App, head: &mut RequestHead) -> Result<(), AppError> {
    secrets(app)?;
    let header = head
        .header("stripe-signature")
        .ok_or_else(|| AppError::BadRequest("Stripe-Signature header is missing".into()))?;
    let parsed = SignatureHeader::parse(header).map_err(refused)?;
    parsed
        .check_age(app.clock.now().unix_timestamp(), DEFAULT_TOLERANCE_SECS)
        .map_err(refused)?;
    head.extensions.insert(parsed);
    Ok(())
}

pub async fn run(app: App, mut req: HttpRequest) -> Result<HttpResponse, AppError> {
    let secrets = secrets(&app)?;
    let parsed = req
        .head
        .extensions
        .remove::<SignatureHeader>()
        .ok_or_else(|| anyhow::anyhow!("StripeWebhook ran without its head check"))?;
    verify_mac(parsed, &req.body, secrets, &app.stripe_mac_slots).await?;
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
    jobs::send(app.queues.as_ref(), &message, None).await?;
    tracing::info!(event_id = %event.id, event_type = %event.type_name, "stripe event verified and enqueued");
    Ok(HttpResponse::json(
        StatusCode::OK,
        &serde_json::json!({"received": true}),
    ))
}

/// Checks the MAC over `body`: inline when it is small, else on the
/// blocking pool once one of `slots` frees up within [`MAC_SLOT_WAIT`].
async fn verify_mac(
    parsed: SignatureHeader,
    body: &Bytes,
    secrets: &[SecretString],
    slots: &Semaphore,
) -> Result<(), AppError> {
    if body.len() <= INLINE_MAC_BYTES || !parsed.has_candidates() {
        return parsed.verify_mac(body, secrets).map_err(refused);
    }
    let _slot = tokio::time::timeout(MAC_SLOT_WAIT, slots.acquire())
        .await
        .map_err(|_| AppError::Busy("every Stripe signature check slot is taken"))?
        .expect("the MAC semaphore is never closed");
    let body = Bytes::clone(body);
    let secrets = secrets.to_vec();
    tokio::task::spawn_blocking(move || parsed.verify_mac(&body, &secrets))
        .await
        .unwrap_or_else(|e| {
            // A panic inside the MAC is our bug, never a pass.
            tracing::error!(error = %e, "the signature check did not finish");
            Err(SignatureError::Mismatch)
        })
        .map_err(refused)
}
