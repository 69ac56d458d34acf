//! Lifecycle policies as code: one JSON document per tenant, versioned.
//!
//! The tenant's `defaults` apply to every team; a template may override any
//! policy for the teams made from it (the template's policy replaces the
//! default one whole, so what applies can be read in one place). Teams made
//! outside SalesTim have no template: the defaults apply to them.
//!
//! Every policy is dry-run until an admin turns `enforce` on for it: a new
//! or changed policy only records findings, so its effect can be read
//! before it acts. Every field has a default, so `{"enabled": false}` is
//! enough to switch a policy off for a template.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The policies a tenant stores (one version of them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policies {
    #[serde(default)]
    pub defaults: PolicySet,
    /// Per template id: the policies that replace the defaults for the
    /// teams made from it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, PolicySet>,
}

/// One set of policies; a policy left out does not apply (in `defaults`)
/// or is inherited (in a template's overrides).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_owners: Option<MinimumOwners>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Expiry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactivity: Option<Inactivity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_review: Option<GuestReview>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permanent_members: Option<PermanentMembers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub naming_drift: Option<NamingDrift>,
}

/// The policies by name, as findings and the command line name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyKind {
    MinimumOwners,
    Expiry,
    Inactivity,
    GuestReview,
    PermanentMembers,
    NamingDrift,
}

impl PolicyKind {
    pub const ALL: [PolicyKind; 6] = [
        PolicyKind::MinimumOwners,
        PolicyKind::Expiry,
        PolicyKind::Inactivity,
        PolicyKind::GuestReview,
        PolicyKind::PermanentMembers,
        PolicyKind::NamingDrift,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::MinimumOwners => "minimumOwners",
            PolicyKind::Expiry => "expiry",
            PolicyKind::Inactivity => "inactivity",
            PolicyKind::GuestReview => "guestReview",
            PolicyKind::PermanentMembers => "permanentMembers",
            PolicyKind::NamingDrift => "namingDrift",
        }
    }
}

fn yes() -> bool {
    true
}

/// Ownerless and one-owner teams: the remaining owner (or, with none, the
/// members) is asked to nominate an owner; after `nominate_days` the
/// tenant's governance contacts are told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MinimumOwners {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub enforce: bool,
    #[serde(default = "two")]
    pub min_owners: u32,
    #[serde(default = "seven")]
    pub nominate_days: u32,
    /// Entra object ids of the people told when nobody nominates an owner.
    #[serde(default)]
    pub contacts: Vec<String>,
}

/// A team lives `lifetime_days` from its creation or last renewal. Owners
/// get a renewal card `warn_days` before; renewing extends it once per
/// period, letting it expire archives it. Nobody answering before the
/// deadline archives it too, and `grace_days` later it is soft-deleted
/// (restorable for Entra's 30 days).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expiry {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub enforce: bool,
    #[serde(default = "a_year")]
    pub lifetime_days: u32,
    #[serde(default = "thirty")]
    pub warn_days: u32,
    #[serde(default = "thirty")]
    pub grace_days: u32,
}

/// No activity for `inactive_days` (from the Teams activity report): owners
/// get a card to keep, archive or delete; `default_action` happens when
/// nobody answers within `answer_days`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inactivity {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub enforce: bool,
    #[serde(default = "ninety")]
    pub inactive_days: u32,
    #[serde(default = "fourteen")]
    pub answer_days: u32,
    #[serde(default)]
    pub default_action: InactiveAction,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InactiveAction {
    Keep,
    #[default]
    Archive,
    Delete,
}

/// Every `every_days`, owners of teams with guests review them (keep or
/// remove each); reminders follow, and `default_action` applies to a
/// review unanswered after `answer_days`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuestReview {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub enforce: bool,
    #[serde(default = "ninety")]
    pub every_days: u32,
    #[serde(default = "fourteen")]
    pub answer_days: u32,
    #[serde(default)]
    pub default_action: GuestAction,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GuestAction {
    Remove,
    #[default]
    KeepAndReport,
}

/// Members a template marks permanent are added back when someone removes
/// them, and the owners are told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PermanentMembers {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub enforce: bool,
}

/// A team whose name no longer satisfies the naming policy is a finding
/// with a compliant name to suggest; it is never renamed by SalesTim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamingDrift {
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn two() -> u32 {
    2
}
fn seven() -> u32 {
    7
}
fn fourteen() -> u32 {
    14
}
fn thirty() -> u32 {
    30
}
fn ninety() -> u32 {
    90
}
fn a_year() -> u32 {
    365
}

/// Longest period any policy may name (ten years).
const MAX_DAYS: u32 = 3_650;
/// Most governance contacts one policy may name.
const MAX_CONTACTS: usize = 50;

impl PolicySet {
    /// What is wrong with each field of this set, in words an admin can act
    /// on; empty when they can be stored.
    fn field_problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let mut days = |policy: PolicyKind, field: &str, value: u32| {
            if value == 0 || value > MAX_DAYS {
                problems.push(format!(
                    "{at}.{}.{field}: between 1 and {MAX_DAYS} days, not {value}.",
                    policy.name()
                ));
            }
        };
        if let Some(p) = &self.minimum_owners {
            days(PolicyKind::MinimumOwners, "nominateDays", p.nominate_days);
        }
        if let Some(p) = &self.expiry {
            days(PolicyKind::Expiry, "lifetimeDays", p.lifetime_days);
            days(PolicyKind::Expiry, "warnDays", p.warn_days);
            days(PolicyKind::Expiry, "graceDays", p.grace_days);
        }
        if let Some(p) = &self.inactivity {
            days(PolicyKind::Inactivity, "inactiveDays", p.inactive_days);
            days(PolicyKind::Inactivity, "answerDays", p.answer_days);
        }
        if let Some(p) = &self.guest_review {
            days(PolicyKind::GuestReview, "everyDays", p.every_days);
            days(PolicyKind::GuestReview, "answerDays", p.answer_days);
        }
        if let Some(p) = &self.minimum_owners {
            if !(1..=100).contains(&p.min_owners) {
                problems.push(format!(
                    "{at}.minimumOwners.minOwners: between 1 and 100, not {}.",
                    p.min_owners
                ));
            }
            if p.contacts.len() > MAX_CONTACTS {
                problems.push(format!(
                    "{at}.minimumOwners.contacts: at most {MAX_CONTACTS} people."
                ));
            }
            if let Some(bad) = p
                .contacts
                .iter()
                .find(|c| uuid::Uuid::parse_str(c).is_err())
            {
                problems.push(format!(
                    "{at}.minimumOwners.contacts: \"{bad}\" is not an Entra object id."
                ));
            }
        }
        problems
    }

    /// What is wrong between the fields of one policy, once a template's
    /// overrides are laid over the defaults.
    fn cross_problems(&self, at: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(p) = &self.expiry
            && p.warn_days >= p.lifetime_days
        {
            problems.push(format!(
                "{at}.expiry.warnDays ({}) must be shorter than lifetimeDays ({}).",
                p.warn_days, p.lifetime_days
            ));
        }
        if let Some(p) = &self.guest_review
            && p.answer_days >= p.every_days
        {
            problems.push(format!(
                "{at}.guestReview.answerDays ({}) must be shorter than everyDays ({}).",
                p.answer_days, p.every_days
            ));
        }
        problems
    }

    /// `overrides` laid over this set: each policy the overrides name
    /// replaces this set's whole.
    pub fn with(&self, overrides: &PolicySet) -> PolicySet {
        PolicySet {
            minimum_owners: overrides
                .minimum_owners
                .clone()
                .or_else(|| self.minimum_owners.clone()),
            expiry: overrides.expiry.clone().or_else(|| self.expiry.clone()),
            inactivity: overrides
                .inactivity
                .clone()
                .or_else(|| self.inactivity.clone()),
            guest_review: overrides
                .guest_review
                .clone()
                .or_else(|| self.guest_review.clone()),
            permanent_members: overrides
                .permanent_members
                .clone()
                .or_else(|| self.permanent_members.clone()),
            naming_drift: overrides
                .naming_drift
                .clone()
                .or_else(|| self.naming_drift.clone()),
        }
    }
}

impl Policies {
    /// Problems of the whole document; `templates` are the template ids the
    /// tenant has, so an override for a template that does not exist is
    /// refused when it is saved, not found out later.
    pub fn problems(&self, templates: &[String]) -> Vec<String> {
        let mut problems = self.defaults.field_problems("defaults");
        problems.extend(self.defaults.cross_problems("defaults"));
        for (id, set) in &self.templates {
            if !templates.iter().any(|t| t == id) {
                problems.push(format!("templates.{id}: the tenant has no such template."));
            }
            let at = format!("templates.{id}");
            problems.extend(set.field_problems(&at));
            // What applies must hold together (a template's warnDays against
            // the default lifetime, say).
            problems.extend(self.defaults.with(set).cross_problems(&at));
        }
        problems
    }

    /// The policies that apply to a team made from `template` (or made
    /// outside SalesTim: `None`).
    pub fn effective(&self, template: Option<&str>) -> PolicySet {
        match template.and_then(|t| self.templates.get(t)) {
            Some(overrides) => self.defaults.with(overrides),
            None => self.defaults.clone(),
        }
    }
}

/// One change between two versions, by JSON path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub path: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// What changes from `before` to `after`, field by field, in path order
/// (with every default written out, so a field set to its default is no
/// change).
pub fn diff(before: &Policies, after: &Policies) -> Vec<Change> {
    let mut left = BTreeMap::new();
    let mut right = BTreeMap::new();
    flatten(
        "",
        &serde_json::to_value(before).unwrap_or_default(),
        &mut left,
    );
    flatten(
        "",
        &serde_json::to_value(after).unwrap_or_default(),
        &mut right,
    );
    let mut paths: Vec<&String> = left.keys().chain(right.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| left.get(*p) != right.get(*p))
        .map(|p| Change {
            path: p.clone(),
            before: left.get(p).cloned(),
            after: right.get(p).cloned(),
        })
        .collect()
}

fn flatten(at: &str, value: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        serde_json::Value::Object(_) => {}
        other => {
            out.insert(at.to_owned(), other.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Policies {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_field_has_a_default_and_policies_start_dry_run() {
        let p = parse(json!({"defaults": {"expiry": {}, "minimumOwners": {}}}));
        let expiry = p.defaults.expiry.as_ref().unwrap();
        assert!(expiry.enabled && !expiry.enforce);
        assert_eq!(
            (expiry.lifetime_days, expiry.warn_days, expiry.grace_days),
            (365, 30, 30)
        );
        assert_eq!(p.defaults.minimum_owners.as_ref().unwrap().min_owners, 2);
        assert!(p.problems(&[]).is_empty(), "{:?}", p.problems(&[]));
    }

    #[test]
    fn unknown_fields_are_refused_so_a_typo_never_passes_as_a_default() {
        let typo = serde_json::from_value::<Policies>(
            json!({"defaults": {"expiry": {"lifetimDays": 30}}}),
        );
        assert!(typo.unwrap_err().to_string().contains("lifetimDays"));
        let unknown = serde_json::from_value::<Policies>(json!({"defaults": {"teamSize": {}}}));
        assert!(unknown.is_err());
    }

    #[test]
    fn a_template_replaces_a_default_policy_whole_and_inherits_the_rest() {
        let p = parse(json!({
            "defaults": {"expiry": {"lifetimeDays": 180}, "inactivity": {"inactiveDays": 60}},
            "templates": {"project": {"expiry": {"enabled": false}}}
        }));
        let project = p.effective(Some("project"));
        assert!(!project.expiry.as_ref().unwrap().enabled);
        assert_eq!(project.inactivity.as_ref().unwrap().inactive_days, 60);
        let outside = p.effective(None);
        assert_eq!(outside.expiry.as_ref().unwrap().lifetime_days, 180);
        assert_eq!(p.effective(Some("unknown")), outside);
    }

    #[test]
    fn problems_are_found_when_the_policies_are_saved() {
        let p = parse(json!({
            "defaults": {"expiry": {"lifetimeDays": 20, "warnDays": 30},
                "minimumOwners": {"minOwners": 0, "contacts": ["not-an-id"]},
                "guestReview": {"everyDays": 0}},
            "templates": {"ghost": {}, "project": {"expiry": {"lifetimeDays": 10, "warnDays": 5}}}
        }));
        let problems = p.problems(&["project".to_owned()]);
        let text = problems.join("\n");
        for expected in [
            "defaults.expiry.warnDays (30) must be shorter than lifetimeDays (20)",
            "defaults.minimumOwners.minOwners: between 1 and 100",
            "\"not-an-id\" is not an Entra object id",
            "defaults.guestReview.everyDays: between 1 and 3650 days, not 0",
            "templates.ghost: the tenant has no such template",
        ] {
            assert!(text.contains(expected), "{expected}\n---\n{text}");
        }
        assert!(!text.contains("templates.project.expiry"), "{text}");
    }

    #[test]
    fn the_diff_names_each_changed_field_and_ignores_defaults_written_out() {
        let before = parse(json!({"defaults": {"expiry": {}}}));
        let same = parse(json!({"defaults": {"expiry": {"lifetimeDays": 365, "enforce": false}}}));
        assert!(diff(&before, &same).is_empty());
        let after = parse(
            json!({"defaults": {"expiry": {"lifetimeDays": 180, "enforce": true}, "namingDrift": {}}}),
        );
        let changes = diff(&before, &after);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "defaults.expiry.enforce",
                "defaults.expiry.lifetimeDays",
                "defaults.namingDrift.enabled"
            ]
        );
        assert_eq!(changes[1].before, Some(json!(365)));
        assert_eq!(changes[1].after, Some(json!(180)));
        assert_eq!(changes[2].before, None);
    }
}
