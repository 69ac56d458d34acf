//! `BillingDunning` — daily timer: queues one `tenant-work` message per
//! tenant; `TenantWork` then suspends the tenant when its grace period after
//! a failed payment is over, or restores it once it has paid
//! ([`crate::billing::dunning`]). So one broken tenant, or thousands of
//! them, never stop or slow dunning for the others. One region runs each
//! day's dunning ([`timer_lease`]).

use crate::app::App;
use crate::error::AppError;
use crate::functions::{fan_out, timer_lease};
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::jobs::tenant_work::Task;

pub const SCHEDULE: &str = "0 30 2 * * *";

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let timer = req
        .timer("timer")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    if timer.is_past_due {
        tracing::info!("dunning run is past due; running now");
    }
    timer_lease::once(&app, "BillingDunning", SCHEDULE, &timer, || async {
        let out = fan_out::fan_out(&app, Task::Dunning).await?;
        Ok(format!(
            "dunning: queued for {} tenants, {} failed",
            out.queued, out.failed
        ))
    })
    .await
}
