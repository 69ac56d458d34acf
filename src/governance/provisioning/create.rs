//! Creating the team: a free mailNickname, the group (found by that
//! nickname before creating, and looked for again after any failed create),
//! the team made from the group, then the operation polled until the team
//! exists, with back-off inside a time budget.

use std::time::{Duration, Instant};

use super::{ProvisionError, Run, Step, StepCtx, classify};
use crate::governance::naming;
use crate::graph::teams::{self, NewGroup, Operation};

/// Polling waits this long first, doubling up to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(500);
const POLL_MAX: Duration = Duration::from_secs(15);
/// A run waits at most this long for Teams; the queue retries after.
const POLL_BUDGET: Duration = Duration::from_secs(120);

pub(super) async fn run(ctx: &StepCtx<'_>, run: &mut Run<'_>) -> Result<(), ProvisionError> {
    let (graph, tenant) = (ctx.graph, ctx.tenant);
    let mut fresh_name = false;
    if !run.job.is_done(Step::Name) {
        let base = naming::mail_nickname(&ctx.request.mail_nickname);
        let taken = teams::nicknames_like(graph, tenant, &base)
            .await
            .map_err(|e| classify(&e, "checking the mail name"))?;
        let nickname =
            naming::unique_nickname(&base, |n| taken.iter().any(|t| t.eq_ignore_ascii_case(n)))
                .map_err(|e| ProvisionError::Permanent(e.to_string()))?;
        run.job.mail_nickname = Some(nickname.clone());
        run.checkpoint(Step::Name, nickname).await?;
        fresh_name = true;
    }
    let nickname = run
        .job
        .mail_nickname
        .clone()
        .ok_or_else(|| ProvisionError::Transient("the job lost its mail name".into()))?;
    if !run.job.is_done(Step::Group) {
        // A resumed job may have created the group before it could say so.
        let existing = if fresh_name {
            None
        } else {
            teams::group_by_nickname(graph, tenant, &nickname)
                .await
                .map_err(|e| classify(&e, "looking for the group"))?
        };
        let id = match existing {
            Some(id) => id,
            None => {
                let owners = ctx.owner_ids();
                let mut members = owners.clone();
                members.extend(ctx.member_ids());
                let group = NewGroup {
                    display_name: &ctx.request.display_name,
                    mail_nickname: &nickname,
                    description: &ctx.request.description,
                    visibility: ctx.template.template.visibility.as_graph(),
                    owners: &owners,
                    members: &members,
                };
                match teams::create_group(graph, tenant, &group).await {
                    Ok(id) => id,
                    Err(e) => {
                        // Graph sometimes reports a failure for a group it did create.
                        match teams::group_by_nickname(graph, tenant, &nickname).await {
                            Ok(Some(id)) => {
                                tracing::warn!(error = %e, group = %id, "the group was created although Graph said it failed");
                                id
                            }
                            _ => return Err(classify(&e, "creating the group")),
                        }
                    }
                }
            }
        };
        run.job.group_id = Some(id.clone());
        run.checkpoint(Step::Group, id).await?;
    }
    let group = run.job.group()?.to_owned();
    if !run.job.is_done(Step::Team) {
        let location = match teams::team_from_group(graph, tenant, &group).await {
            Ok(Some(location)) => location,
            Ok(None) => format!("/teams/{group}"),
            Err(e) if e.is_not_found() => {
                return Err(ProvisionError::Transient(
                    "the new group is not visible to Teams yet".into(),
                ));
            }
            Err(e) => {
                if graph.get(tenant, &format!("/teams/{group}")).await.is_ok() {
                    tracing::warn!(error = %e, %group, "the team exists although Graph said creating it failed");
                    format!("/teams/{group}")
                } else {
                    return Err(classify(&e, "creating the team"));
                }
            }
        };
        run.job.operation = Some(location.clone());
        run.checkpoint(Step::Team, location).await?;
    }
    if !run.job.is_done(Step::Ready) {
        let location = run
            .job
            .operation
            .clone()
            .unwrap_or_else(|| format!("/teams/{group}"));
        let started = Instant::now();
        let mut wait = POLL_FIRST;
        loop {
            tokio::time::sleep(wait).await;
            match teams::operation(graph, tenant, &location)
                .await
                .map_err(|e| classify(&e, "waiting for the team"))?
            {
                Operation::Succeeded => break,
                Operation::Failed(why) => {
                    if graph.get(tenant, &format!("/teams/{group}")).await.is_ok() {
                        break;
                    }
                    // Ask again on the next run.
                    run.job.done.retain(|c| c.step != Step::Team);
                    run.job.operation = None;
                    run.save().await?;
                    return Err(ProvisionError::Transient(format!(
                        "Teams could not create the team: {why}"
                    )));
                }
                Operation::Running if started.elapsed() + wait > POLL_BUDGET => {
                    return Err(ProvisionError::Transient(
                        "the team is still being created".into(),
                    ));
                }
                Operation::Running => wait = (wait * 2).min(POLL_MAX),
            }
        }
        run.checkpoint(Step::Ready, "").await?;
    }
    Ok(())
}
