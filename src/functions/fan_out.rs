//! The timers' side of per-tenant work: walk the tenants page by page and
//! queue one message each, so one tenant's size or trouble never holds up
//! the others. The queue functions (`TenantWork`, `SweepTenant`,
//! `GraphSubscription`) do each tenant's share.

use futures::{Stream, TryStreamExt};

use crate::app::App;
use crate::error::AppError;
use crate::ids::TenantId;
use crate::jobs::{self, tenant_work::Task};
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
