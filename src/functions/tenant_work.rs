//! `TenantWork` — queue trigger on `tenant-work`: one tenant's share of a
//! timer's work (see [`crate::jobs::tenant_work`]). A tenant no longer
//! registered is skipped; a failure fails the invocation, so the host
//! retries this tenant alone and finally moves its message to
//! `tenant-work-poison`.

use crate::app::App;
use crate::error::AppError;
use crate::functions::request_reminders;
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::jobs::{self, tenant_work::Task, tenant_work::TenantWork};

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let trigger = req
        .queue_trigger("msg")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let work: TenantWork = jobs::decode(&trigger.text)
        .map_err(|e| AppError::BadRequest(format!("message {}: {e}", trigger.id)))?;
    let tenant = &work.tenant_id;
    tracing::Span::current().record("tenant_id", tenant.as_str());
    let Some(record) = app.tenants.get(tenant).await? else {
        return Ok(InvokeResponse::ok().log(format!("{tenant} is not registered; skipped")));
    };
    let line = match work.task {
        Task::FollowUpRequests => {
            request_reminders::follow_up_tenant(&app, tenant, &record).await?
        }
    };
    tracing::info!("{line}");
    Ok(InvokeResponse::ok().log(line))
}
