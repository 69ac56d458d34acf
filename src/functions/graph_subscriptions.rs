//! `GraphSubscriptions` — timer (every 6 hours): queues one
//! `graph-subscription` check per onboarded tenant (the same fan-out as
//! `GovernanceSweep`, and like it run by one region: [`timer_lease`]). The check makes the tenant's subscription if it has
//! none, sees that Graph still has it (groups get no `missed` event, so
//! nobody would tell us), and renews it once a third of its life is left:
//! with a 29-day life and a 6-hour beat, renewal has days to succeed.
//! A deployment without `SALESTIM_PUBLIC_HOSTNAME` has no URL Graph could
//! call, so it queues nothing and says so.

use crate::app::App;
use crate::error::AppError;
use crate::functions::{fan_out, timer_lease};
use crate::governance::lifecycle::subscriptions::{Upkeep, Urls};
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::jobs::graph_subscription;

pub const SCHEDULE: &str = "0 30 */6 * * *";

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let timer = req
        .timer("timer")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    if Urls::from_public_hostname(app.settings.public_hostname.as_deref()).is_none() {
        return Ok(InvokeResponse::done(
            "graph subscriptions: SALESTIM_PUBLIC_HOSTNAME is not set, so Graph has no URL to notify; none made",
        ));
    }
    timer_lease::once(&app, "GraphSubscriptions", SCHEDULE, &timer, || async {
        let queues = app.queues.as_ref();
        let out = fan_out::fan_out_over(app.tenants.onboarded_ids(), |tenant| async move {
            graph_subscription::enqueue(queues, &tenant, Upkeep::Check).await
        })
        .await?;
        Ok(format!(
            "graph subscriptions: a check queued for {} tenants, {} failed",
            out.queued, out.failed
        ))
    })
    .await
}
