//! Team requests: someone asks for a team from a template, approvers decide,
//! the platform provisions it.
//!
//! States: `Draft -> Submitted -> (Approved | Rejected | Cancelled)`, then
//! `Approved -> Provisioning -> (Provisioned | Failed)`. A template without
//! approval approves at once; a staged one needs every stage in turn. Every
//! transition is written to the audit trail, an illegal one is an error, and
//! two approvers deciding at once are settled by the document's ETag: one
//! wins, the other is told the current state.
//!
//! - `submit.rs`: the form, the naming policy, drafts and submission.
//! - `decide.rs`: decisions, withdrawal, reminders and escalation.
//! - `outcome.rs`: the provisioning states.

mod decide;
mod outcome;
mod submit;

use futures::{Stream, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::crm::RecordRef;
use time::OffsetDateTime;

use super::audit::{self, AuditEntry};
use super::people::Person;
use crate::ids::TenantId;
use crate::platform::documents::update::{self, update};
use crate::platform::documents::{self, Container, Document, Documents, Query, Scope};
use crate::platform::{PlatformError, PlatformResult};

pub use decide::{Due, cancel, decide, due_reminders, followed_up, mark_followed_up};
pub use outcome::{mark_failed, mark_provisioned, mark_provisioning};
pub use submit::{RequestForm, RequesterInfo, check, needs, preview, submit};

const TYPE: &str = "teamRequest";
pub const MAX_NAME_CHARS: usize = 256;
pub const MAX_TEXT_CHARS: usize = 1024;
pub const MAX_COMMENT_CHARS: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestState {
    Draft,
    Submitted,
    Approved,
    Rejected,
    Cancelled,
    Provisioning,
    Provisioned,
    Failed,
}

impl RequestState {
    pub fn label(self) -> &'static str {
        match self {
            RequestState::Draft => "Draft",
            RequestState::Submitted => "Waiting for approval",
            RequestState::Approved => "Approved",
            RequestState::Rejected => "Rejected",
            RequestState::Cancelled => "Cancelled",
            RequestState::Provisioning => "Being created",
            RequestState::Provisioned => "Created",
            RequestState::Failed => "Failed",
        }
    }

    /// Whether approvers still have to decide.
    pub fn is_waiting(self) -> bool {
        self == RequestState::Submitted
    }

    /// Whether an approver decided for it (it may have been created since).
    pub fn was_approved(self) -> bool {
        matches!(
            self,
            RequestState::Approved
                | RequestState::Provisioning
                | RequestState::Provisioned
                | RequestState::Failed
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub by: Person,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub approved: bool,
    #[serde(default)]
    pub comment: String,
}

/// One approval stage: any one of its approvers decides for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub approvers: Vec<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// What became of an approved request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provisioned {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// Why it failed, for the requester.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A CRM record a team is requested for: which record, and its name and
/// link as the CRM gave them when the request was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrmRecordLink {
    pub record: RecordRef,
    pub title: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamRequest {
    #[serde(skip)]
    pub id: String,
    pub requester: Person,
    /// The requester's Entra id, queryable (`requester.aadObjectId` nests).
    pub requester_id: String,
    pub template_id: String,
    pub template_name: String,
    pub template_version: u32,
    /// What the requester typed.
    #[serde(default)]
    pub requested_name: String,
    /// The name after the naming policy: the team's display name.
    pub display_name: String,
    /// Derived from the display name; made unique in the tenant when the
    /// group is created.
    #[serde(default)]
    pub mail_nickname: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub justification: String,
    /// Owners besides the requester (the template's and the form's).
    #[serde(default)]
    pub owners: Vec<Person>,
    #[serde(default)]
    pub members: Vec<Person>,
    /// Approval stages, in order; none when the template needs no approval.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// The stage waiting for a decision.
    #[serde(default)]
    pub current_stage: usize,
    pub state: RequestState,
    /// The decision that settled the request (a rejection, or the last approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the current stage began waiting (reminders count from it).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub waiting_since: Option<OffsetDateTime>,
    /// The current stage's approvers were reminded.
    #[serde(default)]
    pub reminded: bool,
    /// The current stage was escalated.
    #[serde(default)]
    pub escalated: bool,
    /// The CRM record the team is for (provisioning links them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_record: Option<CrmRecordLink>,
    /// Where the request was made (a conversation id), to answer there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_conversation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Provisioned>,
}

impl TeamRequest {
    /// The approvers who may decide now (none once decided).
    pub fn approvers(&self) -> &[Person] {
        match self.stages.get(self.current_stage) {
            Some(stage) if self.state.is_waiting() => &stage.approvers,
            _ => &[],
        }
    }

    /// Everybody who approves at some stage, each once.
    pub fn all_approvers(&self) -> Vec<&Person> {
        let mut all: Vec<&Person> = Vec::new();
        for p in self.stages.iter().flat_map(|s| &s.approvers) {
            if !all.iter().any(|a| a.is(&p.aad_object_id)) {
                all.push(p);
            }
        }
        all
    }

    pub fn is_approver(&self, aad_object_id: &str) -> bool {
        self.approvers().iter().any(|a| a.is(aad_object_id))
    }

    /// Whether the person approves at any stage of this request.
    pub fn is_any_approver(&self, aad_object_id: &str) -> bool {
        self.all_approvers().iter().any(|a| a.is(aad_object_id))
    }

    /// Owners of the team to create: the requester first, each once.
    pub fn team_owners(&self) -> Vec<Person> {
        let mut owners = vec![self.requester.clone()];
        for p in &self.owners {
            if !owners.iter().any(|o| o.is(&p.aad_object_id)) {
                owners.push(p.clone());
            }
        }
        owners
    }

    /// Members who are not owners, each once.
    pub fn team_members(&self) -> Vec<Person> {
        let owners = self.team_owners();
        let mut members: Vec<Person> = Vec::new();
        for p in &self.members {
            if !owners
                .iter()
                .chain(&members)
                .any(|o| o.is(&p.aad_object_id))
            {
                members.push(p.clone());
            }
        }
        members
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The form is not acceptable; each entry is a reason to show the requester.
    #[error("the request is not valid: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The naming policy changes the name into one the requester has not
    /// seen (no preview, or a preview with another name): they are to see
    /// it first.
    #[error("the team would be named \"{0}\", which the requester has not seen")]
    NameNotSeen(String),
    #[error("no such request")]
    NotFound,
    #[error("only an approver of this request can decide on it")]
    NotApprover,
    /// The transition is not allowed from the request's current state
    /// (already decided, by this or another approver).
    #[error("the request is already {}", .0.state.label().to_lowercase())]
    AlreadyDecided(Box<TeamRequest>),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// How long an unsubmitted draft is kept: the store deletes it by itself
/// (a form opened and abandoned leaves nothing behind for long). Submitting
/// writes the request without a TTL, so it stays.
pub const DRAFT_TTL_SECS: u32 = 7 * 24 * 3600;

fn to_document(tenant: &TenantId, request: &TeamRequest) -> PlatformResult<Document> {
    let doc = Document::new(tenant, TYPE, request.id.clone(), request)?;
    Ok(if request.state == RequestState::Draft {
        doc.with_ttl(DRAFT_TTL_SECS)
    } else {
        doc
    })
}

fn from_document(doc: &Document) -> PlatformResult<TeamRequest> {
    let mut request: TeamRequest = doc.parse()?;
    request.id = doc.id.clone();
    Ok(request)
}

async fn audit(
    docs: &dyn Documents,
    tenant: &TenantId,
    at: OffsetDateTime,
    actor: &str,
    action: &str,
    request: &TeamRequest,
    why: &str,
) -> PlatformResult<()> {
    let entry = AuditEntry {
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        details: serde_json::json!({
            "requestId": request.id,
            "state": request.state,
            "stage": request.current_stage,
            "displayName": request.display_name,
            "why": why,
        }),
    };
    audit::record(docs, tenant, &entry).await
}

pub async fn get(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
) -> Result<TeamRequest, RequestError> {
    if crate::platform::documents::check_id(id).is_err() {
        return Err(RequestError::NotFound);
    }
    match docs.get(Container::Requests, tenant, id).await? {
        Some(doc) if doc.kind == TYPE => Ok(from_document(&doc)?),
        _ => Err(RequestError::NotFound),
    }
}

/// A person's requests, newest first (at most `limit`), drafts left out.
/// Read page by page, keeping only the newest `limit`.
pub async fn list_for_requester(
    docs: &dyn Documents,
    tenant: &TenantId,
    aad_object_id: &str,
    limit: usize,
) -> PlatformResult<Vec<TeamRequest>> {
    let query = Query::of_type(TYPE).with("requesterId", aad_object_id.to_ascii_lowercase());
    let mut all = std::pin::pin!(
        documents::stream(docs, Container::Requests, Scope::Tenant(tenant), query)
            .and_then(|doc| async move { from_document(&doc) })
    );
    let mut newest: Vec<TeamRequest> = Vec::new();
    let newest_first = |v: &mut Vec<TeamRequest>| {
        v.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        v.truncate(limit);
    };
    while let Some(request) = all.try_next().await? {
        if request.state != RequestState::Draft {
            newest.push(request);
            if newest.len() > limit.saturating_mul(2).max(64) {
                newest_first(&mut newest);
            }
        }
    }
    newest_first(&mut newest);
    Ok(newest)
}

/// A tenant's requests in `state`, page by page.
pub fn in_state<'a>(
    docs: &'a dyn Documents,
    tenant: &'a TenantId,
    state: RequestState,
) -> impl Stream<Item = PlatformResult<TeamRequest>> + Send + 'a {
    let query = Query::of_type(TYPE).with("state", format!("{state:?}"));
    documents::stream(docs, Container::Requests, Scope::Tenant(tenant), query)
        .and_then(|doc| async move { from_document(&doc) })
}

/// Reads, changes and writes back a request under its ETag (the documents
/// layer's one concurrency loop). A lost race runs `change` again against
/// the new version, where it decides again (and normally finds the request
/// already decided).
async fn transition(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    change: impl Fn(&mut TeamRequest) -> Result<(), RequestError>,
) -> Result<TeamRequest, RequestError> {
    let mut changed = None;
    update(docs, Container::Requests, tenant, id, |doc| {
        let mut request = match doc {
            Some(doc) if doc.kind == TYPE => from_document(doc)?,
            _ => return Err(RequestError::NotFound),
        };
        change(&mut request)?;
        let next = to_document(tenant, &request)?;
        changed = Some(request);
        Ok(update::Decision::Write(next))
    })
    .await?;
    Ok(changed.expect("a written update decided on the request"))
}

/// A request from Alice in `state`, with one stage of which she is the
/// approver (unit tests).
#[cfg(test)]
pub(crate) fn sample_request(state: RequestState) -> TeamRequest {
    let now = time::macros::datetime!(2026-11-25 12:00 UTC);
    let alice = Person::new("0b8e4c1a-7d2f-4a3e-9c61-5d4f3a2b1c0d", "Alice");
    TeamRequest {
        id: "req-1".into(),
        requester: alice.clone(),
        requester_id: alice.aad_object_id.clone(),
        template_id: "t".into(),
        template_name: "T".into(),
        template_version: 1,
        requested_name: "X".into(),
        display_name: "X".into(),
        mail_nickname: "X".into(),
        description: String::new(),
        justification: String::new(),
        owners: vec![],
        members: vec![],
        stages: vec![Stage {
            approvers: vec![alice],
            decision: None,
        }],
        current_stage: 0,
        state,
        decision: None,
        created_at: now,
        waiting_since: Some(now),
        reminded: false,
        escalated: false,
        origin_conversation: None,
        outcome: None,
        crm_record: None,
    }
}
