//! Team templates: what a requested team is made from — its channels, tabs,
//! apps, default people, guest access, naming rule, approval rule, lifecycle
//! and CRM link. Templates are versioned: every saved change bumps the
//! version, and a request records the version it was made against.
//!
//! A template is checked when it is saved ([`Template::problems`]), not when
//! a request made from it fails at provisioning.

use serde::{Deserialize, Serialize};

use super::naming::NamingPolicy;
use super::people::Person;
use crate::ids::TenantId;
use crate::platform::documents::{Container, Document, Documents, Query};
use crate::platform::{PlatformError, PlatformResult};

const TYPE: &str = "template";
/// The blob container holding template icons (`<tenant>/<template>.png`).
pub const ICON_CONTAINER: &str = "template-icons";
/// Teams refuses more than 200 channels a team; templates stay far below.
pub const MAX_CHANNELS: usize = 50;
pub const MAX_TABS: usize = 50;
pub const MAX_APPS: usize = 20;
/// At most this many default owners and members each (a group is created
/// with at most 20 of each bound at once; more are added afterwards).
pub const MAX_PEOPLE: usize = 100;
pub const MAX_STAGES: usize = 5;
/// Teams channel names hold at most 50 characters.
pub const MAX_CHANNEL_NAME: usize = 50;
/// The channel every team has.
pub const GENERAL: &str = "General";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Visibility {
    #[default]
    Private,
    Public,
}

impl Visibility {
    pub fn as_graph(self) -> &'static str {
        match self {
            Visibility::Private => "Private",
            Visibility::Public => "Public",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A private channel (only its members see it); standard otherwise.
    #[serde(default)]
    pub private: bool,
}

/// A website tab in a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TabSpec {
    /// The channel's name; "General" when absent.
    #[serde(default = "general")]
    pub channel: String,
    pub name: String,
    pub url: String,
}

fn general() -> String {
    GENERAL.to_owned()
}

/// Who must approve a request made from the template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ApprovalRule {
    /// Approved as soon as it is submitted.
    #[default]
    None,
    /// The requester's manager (from the directory).
    Manager,
    /// Any one of these.
    Named { approvers: Vec<Person> },
    /// Every stage in turn; any one approver of a stage approves it.
    Stages { stages: Vec<Vec<Person>> },
}

/// The lifecycle policy a team made from the template follows (the sweeps
/// act on it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleRef {
    /// The tenant's lifecycle policy by name; empty for the tenant default.
    #[serde(default)]
    pub policy: String,
    /// Days until the team expires (owners are asked to renew); none: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_days: Option<u32>,
}

/// The kind of CRM record a team made from the template is linked to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CrmLinkType {
    Account,
    Opportunity,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Bumped on every change; a request records the version it was made against.
    #[serde(default)]
    pub version: u32,
    /// Retired templates stay for the requests made from them, but are not offered.
    #[serde(default = "yes")]
    pub active: bool,
    /// Short code for the naming policy's `[TemplateCode]`.
    #[serde(default)]
    pub code: String,
    /// The icon blob (in [`ICON_CONTAINER`]), set as the team picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default)]
    pub channels: Vec<ChannelSpec>,
    #[serde(default)]
    pub tabs: Vec<TabSpec>,
    /// Teams app ids (from the tenant's app catalog) to install.
    #[serde(default)]
    pub apps: Vec<String>,
    /// Owners of every team made from the template, besides the requester.
    #[serde(default)]
    pub owners: Vec<Person>,
    #[serde(default)]
    pub members: Vec<Person>,
    #[serde(default)]
    pub allow_guests: bool,
    /// Added to the tenant's naming policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming: Option<NamingPolicy>,
    #[serde(default)]
    pub approval: ApprovalRule,
    #[serde(default)]
    pub lifecycle: LifecycleRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_link: Option<CrmLinkType>,
}

fn yes() -> bool {
    true
}

/// An active template with nothing in it yet.
impl Default for Template {
    fn default() -> Self {
        Template {
            name: String::new(),
            description: String::new(),
            version: 0,
            active: true,
            code: String::new(),
            icon: None,
            visibility: Visibility::default(),
            channels: Vec::new(),
            tabs: Vec::new(),
            apps: Vec::new(),
            owners: Vec::new(),
            members: Vec::new(),
            allow_guests: false,
            naming: None,
            approval: ApprovalRule::default(),
            lifecycle: LifecycleRef::default(),
            crm_link: None,
        }
    }
}

/// Characters Teams refuses in channel names.
const CHANNEL_FORBIDDEN: &[char] = &[
    '~', '#', '%', '&', '*', '{', '}', '+', '/', '\\', ':', '<', '>', '?', '|', '\'', '"',
];

fn channel_name_problem(name: &str) -> Option<String> {
    let length = name.chars().count();
    if name.trim().is_empty() {
        Some("A channel needs a name.".to_owned())
    } else if length > MAX_CHANNEL_NAME {
        Some(format!(
            "Channel \"{name}\" has {length} characters; at most {MAX_CHANNEL_NAME}."
        ))
    } else if name.contains(CHANNEL_FORBIDDEN) || name.chars().any(char::is_control) {
        Some(format!(
            "Channel \"{name}\" contains a character Teams refuses (~ # % & * {{ }} + / \\ : < > ? | ' \")."
        ))
    } else if name.starts_with('_') || name.starts_with('.') || name.ends_with('.') {
        Some(format!(
            "Channel \"{name}\" cannot start with _ or . nor end with ."
        ))
    } else if name.eq_ignore_ascii_case(GENERAL) {
        Some("Every team has a General channel already; do not list it.".to_owned())
    } else {
        None
    }
}

fn people_problems(what: &str, people: &[Person], problems: &mut Vec<String>) {
    if people.len() > MAX_PEOPLE {
        problems.push(format!("At most {MAX_PEOPLE} {what}."));
    }
    for p in people {
        if uuid::Uuid::parse_str(&p.aad_object_id).is_err() {
            problems.push(format!(
                "{what}: \"{}\" is not an Entra object id.",
                p.aad_object_id
            ));
        }
    }
}

impl Template {
    /// Everything wrong with the template, for the operator saving it.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 256 {
            problems.push("A template needs a name of 1 to 256 characters.".to_owned());
        }
        if self.code.chars().count() > 10 || !self.code.chars().all(|c| c.is_ascii_alphanumeric()) {
            problems.push("The code is at most 10 letters or digits.".to_owned());
        }
        if self.channels.len() > MAX_CHANNELS {
            problems.push(format!("At most {MAX_CHANNELS} channels."));
        }
        let mut seen: Vec<String> = Vec::new();
        for channel in &self.channels {
            problems.extend(channel_name_problem(&channel.name));
            let key = channel.name.trim().to_lowercase();
            if seen.contains(&key) {
                problems.push(format!("Channel \"{}\" is listed twice.", channel.name));
            }
            seen.push(key);
        }
        if self.tabs.len() > MAX_TABS {
            problems.push(format!("At most {MAX_TABS} tabs."));
        }
        for tab in &self.tabs {
            let known = tab.channel.eq_ignore_ascii_case(GENERAL)
                || seen.contains(&tab.channel.trim().to_lowercase());
            if !known {
                problems.push(format!(
                    "Tab \"{}\" is in channel \"{}\", which the template does not create.",
                    tab.name, tab.channel
                ));
            }
            if tab.name.trim().is_empty() || tab.name.chars().count() > 128 {
                problems.push("A tab needs a name of 1 to 128 characters.".to_owned());
            }
            match url::Url::parse(&tab.url) {
                Ok(u) if u.scheme() == "https" => {}
                _ => problems.push(format!(
                    "Tab \"{}\" needs an https:// address, not \"{}\".",
                    tab.name, tab.url
                )),
            }
        }
        if self.apps.len() > MAX_APPS {
            problems.push(format!("At most {MAX_APPS} apps."));
        }
        for app in &self.apps {
            if app.is_empty() || app.len() > 100 || app.contains(['\'', '/', '?', '#']) {
                problems.push(format!("\"{app}\" is not a Teams app id."));
            }
        }
        people_problems("owners", &self.owners, &mut problems);
        people_problems("members", &self.members, &mut problems);
        match &self.approval {
            ApprovalRule::None | ApprovalRule::Manager => {}
            ApprovalRule::Named { approvers } if approvers.is_empty() => {
                problems.push("Named approval needs at least one approver.".to_owned())
            }
            ApprovalRule::Named { approvers } => {
                people_problems("approvers", approvers, &mut problems)
            }
            ApprovalRule::Stages { stages } => {
                if stages.is_empty() || stages.len() > MAX_STAGES {
                    problems.push(format!("Staged approval needs 1 to {MAX_STAGES} stages."));
                }
                for (n, stage) in stages.iter().enumerate() {
                    if stage.is_empty() {
                        problems.push(format!("Stage {} has no approver.", n + 1));
                    }
                    people_problems("approvers", stage, &mut problems);
                }
            }
        }
        if let Some(naming) = &self.naming {
            problems.extend(naming.problems());
        }
        if self.lifecycle.expiry_days == Some(0) {
            problems.push("Expiry is at least 1 day (or none).".to_owned());
        }
        problems
    }
}

/// A template with its id (the document id).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTemplate {
    pub id: String,
    pub template: Template,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is not valid: {}", .0.join(" "))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

pub async fn get(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
) -> PlatformResult<Option<StoredTemplate>> {
    if crate::platform::documents::check_id(id).is_err() {
        return Ok(None);
    }
    match docs.get(Container::Templates, tenant, id).await? {
        Some(doc) if doc.kind == TYPE => Ok(Some(StoredTemplate {
            id: doc.id.clone(),
            template: doc.parse()?,
        })),
        _ => Ok(None),
    }
}

async fn list_by(
    docs: &dyn Documents,
    tenant: &TenantId,
    query: &Query,
) -> PlatformResult<Vec<StoredTemplate>> {
    let mut templates = docs
        .query(Container::Templates, tenant, query)
        .await?
        .into_iter()
        .map(|doc| {
            Ok(StoredTemplate {
                id: doc.id.clone(),
                template: doc.parse()?,
            })
        })
        .collect::<PlatformResult<Vec<_>>>()?;
    templates.sort_by_key(|t| t.template.name.to_lowercase());
    Ok(templates)
}

/// The templates people can request teams from, by name.
pub async fn list_active(
    docs: &dyn Documents,
    tenant: &TenantId,
) -> PlatformResult<Vec<StoredTemplate>> {
    list_by(docs, tenant, &Query::of_type(TYPE).with("active", true)).await
}

/// Every template, retired ones too, by name.
pub async fn list(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<Vec<StoredTemplate>> {
    list_by(docs, tenant, &Query::of_type(TYPE)).await
}

/// Creates or replaces a template after checking it. The version is the
/// stored one plus one (1 for a new template), whatever the caller says.
pub async fn save(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    template: &Template,
) -> Result<Template, TemplateError> {
    let mut problems = template.problems();
    if crate::platform::documents::check_id(id).is_err()
        || id.len() > 64
        || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        problems.push("A template id is 1 to 64 letters, digits or dashes.".to_owned());
    }
    if !problems.is_empty() {
        return Err(TemplateError::Invalid(problems));
    }
    for _ in 0..5 {
        let current = docs.get(Container::Templates, tenant, id).await?;
        let mut next = template.clone();
        next.name = next.name.trim().to_owned();
        next.version = match &current {
            Some(doc) => doc.parse::<Template>()?.version + 1,
            None => 1,
        };
        let doc = Document::new(tenant, TYPE, id, &next)?;
        let written = match current.as_ref().and_then(|c| c.etag.clone()) {
            Some(etag) => docs.replace(Container::Templates, &doc, &etag).await,
            None => docs.create(Container::Templates, &doc).await,
        };
        match written {
            Ok(_) => return Ok(next),
            Err(PlatformError::PreconditionFailed | PlatformError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PlatformError::unavailable("documents", "the template keeps changing under us").into())
}

/// Writes a template as it is (tests and seeding; no check, no version bump).
pub async fn put(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    template: &Template,
) -> PlatformResult<()> {
    let doc = Document::new(tenant, TYPE, id, template)?;
    docs.upsert(Container::Templates, &doc).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "0b8e4c1a-7d2f-4a3e-9c61-5d4f3a2b1c0d";

    fn good() -> Template {
        Template {
            name: "Project".into(),
            code: "PRJ".into(),
            channels: vec![ChannelSpec {
                name: "Planning".into(),
                description: String::new(),
                private: false,
            }],
            tabs: vec![TabSpec {
                channel: "Planning".into(),
                name: "Wiki".into(),
                url: "https://wiki.example.com/".into(),
            }],
            apps: vec!["com.example.app".into()],
            approval: ApprovalRule::Named {
                approvers: vec![Person::new(ALICE, "Alice")],
            },
            active: true,
            ..Template::default()
        }
    }

    #[test]
    fn a_good_template_has_no_problem() {
        assert_eq!(good().problems(), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_listed() {
        let mut t = good();
        t.name = " ".into();
        t.code = "TOO-LONG-CODE".into();
        t.channels.push(ChannelSpec {
            name: "planning".into(),
            description: String::new(),
            private: true,
        });
        t.channels.push(ChannelSpec {
            name: "a/b".into(),
            description: String::new(),
            private: false,
        });
        t.channels.push(ChannelSpec {
            name: "General".into(),
            description: String::new(),
            private: false,
        });
        t.tabs.push(TabSpec {
            channel: "Nowhere".into(),
            name: "X".into(),
            url: "http://plain.example.com".into(),
        });
        t.apps.push("bad'id".into());
        t.owners.push(Person::new("not-a-guid", "Bob"));
        t.approval = ApprovalRule::Stages {
            stages: vec![vec![]],
        };
        t.lifecycle.expiry_days = Some(0);
        let p = t.problems();
        for expected in [
            "needs a name",
            "code",
            "listed twice",
            "character Teams refuses",
            "General channel",
            "does not create",
            "https://",
            "not a Teams app id",
            "not an Entra object id",
            "Stage 1 has no approver",
            "at least 1 day",
        ] {
            assert!(
                p.iter().any(|x| x.contains(expected)),
                "{expected:?} missing from {p:?}"
            );
        }
    }

    #[test]
    fn approval_rules_read_as_tagged_json() {
        let rule: ApprovalRule = serde_json::from_value(serde_json::json!({
            "kind": "stages", "stages": [[{"aadObjectId": ALICE, "name": "Alice"}]]
        }))
        .unwrap();
        assert_eq!(
            rule,
            ApprovalRule::Stages {
                stages: vec![vec![Person::new(ALICE, "Alice")]]
            }
        );
        let t: Template = serde_json::from_value(serde_json::json!({"name": "Bare"})).unwrap();
        assert_eq!(t.approval, ApprovalRule::None);
        assert!(t.active);
        assert_eq!(t.tabs.len(), 0);
    }
}
