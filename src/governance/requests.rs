//! Team requests: someone asks for a team from a template, approvers decide.
//!
//! States: `Submitted -> (Approved | Rejected | Cancelled)`; a template
//! without approvers approves at once. Provisioning states are added by the
//! provisioning work. Every transition is written to the audit trail, an
//! illegal one is an error, and two approvers deciding at once are settled
//! by the document's ETag: one wins, the other is told the current state.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::audit::{self, AuditEntry};
use super::people::Person;
use super::templates::{self, StoredTemplate};
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::{Container, Document, Documents, Query};
use crate::platform::{PlatformError, PlatformResult};

const TYPE: &str = "teamRequest";
pub const MAX_NAME_CHARS: usize = 256;
pub const MAX_TEXT_CHARS: usize = 1024;
pub const MAX_COMMENT_CHARS: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestState {
    Submitted,
    Approved,
    Rejected,
    Cancelled,
}

impl RequestState {
    pub fn label(self) -> &'static str {
        match self {
            RequestState::Submitted => "Waiting for approval",
            RequestState::Approved => "Approved",
            RequestState::Rejected => "Rejected",
            RequestState::Cancelled => "Cancelled",
        }
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamRequest {
    #[serde(skip)]
    pub id: String,
    pub requester: Person,
    pub template_id: String,
    pub template_name: String,
    pub template_version: u32,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub justification: String,
    /// The template's approvers when the request was made.
    #[serde(default)]
    pub approvers: Vec<Person>,
    pub state: RequestState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Where the request was made (a conversation id), to answer there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_conversation: Option<String>,
    /// The requester's Entra id, queryable (`requester.aadObjectId` nests).
    pub requester_id: String,
}

impl TeamRequest {
    pub fn is_approver(&self, aad_object_id: &str) -> bool {
        self.approvers.iter().any(|a| a.is(aad_object_id))
    }
}

/// What a person fills in to ask for a team.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestForm {
    pub template_id: String,
    pub display_name: String,
    pub description: String,
    pub justification: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The form is not acceptable; each entry is a reason to show the requester.
    #[error("the request is not valid: {}", .0.join("; "))]
    Invalid(Vec<String>),
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

fn trimmed(text: &str) -> String {
    text.trim().to_owned()
}

/// Checks the form against the tenant's templates; the reasons are for the requester.
fn validate(
    form: &RequestForm,
    template: Option<&StoredTemplate>,
) -> Result<RequestForm, RequestError> {
    let form = RequestForm {
        template_id: trimmed(&form.template_id),
        display_name: form
            .display_name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        description: trimmed(&form.description),
        justification: trimmed(&form.justification),
    };
    let mut reasons = Vec::new();
    match template {
        None if form.template_id.is_empty() => reasons.push("Choose a template.".to_owned()),
        None => reasons.push("That template does not exist (any more).".to_owned()),
        Some(t) if !t.template.active => {
            reasons.push("That template is retired; choose another.".to_owned())
        }
        Some(_) => {}
    }
    let name_chars = form.display_name.chars().count();
    if name_chars == 0 {
        reasons.push("Give the team a name.".to_owned());
    } else if name_chars > MAX_NAME_CHARS {
        reasons.push(format!(
            "The name is {name_chars} characters; at most {MAX_NAME_CHARS} are allowed."
        ));
    }
    if form.display_name.chars().any(char::is_control) {
        reasons.push("The name cannot contain control characters.".to_owned());
    }
    for (what, text) in [
        ("description", &form.description),
        ("justification", &form.justification),
    ] {
        if text.chars().count() > MAX_TEXT_CHARS {
            reasons.push(format!(
                "The {what} is too long (at most {MAX_TEXT_CHARS} characters)."
            ));
        }
    }
    if reasons.is_empty() {
        Ok(form)
    } else {
        Err(RequestError::Invalid(reasons))
    }
}

fn to_document(tenant: &TenantId, request: &TeamRequest) -> PlatformResult<Document> {
    Document::new(tenant, TYPE, request.id.clone(), request)
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
    actor: &Person,
    action: &str,
    request: &TeamRequest,
    why: &str,
) -> PlatformResult<()> {
    let entry = AuditEntry {
        at,
        actor: actor.actor(),
        action: action.to_owned(),
        details: serde_json::json!({"requestId": request.id, "state": request.state, "displayName": request.display_name, "why": why}),
    };
    audit::record(docs, tenant, &entry).await
}

/// Submits a request for `requester`. The template's approvers are copied
/// into it; with none, it is approved at once.
pub async fn submit(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    requester: &Person,
    form: &RequestForm,
    origin_conversation: Option<String>,
) -> Result<TeamRequest, RequestError> {
    let template = if form.template_id.trim().is_empty() {
        None
    } else {
        templates::get(docs, tenant, form.template_id.trim()).await?
    };
    let form = validate(form, template.as_ref())?;
    let template = template.expect("validate refuses a request without a template");
    let now = clock.now();
    let approvers = template.template.approvers.clone();
    let mut request = TeamRequest {
        id: format!("req-{}", uuid::Uuid::new_v4().simple()),
        requester: requester.clone(),
        requester_id: requester.aad_object_id.clone(),
        template_id: template.id.clone(),
        template_name: template.template.name.clone(),
        template_version: template.template.version,
        display_name: form.display_name,
        description: form.description,
        justification: form.justification.clone(),
        state: RequestState::Submitted,
        approvers,
        decision: None,
        created_at: now,
        origin_conversation,
    };
    docs.create(Container::Requests, &to_document(tenant, &request)?)
        .await?;
    audit(
        docs,
        tenant,
        now,
        requester,
        "request.submitted",
        &request,
        &form.justification,
    )
    .await?;
    if request.approvers.is_empty() {
        request = transition(docs, tenant, &request.id, |r| {
            r.state = RequestState::Approved;
            Ok(())
        })
        .await?;
        audit(
            docs,
            tenant,
            now,
            requester,
            "request.approved",
            &request,
            "the template needs no approval",
        )
        .await?;
    }
    Ok(request)
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

/// A person's requests, newest first (at most `limit`).
pub async fn list_for_requester(
    docs: &dyn Documents,
    tenant: &TenantId,
    aad_object_id: &str,
    limit: usize,
) -> PlatformResult<Vec<TeamRequest>> {
    let query = Query::of_type(TYPE).with("requesterId", aad_object_id.to_ascii_lowercase());
    let mut requests = docs
        .query(Container::Requests, tenant, &query)
        .await?
        .iter()
        .map(from_document)
        .collect::<PlatformResult<Vec<_>>>()?;
    requests.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    requests.truncate(limit);
    Ok(requests)
}

/// Reads, changes and writes back a request under its ETag. A lost race is
/// retried against the new version, where `change` decides again (and
/// normally finds the request already decided).
async fn transition(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    change: impl Fn(&mut TeamRequest) -> Result<(), RequestError>,
) -> Result<TeamRequest, RequestError> {
    for _ in 0..5 {
        let doc = match docs.get(Container::Requests, tenant, id).await? {
            Some(doc) if doc.kind == TYPE => doc,
            _ => return Err(RequestError::NotFound),
        };
        let etag = doc
            .etag
            .clone()
            .ok_or_else(|| PlatformError::backend("documents", "a read document has no ETag"))?;
        let mut request = from_document(&doc)?;
        change(&mut request)?;
        match docs
            .replace(Container::Requests, &to_document(tenant, &request)?, &etag)
            .await
        {
            Ok(_) => return Ok(request),
            Err(PlatformError::PreconditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PlatformError::unavailable("documents", "the request keeps changing under us").into())
}

/// An approver approves or rejects a submitted request.
pub async fn decide(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    approver: &Person,
    approved: bool,
    comment: &str,
) -> Result<TeamRequest, RequestError> {
    let comment = comment.trim();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(RequestError::Invalid(vec![format!(
            "The comment is too long (at most {MAX_COMMENT_CHARS} characters)."
        )]));
    }
    if !approved && comment.is_empty() {
        return Err(RequestError::Invalid(vec![
            "Say why you reject the request, so the requester knows.".to_owned(),
        ]));
    }
    let now = clock.now();
    let request = transition(docs, tenant, id, |r| {
        if !r.is_approver(&approver.aad_object_id) {
            return Err(RequestError::NotApprover);
        }
        if r.state != RequestState::Submitted {
            return Err(RequestError::AlreadyDecided(Box::new(r.clone())));
        }
        r.state = if approved {
            RequestState::Approved
        } else {
            RequestState::Rejected
        };
        r.decision = Some(Decision {
            by: approver.clone(),
            at: now,
            approved,
            comment: comment.to_owned(),
        });
        Ok(())
    })
    .await?;
    let action = if approved {
        "request.approved"
    } else {
        "request.rejected"
    };
    audit(docs, tenant, now, approver, action, &request, comment).await?;
    Ok(request)
}

/// The requester withdraws a request that is still waiting.
pub async fn cancel(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    requester: &Person,
) -> Result<TeamRequest, RequestError> {
    let request = transition(docs, tenant, id, |r| {
        if !r.requester.is(&requester.aad_object_id) {
            return Err(RequestError::NotFound);
        }
        if r.state != RequestState::Submitted {
            return Err(RequestError::AlreadyDecided(Box::new(r.clone())));
        }
        r.state = RequestState::Cancelled;
        Ok(())
    })
    .await?;
    audit(
        docs,
        tenant,
        clock.now(),
        requester,
        "request.cancelled",
        &request,
        "",
    )
    .await?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::templates::Template;

    fn template(active: bool) -> StoredTemplate {
        StoredTemplate {
            id: "project".into(),
            template: Template {
                name: "Project".into(),
                description: String::new(),
                version: 1,
                approvers: vec![],
                active,
            },
        }
    }

    fn form(name: &str) -> RequestForm {
        RequestForm {
            template_id: "project".into(),
            display_name: name.into(),
            ..RequestForm::default()
        }
    }

    fn reasons(result: Result<RequestForm, RequestError>) -> Vec<String> {
        match result {
            Err(RequestError::Invalid(reasons)) => reasons,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn names_are_trimmed_and_inner_spacing_collapsed() {
        let ok = validate(&form("  Project   Falcon \n"), Some(&template(true))).unwrap();
        assert_eq!(ok.display_name, "Project Falcon");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut bad = form("");
        bad.description = "x".repeat(MAX_TEXT_CHARS + 1);
        let r = reasons(validate(&bad, None));
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r[0].contains("does not exist"));
        let r = reasons(validate(&form(&"n".repeat(257)), Some(&template(false))));
        assert!(r[0].contains("retired") && r[1].contains("257"), "{r:?}");
        assert_eq!(
            validate(&form(&"n".repeat(256)), Some(&template(true)))
                .unwrap()
                .display_name
                .len(),
            256
        );
        let r = reasons(validate(&form("a\u{7}b"), Some(&template(true))));
        assert!(r[0].contains("control"), "{r:?}");
    }
}
