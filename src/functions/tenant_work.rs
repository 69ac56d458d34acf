//! `TenantWork` — queue trigger on `tenant-work`: one tenant's share of a
//! timer's work (see [`crate::jobs::tenant_work`]). A tenant no longer
//! registered is skipped; a failure fails the invocation, so the host
//! retries this tenant alone and finally moves its message to
//! `tenant-work-poison`. [`super::fan_out`] is the timers' side: one
//! message per tenant.

use crate::app::App;
use crate::billing::subscription::DunningAction;
use crate::error::AppError;
use crate::functions::request_reminders;
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::jobs::tenant_work::{Task, TenantWork};

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let work: TenantWork = super::queue_job(&req)?;
    let tenant = &work.tenant_id;
    tracing::Span::current().record("tenant_id", tenant.as_str());
    let Some(record) = app.tenants.get(tenant).await? else {
        return Ok(InvokeResponse::done(format!(
            "{tenant} is not registered; skipped"
        )));
    };
    let line = match work.task {
        Task::FollowUpRequests => {
            request_reminders::follow_up_tenant(&app, tenant, &record).await?
        }
        Task::Dunning => {
            let done = match app.billing.dun(tenant).await? {
                Some(DunningAction::Suspended) => "suspended (grace period over)",
                Some(DunningAction::Restored) => "restored (paid)",
                None => "nothing to do",
            };
            format!("dunning for {tenant}: {done}")
        }
    };
    Ok(InvokeResponse::done(line))
}
