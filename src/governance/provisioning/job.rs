//! The job document: which steps are done, with what result, and the
//! run that writes checkpoints under the document's ETag (a duplicate
//! delivery of the same job stops rather than racing it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ProvisionError, Provisioner};
use crate::governance::checkpoints::{self, WriteError};
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::documents::{Container, Document, Documents, ETag};

const TYPE: &str = "provisioningJob";
/// After this many runs that found the team incomplete, the job stops and
/// says the team is partially provisioned.
pub(super) const MAX_VERIFY_FAILURES: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Step {
    /// A free mailNickname chosen.
    Name,
    /// The Microsoft 365 group exists (with the first owners and members).
    Group,
    /// The team was asked for (an operation to poll).
    Team,
    /// The team exists.
    Ready,
    Members,
    Guests,
    Channels,
    Apps,
    Tabs,
    Picture,
    /// Everything above was read back and is present.
    Verify,
    Inventory,
    CrmLink,
    /// The requester was told.
    Notify,
}

pub use crate::governance::checkpoints::JobState;
pub type Checkpoint = checkpoints::Checkpoint<Step>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub request_id: String,
    pub state: JobState,
    /// Runs started (each queue delivery that found work).
    pub runs: u32,
    #[serde(default)]
    pub done: Vec<Checkpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The `teamsAsyncOperation` to poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Channel ids by lower-cased name ("general" included).
    #[serde(default)]
    pub channels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// Member, guest, channel and app writes were sent once: a later run
    /// reads what the team has first. Until then the team has what it was
    /// created with.
    #[serde(default)]
    pub fill_sent: bool,
    /// Tab writes were sent once: a later run reads the tabs first, since
    /// Teams takes the same tab twice. Until then the team has none of them.
    #[serde(default)]
    pub tabs_sent: bool,
    #[serde(default)]
    pub verify_failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When a run last wrote the job (a stalled job is queued again).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

impl Job {
    pub(super) fn new(request_id: &str) -> Self {
        Job {
            request_id: request_id.to_owned(),
            state: JobState::Running,
            runs: 0,
            done: Vec::new(),
            mail_nickname: None,
            group_id: None,
            operation: None,
            channels: BTreeMap::new(),
            web_url: None,
            fill_sent: false,
            tabs_sent: false,
            verify_failures: 0,
            failure: None,
            last_error: None,
            updated_at: None,
        }
    }

    pub fn is_done(&self, step: Step) -> bool {
        checkpoints::is_done(&self.done, step)
    }

    /// When `step` was done.
    pub fn done_at(&self, step: Step) -> Option<OffsetDateTime> {
        checkpoints::done_at(&self.done, step)
    }

    pub(super) fn group(&self) -> Result<&str, ProvisionError> {
        self.group_id
            .as_deref()
            .ok_or_else(|| ProvisionError::Transient("the job lost its group id".into()))
    }
}

pub fn job_id(request_id: &str) -> String {
    format!("provision-{request_id}")
}

/// One run's state: the job as stored, its ETag, and the checkpoint budget.
pub(crate) struct Run<'a> {
    pub(super) p: &'a Provisioner<'a>,
    pub(super) tenant: &'a TenantId,
    pub job: Job,
    pub(super) etag: Option<ETag>,
    pub(super) checkpoints: u32,
}

impl Run<'_> {
    /// Records `step` done (with what changed in the job) before anything else happens.
    pub(super) async fn checkpoint(
        &mut self,
        step: Step,
        note: impl Into<String>,
    ) -> Result<(), ProvisionError> {
        checkpoints::pass(&mut self.job.done, step, self.p.clock.now(), note);
        self.save().await?;
        self.checkpoints += 1;
        if let Some(allowed) = self.p.checkpoints_allowed
            && self.checkpoints >= allowed
        {
            return Err(ProvisionError::Interrupted);
        }
        Ok(())
    }

    pub(super) async fn save(&mut self) -> Result<(), ProvisionError> {
        self.job.updated_at = Some(self.p.clock.now());
        let doc = Document::new(self.tenant, TYPE, job_id(&self.job.request_id), &self.job)?;
        checkpoints::write(self.p.docs, &doc, &mut self.etag)
            .await
            .map_err(|e| match e {
                // Another run of the same job (a duplicate delivery) got
                // ahead: this one stops, the other carries on.
                WriteError::Raced => {
                    ProvisionError::Transient("another run of this job is in progress".into())
                }
                WriteError::Platform(e) => e.into(),
            })
    }
}

/// The job for `request_id` as stored, with its ETag.
pub(super) async fn read(
    docs: &dyn Documents,
    tenant: &TenantId,
    request_id: &str,
) -> PlatformResult<Option<(Job, Option<ETag>)>> {
    match docs
        .get(Container::Jobs, tenant, &job_id(request_id))
        .await?
    {
        Some(doc) if doc.kind == TYPE => Ok(Some((doc.parse()?, doc.etag.clone()))),
        _ => Ok(None),
    }
}

pub async fn get_job(
    docs: &dyn Documents,
    tenant: &TenantId,
    request_id: &str,
) -> PlatformResult<Option<Job>> {
    Ok(read(docs, tenant, request_id).await?.map(|(job, _)| job))
}

/// The job for `request_id` as stored, with its ETag; a new one when none is.
pub(super) async fn load(
    docs: &dyn Documents,
    tenant: &TenantId,
    request_id: &str,
) -> PlatformResult<(Job, Option<ETag>)> {
    Ok(read(docs, tenant, request_id)
        .await?
        .unwrap_or_else(|| (Job::new(request_id), None)))
}
