//! The Graph side of an action: ask once ([`requested`]), then see the
//! effect there ([`done`]): an archive or unarchive operation polled with
//! back-off inside a time budget, every other action read back. An error
//! answer is never taken at its word: the effect is looked for first,
//! because Graph reports failures for writes it carried out, and answers
//! a repeated write with "already exists" or 404.

use std::time::{Duration, Instant};

use super::job::{RenewalFacts, Run, Step};
use super::{ActionError, classify};
use crate::graph::lifecycle::{self as ops, Link};
use crate::graph::teams::{Operation, operation};
use crate::graph::{Graph, GraphError};
use crate::ids::TenantId;
use crate::jobs::governance_action::Action;

const POLL_FIRST: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(10);
/// A run waits this long for an archive operation (the runner's
/// `poll_budget`), then runs again after [`POLL_AGAIN`], for at most
/// [`OPERATION_WITHIN`] in all.
pub const DEFAULT_POLL_BUDGET: Duration = Duration::from_secs(60);
const POLL_AGAIN: Duration = Duration::from_secs(60);
const OPERATION_WITHIN: time::Duration = time::Duration::hours(1);
/// Graph's clock and ours may differ by this much (a renewal read back).
const CLOCK_SLACK: time::Duration = time::Duration::minutes(5);

pub(super) async fn requested(run: &mut Run<'_>, graph: &Graph) -> Result<(), ActionError> {
    if run.job.is_done(Step::Requested) {
        return Ok(());
    }
    let tenant = run.tenant;
    let note = match send(graph, tenant, &run.job.team_id, &run.job.action).await {
        Ok(location) => {
            run.job.operation = location;
            "asked".to_owned()
        }
        Err(e) => {
            // Done anyway (Graph said it failed), or done before (a run
            // that stopped before it could say so).
            if present(graph, run).await? {
                tracing::warn!(team = %run.job.team_id, action = ?run.job.action, error = %e,
                    "Graph answered an error but the effect is there; taken as done");
                run.job.operation = None;
                format!("already done ({e})")
            } else {
                return Err(classify(&e, what(&run.job.action)));
            }
        }
    };
    run.checkpoint(Step::Requested, note).await
}

pub(super) async fn done(run: &mut Run<'_>, graph: &Graph) -> Result<(), ActionError> {
    if run.job.is_done(Step::Done) {
        return Ok(());
    }
    if let Some(location) = run.job.operation.clone() {
        wait(run, graph, &location).await?;
    }
    if !present(graph, run).await? {
        return Err(ActionError::Transient(format!(
            "{}: Graph does not show it done yet",
            what(&run.job.action)
        )));
    }
    if run.job.action == Action::Renew {
        let dates = ops::group_dates(graph, run.tenant, &run.job.team_id)
            .await
            .map_err(|e| classify(&e, "reading the renewed group"))?;
        let lifetime_days = ops::group_lifetime_days(graph, run.tenant)
            .await
            .map_err(|e| classify(&e, "reading the group lifecycle policies"))?;
        run.job.renewal = Some(RenewalFacts {
            renewed_at: dates.renewed,
            entra_expires_at: dates.expires,
            lifetime_days,
        });
    }
    run.checkpoint(Step::Done, "").await
}

/// Polls an archive or unarchive operation until it ends; a failed one
/// whose effect is there anyway is done, otherwise asked again next run.
async fn wait(run: &mut Run<'_>, graph: &Graph, location: &str) -> Result<(), ActionError> {
    let started = Instant::now();
    let mut pause = POLL_FIRST;
    loop {
        tokio::time::sleep(pause).await;
        match operation(graph, run.tenant, location)
            .await
            .map_err(|e| classify(&e, "waiting for Teams"))?
        {
            Operation::Succeeded => return Ok(()),
            Operation::Failed(why) => {
                if present(graph, run).await? {
                    return Ok(());
                }
                run.job.done.retain(|c| c.step != Step::Requested);
                run.job.operation = None;
                run.save().await?;
                return Err(ActionError::Transient(format!(
                    "Teams could not {}: {why}",
                    what(&run.job.action)
                )));
            }
            Operation::Running if started.elapsed() + pause > run.poll_budget => {
                let why = format!("Teams is still working ({})", what(&run.job.action));
                let asked = run
                    .job
                    .done_at(Step::Requested)
                    .unwrap_or(run.job.requested_at);
                if run.clock.now() - asked > OPERATION_WITHIN {
                    return Err(ActionError::Permanent(format!(
                        "{why} after {} minutes",
                        OPERATION_WITHIN.whole_minutes()
                    )));
                }
                return Err(ActionError::NotYet {
                    why,
                    retry_in: POLL_AGAIN,
                });
            }
            Operation::Running => pause = (pause * 2).min(POLL_MAX),
        }
    }
}

/// Asks Graph; the operation to poll, for archive and unarchive.
async fn send(
    graph: &Graph,
    tenant: &TenantId,
    team: &str,
    action: &Action,
) -> Result<Option<String>, GraphError> {
    match action {
        Action::Archive => ops::set_archived(graph, tenant, team, true).await.map(Some),
        Action::Unarchive => ops::set_archived(graph, tenant, team, false)
            .await
            .map(Some),
        Action::SoftDelete => ops::delete_group(graph, tenant, team).await.map(|_| None),
        Action::Restore => ops::restore_group(graph, tenant, team).await.map(|_| None),
        Action::Renew => ops::renew_group(graph, tenant, team).await.map(|_| None),
        Action::AddOwner { user } => ops::add_link(graph, tenant, team, Link::Owners, user)
            .await
            .map(|_| None),
        Action::ReAddMember { user } => ops::add_link(graph, tenant, team, Link::Members, user)
            .await
            .map(|_| None),
        Action::RemoveGuest { user } => ops::remove_member(graph, tenant, team, user)
            .await
            .map(|_| None),
    }
}

/// Whether Graph shows the action's effect.
async fn present(graph: &Graph, run: &Run<'_>) -> Result<bool, ActionError> {
    let (tenant, team) = (run.tenant, run.job.team_id.as_str());
    let found = match &run.job.action {
        Action::Archive => ops::is_archived(graph, tenant, team).await,
        Action::Unarchive => ops::is_archived(graph, tenant, team).await.map(|a| !a),
        Action::SoftDelete => ops::is_soft_deleted(graph, tenant, team).await,
        Action::Restore => ops::group_exists(graph, tenant, team).await,
        Action::Renew => {
            let since = run
                .job
                .done_at(Step::Checked)
                .unwrap_or(run.job.requested_at);
            ops::group_dates(graph, tenant, team)
                .await
                .map(|d| d.renewed.is_some_and(|r| r >= since - CLOCK_SLACK))
        }
        Action::AddOwner { user } => ops::has_link(graph, tenant, team, Link::Owners, user).await,
        Action::ReAddMember { user } => {
            ops::has_link(graph, tenant, team, Link::Members, user).await
        }
        Action::RemoveGuest { user } => ops::has_link(graph, tenant, team, Link::Members, user)
            .await
            .map(|m| !m),
    };
    found.map_err(|e| classify(&e, "reading back"))
}

pub(super) fn what(action: &Action) -> &'static str {
    match action {
        Action::Archive => "archive the team",
        Action::Unarchive => "unarchive the team",
        Action::SoftDelete => "delete the team",
        Action::Restore => "restore the team",
        Action::Renew => "renew the team",
        Action::AddOwner { .. } => "add the owner",
        Action::RemoveGuest { .. } => "remove the guest",
        Action::ReAddMember { .. } => "add the member back",
    }
}
