//! `RequestReminders` — timer (every 30 minutes): follows up requests
//! nobody is moving, in every tenant. The timer only walks the tenants
//! (page by page) and queues one `tenant-work` message each; the
//! `TenantWork` function runs [`follow_up_tenant`] for each, so one slow or
//! broken tenant never holds up the others. One region does each run
//! ([`timer_lease`]).
//!
//! - A request waiting longer than its tenant's reminder period gets one
//!   reminder to the approvers of the waiting stage; when the tenant names
//!   someone to escalate to, a request still waiting after the escalation
//!   period is escalated once (that person becomes an approver of the stage
//!   and gets the card). The cards are queued first, under keys that make a
//!   second send a no-op, then the follow-up is marked on the request under
//!   its ETag: a failed send is tried again by the next run, never lost.
//! - An approved request whose provisioning job nobody runs (never queued,
//!   or its message lost) is queued again, and so is a governance action
//!   still running but quiet for longer than any wait it makes.
//!
//! One request's trouble is logged and counted; the others are still
//! followed up.

use crate::app::App;
use crate::bot::notify;
use crate::error::AppError;
use crate::functions::{fan_out, provision_team, timer_lease};
use crate::governance::lifecycle::actions;
use crate::governance::provisioning;
use crate::governance::requests::{self, Due, TeamRequest};
use crate::governance::tenants::Tenant;
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::ids::TenantId;
use crate::jobs::tenant_work::Task;
use crate::teams::cards;

pub const SCHEDULE: &str = "0 */30 * * * *";

#[derive(Default)]
struct Tally {
    reminded: u32,
    escalated: u32,
    requeued: u32,
    actions_requeued: u32,
    failed: u32,
}

/// The timer: one `tenant-work` message per tenant.
pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let timer = req
        .timer("timer")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    timer_lease::once(&app, "RequestReminders", SCHEDULE, &timer, || async {
        let out = fan_out::fan_out(&app, Task::FollowUpRequests).await?;
        Ok(format!(
            "reminders: follow-ups queued for {} tenants, {} failed",
            out.queued, out.failed
        ))
    })
    .await
}

/// One tenant's follow-ups (run by `TenantWork`); the line says what was done.
pub async fn follow_up_tenant(
    app: &App,
    tenant: &TenantId,
    record: &Tenant,
) -> Result<String, AppError> {
    let mut tally = Tally::default();
    let (docs, clock) = (app.docs.as_ref(), app.clock.as_ref());
    for (request, due) in requests::due_reminders(docs, clock, tenant, &record.settings).await? {
        match follow_up(app, tenant, &request, &due).await {
            Ok(true) => match due {
                Due::Remind => tally.reminded += 1,
                Due::Escalate(_) => tally.escalated += 1,
            },
            Ok(false) => {}
            Err(e) => {
                tracing::error!(%tenant, request = %request.id, error = %e, "following up a waiting request failed");
                tally.failed += 1;
            }
        }
    }
    for id in provisioning::stalled(docs, clock, tenant).await? {
        tracing::warn!(%tenant, request = %id, "provisioning stalled; queued again");
        match provision_team::start(app, tenant, &id).await {
            Ok(()) => tally.requeued += 1,
            Err(e) => {
                tracing::error!(%tenant, request = %id, error = %e, "queueing a stalled provisioning failed");
                tally.failed += 1;
            }
        }
    }
    for message in actions::stalled(docs, clock, tenant).await? {
        tracing::warn!(%tenant, team = %message.team_id, action = ?message.action, "a governance action stalled; queued again");
        match actions::requeue(app.queues.as_ref(), &message).await {
            Ok(()) => tally.actions_requeued += 1,
            Err(e) => {
                tracing::error!(%tenant, team = %message.team_id, error = %e, "queueing a stalled governance action failed");
                tally.failed += 1;
            }
        }
    }
    let Tally {
        reminded,
        escalated,
        requeued,
        actions_requeued,
        failed,
    } = tally;
    Ok(format!(
        "reminders for {tenant}: {reminded} reminded, {escalated} escalated, {requeued} provisioning queued again, {actions_requeued} governance actions queued again, {failed} failed"
    ))
}

/// Sends the follow-up's cards, then marks it on the request: a send that
/// fails leaves the request unmarked, so the next run sends it again (the
/// outbox keys make a second send of the same card a no-op). `false` when
/// it needs no follow-up any more, or another run marked it first.
async fn follow_up(
    app: &App,
    tenant: &TenantId,
    request: &TeamRequest,
    due: &Due,
) -> Result<bool, AppError> {
    let (docs, clock) = (app.docs.as_ref(), app.clock.as_ref());
    let stage = request.current_stage;
    let Some(preview) = requests::followed_up(request, stage, due) else {
        return Ok(false);
    };
    match due {
        Due::Remind => notify::notify_stage(app, tenant, &preview, "-reminder").await?,
        Due::Escalate(to) => {
            let card = cards::approval(&preview, Some(&to.aad_object_id), &app.links);
            let key = format!(
                "approval-{}-{}-{}-escalated",
                preview.id, stage, to.aad_object_id
            );
            notify::send_to_person(app, tenant, to, key, card).await?;
        }
    }
    let marked = requests::mark_followed_up(docs, clock, tenant, &request.id, stage, due)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("marking the follow-up: {e}")))?;
    if marked.is_none() {
        return Ok(false);
    }
    tracing::info!(%tenant, request = %request.id, ?due, "waiting request followed up");
    Ok(true)
}
