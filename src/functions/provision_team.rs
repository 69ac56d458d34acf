//! `ProvisionTeam` — queue trigger on `provision-team`: creates the team of
//! an approved request by running (or resuming) its checkpointed job, then
//! tells the requester. Transient trouble fails the invocation so the host
//! retries it later; after `maxDequeueCount` tries the message goes to
//! `provision-team-poison`, where `ProvisionTeamPoison` fails the request
//! with the last error, so nobody waits for a team that will not come.
//! Permanent trouble fails the request at once, with a reason. A job
//! waiting for Graph (a new group not yet visible to Teams, a team still
//! being made) is queued again with a delay and this message completed, so
//! waiting minutes does not use up the retries meant for failures.

use crate::app::App;
use crate::bot::notify;
use crate::error::AppError;
use crate::governance::provisioning::{Outcome, ProvisionError, Provisioner};
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::ids::TenantId;
use crate::jobs::{self, provision_team::ProvisionMessage};

/// Queues the provisioning of an approved request.
pub async fn start(app: &App, tenant: &TenantId, request_id: &str) -> Result<(), AppError> {
    jobs::provision_team::enqueue(app.queues.as_ref(), tenant, request_id, None).await?;
    tracing::info!(request = request_id, "provisioning queued");
    Ok(())
}

/// The job's view of the app; `checkpoints_allowed` is for tests that stop
/// a run after each checkpoint.
pub async fn provisioner<'a>(
    app: &'a App,
    tenant: &TenantId,
    checkpoints_allowed: Option<u32>,
) -> Result<Provisioner<'a>, AppError> {
    Ok(Provisioner {
        docs: app.docs.as_ref(),
        clock: app.clock.as_ref(),
        blobs: app.blobs.as_ref(),
        graph: app.graph.as_ref(),
        tenants: &app.tenants,
        crm: &app.crm,
        subscription_active: app.billing.entitlement(tenant).await?.active,
        checkpoints_allowed,
    })
}

fn message(req: &InvokeRequest) -> Result<(ProvisionMessage, u32), AppError> {
    let trigger = req
        .queue_trigger("msg")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let message: ProvisionMessage = jobs::decode(&trigger.text)
        .map_err(|e| AppError::BadRequest(format!("message {}: {e}", trigger.id)))?;
    crate::platform::documents::check_id(&message.request_id)
        .map_err(|e| AppError::BadRequest(format!("provisioning message {}: {e}", trigger.id)))?;
    tracing::Span::current().record("tenant_id", message.tenant_id.as_str());
    Ok((message, trigger.dequeue_count))
}

/// Tells the requester how it ended, once (the outbox key is per state).
async fn tell(
    app: &App,
    p: &Provisioner<'_>,
    tenant: &TenantId,
    outcome: &Outcome,
) -> Result<(), AppError> {
    match outcome {
        Outcome::Provisioned(request) | Outcome::Failed(request) => {
            if app.bot.is_some() {
                notify::notify_requester(app, tenant, request).await?;
            }
            p.notified(tenant, &request.id).await.map_err(to_app)?;
        }
        Outcome::Nothing(_) | Outcome::Waiting { .. } => {}
    }
    Ok(())
}

fn to_app(e: ProvisionError) -> AppError {
    match e {
        ProvisionError::Platform(e) => e.into(),
        e => AppError::Platform(crate::platform::PlatformError::unavailable(
            "provisioning",
            e,
        )),
    }
}

fn line(request_id: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Provisioned(r) => format!(
            "request {} provisioned as group {}",
            r.id,
            r.outcome
                .as_ref()
                .and_then(|o| o.group_id.as_deref())
                .unwrap_or("?")
        ),
        Outcome::Failed(r) => format!(
            "request {} failed: {}",
            r.id,
            r.outcome
                .as_ref()
                .and_then(|o| o.reason.as_deref())
                .unwrap_or("?")
        ),
        Outcome::Nothing(why) => format!("request {request_id}: nothing to do: {why}"),
        Outcome::Waiting { why, retry_in } => {
            format!(
                "request {request_id} waiting for Graph ({why}); again in {}s",
                retry_in.as_secs()
            )
        }
    }
}

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let (message, dequeue_count) = message(&req)?;
    let tenant = &message.tenant_id;
    let p = provisioner(&app, tenant, None).await?;
    let outcome = match p.run(tenant, &message.request_id).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::warn!(request = %message.request_id, dequeue_count, error = %e, "provisioning run stopped; the queue retries it");
            return Err(to_app(e));
        }
    };
    if let Outcome::Waiting { retry_in, .. } = &outcome {
        jobs::provision_team::enqueue(
            app.queues.as_ref(),
            tenant,
            &message.request_id,
            Some(*retry_in),
        )
        .await?;
    }
    tell(&app, &p, tenant, &outcome).await?;
    Ok(InvokeResponse::done(line(&message.request_id, &outcome)))
}

/// `ProvisionTeamPoison`: the job could not complete within the retries.
pub async fn run_poison(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let (message, _) = match message(&req) {
        Ok(m) => m,
        Err(e) => {
            // Nothing to fail: the message never named a request we can read.
            tracing::error!(error = %e, "unreadable provisioning message poisoned; dropped");
            return Ok(InvokeResponse::ok());
        }
    };
    let tenant = &message.tenant_id;
    let p = provisioner(&app, tenant, None).await?;
    let outcome = p
        .give_up(tenant, &message.request_id)
        .await
        .map_err(to_app)?;
    tell(&app, &p, tenant, &outcome).await?;
    let line = line(&message.request_id, &outcome);
    tracing::error!(request = %message.request_id, "provisioning poisoned: {line}");
    Ok(InvokeResponse::ok())
}
