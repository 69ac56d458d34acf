//! Cards of the lifecycle policies, sent by enforcement to a team's owners
//! (or its members, or the tenant's governance contacts) and refreshed for
//! each of them (Universal Actions): a stale card shows where the team
//! stands now, and only the people who may answer see the buttons.
//!
//! - [`owner_needed`]: a team below its minimum owners; an owner (or, in an
//!   ownerless team, a member) names another owner with the people picker.
//! - [`inactive`]: no activity for the policy's days; keep, archive or delete.
//! - [`guest_review`]: each guest kept or removed.
//! - [`owners_not_named`]: for the governance contacts, when nobody named
//!   an owner in time.
//! - [`members_restored`]: permanent members added back, for the owners.

use serde_json::{Value, json};

use super::{
    attention, card, date, execute, facts, heading, open_url, paragraph, quoted, subtle, verbs,
    with_actions, with_refresh,
};
use crate::governance::lifecycle::machine::LifecycleState;
use crate::governance::lifecycle::policy::PolicyKind;
use crate::governance::teams::TeamRecord;

/// Most guests one review card lists (the rest wait for the next review).
pub const MAX_GUESTS_REVIEWED: usize = 50;

/// Which lifecycle card a refresh re-renders (the `card` of its data).
pub mod kinds {
    pub const OWNERS: &str = "owners";
    pub const INACTIVE: &str = "inactive";
    pub const GUESTS: &str = "guests";
}

fn open_team(team: &TeamRecord) -> Option<Value> {
    let url = url::Url::parse(team.web_url.as_deref()?).ok()?;
    (url.scheme() == "https").then(|| open_url("Open in Teams", &url))
}

fn data(team: &TeamRecord, kind: &str) -> Value {
    json!({"groupId": team.group_id, "card": kind})
}

fn refreshed(team: &TeamRecord, kind: &str, body: Vec<Value>, actions: Vec<Value>) -> Value {
    let mut users: Vec<String> = team.owners.iter().map(|o| o.mri()).collect();
    if kind == kinds::OWNERS && team.owners.is_empty() {
        users.extend(team.member_ids.iter().map(|m| format!("8:orgid:{m}")));
    }
    with_refresh(
        with_actions(card(body), actions),
        verbs::LIFECYCLE_REFRESH,
        data(team, kind),
        users,
    )
}

fn state_line(team: &TeamRecord) -> Option<Value> {
    match team.lifecycle {
        LifecycleState::Archived => Some(attention("This team is archived (read-only).")),
        LifecycleState::SoftDeleted => Some(attention(
            "This team was deleted. An admin can restore it within 30 days.",
        )),
        LifecycleState::Purged => Some(attention("This team no longer exists.")),
        _ => None,
    }
}

/// A team with fewer than `min_owners` owners. Its owners (or, if it has
/// none, its members) may name another owner.
pub fn owner_needed(team: &TeamRecord, viewer: Option<&str>, min_owners: u32) -> Value {
    let name = quoted(&team.display_name, 100);
    let owners = team.owners.len();
    let enough = owners >= min_owners as usize;
    let mut body = vec![heading(&if enough {
        format!("{name} has its owners")
    } else if owners == 0 {
        format!("{name} has no owner")
    } else {
        format!("{name} needs another owner")
    })];
    let names: Vec<String> = team
        .owners
        .iter()
        .take(10)
        .map(|o| quoted(&o.name, 60))
        .collect();
    body.push(facts(&[
        ("Owners", format!("{owners}")),
        ("Who", names.join(", ")),
        ("Policy", format!("at least {min_owners} owners")),
    ]));
    let may_name =
        viewer.is_some_and(|v| team.is_owner(v) || (team.owners.is_empty() && team.is_member(v)));
    let mut actions = Vec::new();
    if let Some(line) = state_line(team) {
        body.push(line);
    } else if enough {
        body.push(paragraph("Thank you: the team has enough owners now."));
    } else if may_name {
        body.push(paragraph(
            "Teams need more than one owner, so that someone can always manage them. Who else should own this team?",
        ));
        body.push(json!({
            "type": "Input.ChoiceSet",
            "id": "nominee",
            "label": "New owner",
            "isRequired": true,
            "errorMessage": "Choose a person.",
            "choices": [],
            "choices.data": {"type": "Data.Query", "dataset": "graph.microsoft.com/users"}
        }));
        actions.push(execute(
            "Make them an owner",
            verbs::TEAM_NOMINATE,
            data(team, kinds::OWNERS),
            Some("positive"),
        ));
    } else {
        body.push(subtle("An owner or member of the team can name an owner."));
    }
    actions.extend(open_team(team));
    refreshed(team, kinds::OWNERS, body, actions)
}

/// A team without activity for `inactive_days`; `then` says what happens
/// without an answer (e.g. "archived on 2026-12-16").
pub fn inactive(team: &TeamRecord, viewer: Option<&str>, inactive_days: u32, then: &str) -> Value {
    let name = quoted(&team.display_name, 100);
    let mut body = vec![heading(&format!("{name} looks inactive"))];
    let last = match &team.activity {
        Some(a) => match a.last_activity {
            Some(d) => d.to_string(),
            None => format!("none in the last {} days", a.period_days),
        },
        None => String::new(),
    };
    let report = team
        .activity
        .as_ref()
        .map(|a| a.report_date.to_string())
        .unwrap_or_default();
    let kept = team
        .waivers
        .iter()
        .find(|w| w.policy == PolicyKind::Inactivity);
    body.push(facts(&[
        ("Last activity", last),
        ("Activity report of", report),
        ("Policy", format!("no activity for {inactive_days} days")),
    ]));
    let mut actions = Vec::new();
    if let Some(line) = state_line(team) {
        body.push(line);
    } else if let Some(kept) = kept {
        body.push(paragraph(&format!(
            "Kept until {}: {}",
            date(kept.until),
            quoted(&kept.reason, 200)
        )));
    } else if viewer.is_some_and(|v| team.is_owner(v)) {
        body.push(paragraph(&format!(
            "You own this team. Keep it, archive it (read-only), or delete it? Without an answer it is {then}."
        )));
        let d = data(team, kinds::INACTIVE);
        actions.push(execute(
            "Keep",
            verbs::TEAM_KEEP,
            d.clone(),
            Some("positive"),
        ));
        actions.push(execute("Archive", verbs::TEAM_ARCHIVE, d.clone(), None));
        actions.push(execute(
            "Delete",
            verbs::TEAM_DELETE,
            d,
            Some("destructive"),
        ));
    } else {
        body.push(subtle(&format!(
            "An owner of the team can keep, archive or delete it. Without an answer it is {then}."
        )));
    }
    actions.extend(open_team(team));
    refreshed(team, kinds::INACTIVE, body, actions)
}

/// The guests of a team, each to keep or remove, for its owners.
pub fn guest_review(team: &TeamRecord, viewer: Option<&str>, then: &str) -> Value {
    let name = quoted(&team.display_name, 100);
    let mut body = vec![heading(&format!("Review the guests of {name}"))];
    let mut actions = Vec::new();
    let review = team.guest_review.as_ref();
    if let Some(line) = state_line(team) {
        body.push(line);
    } else if let Some(answer) = review.and_then(|r| r.answer.as_ref()) {
        let total = review.map_or(0, |r| r.guests.len());
        let by = answer.by.as_ref().map_or_else(
            || "the policy's default".to_owned(),
            |p| quoted(&p.name, 60),
        );
        body.push(paragraph(&format!(
            "Reviewed on {} by {by}: {} kept, {} removed.",
            date(answer.at),
            total.saturating_sub(answer.removed.len()),
            answer.removed.len()
        )));
    } else if let Some(review) = review {
        let owner = viewer.is_some_and(|v| team.is_owner(v));
        body.push(paragraph(&format!(
            "{} guest(s) have access to this team. {}",
            review.guests.len(),
            if owner {
                format!("Keep the ones who still need it. Without an answer, {then}.")
            } else {
                format!("An owner of the team reviews them. Without an answer, {then}.")
            }
        )));
        for guest in review.guests.iter().take(MAX_GUESTS_REVIEWED) {
            if owner {
                body.push(json!({
                    "type": "Input.ChoiceSet",
                    "id": format!("guest.{}", guest.aad_object_id),
                    "label": quoted(&guest.name, 80),
                    "style": "expanded",
                    "value": "keep",
                    "choices": [{"title": "Keep", "value": "keep"}, {"title": "Remove", "value": "remove"}]
                }));
            } else {
                body.push(subtle(&quoted(&guest.name, 80)));
            }
        }
        if owner {
            actions.push(execute(
                "Submit the review",
                verbs::TEAM_REVIEW_GUESTS,
                data(team, kinds::GUESTS),
                Some("positive"),
            ));
        }
    } else {
        body.push(subtle("No guest review is open for this team."));
    }
    actions.extend(open_team(team));
    refreshed(team, kinds::GUESTS, body, actions)
}

/// For the governance contacts: nobody named an owner in time.
pub fn owners_not_named(team: &TeamRecord, min_owners: u32, days: u32) -> Value {
    let name = quoted(&team.display_name, 100);
    let body = vec![
        heading(&format!("{name} still lacks owners")),
        facts(&[
            ("Owners", team.owners.len().to_string()),
            ("Policy", format!("at least {min_owners} owners")),
        ]),
        paragraph(&format!(
            "Its owners and members were asked to name an owner {days} days ago and nobody did. As a governance contact, please find one."
        )),
    ];
    with_actions(card(body), open_team(team).into_iter().collect())
}

/// For the owners: permanent members were added back.
pub fn members_restored(team: &TeamRecord, count: usize) -> Value {
    let name = quoted(&team.display_name, 100);
    let body = vec![
        heading(&format!("Permanent members of {name} added back")),
        paragraph(&format!(
            "{count} member(s) that the team's template keeps permanently had been removed. SalesTim added them back, as your organisation's policy asks."
        )),
    ];
    with_actions(card(body), open_team(team).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::people::Person;

    fn verbs_of(card: &Value) -> Vec<String> {
        card["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["verb"].as_str().map(str::to_owned))
            .collect()
    }

    fn falcon(owners: Vec<Person>, members: Vec<&str>) -> TeamRecord {
        TeamRecord {
            group_id: "g1".into(),
            display_name: "Falcon".into(),
            owners,
            member_ids: members.into_iter().map(str::to_owned).collect(),
            ..TeamRecord::default()
        }
    }

    #[test]
    fn only_those_who_may_answer_see_the_buttons_and_the_refresh_reaches_them() {
        let alice = Person::new("a1", "Alice");
        let one_owner = falcon(vec![alice.clone()], vec!["a1", "m1"]);
        assert_eq!(
            verbs_of(&owner_needed(&one_owner, Some("a1"), 2)),
            [verbs::TEAM_NOMINATE]
        );
        assert!(verbs_of(&owner_needed(&one_owner, Some("m1"), 2)).is_empty());
        let ownerless = falcon(vec![], vec!["m1", "m2"]);
        let card = owner_needed(&ownerless, Some("m1"), 2);
        assert_eq!(verbs_of(&card), [verbs::TEAM_NOMINATE]);
        assert_eq!(
            card["refresh"]["userIds"],
            json!(["8:orgid:m1", "8:orgid:m2"])
        );
        assert!(verbs_of(&owner_needed(&ownerless, None, 2)).is_empty());

        let inactive_card = inactive(&one_owner, Some("a1"), 90, "archived");
        assert_eq!(
            verbs_of(&inactive_card),
            [verbs::TEAM_KEEP, verbs::TEAM_ARCHIVE, verbs::TEAM_DELETE]
        );
        assert_eq!(inactive_card["refresh"]["userIds"], json!(["8:orgid:a1"]));
        assert!(verbs_of(&inactive(&one_owner, Some("m1"), 90, "archived")).is_empty());
        let archived = TeamRecord {
            lifecycle: LifecycleState::Archived,
            ..one_owner.clone()
        };
        assert!(verbs_of(&inactive(&archived, Some("a1"), 90, "archived")).is_empty());
    }
}
