//! One file per function: the thin handler that parses, authenticates,
//! calls the domain and renders. The folder names match `functions/<Name>/`.

pub mod billing_dunning;
pub mod billing_events;
pub mod bot_messages;
pub mod bot_outbox;
pub mod crm_callback;
pub mod dev_sign_in;
pub mod fan_out;
pub mod governance_action;
pub mod governance_sweep;
pub mod graph_lifecycle;
pub mod graph_notifications;
pub mod graph_subscription;
pub mod graph_subscriptions;
pub mod health;
pub mod provision_team;
pub mod request_reminders;
pub mod stripe_webhook;
pub mod support_identity;
pub mod sweep_tenant;
pub mod tab_api;
pub mod tabs;
pub mod tenant_work;
pub mod timer_lease;

use crate::app::App;
use crate::error::AppError;
use crate::governance::tenants::Tenant;
use crate::graph::Graph;
use crate::host::invoke::InvokeRequest;
use crate::ids::TenantId;

/// The tenant and the Graph client for work in it, or why the tenant is
/// skipped (not registered, no admin consent, no Graph credentials here).
pub(crate) async fn tenant_graph<'a>(
    app: &'a App,
    tenant: &TenantId,
) -> Result<Result<(Tenant, &'a Graph), &'static str>, AppError> {
    let Some(record) = app.tenants.get(tenant).await? else {
        return Ok(Err("not registered"));
    };
    if !record.onboarding.admin_consent {
        return Ok(Err("no admin consent"));
    }
    Ok(match app.graph.as_ref() {
        Some(graph) => Ok((record, graph)),
        None => Err("no Graph credentials on this deployment"),
    })
}
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
