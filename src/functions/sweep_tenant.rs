//! `SweepTenant` — queue trigger on `sweep-tenant`: one tenant's share of
//! `GovernanceSweep` (see [`crate::jobs::sweep_tenant`]): its inventory
//! synced from Microsoft Graph, incrementally from the kept delta links
//! when there are some, in full otherwise; then the Teams activity report
//! joined to the teams (once a day, when an inactivity policy is on; its
//! throttle or failure never fails the sweep); then every team evaluated
//! against the tenant's lifecycle policies and the findings recorded (only
//! what changed is written). One log line says what was read and changed,
//! the Graph requests, sub-requests and 429s it cost, and what the policies
//! found; the tally it leaves goes into the tenant's history (the
//! dashboard's charts). A round that spends the tenant's Graph budget
//! (`SALESTIM_SWEEP_GRAPH_BUDGET`) stops cleanly and says so; the next run
//! continues it (the teams it has not reached yet are evaluated as kept). A tenant no longer
//! registered, without consent, or a deployment without Graph credentials
//! is skipped (said in its line); a failure fails the invocation, so the host retries this
//! tenant alone and finally moves its message to `sweep-tenant-poison`.
//! A round a change notification asked for (`notified`) that finds another
//! sync running is queued again a minute later: the running one may have
//! read its delta before the change.

use crate::app::App;
use crate::bot::lifecycle;
use crate::error::AppError;
use crate::governance::lifecycle::evaluate::Sweep;
use crate::governance::lifecycle::sync::{Inventory, Outcome, SyncError};
use crate::governance::lifecycle::{activity, history};
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::ids::TenantId;
use crate::jobs::{self, sweep_tenant::SweepTenant};
use crate::platform::PlatformError;

/// How long a notified round waits for a running sync of its tenant.
const NOTIFIED_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let sweep: SweepTenant = super::queue_job(&req)?;
    let tenant = &sweep.tenant_id;
    tracing::Span::current().record("tenant_id", tenant.as_str());
    let skipped =
        |why: &str| Ok(InvokeResponse::ok().log(format!("sweep of {tenant}: {why}; skipped")));
    let (record, graph) = match super::tenant_graph(&app, tenant).await? {
        Ok(found) => found,
        Err(why) => return skipped(why),
    };
    let inventory = Inventory {
        docs: app.docs.as_ref(),
        clock: app.clock.as_ref(),
        graph,
        budget: app.settings.graph_limits.sweep_budget,
    };
    let line = match inventory.sync(tenant, sweep.period.as_deref()).await {
        Ok(Outcome::Synced(round)) => {
            let activity = activity::refresh(app.docs.as_ref(), graph, tenant, app.clock.now())
                .await?
                .summary();
            let findings = Sweep {
                docs: app.docs.as_ref(),
                tenant,
                tenant_naming: &record.settings.naming,
                now: app.clock.now(),
                record: Some("system:SweepTenant"),
                keep: false,
                progress: None,
            };
            let evaluation = findings.run().await?;
            let enforced =
                lifecycle::enforce_tenant(&app, tenant, app.clock.now(), "system:SweepTenant")
                    .await?;
            // The dashboard's history: best effort, a sweep that did its
            // work is not failed for its picture.
            let tally = history::tally(app.docs.as_ref(), tenant).await;
            if let Err(e) = match tally {
                Ok(tally) => {
                    history::record_sweep(
                        app.docs.as_ref(),
                        tenant,
                        app.clock.now(),
                        &round,
                        enforced.actions,
                        tally,
                    )
                    .await
                }
                Err(e) => Err(e),
            } {
                tracing::warn!(error = %e, "the sweep was not added to the tenant's history");
            }
            let why = if sweep.notified {
                " (on a change notification)"
            } else {
                ""
            };
            format!(
                "{}{why}; {activity}; {}; {}",
                round.summary(tenant),
                evaluation.summary(),
                enforced.summary()
            )
        }
        Ok(Outcome::Busy(until)) if sweep.notified => {
            // The running sync may have read its delta before the change:
            // the notified round runs after it instead of being dropped.
            let again = SweepTenant {
                tenant_id: tenant.clone(),
                period: None,
                notified: true,
            };
            jobs::send(app.queues.as_ref(), &again, Some(NOTIFIED_RETRY)).await?;
            format!(
                "inventory of {tenant}: another sync holds it until {until}; the notified round is queued again"
            )
        }
        Ok(Outcome::Busy(until)) => {
            format!("inventory of {tenant}: another sync holds it until {until}; skipped")
        }
        Ok(Outcome::AlreadyDone(period)) => {
            format!("inventory of {tenant}: period {period} synced already; skipped")
        }
        Err(e) => {
            tracing::error!(error = %e, transient = e.is_transient(), "the inventory sync failed");
            return Err(to_app(tenant, e));
        }
    };
    Ok(InvokeResponse::done(line))
}

fn to_app(tenant: &TenantId, e: SyncError) -> AppError {
    match e {
        SyncError::Platform(e) => e.into(),
        SyncError::Graph(e) => AppError::Platform(PlatformError::unavailable(
            "graph",
            format!("the inventory sync of {tenant}: {e}"),
        )),
    }
}
