//! The action's job document (`jobs` container, `action-<hash of key>`):
//! what is to be done, which checkpoints are passed, what Graph said, and
//! how it ended. A run writes it under its ETag, so a second delivery of the
//! same message racing the first stops instead of acting twice.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::ActionError;
use crate::governance::checkpoints::{self, WriteError};
use crate::governance::lifecycle::machine::{Cause, Transition};
use crate::ids::TenantId;
use crate::jobs::governance_action::{Action, ActionMessage};
use crate::platform::PlatformResult;
use crate::platform::clock::Clock;
use crate::platform::documents::{Container, Document, Documents, ETag, Query};

pub(super) const TYPE: &str = "governanceAction";

/// The checkpoints, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// The team is in the inventory and the machine allows the action.
    Checked,
    /// Graph was asked (for archive and unarchive: an operation to poll).
    Requested,
    /// Graph shows the effect (polled or read back).
    Done,
    /// The inventory says so and the audit trail has its entry.
    Recorded,
}

pub use crate::governance::checkpoints::JobState;
pub type Checkpoint = checkpoints::Checkpoint<Step>;

/// What a renewal read back from Entra.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalFacts {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub renewed_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub entra_expires_at: Option<OffsetDateTime>,
    /// The tenant's group lifetime (`groupLifecyclePolicies`), if any.
    #[serde(default)]
    pub lifetime_days: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionJob {
    pub key: String,
    pub team_id: String,
    pub action: Action,
    pub cause: Cause,
    pub state: JobState,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// Runs started (queue deliveries that found work).
    #[serde(default)]
    pub runs: u32,
    #[serde(default)]
    pub done: Vec<Checkpoint>,
    /// The lifecycle transition the action makes (lifecycle actions), as
    /// checked before Graph was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// The team's name when checked (for the audit entry and findings).
    #[serde(default)]
    pub team_name: String,
    /// The user's display name (member actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The `teamsAsyncOperation` to poll (archive, unarchive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<RenewalFacts>,
    /// The last run's trouble (kept when a later run succeeds, for the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why the action failed for good (state `Failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

impl ActionJob {
    pub(super) fn new(message: &ActionMessage, now: OffsetDateTime) -> Self {
        ActionJob {
            key: message.key.clone(),
            team_id: message.team_id.clone(),
            action: message.action.clone(),
            cause: message.cause.clone(),
            state: JobState::Running,
            requested_at: now,
            runs: 0,
            done: Vec::new(),
            transition: None,
            team_name: String::new(),
            user_name: None,
            operation: None,
            renewal: None,
            last_error: None,
            failure: None,
            updated_at: Some(now),
        }
    }

    pub fn is_done(&self, step: Step) -> bool {
        checkpoints::is_done(&self.done, step)
    }

    pub fn done_at(&self, step: Step) -> Option<OffsetDateTime> {
        checkpoints::done_at(&self.done, step)
    }

    pub fn is_finished(&self) -> bool {
        self.state != JobState::Running
    }
}

/// The job's document id: the key hashed, so any key the caller chooses
/// makes a valid id and the same key always the same one.
pub fn job_id(key: &str) -> String {
    format!("action-{}", key_hash(key))
}

pub(super) fn key_hash(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..16])
}

pub(super) fn to_document(tenant: &TenantId, job: &ActionJob) -> PlatformResult<Document> {
    Document::new(tenant, TYPE, job_id(&job.key), job)
}

/// The job for `key` as stored, with its ETag.
pub(super) async fn read(
    docs: &dyn Documents,
    tenant: &TenantId,
    key: &str,
) -> PlatformResult<Option<(ActionJob, Option<ETag>)>> {
    match docs.get(Container::Jobs, tenant, &job_id(key)).await? {
        Some(doc) if doc.kind == TYPE => Ok(Some((doc.parse()?, doc.etag.clone()))),
        _ => Ok(None),
    }
}

/// Every action job of one team, oldest request first.
pub(super) async fn of_team(
    docs: &dyn Documents,
    tenant: &TenantId,
    team_id: &str,
) -> PlatformResult<Vec<ActionJob>> {
    let query = Query::of_type(TYPE).with("teamId", team_id);
    let mut jobs: Vec<ActionJob> = docs
        .query(Container::Jobs, tenant, &query)
        .await?
        .iter()
        .map(Document::parse)
        .collect::<PlatformResult<_>>()?;
    jobs.sort_by_key(|j| j.requested_at);
    Ok(jobs)
}

/// The tenant's jobs still running (page by page).
pub(super) fn running<'a>(
    docs: &'a dyn Documents,
    tenant: &'a TenantId,
) -> impl futures::Stream<Item = PlatformResult<ActionJob>> + Send + 'a {
    use futures::TryStreamExt;
    crate::platform::documents::stream(
        docs,
        Container::Jobs,
        crate::platform::documents::Scope::Tenant(tenant),
        Query::of_type(TYPE).with("state", "Running"),
    )
    .and_then(|doc| async move { doc.parse::<ActionJob>() })
}

/// One run of a job: the job as stored, its ETag, the checkpoint budget.
pub(super) struct Run<'a> {
    pub docs: &'a dyn Documents,
    pub clock: &'a dyn Clock,
    pub tenant: &'a TenantId,
    pub job: ActionJob,
    pub etag: Option<ETag>,
    /// Stop after this many checkpoints (a simulated crash).
    pub allowed: Option<u32>,
    pub poll_budget: std::time::Duration,
    pub passed: u32,
}

impl Run<'_> {
    /// Records `step` passed before anything else happens.
    pub async fn checkpoint(
        &mut self,
        step: Step,
        note: impl Into<String>,
    ) -> Result<(), ActionError> {
        checkpoints::pass(&mut self.job.done, step, self.clock.now(), note);
        self.save().await?;
        self.passed += 1;
        match self.allowed {
            Some(allowed) if self.passed >= allowed => Err(ActionError::Interrupted),
            _ => Ok(()),
        }
    }

    pub async fn save(&mut self) -> Result<(), ActionError> {
        self.job.updated_at = Some(self.clock.now());
        let doc = to_document(self.tenant, &self.job)?;
        checkpoints::write(self.docs, &doc, &mut self.etag)
            .await
            .map_err(|e| match e {
                // Another run of the same job got ahead: it carries on, this one stops.
                WriteError::Raced => {
                    ActionError::Transient("another run of this action is in progress".into())
                }
                WriteError::Platform(e) => e.into(),
            })
    }
}
