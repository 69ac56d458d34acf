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
use crate::crm::RecordType;
use crate::platform::PlatformError;

mod check;
pub mod icons;
mod store;

pub use store::{get, get_version, list, list_active, put, save};
/// The blob container holding template icons (`<tenant>/<template>-<hash>`).
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
    /// Entra object ids of the members (or owners) that stay: removed from
    /// a team made from the template, they are added back (the
    /// permanent-members lifecycle policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permanent: Vec<String>,
    #[serde(default)]
    pub allow_guests: bool,
    /// Added to the tenant's naming policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming: Option<NamingPolicy>,
    #[serde(default)]
    pub approval: ApprovalRule,
    #[serde(default)]
    pub lifecycle: LifecycleRef,
    /// The CRM record type teams made from the template are for: the
    /// template "Create a team for this record" offers for that type, and
    /// its naming policy may use `[CrmRecord]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_link: Option<RecordType>,
    /// Who is offered the template.
    #[serde(default)]
    pub audience: Audience,
}

/// Most groups one template's audience names.
pub const MAX_AUDIENCE_GROUPS: usize = 20;

/// Who may request a team from a template: everyone in the tenant, or the
/// members of some Entra groups (nested membership counts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Audience {
    #[default]
    Everyone,
    Groups {
        groups: Vec<Person>,
    },
}

impl Audience {
    /// The groups to check a user against (none: everyone may).
    pub fn group_ids(&self) -> Vec<String> {
        match self {
            Audience::Everyone => Vec::new(),
            Audience::Groups { groups } => groups.iter().map(|g| g.aad_object_id.clone()).collect(),
        }
    }

    /// Whether a user who is a member of `member_of` is in the audience.
    pub fn includes(&self, member_of: &[String]) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Groups { groups } => groups.iter().any(|g| member_of.iter().any(|m| g.is(m))),
        }
    }
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
            permanent: Vec::new(),
            allow_guests: false,
            naming: None,
            approval: ApprovalRule::default(),
            lifecycle: LifecycleRef::default(),
            crm_link: None,
            audience: Audience::Everyone,
        }
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
