//! Provisioning: an approved request becomes a team, exactly as its template
//! says, once.
//!
//! A job is a list of checkpointed steps kept in one document per request
//! (`jobs` container, `provision-<requestId>`). Each step is idempotent and
//! its result (the chosen mailNickname, the group id, the operation to
//! poll, channel ids…) is written before the next begins, so a job stopped
//! anywhere resumes where it stopped. The group is found by its unique
//! mailNickname before anything is created, so a team is never created twice,
//! not even when Graph reported a failure for a group it did create.
//!
//! Transient trouble (throttling beyond the retry policy, outages, a team
//! still being created) fails the run so the queue retries it; permanent
//! trouble (no consent, an app missing from the catalog, the subscription
//! lapsed) fails the job and the request with a reason people can act on.
//!
//! - `names.rs`: the mailNickname reserved for the request.
//! - `create.rs`: name, group, team, waiting for the team.
//! - `content.rs`: members, guests, channels, apps.
//! - `tabs.rs`: tabs and the picture.
//! - `verify.rs`: everything read back and compared with the template.

mod content;
mod create;
mod job;
mod names;
mod stalled;
mod tabs;
mod verify;

pub use job::{Checkpoint, Job, JobState, Step, get_job, job_id};
use job::{MAX_VERIFY_FAILURES, Run, load, read};
pub use stalled::stalled;

use super::requests::{self, RequestError, RequestState, TeamRequest};
use super::teams::{self as inventory, Renewal, TeamRecord};
use super::templates::{self, StoredTemplate};
use super::tenants::Tenants;
use crate::crm::service::Crm;
use crate::crm::{CrmError, TeamLink};
use crate::graph::{Graph, GraphError};
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::blobs::Blobs;
use crate::platform::clock::Clock;
use crate::platform::documents::Documents;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Worth another run later (the queue retries).
    #[error("{0}")]
    Transient(String),
    /// Will not work by retrying; the request fails with this reason.
    #[error("{0}")]
    Permanent(String),
    /// Graph is not ready yet (a new group not visible to Teams, a team
    /// still being created): run again after `retry_in`, without using up
    /// the queue's retries.
    #[error("{why}")]
    NotYet {
        why: String,
        retry_in: std::time::Duration,
    },
    /// The run stopped after its allowed checkpoints (tests simulate a
    /// crash with it).
    #[error("stopped after a checkpoint")]
    Interrupted,
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl From<GraphError> for ProvisionError {
    fn from(e: GraphError) -> Self {
        classify(&e, "")
    }
}

/// A Graph error as the job sees it; `what` says what was being done.
fn classify(e: &GraphError, what: &str) -> ProvisionError {
    let what = if what.is_empty() {
        String::new()
    } else {
        format!("{what}: ")
    };
    match e {
        e if e.is_transient() => ProvisionError::Transient(format!("{what}{e}")),
        GraphError::Http { status: 403, .. } | GraphError::Token { .. } => {
            ProvisionError::Permanent(format!(
                "{what}SalesTim is not allowed to do this in your tenant ({e}). An administrator needs to grant it consent."
            ))
        }
        // A 401 with a fresh token, or 404 of something just created, come right on a retry.
        GraphError::Http {
            status: 401 | 404 | 409 | 412 | 424,
            ..
        } => ProvisionError::Transient(format!("{what}{e}")),
        e => ProvisionError::Permanent(format!("{what}{e}")),
    }
}

/// What a run came to.
#[derive(Debug)]
pub enum Outcome {
    /// Created (now or before); the requester is to be told.
    Provisioned(Box<TeamRequest>),
    /// Failed for good (now or before), with the reason.
    Failed(Box<TeamRequest>),
    /// The request is not (any more) one to provision, e.g. withdrawn.
    Nothing(String),
    /// Waiting for Graph: the job is to run again after `retry_in`.
    Waiting {
        why: String,
        retry_in: std::time::Duration,
    },
}

/// What a run works with.
pub struct Provisioner<'a> {
    pub docs: &'a dyn Documents,
    pub clock: &'a dyn Clock,
    pub blobs: &'a dyn Blobs,
    pub graph: Option<&'a Graph>,
    pub tenants: &'a Tenants,
    /// The tenants' CRM connections (a team made for a record is recorded
    /// on it).
    pub crm: &'a Crm,
    /// Whether the tenant's subscription is active (billing decides; the
    /// domain does not reach into billing).
    pub subscription_active: bool,
    /// Stop after this many checkpoints (a simulated crash); `None` in the product.
    pub checkpoints_allowed: Option<u32>,
}

impl Provisioner<'_> {
    /// Runs (or resumes) the job for `request_id` as far as it goes.
    pub async fn run(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Outcome, ProvisionError> {
        let request = match requests::get(self.docs, tenant, request_id).await {
            Ok(r) => r,
            Err(RequestError::NotFound) => {
                return Ok(Outcome::Nothing(format!("no request {request_id}")));
            }
            Err(RequestError::Platform(e)) => return Err(e.into()),
            Err(e) => return Err(ProvisionError::Transient(e.to_string())),
        };
        match request.state {
            RequestState::Approved | RequestState::Provisioning => {}
            RequestState::Provisioned => return Ok(Outcome::Provisioned(Box::new(request))),
            RequestState::Failed => return Ok(Outcome::Failed(Box::new(request))),
            other => {
                return Ok(Outcome::Nothing(format!(
                    "request {request_id} is {other:?}, not approved"
                )));
            }
        }
        let (job, etag) = load(self.docs, tenant, request_id).await?;
        let mut run = Run {
            p: self,
            tenant,
            job,
            etag,
            checkpoints: 0,
        };
        run.job.runs += 1;
        match self.steps(&mut run, &request).await {
            Ok(()) => {
                let request = requests::mark_provisioned(
                    self.docs,
                    self.clock,
                    tenant,
                    request_id,
                    run.job.group()?,
                    run.job.web_url.clone(),
                )
                .await
                .map_err(request_error)?;
                crate::telemetry::custom_event(
                    "TeamProvisioned",
                    &[
                        ("tenant", tenant.as_str()),
                        ("requestId", request_id),
                        ("groupId", run.job.group()?),
                        ("templateId", &request.template_id),
                    ],
                );
                Ok(Outcome::Provisioned(Box::new(request)))
            }
            Err(ProvisionError::Permanent(reason)) => {
                tracing::warn!(request = request_id, %reason, "provisioning failed for good");
                let request = self.fail(&mut run, &reason).await?;
                Ok(Outcome::Failed(Box::new(request)))
            }
            Err(ProvisionError::NotYet { why, retry_in }) => {
                tracing::info!(request = request_id, %why, ?retry_in, "waiting for Graph");
                run.job.last_error = Some(why.clone());
                run.save().await?;
                Ok(Outcome::Waiting { why, retry_in })
            }
            Err(e) => {
                if !matches!(e, ProvisionError::Interrupted) {
                    run.job.last_error = Some(e.to_string());
                    // Best effort: the error is what the run reports anyway.
                    let _ = run.save().await;
                }
                Err(e)
            }
        }
    }

    async fn fail(&self, run: &mut Run<'_>, reason: &str) -> Result<TeamRequest, ProvisionError> {
        run.job.state = JobState::Failed;
        run.job.failure = Some(reason.to_owned());
        run.save().await?;
        if run.job.group_id.is_none()
            && let Some(nickname) = &run.job.mail_nickname
        {
            // No group carries the name: another request may have it.
            names::release(self.docs, run.tenant, &run.job.request_id, nickname).await?;
        }
        requests::mark_failed(
            self.docs,
            self.clock,
            run.tenant,
            &run.job.request_id,
            reason,
            run.job.group_id.as_deref(),
        )
        .await
        .map_err(request_error)
    }

    /// Gives up on a job the queue could not complete (its message was
    /// poisoned): the request fails with the last error seen.
    pub async fn give_up(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Outcome, ProvisionError> {
        let (job, etag) = load(self.docs, tenant, request_id).await?;
        let reason = format!(
            "Creating the team kept failing and was stopped: {}",
            job.last_error.as_deref().unwrap_or("the job could not run")
        );
        let mut run = Run {
            p: self,
            tenant,
            job,
            etag,
            checkpoints: 0,
        };
        match requests::get(self.docs, tenant, request_id).await {
            Ok(r) if matches!(r.state, RequestState::Approved | RequestState::Provisioning) => Ok(
                Outcome::Failed(Box::new(self.fail(&mut run, &reason).await?)),
            ),
            Ok(r) => Ok(Outcome::Nothing(format!(
                "request {request_id} is {:?}",
                r.state
            ))),
            Err(RequestError::NotFound) => Ok(Outcome::Nothing(format!("no request {request_id}"))),
            Err(e) => Err(request_error(e)),
        }
    }

    /// The requester was told: the job is complete.
    pub async fn notified(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<(), ProvisionError> {
        let Some((job, etag)) = read(self.docs, tenant, request_id).await? else {
            return Ok(());
        };
        let mut run = Run {
            p: self,
            tenant,
            job,
            etag,
            checkpoints: 0,
        };
        if run.job.is_done(Step::Notify) {
            return Ok(());
        }
        if run.job.state == JobState::Running {
            run.job.state = JobState::Done;
        }
        run.checkpoint(Step::Notify, "").await
    }

    async fn steps(&self, run: &mut Run<'_>, request: &TeamRequest) -> Result<(), ProvisionError> {
        if !self.subscription_active {
            return Err(ProvisionError::Permanent(
                "Your organisation's SalesTim subscription is not active, so no team can be created."
                    .into(),
            ));
        }
        let tenant = self.tenants.get(run.tenant).await?.ok_or_else(|| {
            ProvisionError::Permanent("Your organisation is not registered with SalesTim.".into())
        })?;
        if !tenant.onboarding.admin_consent {
            return Err(ProvisionError::Permanent(
                "An administrator of your organisation has not yet granted SalesTim consent to create teams."
                    .into(),
            ));
        }
        let Some(graph) = self.graph else {
            return Err(ProvisionError::Permanent(
                "This SalesTim deployment has no Microsoft Graph credentials (GRAPH_CLIENT_ID)."
                    .into(),
            ));
        };
        // Made from the version the request was made (and approved) against.
        let template = templates::get_version(
            self.docs,
            run.tenant,
            &request.template_id,
            request.template_version,
        )
        .await?
        .ok_or_else(|| {
            ProvisionError::Permanent(format!(
                "The template \"{}\" no longer exists.",
                request.template_name
            ))
        })?;
        if run.job.runs == 1 || !run.job.is_done(Step::Name) {
            requests::mark_provisioning(self.docs, self.clock, run.tenant, &request.id)
                .await
                .map_err(request_error)?;
        }
        let ctx = StepCtx {
            graph,
            tenant: run.tenant,
            request,
            template: &template,
            expiry_days: template
                .template
                .lifecycle
                .expiry_days
                .or(tenant.settings.default_expiry_days),
        };
        create::run(&ctx, run).await?;
        content::run(&ctx, run, self.blobs).await?;
        if !run.job.is_done(Step::Inventory) {
            self.record(&ctx, run).await?;
            run.checkpoint(Step::Inventory, "").await?;
        }
        if !run.job.is_done(Step::CrmLink) {
            let note = self.link_record(&ctx, run).await?;
            run.checkpoint(Step::CrmLink, note).await?;
        }
        Ok(())
    }

    /// Records the team on its CRM record's side (a note or a link field,
    /// as the tenant's connection says). The team stands whatever the CRM
    /// answers: a refusal is the step's note (and, for a refused
    /// credential, the admin's finding); only an unreachable CRM is tried
    /// again.
    async fn link_record(
        &self,
        ctx: &StepCtx<'_>,
        run: &Run<'_>,
    ) -> Result<String, ProvisionError> {
        let Some(link) = &ctx.request.crm_record else {
            return Ok("no CRM record".to_owned());
        };
        let web_url = run.job.web_url.clone().unwrap_or_default();
        let team = TeamLink {
            display_name: &ctx.request.display_name,
            web_url: &web_url,
        };
        match self.crm.link_team(ctx.tenant, &link.record, &team).await {
            Ok(Ok(written)) => Ok(written),
            Ok(Err(why)) => {
                tracing::warn!(tenant = %ctx.tenant, why, "the team was not recorded on its CRM record");
                Ok(format!("not recorded on the record: {why}"))
            }
            Err(CrmError::Platform(e)) => Err(e.into()),
            Err(e) => Err(ProvisionError::Transient(e.to_string())),
        }
    }

    async fn record(&self, ctx: &StepCtx<'_>, run: &Run<'_>) -> Result<(), ProvisionError> {
        let now = self.clock.now();
        let record = TeamRecord {
            group_id: run.job.group()?.to_owned(),
            display_name: ctx.request.display_name.clone(),
            description: ctx.request.description.clone(),
            web_url: run.job.web_url.clone(),
            owners: ctx.request.team_owners(),
            template_id: Some(ctx.request.template_id.clone()),
            expires_at: ctx
                .expiry_days
                .map(|d| now + time::Duration::days(d.into())),
            renewal_days: ctx.expiry_days,
            renewal: Renewal::Pending,
            visibility: ctx.template.template.visibility,
            member_ids: ctx.member_ids(),
            mail_nickname: run.job.mail_nickname.clone(),
            first_seen_at: Some(now),
            ..TeamRecord::default()
        };
        inventory::put(self.docs, run.tenant, &record).await?;
        Ok(())
    }
}

fn request_error(e: RequestError) -> ProvisionError {
    match e {
        RequestError::Platform(e) => e.into(),
        RequestError::AlreadyDecided(r) => ProvisionError::Permanent(format!(
            "the request changed to {:?} while its team was being created",
            r.state
        )),
        e => ProvisionError::Transient(e.to_string()),
    }
}

/// What every step reads.
pub(crate) struct StepCtx<'a> {
    pub graph: &'a Graph,
    pub tenant: &'a TenantId,
    pub request: &'a TeamRequest,
    pub template: &'a StoredTemplate,
    pub expiry_days: Option<u32>,
}

impl StepCtx<'_> {
    /// Object ids, lower-cased as the team's member list is compared.
    pub fn owner_ids(&self) -> Vec<String> {
        self.request
            .team_owners()
            .into_iter()
            .map(|p| p.aad_object_id.to_ascii_lowercase())
            .collect()
    }

    pub fn member_ids(&self) -> Vec<String> {
        self.request
            .team_members()
            .into_iter()
            .map(|p| p.aad_object_id.to_ascii_lowercase())
            .collect()
    }

    /// Who the group is created with: (owners, members), the owners among
    /// the members too; Graph binds the first twenty of them.
    pub fn creation_people(&self) -> (Vec<String>, Vec<String>) {
        let owners = self.owner_ids();
        let mut members = owners.clone();
        members.extend(self.member_ids());
        (owners, members)
    }
}
