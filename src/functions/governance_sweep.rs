//! `GovernanceSweep` — timer (every 6 hours): keeps every onboarded
//! tenant's team inventory current. The timer only walks the tenants whose
//! admin granted consent (page by page) and queues one `sweep-tenant`
//! message each, naming the six-hour period; `SweepTenant` does each
//! tenant's share, so one large or failing tenant never holds up the
//! others. Every region's timer fires: the timer's lease
//! ([`timer_lease`]) lets one region queue the period's messages, and the
//! period makes a second message of a tenant (a replay) a no-op. Six hours keeps well inside the seven days
//! a directory delta token lives.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::app::App;
use crate::error::AppError;
use crate::functions::{fan_out, timer_lease};
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::jobs::sweep_tenant;

pub const SCHEDULE: &str = "0 0 */6 * * *";
/// The schedule's period.
const PERIOD_SECS: i64 = 6 * 3600;

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let timer = req
        .timer("timer")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    timer_lease::once(&app, "GovernanceSweep", SCHEDULE, &timer, || async {
        let period = period_of(app.clock.now());
        let (queues, period_ref) = (app.queues.as_ref(), period.as_str());
        let out = fan_out::fan_out_over(app.tenants.onboarded_ids(), |tenant| async move {
            sweep_tenant::enqueue(queues, &tenant, Some(period_ref)).await
        })
        .await?;
        Ok(format!(
            "governance sweep {period}: queued for {} tenants, {} failed",
            out.queued, out.failed
        ))
    })
    .await
}

/// The start of the six-hour window `now` is in (UTC), as every region
/// computes it alike.
pub fn period_of(now: OffsetDateTime) -> String {
    let start = now.unix_timestamp().div_euclid(PERIOD_SECS) * PERIOD_SECS;
    OffsetDateTime::from_unix_timestamp(start)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| start.to_string())
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_period_is_the_six_hour_window_in_utc() {
        assert_eq!(
            period_of(datetime!(2026-03-04 05:59:59 UTC)),
            "2026-03-04T00:00:00Z"
        );
        assert_eq!(
            period_of(datetime!(2026-03-04 06:00:00 UTC)),
            "2026-03-04T06:00:00Z"
        );
        assert_eq!(
            period_of(datetime!(2026-03-04 13:30:00 +02:00)),
            "2026-03-04T06:00:00Z"
        );
    }
}
