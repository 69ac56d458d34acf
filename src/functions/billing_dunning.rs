//! `BillingDunning` — daily timer: suspends tenants whose grace period after
//! a failed payment is over, restores those that have paid since.

use crate::app::App;
use crate::error::AppError;
use crate::host::invoke::{InvokeRequest, InvokeResponse};

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let timer = req
        .timer("timer")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    if timer.is_past_due {
        tracing::info!("dunning run is past due; running now");
    }
    let report = app.billing.run_dunning().await?;
    let line = format!(
        "dunning: {} subscriptions checked, {} suspended, {} restored, {} failed",
        report.checked,
        report.suspended.len(),
        report.restored.len(),
        report.failed.len()
    );
    tracing::info!(
        checked = report.checked,
        suspended = report.suspended.len(),
        restored = report.restored.len(),
        failed = report.failed.len(),
        "dunning run done"
    );
    let mut res = InvokeResponse::ok().log(line);
    res.return_value = serde_json::to_value(&report).map_err(|e| AppError::Internal(e.into()))?;
    Ok(res)
}
