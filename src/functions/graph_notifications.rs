//! `GraphNotifications` — `POST /api/graph/notifications`: Graph's change
//! notifications for the tenant-wide `/groups` subscriptions.
//!
//! - With `validationToken` in the query (the handshake when a subscription
//!   is made): 200 `text/plain` echoing the decoded token, nothing else done;
//!   a token over [`MAX_VALIDATION_TOKEN`] bytes is refused (400).
//! - Otherwise a batch, read within [`MAX_BODY_BYTES`] (413 beyond, 400
//!   when malformed). Each item's subscription must be bound to a tenant by
//!   us and its `clientState` be that tenant's secret; each tenant with a
//!   valid item gets ONE incremental `sweep-tenant` message per batch, and
//!   Graph its 202 at once: the round runs in `SweepTenant`, never here
//!   (Graph gives us 3 s).
//!
//! Items that are not ours change nothing and are logged. The batch is
//! still answered 202: any other answer makes Graph retry the delivery for
//! hours and count our endpoint as failing (which throttles and then drops
//! the notifications of every tenant), and the same answer for a forged
//! item as for a real one tells a forger nothing about what it guessed.

use warp::http::StatusCode;

use crate::app::App;
use crate::error::AppError;
use crate::governance::lifecycle::notifications::{
    self, Item, MAX_VALIDATION_TOKEN, Sorted, Verifier,
};
use crate::http::{HttpRequest, HttpResponse};
use crate::jobs::sweep_tenant;

pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub async fn run(app: App, req: HttpRequest) -> Result<HttpResponse, AppError> {
    if let Some(echo) = handshake(&req)? {
        return Ok(echo);
    }
    let items = notifications::parse(&req.body).map_err(AppError::BadRequest)?;
    let sorted = verified(&app, &items).await?;
    let tenants = sorted.tenants();
    for tenant in &tenants {
        sweep_tenant::enqueue_notified(app.queues.as_ref(), tenant).await?;
    }
    tracing::info!(
        tenants = tenants.len(),
        "change notifications: an incremental round queued per tenant"
    );
    Ok(HttpResponse::empty(StatusCode::ACCEPTED))
}

/// The validation handshake, when the request is one: the decoded token
/// echoed as `text/plain`.
pub(crate) fn handshake(req: &HttpRequest) -> Result<Option<HttpResponse>, AppError> {
    let Some(token) = req.head.query.get("validationToken") else {
        return Ok(None);
    };
    if token.len() > MAX_VALIDATION_TOKEN {
        return Err(AppError::BadRequest(format!(
            "the validation token is longer than {MAX_VALIDATION_TOKEN} bytes"
        )));
    }
    tracing::info!("a Graph validation handshake answered");
    Ok(Some(HttpResponse::text(StatusCode::OK, token.clone())))
}

/// The items sorted into ours and the rest.
pub(crate) async fn verified<'a>(app: &App, items: &'a [Item]) -> Result<Sorted<'a>, AppError> {
    let mut verifier = Verifier::new(app.docs.as_ref(), &app.envelope);
    let sorted = notifications::sort(&mut verifier, items).await?;
    tracing::info!(
        items = items.len(),
        valid = sorted.valid.len(),
        unknown = sorted.unknown,
        wrong_client_state = sorted.wrong_client_state,
        "notification items checked"
    );
    Ok(sorted)
}
