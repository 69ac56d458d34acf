//! Checking a template when it is saved, not when a request made from it
//! fails at provisioning: every problem listed at once, in words an
//! operator can act on.

use super::{
    ApprovalRule, Audience, GENERAL, MAX_APPS, MAX_AUDIENCE_GROUPS, MAX_CHANNEL_NAME, MAX_CHANNELS,
    MAX_PEOPLE, MAX_STAGES, MAX_TABS, Template,
};
use crate::governance::naming::Attribute;
use crate::governance::people::Person;

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
        for id in &self.permanent {
            let listed = self
                .members
                .iter()
                .chain(&self.owners)
                .any(|p| p.aad_object_id.eq_ignore_ascii_case(id));
            if !listed {
                problems.push(format!(
                    "permanent: \"{id}\" is not one of the template's members or owners."
                ));
            }
        }
        if let Audience::Groups { groups } = &self.audience {
            if groups.is_empty() || groups.len() > MAX_AUDIENCE_GROUPS {
                problems.push(format!(
                    "An audience of groups names 1 to {MAX_AUDIENCE_GROUPS} groups."
                ));
            }
            people_problems("audience groups", groups, &mut problems);
        }
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
            // Only a request for a CRM record has one to name.
            if naming.uses(Attribute::CrmRecord) && self.crm_link.is_none() {
                problems.push(
                    "[CrmRecord] names the team after its CRM record: choose the record type the template is for."
                        .to_owned(),
                );
            }
        }
        if self.lifecycle.expiry_days == Some(0) {
            problems.push("Expiry is at least 1 day (or none).".to_owned());
        }
        problems
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::templates::{ChannelSpec, TabSpec};

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
        t.permanent
            .push("5b2c1f0e-8d7a-4e3b-9c6d-1a2b3c4d5e6f".into());
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
            "not one of the template's members",
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
