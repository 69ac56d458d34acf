//! Findings: what a policy says about one team, explained.
//!
//! Every finding says which policy (and which stored version of it) speaks,
//! the facts it read with their source and the time they were read, the
//! threshold, the decision, and the next action with when it happens. An
//! admin reading it needs nothing else to agree or disagree. A policy not
//! enforced yet (dry-run) still finds; its finding says it will not act.
//!
//! Evaluation is pure: the facts, the policies, the naming policy and the
//! time in, findings out. Facts that are not known (no activity report
//! yet) give no finding rather than a guess.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::machine::{LifecycleState, Waiver};
use super::policy::{GuestAction, InactiveAction, PolicyKind, PolicySet};
use crate::governance::naming::{self, Attributes, NamingPolicy};
pub use crate::governance::teams::ActivityFacts;

/// What the inventory knows of one team, with where each fact came from.
#[derive(Clone, Debug, PartialEq)]
pub struct TeamFacts {
    pub team_id: String,
    pub display_name: String,
    /// `None`: made outside SalesTim.
    pub template_id: Option<String>,
    /// When the directory facts below were read from Graph.
    pub read_at: OffsetDateTime,
    pub created_at: Option<OffsetDateTime>,
    /// The last renewal (in SalesTim or Entra).
    pub renewed_at: Option<OffsetDateTime>,
    /// SalesTim's own expiry of the team, when it keeps one (set when the
    /// team was made from a template with an expiry, moved by renewals);
    /// otherwise the policy's lifetime from creation or renewal decides.
    pub expires_at: Option<OffsetDateTime>,
    /// When the tenant's Entra group expiration policy deletes the group,
    /// when it has one: the earlier of this and `expires_at` counts.
    pub entra_expires_at: Option<OffsetDateTime>,
    pub owners: u32,
    pub members: u32,
    pub guests: u32,
    /// From the Teams activity report; `None` until one was read.
    pub activity: Option<ActivityFacts>,
    /// When the owners last answered a guest review.
    pub guests_reviewed_at: Option<OffsetDateTime>,
    /// Members the template marks permanent who are no longer members.
    pub missing_permanent: Vec<String>,
    /// The attributes the naming policy may need, where known.
    pub naming_attributes: Attributes,
    /// Where the team is in its lifecycle, and since when.
    pub state: LifecycleState,
    pub state_since: Option<OffsetDateTime>,
    /// Policies an admin exempted the team from, for a while.
    pub waivers: Vec<Waiver>,
}

/// One fact a finding rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fact {
    pub name: String,
    pub value: String,
    /// Where it was read: "Graph /groups/delta", "Teams activity report of 2026-11-30".
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub read_at: OffsetDateTime,
}

/// What happens next for a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Ask the remaining owner to name another owner.
    AskOwnerToNominate,
    /// Ask the members to nominate an owner (the team has none).
    AskMembersToNominate,
    /// Send the owners the renewal card.
    SendRenewalCard,
    Archive,
    SoftDelete,
    /// Ask the owners to keep, archive or delete an inactive team.
    AskKeepArchiveOrDelete,
    /// Send the owners the guest review card.
    ReviewGuests,
    /// Add the permanent members back and tell the owners.
    ReAddMembers,
    /// Tell the owners the compliant name (never renamed by SalesTim).
    SuggestName,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub team_id: String,
    pub team_name: String,
    pub policy: PolicyKind,
    pub policy_version: u32,
    pub facts: Vec<Fact>,
    pub threshold: String,
    pub decision: String,
    pub action: Action,
    /// When `action` happens (now or later).
    #[serde(with = "time::serde::rfc3339")]
    pub due: OffsetDateTime,
    /// What follows if nobody answers, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
    /// `false`: the policy is dry-run; nothing is done.
    pub enforced: bool,
}

/// The policies of one version, with the naming policy that applies.
pub struct Rules<'a> {
    pub policies: &'a PolicySet,
    pub version: u32,
    pub naming: &'a NamingPolicy,
}

const DIRECTORY: &str = "Graph directory (inventory sync)";

fn day(at: OffsetDateTime) -> String {
    at.date().to_string()
}

fn days(n: u32) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// The earlier of two dated facts (SalesTim's own expiry and Entra's: the
/// team goes at whichever comes first).
fn earliest(
    a: Option<(OffsetDateTime, Fact)>,
    b: Option<(OffsetDateTime, Fact)>,
) -> Option<(OffsetDateTime, Fact)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Every finding the rules make for one team at `now`.
pub fn evaluate(rules: &Rules<'_>, team: &TeamFacts, now: OffsetDateTime) -> Vec<Finding> {
    let fact = |name: &str, value: String| Fact {
        name: name.to_owned(),
        value,
        source: DIRECTORY.to_owned(),
        read_at: team.read_at,
    };
    let finding = |policy: PolicyKind,
                   facts: Vec<Fact>,
                   threshold: String,
                   decision: String,
                   action: Action,
                   due: OffsetDateTime,
                   then: Option<String>,
                   enforced: bool| Finding {
        team_id: team.team_id.clone(),
        team_name: team.display_name.clone(),
        policy,
        policy_version: rules.version,
        facts,
        threshold,
        decision,
        action,
        due,
        then,
        enforced,
    };
    let set = rules.policies;
    let mut found = Vec::new();
    if !team.state.is_live() {
        return found;
    }
    let archived = team.state == LifecycleState::Archived;

    if let Some(p) = set.minimum_owners.as_ref().filter(|p| p.enabled)
        && team.owners < p.min_owners
    {
        let (action, who) = if team.owners == 0 {
            (Action::AskMembersToNominate, "the members are")
        } else {
            (Action::AskOwnerToNominate, "the owner is")
        };
        found.push(finding(
            PolicyKind::MinimumOwners,
            vec![fact("owners", team.owners.to_string())],
            format!("at least {} owners", p.min_owners),
            format!(
                "{} owner{}, fewer than {}: {who} asked to nominate an owner",
                team.owners,
                if team.owners == 1 { "" } else { "s" },
                p.min_owners
            ),
            action,
            now,
            Some(format!(
                "the tenant's governance contacts are told after {} without a nomination",
                days(p.nominate_days)
            )),
            p.enforce,
        ));
    }

    if let Some(p) = set.expiry.as_ref().filter(|p| p.enabled)
        && archived
        && let Some(since) = team.state_since
    {
        let delete_on = since + Duration::days(p.grace_days.into());
        found.push(finding(
            PolicyKind::Expiry,
            vec![fact("archived", day(since))],
            format!("soft-deleted {} after it was archived", days(p.grace_days)),
            format!(
                "archived on {}: soft-deleted on {}",
                day(since),
                day(delete_on)
            ),
            Action::SoftDelete,
            delete_on.max(now),
            Some("restorable for 30 days after".into()),
            p.enforce,
        ));
    } else if let Some(p) = set.expiry.as_ref().filter(|p| p.enabled)
        && !archived
        && let Some((expires, basis)) = earliest(
            team.expires_at
                .map(|at| (at, fact("expires (SalesTim)", day(at)))),
            team.entra_expires_at
                .map(|at| (at, fact("expires (Entra group expiration policy)", day(at)))),
        )
        .or_else(|| {
            let (start, what) = match (team.renewed_at, team.created_at) {
                (Some(r), _) => (r, "renewed"),
                (None, Some(c)) => (c, "created"),
                (None, None) => return None,
            };
            Some((
                start + Duration::days(p.lifetime_days.into()),
                fact(what, day(start)),
            ))
        })
    {
        let warn_from = expires - Duration::days(p.warn_days.into());
        let facts = vec![basis];
        let threshold = format!(
            "{} from creation or renewal, renewal card {} before",
            days(p.lifetime_days),
            days(p.warn_days)
        );
        if now >= expires {
            found.push(finding(
                PolicyKind::Expiry,
                facts,
                threshold,
                format!("expired on {} without a renewal: archived", day(expires)),
                Action::Archive,
                now,
                Some(format!(
                    "soft-deleted on {} (restorable for 30 days after)",
                    day(now + Duration::days(p.grace_days.into()))
                )),
                p.enforce,
            ));
        } else if now >= warn_from {
            let left = (expires - now).whole_days();
            found.push(finding(
                PolicyKind::Expiry,
                facts,
                threshold,
                format!(
                    "expires on {} (in {}): the owners are asked to renew",
                    day(expires),
                    days(left.max(0) as u32)
                ),
                Action::SendRenewalCard,
                now,
                Some(format!("archived on {} if nobody renews", day(expires))),
                p.enforce,
            ));
        }
    }

    if let Some(p) = set.inactivity.as_ref().filter(|p| p.enabled)
        && !archived
        && let Some(activity) = &team.activity
    {
        let source = format!("Teams activity report of {}", activity.report_date);
        let read_at = team.read_at;
        // Never active within the report's period: the last activity is
        // older than its start; creation bounds it from below.
        let (last, shown) = match activity.last_activity {
            Some(d) => (Some(d), d.to_string()),
            None => (
                team.created_at.map(|c| c.date()),
                format!("none in the last {}", days(activity.period_days)),
            ),
        };
        let idle = last.map(|d| (now.date() - d).whole_days());
        if let Some(idle) = idle
            && idle >= i64::from(p.inactive_days)
        {
            let action = match p.default_action {
                InactiveAction::Keep => "kept",
                InactiveAction::Archive => "archived",
                InactiveAction::Delete => "soft-deleted",
            };
            found.push(finding(
                PolicyKind::Inactivity,
                vec![Fact {
                    name: "last activity".into(),
                    value: shown,
                    source,
                    read_at,
                }],
                format!("no activity for {}", days(p.inactive_days)),
                format!(
                    "inactive for {}: the owners are asked to keep, archive or delete it",
                    days(idle as u32)
                ),
                Action::AskKeepArchiveOrDelete,
                now,
                Some(format!(
                    "{action} on {} if nobody answers",
                    day(now + Duration::days(p.answer_days.into()))
                )),
                p.enforce,
            ));
        }
    }

    if let Some(p) = set.guest_review.as_ref().filter(|p| p.enabled)
        && team.guests > 0
    {
        let due = team
            .guests_reviewed_at
            .map(|at| at + Duration::days(p.every_days.into()));
        if due.is_none_or(|due| now >= due) {
            let reviewed = team
                .guests_reviewed_at
                .map_or_else(|| "never".to_owned(), day);
            let default = match p.default_action {
                GuestAction::Remove => "unreviewed guests are removed",
                GuestAction::KeepAndReport => "unreviewed guests are kept and reported",
            };
            found.push(finding(
                PolicyKind::GuestReview,
                vec![
                    fact("guests", team.guests.to_string()),
                    Fact {
                        name: "last review".into(),
                        value: reviewed,
                        source: "SalesTim guest reviews".into(),
                        read_at: now,
                    },
                ],
                format!("a review every {}", days(p.every_days)),
                format!(
                    "{} guest(s) due for review: the owners are asked",
                    team.guests
                ),
                Action::ReviewGuests,
                now,
                Some(format!(
                    "{default} on {}",
                    day(now + Duration::days(p.answer_days.into()))
                )),
                p.enforce,
            ));
        }
    }

    if let Some(p) = set.permanent_members.as_ref().filter(|p| p.enabled)
        && !team.missing_permanent.is_empty()
    {
        found.push(finding(
            PolicyKind::PermanentMembers,
            vec![fact(
                "permanent members missing",
                team.missing_permanent.join(", "),
            )],
            "the template's permanent members stay".into(),
            format!(
                "{} permanent member(s) removed: added back, the owners told",
                team.missing_permanent.len()
            ),
            Action::ReAddMembers,
            now,
            None,
            p.enforce,
        ));
    }

    if set.naming_drift.as_ref().is_some_and(|p| p.enabled)
        && let Some(drift) =
            naming::drift(rules.naming, &team.display_name, &team.naming_attributes)
    {
        let decision = match &drift.suggestion {
            Some(name) => format!(
                "{}: suggest \"{name}\" to the owners",
                drift.reasons.join("; ")
            ),
            None => format!("{}: the owners are told", drift.reasons.join("; ")),
        };
        found.push(finding(
            PolicyKind::NamingDrift,
            vec![fact("name", team.display_name.clone())],
            "the tenant's naming policy (and the template's)".into(),
            decision,
            Action::SuggestName,
            now,
            Some("never renamed by SalesTim".into()),
            false,
        ));
    }
    found.retain(|f| !team.waivers.iter().any(|w| w.covers(f.policy, now)));
    found
}

/// What a team's findings come to, to compare two versions of the
/// policies: each policy that finds, and what it does.
pub fn outline(findings: &[Finding]) -> Vec<(PolicyKind, Action, bool)> {
    let mut outline: Vec<_> = findings
        .iter()
        .map(|f| (f.policy, f.action, f.enforced))
        .collect();
    outline.sort_by_key(|(p, _, _)| *p);
    outline
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::lifecycle::policy::Policies;
    use serde_json::json;
    use time::Date;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-02 09:00 UTC);

    fn team() -> TeamFacts {
        TeamFacts {
            team_id: "g1".into(),
            display_name: "Falcon".into(),
            template_id: None,
            read_at: datetime!(2026-12-02 06:00 UTC),
            created_at: Some(datetime!(2026-01-01 10:00 UTC)),
            renewed_at: None,
            expires_at: None,
            entra_expires_at: None,
            owners: 2,
            members: 5,
            guests: 0,
            activity: None,
            guests_reviewed_at: None,
            missing_permanent: Vec::new(),
            naming_attributes: Attributes::default(),
            state: LifecycleState::Active,
            state_since: None,
            waivers: Vec::new(),
        }
    }

    fn set(v: serde_json::Value) -> PolicySet {
        serde_json::from_value::<Policies>(json!({ "defaults": v }))
            .unwrap()
            .defaults
    }

    fn run(policies: &PolicySet, team: &TeamFacts, now: OffsetDateTime) -> Vec<Finding> {
        let naming = NamingPolicy::default();
        let rules = Rules {
            policies,
            version: 3,
            naming: &naming,
        };
        evaluate(&rules, team, now)
    }

    #[test]
    fn ownerless_and_one_owner_teams_are_found_and_explained() {
        let p = set(json!({"minimumOwners": {}}));
        assert!(run(&p, &team(), NOW).is_empty());
        let one = TeamFacts {
            owners: 1,
            ..team()
        };
        let found = run(&p, &one, NOW);
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(
            (f.policy, f.policy_version, f.action),
            (PolicyKind::MinimumOwners, 3, Action::AskOwnerToNominate)
        );
        assert_eq!(f.facts[0].value, "1");
        assert_eq!(f.facts[0].read_at, datetime!(2026-12-02 06:00 UTC));
        assert!(f.decision.contains("fewer than 2"), "{}", f.decision);
        assert!(!f.enforced, "dry-run until enforced");
        let none = TeamFacts {
            owners: 0,
            ..team()
        };
        assert_eq!(run(&p, &none, NOW)[0].action, Action::AskMembersToNominate);
    }

    #[test]
    fn expiry_warns_n_days_before_and_archives_on_the_day_exactly() {
        let p = set(json!({"expiry": {"lifetimeDays": 100, "warnDays": 10, "enforce": true}}));
        let created = datetime!(2026-01-01 00:00 UTC);
        let team = TeamFacts {
            created_at: Some(created),
            ..team()
        };
        let expires = created + Duration::days(100);
        let at = |d: i64| run(&p, &team, expires - Duration::days(d));
        assert!(at(11).is_empty(), "N+1 days before: nothing");
        assert_eq!(at(10)[0].action, Action::SendRenewalCard, "N days before");
        assert_eq!(at(9)[0].action, Action::SendRenewalCard, "N-1 days before");
        assert!(
            at(1)[0].decision.contains("in 1 day"),
            "{}",
            at(1)[0].decision
        );
        let expired = run(&p, &team, expires);
        assert_eq!(expired[0].action, Action::Archive);
        assert!(expired[0].enforced);
        assert!(
            expired[0].then.as_deref().unwrap().contains("2026-05-11"),
            "{:?}",
            expired[0].then
        );
        // A renewal starts the period again.
        let renewed = TeamFacts {
            renewed_at: Some(expires - Duration::days(5)),
            ..team.clone()
        };
        assert!(run(&p, &renewed, expires).is_empty());
    }

    #[test]
    fn salestims_own_expiry_decides_when_the_team_has_one() {
        let p = set(json!({"expiry": {"lifetimeDays": 365, "warnDays": 10}}));
        let own = TeamFacts {
            expires_at: Some(NOW + Duration::days(5)),
            ..team()
        };
        let found = run(&p, &own, NOW);
        assert_eq!(found[0].action, Action::SendRenewalCard, "{found:?}");
        assert_eq!(found[0].facts[0].name, "expires (SalesTim)");
        // Entra's expiration policy deletes the group first: its date counts.
        let entra_first = TeamFacts {
            expires_at: Some(NOW + Duration::days(40)),
            entra_expires_at: Some(NOW + Duration::days(5)),
            ..team()
        };
        let found = run(&p, &entra_first, NOW);
        assert_eq!(found[0].action, Action::SendRenewalCard, "{found:?}");
        assert_eq!(
            found[0].facts[0].name,
            "expires (Entra group expiration policy)"
        );
        let ours_first = TeamFacts {
            expires_at: Some(NOW + Duration::days(5)),
            entra_expires_at: Some(NOW + Duration::days(40)),
            ..team()
        };
        assert_eq!(
            run(&p, &ours_first, NOW)[0].facts[0].name,
            "expires (SalesTim)"
        );
        let later = TeamFacts {
            expires_at: Some(NOW + Duration::days(11)),
            ..team()
        };
        assert!(
            run(&p, &later, NOW).is_empty(),
            "created 2026-01-01 + 365 days would warn now"
        );
    }

    #[test]
    fn inactivity_reads_the_report_and_needs_one() {
        let p = set(json!({"inactivity": {"inactiveDays": 30, "defaultAction": "delete"}}));
        assert!(run(&p, &team(), NOW).is_empty(), "no report: no guess");
        let report = |last: Option<Date>| TeamFacts {
            activity: Some(ActivityFacts {
                last_activity: last,
                report_date: time::macros::date!(2026 - 11 - 30),
                period_days: 30,
            }),
            ..team()
        };
        let day = |d: i64| Some(NOW.date() - Duration::days(d));
        assert!(run(&p, &report(day(29)), NOW).is_empty(), "N-1");
        let found = run(&p, &report(day(30)), NOW);
        assert_eq!(found[0].action, Action::AskKeepArchiveOrDelete, "N");
        assert_eq!(
            found[0].facts[0].source,
            "Teams activity report of 2026-11-30"
        );
        assert!(
            found[0]
                .then
                .as_deref()
                .unwrap()
                .starts_with("soft-deleted on 2026-12-16")
        );
        assert_eq!(run(&p, &report(day(31)), NOW).len(), 1, "N+1");
        // Never active in the period: as old as the team, at least.
        let never = run(&p, &report(None), NOW);
        assert!(never[0].facts[0].value.contains("none in the last 30 days"));
    }

    #[test]
    fn guests_are_reviewed_every_period() {
        let p = set(
            json!({"guestReview": {"everyDays": 90, "answerDays": 14, "defaultAction": "remove"}}),
        );
        assert!(run(&p, &team(), NOW).is_empty(), "no guests");
        let guests = TeamFacts {
            guests: 3,
            ..team()
        };
        assert_eq!(run(&p, &guests, NOW)[0].action, Action::ReviewGuests);
        let reviewed = |d: i64| TeamFacts {
            guests_reviewed_at: Some(NOW - Duration::days(d)),
            ..guests.clone()
        };
        assert!(run(&p, &reviewed(89), NOW).is_empty());
        assert_eq!(run(&p, &reviewed(90), NOW).len(), 1);
        assert!(
            run(&p, &reviewed(91), NOW)[0]
                .then
                .as_deref()
                .unwrap()
                .contains("removed")
        );
    }

    #[test]
    fn a_disabled_policy_finds_nothing_and_naming_drift_never_acts() {
        let p = set(json!({"minimumOwners": {"enabled": false}, "namingDrift": {}}));
        let t = TeamFacts {
            owners: 0,
            ..team()
        };
        assert!(run(&p, &t, NOW).is_empty());
        let policy = NamingPolicy {
            prefix: vec![crate::governance::naming::Part::Text("GRP-".into())],
            ..NamingPolicy::default()
        };
        let rules = Rules {
            policies: &p,
            version: 1,
            naming: &policy,
        };
        let found = evaluate(&rules, &t, NOW);
        assert_eq!(found[0].action, Action::SuggestName);
        assert!(
            found[0].decision.contains("\"GRP-Falcon\""),
            "{}",
            found[0].decision
        );
        assert!(!found[0].enforced);
        let missing = TeamFacts {
            missing_permanent: vec!["Ada".into()],
            ..team()
        };
        let p = set(json!({"permanentMembers": {"enforce": true}}));
        assert_eq!(run(&p, &missing, NOW)[0].action, Action::ReAddMembers);
    }

    #[test]
    fn a_waived_policy_finds_nothing_until_the_waiver_ends() {
        let p = set(json!({"minimumOwners": {}, "guestReview": {}}));
        let until = NOW + Duration::days(10);
        let waiver = Waiver::new(
            PolicyKind::MinimumOwners,
            until,
            "owner on leave",
            "admin",
            NOW,
        )
        .unwrap();
        let t = TeamFacts {
            owners: 1,
            guests: 2,
            waivers: vec![waiver],
            ..team()
        };
        let found = run(&p, &t, NOW);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].policy,
            PolicyKind::GuestReview,
            "only the waived policy is quiet"
        );
        assert_eq!(run(&p, &t, until).len(), 2, "the waiver has ended");
    }

    #[test]
    fn an_archived_team_is_soft_deleted_after_the_grace_period_and_a_deleted_one_finds_nothing() {
        let p = set(json!({"expiry": {"graceDays": 30}, "inactivity": {}, "minimumOwners": {}}));
        let since = NOW - Duration::days(10);
        let archived = TeamFacts {
            state: LifecycleState::Archived,
            state_since: Some(since),
            activity: Some(ActivityFacts {
                last_activity: None,
                report_date: NOW.date(),
                period_days: 180,
            }),
            ..team()
        };
        let found = run(&p, &archived, NOW);
        assert_eq!(
            found.len(),
            1,
            "an archived team is not asked about inactivity: {found:?}"
        );
        assert_eq!(found[0].action, Action::SoftDelete);
        assert_eq!(found[0].due, since + Duration::days(30));
        let deleted = TeamFacts {
            state: LifecycleState::SoftDeleted,
            owners: 0,
            ..team()
        };
        assert!(run(&p, &deleted, NOW).is_empty());
    }
}
