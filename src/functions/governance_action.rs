//! `GovernanceAction` — queue trigger on `governance-action`: runs (or
//! resumes) one governance action's checkpointed job (see
//! [`crate::governance::lifecycle::actions`]). Transient trouble fails the
//! invocation, so the host retries it after its visibility timeout; after
//! `maxDequeueCount` tries the message goes to `governance-action-poison`,
//! where `GovernanceActionPoison` fails the job with its last error, so a
//! failed action is recorded and shown, never dropped. Permanent trouble (an
//! illegal transition, no consent) fails the job at once. A tenant that
//! cannot be acted for here (not registered, no consent, no Graph
//! credentials) fails the job with that reason. An archive Teams is still
//! working on is queued again a minute later and this message completed,
//! so waiting does not use up the retries meant for failures.

use crate::app::App;
use crate::error::AppError;
use crate::governance::lifecycle::actions::{self, ActionError, Outcome, Runner};
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::jobs::{self, governance_action::ActionMessage};
use crate::platform::PlatformError;

/// The job's view of the app; `checkpoints_allowed` is for tests that stop
/// a run after each checkpoint.
pub fn runner(app: &App, checkpoints_allowed: Option<u32>) -> Runner<'_> {
    Runner {
        docs: app.docs.as_ref(),
        clock: app.clock.as_ref(),
        checkpoints_allowed,
        poll_budget: actions::DEFAULT_POLL_BUDGET,
    }
}

fn message(req: &InvokeRequest) -> Result<ActionMessage, AppError> {
    let message: ActionMessage = super::queue_job(req)?;
    actions::validate(&message)
        .map_err(|e| AppError::BadRequest(format!("governance action message: {e}")))?;
    tracing::Span::current().record("tenant_id", message.tenant_id.as_str());
    Ok(message)
}

fn to_app(e: ActionError) -> AppError {
    match e {
        ActionError::Platform(e) => e.into(),
        e => AppError::Platform(PlatformError::unavailable("governance action", e)),
    }
}

fn line(message: &ActionMessage, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done(job) => format!(
            "{:?} on team {} done (key {})",
            job.action, job.team_id, message.key
        ),
        Outcome::Failed(job) => format!(
            "{:?} on team {} failed: {}",
            job.action,
            job.team_id,
            job.failure.as_deref().unwrap_or("?")
        ),
    }
}

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let message = message(&req)?;
    let runner = runner(&app, None);
    let graph = match super::tenant_graph(&app, &message.tenant_id).await? {
        Ok((_, graph)) => graph,
        Err(why) => {
            let outcome = runner
                .give_up(&message, &format!("the tenant cannot be acted for: {why}"))
                .await
                .map_err(to_app)?;
            return Ok(InvokeResponse::done(line(&message, &outcome)));
        }
    };
    match runner.run(graph, &message).await {
        Ok(outcome) => Ok(InvokeResponse::done(line(&message, &outcome))),
        Err(ActionError::NotYet { why, retry_in }) => {
            jobs::governance_action::enqueue(app.queues.as_ref(), &message, Some(retry_in)).await?;
            Ok(InvokeResponse::done(format!(
                "{:?} on team {} waiting ({why}); again in {}s",
                message.action,
                message.team_id,
                retry_in.as_secs()
            )))
        }
        Err(e) => {
            tracing::warn!(key = %message.key, error = %e, "governance action stopped; the queue retries it");
            Err(to_app(e))
        }
    }
}

/// `GovernanceActionPoison`: the action kept failing.
pub async fn run_poison(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    let message = match message(&req) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "unreadable governance action message poisoned; dropped");
            return Ok(InvokeResponse::ok());
        }
    };
    let outcome = runner(&app, None)
        .give_up(&message, "the action kept failing")
        .await
        .map_err(to_app)?;
    let line = line(&message, &outcome);
    tracing::error!(key = %message.key, "governance action poisoned: {line}");
    Ok(InvokeResponse::ok().log(line))
}
