//! `SweepTenant` — queue trigger on `sweep-tenant`: one tenant's share of
//! `GovernanceSweep` (see [`crate::jobs::sweep_tenant`]): its inventory
//! synced from Microsoft Graph, incrementally from the kept delta links
//! when there are some, in full otherwise; then every team evaluated
//! against the tenant's lifecycle policies and the findings recorded (only
//! what changed is written). One log line says what was read and changed,
//! the Graph requests it cost, and what the policies found. A tenant no longer
//! registered, without consent, or a deployment without Graph credentials
//! is skipped (said in its line); a failure fails the invocation, so the host retries this
//! tenant alone and finally moves its message to `sweep-tenant-poison`.
//! A round a change notification asked for (`notified`) that finds another
//! sync running is queued again a minute later: the running one may have
//! read its delta before the change.

use crate::app::App;
use crate::error::AppError;
use crate::governance::lifecycle::evaluate::{Evaluation, Sweep};
use crate::governance::lifecycle::state::Round;
use crate::governance::lifecycle::sync::{Inventory, Outcome, SyncError};
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
    };
    let line = match inventory.sync(tenant, sweep.period.as_deref()).await {
        Ok(Outcome::Synced(round)) => {
            let findings = Sweep {
                docs: app.docs.as_ref(),
                tenant,
                tenant_naming: &record.settings.naming,
                now: app.clock.now(),
                record: Some("system:SweepTenant"),
                keep: false,
            };
            let evaluation = findings.run().await?;
            let why = if sweep.notified {
                " (on a change notification)"
            } else {
                ""
            };
            format!(
                "{}{why}; {}",
                describe(tenant, &round),
                describe_findings(&evaluation)
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

/// What the policies found, and what changed in the kept findings.
pub fn describe_findings(e: &Evaluation) -> String {
    if e.policy_version == 0 {
        return "no lifecycle policies stored: nothing evaluated".into();
    }
    let r = &e.recorded;
    format!(
        "policies v{} over {} teams: {} findings ({} new, {} changed, {} resolved)",
        e.policy_version, e.teams, e.found, r.new, r.changed, r.resolved
    )
}

/// One line: the round, what it read and changed, what it cost.
pub fn describe(tenant: &TenantId, r: &Round) -> String {
    format!(
        "inventory of {tenant}: {:?} round ({}): {} users and {} groups read, {} teams seen: \
         {} added, {} changed, {} removed, {} unchanged, {} people looked up; \
         {} Graph requests ({} throttled)",
        r.kind,
        r.why,
        r.users_read,
        r.groups_read,
        r.teams_seen,
        r.added,
        r.changed,
        r.removed,
        r.unchanged,
        r.looked_up,
        r.graph_requests,
        r.throttled,
    )
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
