//! A group object of a `/groups/delta` page, and what it does to the team
//! the inventory keeps for it. Pure: the store and Graph are the sync's.
//!
//! Delta's traps, and how they are met here:
//! - Delta cannot filter to Teams: every group of the tenant comes, and
//!   [`GroupObject::is_team`] keeps those whose `resourceProvisioningOptions`
//!   holds `Team` (PROTOCOLS-2 §1). The property is "returned by default"
//!   and `$select`-able on the group resource (microsoft-graph-docs-contrib
//!   `api-reference/v1.0/resources/group.md`), and `$select`ing it makes it
//!   tracked, so a group made a team later comes back with the flag. Some
//!   old, unused teams lack the flag (learn.microsoft.com
//!   graph/teams-list-all-teams); the listing
//!   `/groups?$filter=resourceProvisioningOptions/Any(x:x eq 'Team')`
//!   filters on the very same flag, so it would miss them too and is not
//!   used. What is already in the inventory (a team SalesTim made) stays
//!   tracked whatever the flag says.
//! - A property absent from an object was never set (or, with
//!   `Prefer: return=minimal`, which is not sent, did not change): it
//!   keeps what the record says. `null` clears it.
//! - Links are ids only (`members@delta`, `owners@delta`). In a first
//!   round they list everybody, possibly over several copies of the same
//!   group ([`Links::Replace`] for the first copy of the round, then
//!   [`Links::Change`]); in a later round only what changed, `@removed` on
//!   those who left ([`Links::Change`]). Only users count: a nested group
//!   or a device does not make anyone a member.

use std::collections::HashSet;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::machine::{Cause, LifecycleEvent, LifecycleState, Transition};
use super::people::People;
use crate::governance::people::Person;
use crate::governance::teams::{Removal, Removed, TeamRecord, Visibility};
use crate::graph::delta::{self, Link, Reason};

/// What a round tracks of every group (`members` and `owners` as links).
pub const SELECT: &str = "id,displayName,description,mailNickname,visibility,\
resourceProvisioningOptions,createdDateTime,expirationDateTime,renewedDateTime,members,owners";

/// A field of an object: absent (keep), `null` (clear) or a value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T: Clone> Field<T> {
    fn apply_to(&self, current: &mut Option<T>) {
        match self {
            Field::Absent => {}
            Field::Null => *current = None,
            Field::Set(v) => *current = Some(v.clone()),
        }
    }
}

/// One object of a delta page.
#[derive(Clone, Debug, PartialEq)]
pub enum GroupObject {
    Removed { id: String, reason: Reason },
    Present(Box<GroupState>),
}

impl GroupObject {
    pub fn id(&self) -> &str {
        match self {
            GroupObject::Removed { id, .. } => id,
            GroupObject::Present(g) => &g.id,
        }
    }

    /// `None` for an object without an id (nothing to do with it).
    pub fn parse(item: &Value) -> Option<GroupObject> {
        let id = item["id"].as_str()?.to_ascii_lowercase();
        if let Some(reason) = delta::removed(item) {
            return Some(GroupObject::Removed { id, reason });
        }
        let text = |name: &str| match item.get(name) {
            None => Field::Absent,
            Some(Value::String(s)) => Field::Set(s.clone()),
            Some(_) => Field::Null,
        };
        let date = |name: &str| match text(name) {
            Field::Set(s) => OffsetDateTime::parse(&s, &Rfc3339).map_or(Field::Null, Field::Set),
            Field::Absent => Field::Absent,
            Field::Null => Field::Null,
        };
        let team = item.get("resourceProvisioningOptions").map(|options| {
            options.as_array().is_some_and(|o| {
                o.iter()
                    .any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case("Team")))
            })
        });
        Some(GroupObject::Present(Box::new(GroupState {
            display_name: text("displayName"),
            description: text("description"),
            mail_nickname: text("mailNickname"),
            visibility: text("visibility"),
            team,
            created: date("createdDateTime"),
            expires: date("expirationDateTime"),
            renewed: date("renewedDateTime"),
            members: delta::links(item, "members"),
            owners: delta::links(item, "owners"),
            id,
        })))
    }
}

/// What a present group object says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupState {
    /// Lower case.
    pub id: String,
    pub display_name: Field<String>,
    pub description: Field<String>,
    pub mail_nickname: Field<String>,
    pub visibility: Field<String>,
    /// `Some(true)`: `resourceProvisioningOptions` holds `Team`; `None`:
    /// the object did not say.
    pub team: Option<bool>,
    pub created: Field<OffsetDateTime>,
    pub expires: Field<OffsetDateTime>,
    pub renewed: Field<OffsetDateTime>,
    pub members: Vec<Link>,
    pub owners: Vec<Link>,
}

impl GroupState {
    pub fn is_team(&self) -> bool {
        self.team == Some(true)
    }

    /// The users added as members or owners (whose names and guest status
    /// the team needs).
    pub fn people_added(&self) -> impl Iterator<Item = &str> {
        self.members
            .iter()
            .chain(&self.owners)
            .filter(|l| l.is_user && !l.removed)
            .map(|l| l.id.as_str())
    }
}

/// How an object's links apply to the team's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// They are the whole list (the first copy of a group in a first round,
    /// or lists read whole).
    Replace,
    /// They are changes (later copies, later rounds).
    Change,
}

/// The team after `group`: Graph's facts replaced, SalesTim's (template,
/// renewal, expiry) untouched; people named from `people` or, failing
/// that, as the team knew them. A deleted team that is present again is
/// no longer removed.
pub fn apply(
    mut team: TeamRecord,
    group: &GroupState,
    links: Links,
    people: &People,
) -> TeamRecord {
    if let Field::Set(name) = &group.display_name {
        team.display_name = name.clone();
    }
    match &group.description {
        Field::Set(d) => team.description = d.clone(),
        Field::Null => team.description.clear(),
        Field::Absent => {}
    }
    group.mail_nickname.apply_to(&mut team.mail_nickname);
    match &group.visibility {
        Field::Set(v) if v.eq_ignore_ascii_case("public") => team.visibility = Visibility::Public,
        // Private, HiddenMembership, or not said: nobody outside sees it.
        Field::Set(_) | Field::Null => team.visibility = Visibility::Private,
        Field::Absent => {}
    }
    group.created.apply_to(&mut team.entra_created_at);
    group.expires.apply_to(&mut team.entra_expires_at);
    group.renewed.apply_to(&mut team.entra_renewed_at);
    team.removed = None;

    let previous_guests: HashSet<String> = team.guest_ids.drain(..).collect();
    team.member_ids = merged(std::mem::take(&mut team.member_ids), &group.members, links);
    let owner_ids = merged(
        team.owners
            .iter()
            .map(|o| o.aad_object_id.clone())
            .collect(),
        &group.owners,
        links,
    );
    let previous_owners = std::mem::take(&mut team.owners);
    team.owners = owner_ids
        .into_iter()
        .map(|id| {
            let name = people
                .get(&id)
                .map(|p| p.name.clone())
                .or_else(|| {
                    previous_owners
                        .iter()
                        .find(|o| o.is(&id))
                        .map(|o| o.name.clone())
                })
                .unwrap_or_default();
            Person::new(id, name)
        })
        .collect();
    team.guest_ids = guests(&team.member_ids, people, &previous_guests);
    team
}

/// The members who are guests: as `people` says, else as the team knew.
pub fn guests(member_ids: &[String], people: &People, previous: &HashSet<String>) -> Vec<String> {
    member_ids
        .iter()
        .filter(|m| {
            people
                .get(m)
                .map_or_else(|| previous.contains(*m), |p| p.guest)
        })
        .cloned()
        .collect()
}

/// `current` after `links` (users only), in a stable order.
fn merged(current: Vec<String>, links: &[Link], mode: Links) -> Vec<String> {
    let mut ids = match mode {
        Links::Replace => Vec::new(),
        Links::Change => current,
    };
    for link in links.iter().filter(|l| l.is_user) {
        let at = ids.iter().position(|id| id == &link.id);
        match (link.removed, at) {
            (false, None) => ids.push(link.id.clone()),
            (true, Some(i)) => {
                ids.remove(i);
            }
            _ => {}
        }
    }
    ids
}

/// The team marked removed for `reason`; `None` when it already says so.
pub fn removed(team: &TeamRecord, reason: Removal, now: OffsetDateTime) -> Option<TeamRecord> {
    if team.removed.is_some_and(|r| r.reason == reason) {
        return None;
    }
    let mut team = team.clone();
    team.removed = Some(Removed { reason, at: now });
    Some(team)
}

/// Brings the team's lifecycle state in line with what Entra says of its
/// group (`removed`), through the machine: a group deleted outside SalesTim
/// is soft-deleted (then purged, when Entra deleted it for good or a full
/// listing no longer holds it), and a soft-deleted group that came back is
/// restored and active again. Returns the transitions made, for the audit.
pub fn follow_removal(team: &mut TeamRecord, now: OffsetDateTime) -> Vec<Transition> {
    use LifecycleEvent as E;
    use LifecycleState as S;
    let cause = |reason: &str| Cause {
        actor: "system:inventory".into(),
        policy: None,
        reason: reason.into(),
    };
    let events: &[(E, &str)] = match (team.removed.map(|r| r.reason), team.lifecycle) {
        (None, S::SoftDeleted) => &[
            (E::Restore, "the group came back in Entra"),
            (E::Activate, "the group came back in Entra"),
        ],
        (Some(Removal::SoftDeleted), S::Renewed | S::Restored) => &[
            (E::Activate, "deleted in Entra"),
            (E::SoftDelete, "deleted in Entra"),
        ],
        (Some(Removal::SoftDeleted), S::Active | S::Warned | S::Archived) => {
            &[(E::SoftDelete, "deleted in Entra")]
        }
        (Some(Removal::Deleted | Removal::Missing), S::Renewed | S::Restored) => &[
            (E::Activate, "gone from Entra"),
            (E::SoftDelete, "gone from Entra"),
            (E::Purge, "gone from Entra"),
        ],
        (Some(Removal::Deleted | Removal::Missing), S::Active | S::Warned | S::Archived) => &[
            (E::SoftDelete, "gone from Entra"),
            (E::Purge, "gone from Entra"),
        ],
        (Some(Removal::Deleted | Removal::Missing), S::SoftDeleted) => {
            &[(E::Purge, "gone from Entra")]
        }
        _ => &[],
    };
    let mut made = Vec::new();
    for (event, why) in events {
        match super::transitions::step(team, *event, now, cause(why)) {
            Ok(t) => made.push(t),
            Err(e) => {
                tracing::warn!(team = %team.group_id, error = %e, "the lifecycle does not follow Entra here");
                break;
            }
        }
    }
    made
}

/// The removal a delta `@removed` reason stands for.
pub fn removal(reason: Reason) -> Removal {
    match reason {
        Reason::Changed => Removal::SoftDeleted,
        Reason::Deleted => Removal::Deleted,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::governance::lifecycle::people::Known;

    #[test]
    fn the_lifecycle_follows_entra_through_the_machine() {
        let now = time::macros::datetime!(2026-12-02 09:00 UTC);
        let team = |state: LifecycleState, removed: Option<Removal>| TeamRecord {
            group_id: "g1".into(),
            lifecycle: state,
            removed: removed.map(|reason| Removed { reason, at: now }),
            ..TeamRecord::default()
        };
        let follow = |mut t: TeamRecord| {
            let made = follow_removal(&mut t, now);
            (
                t.lifecycle,
                made.iter().map(|m| m.event).collect::<Vec<_>>(),
            )
        };
        use LifecycleEvent as E;
        use LifecycleState as S;
        assert_eq!(
            follow(team(S::Warned, Some(Removal::SoftDeleted))),
            (S::SoftDeleted, vec![E::SoftDelete])
        );
        assert_eq!(
            follow(team(S::Active, Some(Removal::Deleted))),
            (S::Purged, vec![E::SoftDelete, E::Purge])
        );
        assert_eq!(
            follow(team(S::SoftDeleted, Some(Removal::Missing))),
            (S::Purged, vec![E::Purge])
        );
        assert_eq!(
            follow(team(S::SoftDeleted, None)),
            (S::Active, vec![E::Restore, E::Activate]),
            "it came back"
        );
        assert_eq!(follow(team(S::Active, None)), (S::Active, vec![]));
        assert_eq!(
            follow(team(S::SoftDeleted, Some(Removal::SoftDeleted))),
            (S::SoftDeleted, vec![]),
            "already there"
        );
    }

    fn present(item: Value) -> GroupState {
        match GroupObject::parse(&item).unwrap() {
            GroupObject::Present(g) => *g,
            other => panic!("{other:?}"),
        }
    }

    fn people() -> People {
        let mut p = People::default();
        p.insert("a", Known::new("Ann", false));
        p.insert("g", Known::new("Gus", true));
        p
    }

    #[test]
    fn a_group_object_is_read_with_its_team_flag_dates_and_links() {
        let g = present(json!({"id": "G1", "displayName": "Sales",
            "description": null, "visibility": "Private",
            "resourceProvisioningOptions": ["Team"],
            "createdDateTime": "2024-02-03T04:05:06Z", "expirationDateTime": null,
            "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": "A"}],
            "owners@delta": [{"id": "a"}]}));
        assert_eq!(g.id, "g1");
        assert!(g.is_team());
        assert_eq!(g.display_name, Field::Set("Sales".into()));
        assert_eq!(g.description, Field::Null);
        assert_eq!(g.mail_nickname, Field::Absent);
        assert_eq!(g.expires, Field::Null);
        assert!(matches!(g.created, Field::Set(t) if t.year() == 2024));
        assert_eq!(g.people_added().collect::<Vec<_>>(), ["a", "a"]);
        let plain = present(json!({"id": "x", "resourceProvisioningOptions": []}));
        assert!(!plain.is_team());
        assert_eq!(present(json!({"id": "x"})).team, None);
        assert_eq!(
            GroupObject::parse(&json!({"id": "X", "@removed": {"reason": "changed"}})),
            Some(GroupObject::Removed {
                id: "x".into(),
                reason: Reason::Changed
            })
        );
        assert_eq!(GroupObject::parse(&json!({"displayName": "no id"})), None);
    }

    #[test]
    fn a_first_copy_replaces_the_people_later_ones_change_them() {
        let team = TeamRecord {
            group_id: "g1".into(),
            template_id: Some("project".into()),
            renewal_days: Some(90),
            member_ids: vec!["old".into()],
            owners: vec![Person::new("old", "Old")],
            ..TeamRecord::default()
        };
        let first = present(
            json!({"id": "g1", "displayName": "Sales", "visibility": "Public",
            "members@delta": [{"id": "a"}, {"id": "g"}, {"@odata.type": "#microsoft.graph.group", "id": "n"}],
            "owners@delta": [{"id": "a"}]}),
        );
        let team = apply(team, &first, Links::Replace, &people());
        assert_eq!(team.member_ids, ["a", "g"]);
        assert_eq!(team.guest_ids, ["g"]);
        assert_eq!(team.owners, [Person::new("a", "Ann")]);
        assert_eq!(team.visibility, Visibility::Public);
        assert_eq!(
            (team.template_id.as_deref(), team.renewal_days),
            (Some("project"), Some(90)),
            "SalesTim's state is kept"
        );
        let later = present(json!({"id": "g1",
            "members@delta": [{"id": "g", "@removed": {"reason": "deleted"}}, {"id": "u"}],
            "owners@delta": [{"id": "u"}]}));
        let team = apply(team, &later, Links::Change, &people());
        assert_eq!(team.member_ids, ["a", "u"]);
        assert!(team.guest_ids.is_empty());
        assert_eq!(
            team.owners,
            [Person::new("a", "Ann"), Person::new("u", "")],
            "an unknown owner keeps an empty name"
        );
        assert_eq!(team.display_name, "Sales", "absent keeps");
    }

    #[test]
    fn removal_is_marked_once_and_a_present_object_clears_it() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let team = TeamRecord::default();
        let gone = removed(&team, Removal::SoftDeleted, now).unwrap();
        assert!(!gone.is_present());
        assert!(removed(&gone, Removal::SoftDeleted, now).is_none());
        assert!(removed(&gone, Removal::Deleted, now).is_some());
        let back = apply(gone, &present(json!({"id": "x"})), Links::Change, &people());
        assert!(back.is_present());
    }

    #[test]
    fn guests_known_before_stay_guests_when_nobody_says_otherwise() {
        let previous: HashSet<String> = ["z".to_owned()].into();
        let members = vec!["a".to_owned(), "g".to_owned(), "z".to_owned()];
        assert_eq!(guests(&members, &people(), &previous), ["g", "z"]);
    }
}
