//! `GraphLifecycle` — `POST /api/graph/lifecycle`: Graph's lifecycle
//! notifications for our subscriptions, with the same handshake, bounds
//! and checks as [`super::graph_notifications`] (and the same 202 for
//! items that are not ours). Nothing is done inline:
//!
//! - `reauthorizationRequired`: a renewal is queued (`graph-subscription`;
//!   a PATCH of the expiry reauthorizes and renews).
//! - `subscriptionRemoved`: a check is queued (it finds the 404 and makes
//!   the subscription again) and an incremental round for what the gap
//!   missed.
//! - `missed`: an incremental round.
//!
//! Groups only get `reauthorizationRequired` today; the others are handled
//! in case Graph starts sending them.

use std::collections::BTreeSet;

use warp::http::StatusCode;

use super::graph_notifications::{handshake, verified};
use crate::app::App;
use crate::error::AppError;
use crate::governance::lifecycle::notifications;
use crate::governance::lifecycle::subscriptions::Upkeep;
use crate::http::{HttpRequest, HttpResponse};
use crate::ids::TenantId;
use crate::jobs::{graph_subscription, sweep_tenant};

pub const MAX_BODY_BYTES: usize = super::graph_notifications::MAX_BODY_BYTES;

pub async fn run(app: App, req: HttpRequest) -> Result<HttpResponse, AppError> {
    if let Some(echo) = handshake(&req)? {
        return Ok(echo);
    }
    let items = notifications::parse(&req.body).map_err(AppError::BadRequest)?;
    let sorted = verified(&app, &items).await?;
    let mut upkeep: BTreeSet<(&TenantId, Upkeep)> = BTreeSet::new();
    let mut sweeps = BTreeSet::new();
    for (tenant, item) in &sorted.valid {
        match item.lifecycle_event.as_deref() {
            Some("reauthorizationRequired") => {
                upkeep.insert((tenant, Upkeep::Renew));
            }
            Some("subscriptionRemoved") => {
                upkeep.insert((tenant, Upkeep::Check));
                sweeps.insert(tenant);
            }
            Some("missed") => {
                sweeps.insert(tenant);
            }
            other => {
                tracing::warn!(%tenant, event = ?other, "a lifecycle event we do not know; ignored");
            }
        }
    }
    for (tenant, what) in &upkeep {
        graph_subscription::enqueue(app.queues.as_ref(), tenant, *what).await?;
    }
    for tenant in &sweeps {
        sweep_tenant::enqueue_notified(app.queues.as_ref(), tenant).await?;
    }
    tracing::info!(
        upkeep = upkeep.len(),
        sweeps = sweeps.len(),
        "lifecycle notifications: their work queued"
    );
    Ok(HttpResponse::empty(StatusCode::ACCEPTED))
}
