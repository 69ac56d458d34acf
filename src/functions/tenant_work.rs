//! `TenantWork` — queue trigger on `tenant-work`: one tenant's share of a
//! timer's work (see [`crate::jobs::tenant_work`]). A tenant no longer
//! registered is skipped; a failure fails the invocation, so the host
//! retries this tenant alone and finally moves its message to
//! `tenant-work-poison`. [`fan_out`] is the timers' side: one message per
//! tenant.

use futures::{Stream, TryStreamExt};

use crate::app::App;
use crate::billing::subscription::DunningAction;
use crate::error::AppError;
use crate::functions::request_reminders;
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::ids::TenantId;
use crate::jobs::{self, tenant_work::Task, tenant_work::TenantWork};
use crate::platform::PlatformResult;

/// How many tenants a timer's [`fan_out`] queued work for.
pub struct FanOut {
    pub queued: u32,
    /// Tenants whose message could not be queued; the timer's next run
    /// queues them again.
    pub failed: u32,
}

/// Walks the tenants page by page and queues `task` for each.
pub async fn fan_out(app: &App, task: Task) -> Result<FanOut, AppError> {
    let queues = app.queues.as_ref();
    fan_out_over(app.tenants.ids(), |tenant| async move {
        jobs::tenant_work::enqueue(queues, &tenant, task).await
    })
    .await
}

/// Walks `tenants` (a page-by-page stream) and queues each one's message
/// with `enqueue`; a tenant whose message could not be queued is logged and
/// counted, and the others still get theirs.
pub async fn fan_out_over<F, Fut>(
    tenants: impl Stream<Item = PlatformResult<TenantId>>,
    mut enqueue: F,
) -> Result<FanOut, AppError>
where
    F: FnMut(TenantId) -> Fut,
    Fut: Future<Output = PlatformResult<()>>,
{
    let mut out = FanOut {
        queued: 0,
        failed: 0,
    };
    let mut tenants = std::pin::pin!(tenants);
    while let Some(tenant) = tenants.try_next().await? {
        match enqueue(tenant.clone()).await {
            Ok(()) => out.queued += 1,
            Err(e) => {
                tracing::error!(%tenant, error = %e, "queueing a tenant's work failed; the next run tries again");
                out.failed += 1;
            }
        }
    }
    Ok(out)
}

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
