//! From the form to a submitted request: the template is checked, the
//! tenant's and the template's naming policies make the final name (shown
//! to the requester as a draft before submitting), and the template's
//! approval rule becomes the request's stages.

use time::OffsetDateTime;

use super::CrmRecordLink;
use super::{
    MAX_NAME_CHARS, MAX_TEXT_CHARS, RequestError, RequestState, Stage, TeamRequest, audit,
    to_document, transition,
};
use crate::governance::naming::{self, Attribute, Attributes, NamingError, TeamName};
use crate::governance::people::Person;
use crate::governance::templates::{self, ApprovalRule, StoredTemplate};
use crate::governance::tenants::TenantSettings;
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::{Container, Documents};

/// People a requester may add to the form, each list.
pub const MAX_FORM_PEOPLE: usize = 20;

/// What a person fills in to ask for a team.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestForm {
    pub template_id: String,
    pub display_name: String,
    pub description: String,
    pub justification: String,
    /// Entra object ids from the people picker.
    pub owners: Vec<String>,
    pub members: Vec<String>,
    /// The CRM record the team is for, as the CRM described it when the
    /// form was filled in (looked up by us, never taken from the form).
    pub crm_record: Option<CrmRecordLink>,
}

/// What the directory says of the requester, as far as the template's
/// naming policy and approval rule need it ([`needs`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequesterInfo {
    pub department: Option<String>,
    pub country: Option<String>,
    pub manager: Option<Person>,
}

/// Whether a request from `template` needs the requester's directory
/// attributes, and their manager.
pub fn needs(template: &StoredTemplate, settings: &TenantSettings) -> (bool, bool) {
    let policy = settings.naming.with(template.template.naming.as_ref());
    let attributes = policy.uses(Attribute::Department) || policy.uses(Attribute::Country);
    let manager = template.template.approval == ApprovalRule::Manager;
    (attributes, manager)
}

fn trimmed(text: &str) -> String {
    text.trim().to_owned()
}

fn naming_reason(e: NamingError) -> String {
    match e {
        NamingError::Empty => "Give the team a name.".to_owned(),
        NamingError::Blocked(word) => {
            format!("The name contains the blocked word \"{word}\"; choose another name.")
        }
        NamingError::TooLong { length, max } => format!(
            "With the naming policy the name would be {length} characters; at most {max} are allowed."
        ),
        NamingError::MissingAttribute(Attribute::CrmRecord) => {
            "This template names teams after a CRM record: start from the record's card (\"Create a team for this record\")."
                .to_owned()
        }
        NamingError::MissingAttribute(a) => format!(
            "The naming policy uses {} and the directory has none for you; ask your administrator.",
            a.token()
        ),
        NamingError::NoFreeNickname(n) => format!("No free mail name is left for \"{n}\"."),
    }
}

fn people(ids: &[String], what: &str, reasons: &mut Vec<String>) -> Vec<Person> {
    let mut out: Vec<Person> = Vec::new();
    for id in ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if uuid::Uuid::parse_str(id).is_err() {
            reasons.push(format!("\"{id}\" is not a person in your directory."));
        } else if !out.iter().any(|p| p.is(id)) {
            out.push(Person::new(id, ""));
        }
    }
    if out.len() > MAX_FORM_PEOPLE {
        reasons.push(format!("Add at most {MAX_FORM_PEOPLE} {what}."));
    }
    out
}

/// A request made from the form, or every reason it cannot be.
fn build(
    settings: &TenantSettings,
    template: Option<&StoredTemplate>,
    requester: &Person,
    form: &RequestForm,
    info: &RequesterInfo,
    now: OffsetDateTime,
) -> Result<TeamRequest, RequestError> {
    let mut reasons = Vec::new();
    let template = match template {
        None if form.template_id.trim().is_empty() => {
            reasons.push("Choose a template.".to_owned());
            None
        }
        None => {
            reasons.push("That template does not exist (any more).".to_owned());
            None
        }
        Some(t) if !t.template.active => {
            reasons.push("That template is retired; choose another.".to_owned());
            None
        }
        Some(t) => Some(t),
    };
    let requested = form
        .display_name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let requested_chars = requested.chars().count();
    if requested_chars > MAX_NAME_CHARS {
        reasons.push(format!(
            "The name is {requested_chars} characters; at most {MAX_NAME_CHARS} are allowed."
        ));
    } else if requested.chars().any(char::is_control) {
        reasons.push("The name cannot contain control characters.".to_owned());
    }
    let description = trimmed(&form.description);
    let justification = trimmed(&form.justification);
    for (what, text) in [
        ("description", &description),
        ("justification", &justification),
    ] {
        if text.chars().count() > MAX_TEXT_CHARS {
            reasons.push(format!(
                "The {what} is too long (at most {MAX_TEXT_CHARS} characters)."
            ));
        }
    }
    let form_owners = people(&form.owners, "owners", &mut reasons);
    let form_members = people(&form.members, "members", &mut reasons);
    let mut name = None;
    let mut stages = Vec::new();
    if let Some(t) = template {
        let policy = settings.naming.with(t.template.naming.as_ref());
        let attributes = Attributes {
            department: info.department.clone(),
            country: info.country.clone(),
            template_code: Some(t.template.code.clone()),
            crm_record: form.crm_record.as_ref().map(|r| r.title.clone()),
        };
        match (t.template.crm_link, &form.crm_record) {
            (Some(wanted), Some(r)) if r.record.record_type != wanted => reasons.push(format!(
                "This template makes teams for {} records, not {} records.",
                wanted.label().to_lowercase(),
                r.record.record_type.label().to_lowercase()
            )),
            (None, Some(_)) => reasons.push(
                "This template is not for CRM records; choose a template made for them.".to_owned(),
            ),
            _ => {}
        }
        if requested_chars == 0 {
            reasons.push("Give the team a name.".to_owned());
        } else if requested_chars <= MAX_NAME_CHARS {
            match naming::apply(&policy, &requested, &attributes) {
                Ok(n) => name = Some(n),
                Err(e) => reasons.push(naming_reason(e)),
            }
        }
        match &t.template.approval {
            ApprovalRule::None => {}
            ApprovalRule::Manager => match &info.manager {
                Some(m) => stages.push(vec![m.clone()]),
                None => reasons.push(
                    "This template needs your manager's approval, and the directory names no manager for you."
                        .to_owned(),
                ),
            },
            ApprovalRule::Named { approvers } => stages.push(approvers.clone()),
            ApprovalRule::Stages { stages: s } => stages.extend(s.iter().cloned()),
        }
    } else if requested_chars == 0 {
        reasons.push("Give the team a name.".to_owned());
    }
    let (
        Some(t),
        Some(TeamName {
            display_name,
            mail_nickname,
        }),
        true,
    ) = (template, name, reasons.is_empty())
    else {
        return Err(RequestError::Invalid(reasons));
    };
    let mut owners = t.template.owners.clone();
    owners.extend(form_owners);
    let mut members = t.template.members.clone();
    members.extend(form_members);
    let mut request = TeamRequest {
        id: format!("req-{}", uuid::Uuid::new_v4().simple()),
        requester: requester.clone(),
        requester_id: requester.aad_object_id.clone(),
        template_id: t.id.clone(),
        template_name: t.template.name.clone(),
        template_version: t.template.version,
        requested_name: requested,
        display_name,
        mail_nickname,
        description,
        justification,
        owners: Vec::new(),
        members: Vec::new(),
        stages: stages
            .into_iter()
            .map(|approvers| Stage {
                approvers,
                decision: None,
            })
            .collect(),
        current_stage: 0,
        state: RequestState::Draft,
        decision: None,
        created_at: now,
        waiting_since: None,
        reminded: false,
        escalated: false,
        origin_conversation: None,
        outcome: None,
        crm_record: form.crm_record.clone(),
    };
    request.owners = owners;
    request.members = members;
    // Kept as given, each once; the requester is always the first owner.
    request.owners = request.team_owners().into_iter().skip(1).collect();
    request.members = request.team_members();
    Ok(request)
}

async fn template_of(
    docs: &dyn Documents,
    tenant: &TenantId,
    form: &RequestForm,
) -> Result<Option<StoredTemplate>, RequestError> {
    let id = form.template_id.trim();
    if id.is_empty() {
        return Ok(None);
    }
    Ok(templates::get(docs, tenant, id).await?)
}

/// The request the form would make, with its final name and approval
/// stages, without saving anything (a live preview as the person types).
pub async fn check(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    settings: &TenantSettings,
    requester: &Person,
    form: &RequestForm,
    info: &RequesterInfo,
) -> Result<TeamRequest, RequestError> {
    let template = template_of(docs, tenant, form).await?;
    build(
        settings,
        template.as_ref(),
        requester,
        form,
        info,
        clock.now(),
    )
}

/// Saves the form as a draft (a new one, or `draft` again) and returns it
/// with its final name, so the requester sees what will be created.
#[allow(
    clippy::too_many_arguments,
    reason = "the domain's inputs, each needed"
)]
pub async fn preview(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    settings: &TenantSettings,
    requester: &Person,
    form: &RequestForm,
    info: &RequesterInfo,
    draft: Option<&str>,
) -> Result<TeamRequest, RequestError> {
    let request = check(docs, clock, tenant, settings, requester, form, info).await?;
    store(docs, tenant, requester, draft, request).await
}

/// Writes `request`: new, or in place of the requester's `draft` (which
/// must still be a draft; it keeps its id and creation time).
async fn store(
    docs: &dyn Documents,
    tenant: &TenantId,
    requester: &Person,
    draft: Option<&str>,
    request: TeamRequest,
) -> Result<TeamRequest, RequestError> {
    let Some(id) = draft else {
        docs.create(Container::Requests, &to_document(tenant, &request)?)
            .await?;
        return Ok(request);
    };
    transition(docs, tenant, id, |r| {
        if !r.requester.is(&requester.aad_object_id) {
            return Err(RequestError::NotFound);
        }
        if r.state != RequestState::Draft {
            return Err(RequestError::AlreadyDecided(Box::new(r.clone())));
        }
        *r = TeamRequest {
            id: r.id.clone(),
            created_at: r.created_at,
            ..request.clone()
        };
        Ok(())
    })
    .await
}

/// Submits a request for `requester` (from its draft when there is one):
/// the approvers of the first stage are to be told, or with no approval
/// needed it is approved at once. When the naming policy changes the name,
/// the requester must have seen the final name in a preview (the draft):
/// [`RequestError::NameNotSeen`] otherwise.
#[allow(
    clippy::too_many_arguments,
    reason = "the domain's inputs, each needed"
)]
pub async fn submit(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    settings: &TenantSettings,
    requester: &Person,
    form: &RequestForm,
    info: &RequesterInfo,
    draft: Option<&str>,
    origin_conversation: Option<String>,
) -> Result<TeamRequest, RequestError> {
    let template = template_of(docs, tenant, form).await?;
    let now = clock.now();
    let mut built = build(settings, template.as_ref(), requester, form, info, now)?;
    if built.display_name != built.requested_name {
        let seen = match draft {
            Some(id) => super::get(docs, tenant, id)
                .await
                .ok()
                .filter(|d| d.requester.is(&requester.aad_object_id))
                .map(|d| d.display_name),
            None => None,
        };
        if seen.as_deref() != Some(built.display_name.as_str()) {
            return Err(RequestError::NameNotSeen(built.display_name));
        }
    }
    built.origin_conversation = origin_conversation;
    built.waiting_since = Some(now);
    built.state = if built.stages.is_empty() {
        RequestState::Approved
    } else {
        RequestState::Submitted
    };
    let request = store(docs, tenant, requester, draft, built).await?;
    let actor = requester.actor();
    audit(
        docs,
        tenant,
        now,
        &actor,
        "request.submitted",
        &request,
        &request.justification,
    )
    .await?;
    if request.state == RequestState::Approved {
        audit(
            docs,
            tenant,
            now,
            &actor,
            "request.approved",
            &request,
            "the template needs no approval",
        )
        .await?;
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::naming::{BlockedWord, NamingPolicy, Part};
    use crate::governance::templates::Template;

    const ALICE: &str = "0b8e4c1a-7d2f-4a3e-9c61-5d4f3a2b1c0d";
    const BOB: &str = "1c9f5d2b-8e3a-4b4f-8d72-6e5a4b3c2d1e";

    fn template(active: bool, approval: ApprovalRule) -> StoredTemplate {
        StoredTemplate {
            id: "project".into(),
            template: Template {
                name: "Project".into(),
                code: "PRJ".into(),
                version: 3,
                active,
                approval,
                naming: Some(NamingPolicy {
                    prefix: vec![
                        Part::Attribute(Attribute::TemplateCode),
                        Part::Text("-".into()),
                    ],
                    ..NamingPolicy::default()
                }),
                owners: vec![Person::new(BOB, "Bob")],
                ..Template::default()
            },
        }
    }

    fn settings() -> TenantSettings {
        TenantSettings {
            naming: NamingPolicy {
                suffix: vec![
                    Part::Text(" (".into()),
                    Part::Attribute(Attribute::Country),
                    Part::Text(")".into()),
                ],
                blocked_words: vec![BlockedWord {
                    word: "ceo".into(),
                    whole_word: true,
                }],
                max_length: 40,
                ..NamingPolicy::default()
            },
            ..TenantSettings::default()
        }
    }

    fn form(name: &str) -> RequestForm {
        RequestForm {
            template_id: "project".into(),
            display_name: name.into(),
            ..RequestForm::default()
        }
    }

    fn info() -> RequesterInfo {
        RequesterInfo {
            country: Some("FR".into()),
            ..RequesterInfo::default()
        }
    }

    fn me() -> Person {
        Person::new(ALICE, "Alice")
    }

    fn reasons(result: Result<TeamRequest, RequestError>) -> Vec<String> {
        match result {
            Err(RequestError::Invalid(reasons)) => reasons,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-11-25 12:00 UTC)
    }

    #[test]
    fn the_final_name_follows_both_policies_and_the_requester_owns_the_team() {
        let t = template(true, ApprovalRule::None);
        let r = build(
            &settings(),
            Some(&t),
            &me(),
            &form("  Project   Falcon \n"),
            &info(),
            now(),
        )
        .unwrap();
        assert_eq!(r.requested_name, "Project Falcon");
        assert_eq!(r.display_name, "PRJ-Project Falcon (FR)");
        assert_eq!(r.mail_nickname, "PRJ-ProjectFalconFR");
        assert_eq!(r.template_version, 3);
        let owners: Vec<_> = r
            .team_owners()
            .into_iter()
            .map(|p| p.aad_object_id)
            .collect();
        assert_eq!(owners, [ALICE, BOB]);
        assert!(r.stages.is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut bad = form("");
        bad.description = "x".repeat(MAX_TEXT_CHARS + 1);
        bad.owners = vec!["nobody".into()];
        let r = reasons(build(&settings(), None, &me(), &bad, &info(), now()));
        assert_eq!(r.len(), 4, "{r:?}");
        assert!(r[0].contains("does not exist"));
        let t = template(false, ApprovalRule::None);
        let r = reasons(build(
            &settings(),
            Some(&t),
            &me(),
            &form(&"n".repeat(257)),
            &info(),
            now(),
        ));
        assert!(r[0].contains("retired") && r[1].contains("257"), "{r:?}");
        let t = template(true, ApprovalRule::None);
        let r = reasons(build(
            &settings(),
            Some(&t),
            &me(),
            &form("Ask the CEO"),
            &info(),
            now(),
        ));
        assert!(r[0].contains("blocked word \"ceo\""), "{r:?}");
        let r = reasons(build(
            &settings(),
            Some(&t),
            &me(),
            &form(&"n".repeat(40)),
            &info(),
            now(),
        ));
        assert!(r[0].contains("at most 40"), "{r:?}");
        let r = reasons(build(
            &settings(),
            Some(&t),
            &me(),
            &form("Falcon"),
            &RequesterInfo::default(),
            now(),
        ));
        assert!(r[0].contains("[Country]"), "{r:?}");
        let r = reasons(build(
            &settings(),
            Some(&t),
            &me(),
            &form("a\u{7}b"),
            &info(),
            now(),
        ));
        assert!(r[0].contains("control"), "{r:?}");
    }

    #[test]
    fn the_approval_rule_becomes_the_stages() {
        let manager = Person::new(BOB, "Bob");
        let t = template(true, ApprovalRule::Manager);
        let r = reasons(build(
            &settings(),
            Some(&t),
            &me(),
            &form("Falcon"),
            &info(),
            now(),
        ));
        assert!(r[0].contains("manager"), "{r:?}");
        let with_manager = RequesterInfo {
            manager: Some(manager.clone()),
            ..info()
        };
        let r = build(
            &settings(),
            Some(&t),
            &me(),
            &form("Falcon"),
            &with_manager,
            now(),
        )
        .unwrap();
        assert_eq!(r.stages.len(), 1);
        assert_eq!(r.stages[0].approvers, vec![manager.clone()]);
        let staged = template(
            true,
            ApprovalRule::Stages {
                stages: vec![vec![manager.clone()], vec![me()]],
            },
        );
        let r = build(
            &settings(),
            Some(&staged),
            &me(),
            &form("Falcon"),
            &info(),
            now(),
        )
        .unwrap();
        assert_eq!(r.stages.len(), 2);
        let (attrs, needs_manager) = needs(&t, &settings());
        assert!(attrs && needs_manager);
    }
}
