//! Creating the team: a free mailNickname, the group (found by that
//! nickname before creating, and looked for again after any failed create),
//! the team made from the group, then the operation polled until the team
//! exists, with back-off inside a time budget.

use std::time::{Duration, Instant};

use super::{ProvisionError, Run, Step, StepCtx, classify, names};
use crate::governance::naming;
use crate::graph::GraphError;
use crate::graph::teams::{self, NewGroup, Operation};

/// Polling waits this long first, doubling up to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(500);
const POLL_MAX: Duration = Duration::from_secs(15);
/// A run waits at most this long for Teams, then runs again later.
const POLL_BUDGET: Duration = Duration::from_secs(120);
/// A new group may stay invisible to Teams (404) this long after it was
/// made (Graph's replication delay); asked again every [`GROUP_RETRY`].
const GROUP_VISIBLE_WITHIN: time::Duration = time::Duration::minutes(15);
const GROUP_RETRY: Duration = Duration::from_secs(15);
/// Teams may take this long to finish a team before the job gives up.
const TEAM_READY_WITHIN: time::Duration = time::Duration::hours(1);
const TEAM_RETRY: Duration = Duration::from_secs(30);

pub(super) async fn run(ctx: &StepCtx<'_>, run: &mut Run<'_>) -> Result<(), ProvisionError> {
    let (graph, tenant) = (ctx.graph, ctx.tenant);
    let mut fresh_name = false;
    if !run.job.is_done(Step::Name) {
        let base = naming::mail_nickname(&ctx.request.mail_nickname);
        let taken = teams::nicknames_like(graph, tenant, &base)
            .await
            .map_err(|e| classify(&e, "checking the mail name"))?;
        let nickname = names::reserve(run.p.docs, tenant, &ctx.request.id, &base, &taken).await?;
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
            ours(ctx, run, &nickname).await?
        };
        let id = match existing {
            Some(id) => id,
            None => {
                let (owners, members) = ctx.creation_people();
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
                    // Graph sometimes reports a failure for a group it did create.
                    Err(e) => match ours(ctx, run, &nickname).await {
                        Ok(Some(id)) => {
                            tracing::warn!(error = %e, group = %id, "the group was created although Graph said it failed");
                            id
                        }
                        // In use, by a group not visible yet: which one is told on the next run.
                        Ok(None) if nickname_in_use(&e) => {
                            return Err(ProvisionError::Transient(format!(
                                "the mail name {nickname} is in use by a group not visible yet"
                            )));
                        }
                        Ok(None) => return Err(classify(&e, "creating the group")),
                        Err(found) => return Err(found),
                    },
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
                return Err(not_yet(
                    run,
                    Step::Group,
                    GROUP_VISIBLE_WITHIN,
                    GROUP_RETRY,
                    "the new group is not visible to Teams yet",
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
                    return Err(not_yet(
                        run,
                        Step::Team,
                        TEAM_READY_WITHIN,
                        TEAM_RETRY,
                        "the team is still being created",
                    ));
                }
                Operation::Running => wait = (wait * 2).min(POLL_MAX),
            }
        }
        run.checkpoint(Step::Ready, "").await?;
    }
    Ok(())
}

/// The group with the job's `nickname`, when it is this request's own: the
/// nickname is reserved for the request, so only a group made outside
/// SalesTim could carry it too, and that one has another display name. Then
/// the job chooses another name on its next run.
async fn ours(
    ctx: &StepCtx<'_>,
    run: &mut Run<'_>,
    nickname: &str,
) -> Result<Option<String>, ProvisionError> {
    let found = teams::group_by_nickname(ctx.graph, ctx.tenant, nickname)
        .await
        .map_err(|e| classify(&e, "looking for the group"))?;
    match found {
        None => Ok(None),
        Some(g) if g.display_name == ctx.request.display_name => Ok(Some(g.id)),
        Some(g) => {
            tracing::warn!(%nickname, other = %g.display_name, "the mail name was taken outside SalesTim; choosing another");
            run.job.done.retain(|c| c.step != Step::Name);
            run.job.mail_nickname = None;
            run.save().await?;
            Err(ProvisionError::Transient(format!(
                "the mail name {nickname} was taken by the group \"{}\" meanwhile",
                g.display_name
            )))
        }
    }
}

/// Graph refused the group because its mailNickname is taken.
fn nickname_in_use(e: &GraphError) -> bool {
    matches!(e, GraphError::Http { status: 400, message, .. }
        if message.contains("mailNickname") && message.contains("already exists"))
}

/// Waiting for Graph since `since` was done: again after `retry_in`, or
/// for good once that took longer than `within`.
fn not_yet(
    run: &Run<'_>,
    since: Step,
    within: time::Duration,
    retry_in: Duration,
    why: &str,
) -> ProvisionError {
    let now = run.p.clock.now();
    match run.job.done_at(since) {
        Some(at) if now - at > within => ProvisionError::Permanent(format!(
            "Microsoft Teams did not finish: {why} after {} minutes.",
            within.whole_minutes()
        )),
        _ => ProvisionError::NotYet {
            why: why.to_owned(),
            retry_in,
        },
    }
}
