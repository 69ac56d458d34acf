//! Governance actions: archive, unarchive, soft delete, restore, renew,
//! add an owner, remove a guest, add a removed member back. Each is a
//! checkpointed job in the style of provisioning, so a sweep that finds the
//! same thing twice, a card clicked twice or a message delivered twice does
//! one thing, and a run stopped anywhere resumes where it stopped:
//!
//! 1. `Checked`: the team is in the inventory and the lifecycle machine
//!    allows the action (an illegal transition fails the job: no Graph call).
//! 2. `Requested`: Graph was asked once (`effect.rs`).
//! 3. `Done`: Graph shows the effect (an operation polled, or read back;
//!    a failure answer whose effect is there counts as done).
//! 4. `Recorded`: the inventory and the audit trail say so (`record.rs`).
//!
//! The entry point is [`request`], idempotent by the caller's key (the job
//! document is created only if absent). A failed action is loud: the job
//! says why ([`get`], [`for_team`], [`failed_for_team`] for findings), the
//! queue retries it (`governance-action`, then its poison queue), and in
//! the end the job is `Failed` with the last error and an audit entry.

mod effect;
mod job;
mod record;

pub use job::{ActionJob, Checkpoint, JobState, RenewalFacts, Step, job_id};
use job::{Run, read};
pub use record::event_of;

use crate::governance::audit::{self, AuditEntry};
use crate::governance::lifecycle::machine::Cause;
use crate::governance::teams::{self, TeamError};
use crate::graph::{Graph, GraphError};
use crate::ids::TenantId;
pub use crate::jobs::governance_action::Action;
use crate::jobs::governance_action::{self as contract, ActionMessage};
use crate::platform::clock::Clock;
use crate::platform::documents::{Container, Documents};
use crate::platform::queues::Queues;
use crate::platform::{PlatformError, PlatformResult};

/// The longest idempotency key taken.
pub const MAX_KEY_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// Worth another run later (the queue retries).
    #[error("{0}")]
    Transient(String),
    /// Will not work by retrying; the job fails with this reason.
    #[error("{0}")]
    Permanent(String),
    /// Teams is still working on it (an archive operation): run again after
    /// `retry_in`, without using up the queue's retries.
    #[error("{why}")]
    NotYet {
        why: String,
        retry_in: std::time::Duration,
    },
    /// The run stopped after its allowed checkpoints (tests simulate a crash).
    #[error("stopped after a checkpoint")]
    Interrupted,
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// A Graph error as the job sees it; `what` says what was being done.
pub(super) fn classify(e: &GraphError, what: &str) -> ActionError {
    match e {
        e if e.is_transient() => ActionError::Transient(format!("{what}: {e}")),
        GraphError::Http { status: 403, .. } | GraphError::Token { .. } => {
            ActionError::Permanent(format!(
                "{what}: SalesTim is not allowed to do this in your tenant ({e}). An administrator needs to grant it consent."
            ))
        }
        GraphError::Http {
            status: 401 | 409 | 412 | 423 | 424,
            ..
        } => ActionError::Transient(format!("{what}: {e}")),
        e => ActionError::Permanent(format!("{what}: {e}")),
    }
}

/// What the sweep or a card asks for.
#[derive(Clone, Debug)]
pub struct ActionRequest {
    /// The team's group id.
    pub team_id: String,
    pub action: Action,
    pub cause: Cause,
    /// The caller's idempotency key, e.g. `sweep:<policy>:<version>:<team>:<period>`
    /// or the card's action id: the same key never makes a second job.
    pub key: String,
}

/// What [`request`] did.
#[derive(Clone, Debug)]
pub enum Requested {
    /// A new job, queued.
    Queued(ActionJob),
    /// The key was seen before: its job, as it is now; nothing queued.
    Already(ActionJob),
    /// The action may not be taken (an illegal transition, no such team):
    /// the job is recorded as failed with the reason; no Graph call.
    Refused(ActionJob),
}

impl Requested {
    pub fn job(&self) -> &ActionJob {
        match self {
            Requested::Queued(j) | Requested::Already(j) | Requested::Refused(j) => j,
        }
    }
}

/// Ids that go into Graph URLs: letters, digits and dashes (object ids).
fn check_object_id(what: &str, id: &str) -> PlatformResult<()> {
    if !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        Ok(())
    } else {
        Err(PlatformError::Invalid(format!(
            "{what} {id:?} is not an object id"
        )))
    }
}

/// Checks what a request or a message carries, before anything is written.
pub fn validate(message: &ActionMessage) -> PlatformResult<()> {
    check_object_id("team", &message.team_id)?;
    match &message.action {
        Action::AddOwner { user } | Action::RemoveGuest { user } | Action::ReAddMember { user } => {
            check_object_id("user", user)?;
        }
        _ => {}
    }
    let key = message.key.trim();
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
        return Err(PlatformError::Invalid(format!(
            "an action key has 1 to {MAX_KEY_CHARS} characters"
        )));
    }
    if message.cause.actor.trim().is_empty() || message.cause.reason.trim().is_empty() {
        return Err(PlatformError::Invalid(
            "an action names who decided it and why".into(),
        ));
    }
    Ok(())
}

/// Asks for `ask` on a team of `tenant`: checks it against the team's
/// lifecycle state, records its job (once per key) and queues it. The same
/// key again returns the job it made, whatever happened to it since.
/// Bad input (ids that are not object ids, an empty key, no actor or reason)
/// is `PlatformError::Invalid` and writes nothing.
pub async fn request(
    docs: &dyn Documents,
    clock: &dyn Clock,
    queues: &dyn Queues,
    tenant: &TenantId,
    ask: ActionRequest,
) -> PlatformResult<Requested> {
    let message = ActionMessage {
        tenant_id: tenant.clone(),
        team_id: ask.team_id.to_ascii_lowercase(),
        action: ask.action,
        cause: ask.cause,
        key: ask.key,
    };
    validate(&message)?;
    if let Some((job, _)) = read(docs, tenant, &message.key).await? {
        return Ok(Requested::Already(job));
    }
    let now = clock.now();
    let mut job = ActionJob::new(&message, now);
    let refusal = match teams::get(docs, tenant, &message.team_id).await {
        Ok(team) => {
            job.team_name = team.display_name.clone();
            record::check(&team, &job, now).err()
        }
        Err(TeamError::NotFound) => Some(format!("no team {} in the inventory", message.team_id)),
        Err(TeamError::Platform(e)) => return Err(e),
        Err(e) => Some(e.to_string()),
    };
    if let Some(reason) = &refusal {
        job.state = JobState::Failed;
        job.failure = Some(reason.clone());
    }
    match docs
        .create(Container::Jobs, &job::to_document(tenant, &job)?)
        .await
    {
        Ok(_) => {}
        Err(PlatformError::Conflict) => {
            let (job, _) = read(docs, tenant, &message.key)
                .await?
                .ok_or_else(|| PlatformError::backend("documents", "a job created then gone"))?;
            return Ok(Requested::Already(job));
        }
        Err(e) => return Err(e),
    }
    if let Some(reason) = refusal {
        tracing::warn!(%tenant, team = %job.team_id, action = ?job.action, %reason, "governance action refused");
        return Ok(Requested::Refused(job));
    }
    if let Err(e) = contract::enqueue(queues, &message, None).await {
        // Without its message the job would never run: take it back, so
        // the caller's retry with the same key starts afresh.
        let _ = docs
            .delete(Container::Jobs, tenant, &job_id(&message.key))
            .await;
        return Err(e);
    }
    tracing::info!(%tenant, team = %job.team_id, action = ?job.action, "governance action queued");
    Ok(Requested::Queued(job))
}

/// The job made for `key`.
pub async fn get(
    docs: &dyn Documents,
    tenant: &TenantId,
    key: &str,
) -> PlatformResult<Option<ActionJob>> {
    Ok(read(docs, tenant, key).await?.map(|(job, _)| job))
}

/// Longer than any wait a running action makes (an archive Teams is still
/// working on: an hour), so a job this quiet has lost its message.
pub const QUIET_FOR: time::Duration = time::Duration::hours(2);

/// The messages of the tenant's actions nobody is running: still running,
/// but not written for [`QUIET_FOR`] (their message was lost, or the app
/// stopped between writing the job and queueing it). The `RequestReminders`
/// timer's tenant work queues them again; a job is keyed by its key, so a
/// second message resumes the same job and its effect stays one.
pub async fn stalled(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
) -> PlatformResult<Vec<ActionMessage>> {
    use futures::TryStreamExt;
    let now = clock.now();
    job::running(docs, tenant)
        .try_filter(|job| {
            let quiet = job.updated_at.unwrap_or(job.requested_at);
            std::future::ready(now - quiet > QUIET_FOR)
        })
        .map_ok(|job| ActionMessage {
            tenant_id: tenant.clone(),
            team_id: job.team_id,
            action: job.action,
            cause: job.cause,
            key: job.key,
        })
        .try_collect()
        .await
}

/// Queues `message` again (see [`stalled`]).
pub async fn requeue(queues: &dyn Queues, message: &ActionMessage) -> PlatformResult<()> {
    contract::enqueue(queues, message, None).await
}

/// Every action taken (or refused) on a team, oldest first.
pub async fn for_team(
    docs: &dyn Documents,
    tenant: &TenantId,
    team_id: &str,
) -> PlatformResult<Vec<ActionJob>> {
    job::of_team(docs, tenant, &team_id.to_ascii_lowercase()).await
}

/// The team's actions that failed for good, with their reasons: what the
/// findings show.
pub async fn failed_for_team(
    docs: &dyn Documents,
    tenant: &TenantId,
    team_id: &str,
) -> PlatformResult<Vec<ActionJob>> {
    let mut jobs = for_team(docs, tenant, team_id).await?;
    jobs.retain(|j| j.state == JobState::Failed);
    Ok(jobs)
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    Done(ActionJob),
    Failed(ActionJob),
}

/// What a run works with.
pub struct Runner<'a> {
    pub docs: &'a dyn Documents,
    pub clock: &'a dyn Clock,
    /// Stop after this many checkpoints (a simulated crash); `None` in the product.
    pub checkpoints_allowed: Option<u32>,
    /// How long one run polls an archive operation before it comes back
    /// later ([`DEFAULT_POLL_BUDGET`] in the product).
    pub poll_budget: std::time::Duration,
}

pub use effect::DEFAULT_POLL_BUDGET;

impl Runner<'_> {
    /// Runs (or resumes) the job of `message` as far as it goes. A job that
    /// ended (done or failed) is left as it is. Transient trouble is an
    /// error for the queue to retry, recorded on the job as its last error.
    pub async fn run(
        &self,
        graph: &Graph,
        message: &ActionMessage,
    ) -> Result<Outcome, ActionError> {
        let mut run = self.open(message).await?;
        if run.job.is_finished() {
            return Ok(finished(run.job));
        }
        run.job.runs += 1;
        match self.steps(&mut run, graph).await {
            Ok(()) => {
                run.job.state = JobState::Done;
                run.save().await?;
                tracing::info!(team = %run.job.team_id, action = ?run.job.action, "governance action done");
                crate::telemetry::custom_event(
                    "PolicyActionTaken",
                    &[
                        ("tenant", message.tenant_id.as_str()),
                        ("teamId", &run.job.team_id),
                        ("action", &format!("{:?}", run.job.action)),
                        ("cause", &format!("{:?}", run.job.cause)),
                    ],
                );
                Ok(Outcome::Done(run.job))
            }
            Err(ActionError::Permanent(reason)) => self.fail(run, reason).await,
            Err(ActionError::Interrupted) => Err(ActionError::Interrupted),
            Err(ActionError::NotYet { why, retry_in }) => {
                tracing::info!(team = %run.job.team_id, %why, ?retry_in, "waiting for Teams");
                run.job.last_error = Some(why.clone());
                run.save().await?;
                Err(ActionError::NotYet { why, retry_in })
            }
            Err(e) => {
                run.job.last_error = Some(e.to_string());
                // Best effort: the error is what the run reports anyway.
                let _ = run.save().await;
                Err(e)
            }
        }
    }

    /// The queue gave up on the job (poisoned) or it cannot run here: it
    /// fails with `why` and its last error.
    pub async fn give_up(
        &self,
        message: &ActionMessage,
        why: &str,
    ) -> Result<Outcome, ActionError> {
        let run = self.open(message).await?;
        if run.job.is_finished() {
            return Ok(finished(run.job));
        }
        let reason = match &run.job.last_error {
            Some(last) => format!("{why}; last error: {last}"),
            None => why.to_owned(),
        };
        self.fail(run, reason).await
    }

    /// The job of `message`, made from it when its document was never written.
    async fn open<'r>(&'r self, message: &'r ActionMessage) -> Result<Run<'r>, ActionError> {
        let tenant = &message.tenant_id;
        let (job, etag) = match read(self.docs, tenant, &message.key).await? {
            Some(found) => found,
            None => (ActionJob::new(message, self.clock.now()), None),
        };
        Ok(Run {
            docs: self.docs,
            clock: self.clock,
            tenant,
            job,
            etag,
            allowed: self.checkpoints_allowed,
            poll_budget: self.poll_budget,
            passed: 0,
        })
    }

    async fn steps(&self, run: &mut Run<'_>, graph: &Graph) -> Result<(), ActionError> {
        if !run.job.is_done(Step::Checked) {
            let team = match teams::get(self.docs, run.tenant, &run.job.team_id).await {
                Ok(team) => team,
                Err(TeamError::Platform(e)) => return Err(e.into()),
                Err(e) => return Err(ActionError::Permanent(format!("{}: {e}", run.job.team_id))),
            };
            run.job.team_name = team.display_name.clone();
            run.job.transition =
                record::check(&team, &run.job, self.clock.now()).map_err(ActionError::Permanent)?;
            if let Action::AddOwner { user } | Action::ReAddMember { user } = &run.job.action {
                let name = crate::graph::lifecycle::user_name(graph, run.tenant, user)
                    .await
                    .map_err(|e| classify(&e, "looking up the user"))?;
                run.job.user_name =
                    Some(name.ok_or_else(|| ActionError::Permanent(format!("no user {user}")))?);
            }
            run.checkpoint(Step::Checked, "").await?;
        }
        effect::requested(run, graph).await?;
        effect::done(run, graph).await?;
        record::recorded(run).await
    }

    async fn fail(&self, mut run: Run<'_>, reason: String) -> Result<Outcome, ActionError> {
        tracing::error!(team = %run.job.team_id, action = ?run.job.action, %reason, "governance action failed");
        run.job.state = JobState::Failed;
        run.job.failure = Some(reason);
        run.save().await?;
        let entry = AuditEntry {
            at: run.job.updated_at.unwrap_or_else(|| self.clock.now()),
            actor: run.job.cause.actor.clone(),
            action: "team.actionFailed".into(),
            details: record::details(&run.job),
        };
        let key = format!("failed-{}", job::key_hash(&run.job.key));
        audit::record_once(self.docs, run.tenant, &key, &entry).await?;
        Ok(Outcome::Failed(run.job))
    }
}

fn finished(job: ActionJob) -> Outcome {
    match job.state {
        JobState::Failed => Outcome::Failed(job),
        _ => Outcome::Done(job),
    }
}
