//! What an enforced finding does next, decided from the finding, the
//! policy, and what was already done for it (kept on the recorded finding
//! as [`Acted`]). Pure: the sweep carries the moves out
//! ([`crate::bot::lifecycle`]) and notes each one on the finding, so a
//! move is made once however many sweeps see the same finding.
//!
//! A dry-run finding (`enforced: false`) moves nothing. A finding moves
//! only once it is due. The asks follow one pattern: the card, a reminder
//! half-way through the answer period, then the policy's default (or the
//! governance contacts, for a team without enough owners) when the period
//! ends without an answer. An answer resolves the finding (the team is
//! renewed, kept, has its owners, or was reviewed), which ends its moves.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::findings::{Action, Finding};
use super::policy::{GuestAction, InactiveAction, PolicyKind, PolicySet};

/// One thing done for a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Acted {
    pub did: Did,
    /// The finding's action it was done for (a finding's action moves on,
    /// e.g. from the renewal card to the archive).
    pub action: Action,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// In words, for the admin: "card sent to 2 owners", "archive queued".
    #[serde(default)]
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Did {
    /// The card was sent.
    Asked,
    /// The card was sent again, half-way through the answer period.
    Reminded,
    /// The tenant's governance contacts were told.
    ContactsTold,
    /// Graph actions were queued.
    Requested,
    /// Nobody answered: the policy's default was applied.
    Defaulted,
}

/// Who a card goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Owners,
    /// An ownerless team's members.
    Members,
}

/// A Graph action a move queues, on the team named by the finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Archive,
    SoftDelete,
    /// Each guest of the team, as the inventory holds them.
    RemoveGuests,
    /// Each permanent member no longer in the team.
    ReAddMissingMembers,
}

/// The next move of a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Move {
    /// Send the card of the finding's action; `warn`: the team becomes
    /// Warned (when the machine allows it).
    Ask {
        to: Audience,
        reminder: bool,
        warn: bool,
    },
    /// Tell these governance contacts (Entra object ids).
    TellContacts(Vec<String>),
    /// Queue these actions (and tell the owners what was done, for
    /// permanent members).
    Request(Vec<Effect>),
    /// Nobody answered: the default that needs no Graph action (an
    /// inactive team kept, guests kept and reported); the owners' answer
    /// is taken as "keep".
    KeepByDefault,
}

impl Move {
    /// What noting this move on the finding records.
    pub fn did(&self) -> Did {
        match self {
            Move::Ask {
                reminder: false, ..
            } => Did::Asked,
            Move::Ask { reminder: true, .. } => Did::Reminded,
            Move::TellContacts(_) => Did::ContactsTold,
            Move::Request(_) => Did::Requested,
            Move::KeepByDefault => Did::Defaulted,
        }
    }
}

fn when(acted: &[Acted], action: Action, did: Did) -> Option<OffsetDateTime> {
    acted
        .iter()
        .filter(|a| a.action == action && a.did == did)
        .map(|a| a.at)
        .max()
}

/// The moves `finding` makes at `now`, given what was done for it.
pub fn next(finding: &Finding, set: &PolicySet, acted: &[Acted], now: OffsetDateTime) -> Vec<Move> {
    if !finding.enforced || finding.due > now {
        return Vec::new();
    }
    let action = finding.action;
    let done = |did| when(acted, action, did);
    // The card, a reminder half-way, then `after` once the period ends.
    let ask = |to: Audience, answer_days: u32, warn: bool, after: Move| -> Vec<Move> {
        let Some(asked) = done(Did::Asked) else {
            return vec![Move::Ask {
                to,
                reminder: false,
                warn,
            }];
        };
        let period = Duration::days(answer_days.into());
        if now >= asked + period {
            return match after.did() {
                d if done(d).is_some() => Vec::new(),
                _ => vec![after],
            };
        }
        if now >= asked + period / 2 && done(Did::Reminded).is_none() {
            return vec![Move::Ask {
                to,
                reminder: true,
                warn: false,
            }];
        }
        Vec::new()
    };
    let once = |m: Move| match done(m.did()) {
        Some(_) => Vec::new(),
        None => vec![m],
    };
    match (finding.policy, action) {
        (PolicyKind::MinimumOwners, Action::AskOwnerToNominate | Action::AskMembersToNominate) => {
            let Some(p) = &set.minimum_owners else {
                return Vec::new();
            };
            let to = if action == Action::AskMembersToNominate {
                Audience::Members
            } else {
                Audience::Owners
            };
            let mut moves = ask(
                to,
                p.nominate_days,
                false,
                Move::TellContacts(p.contacts.clone()),
            );
            // Nobody to tell: the finding stays, shown to the admins.
            moves.retain(|m| !matches!(m, Move::TellContacts(c) if c.is_empty()));
            moves
        }
        (PolicyKind::Expiry, Action::SendRenewalCard) => {
            // The renewal card's own deadline is the expiry: no default here
            // (the finding becomes an archive when the team expires).
            once(Move::Ask {
                to: Audience::Owners,
                reminder: false,
                warn: true,
            })
        }
        (PolicyKind::Expiry | PolicyKind::Inactivity, Action::Archive) => {
            once(Move::Request(vec![Effect::Archive]))
        }
        (PolicyKind::Expiry | PolicyKind::Inactivity, Action::SoftDelete) => {
            once(Move::Request(vec![Effect::SoftDelete]))
        }
        (PolicyKind::Inactivity, Action::AskKeepArchiveOrDelete) => {
            let Some(p) = &set.inactivity else {
                return Vec::new();
            };
            let default = match p.default_action {
                InactiveAction::Keep => Move::KeepByDefault,
                InactiveAction::Archive => Move::Request(vec![Effect::Archive]),
                InactiveAction::Delete => Move::Request(vec![Effect::SoftDelete]),
            };
            ask(Audience::Owners, p.answer_days, true, default)
        }
        (PolicyKind::GuestReview, Action::ReviewGuests) => {
            let Some(p) = &set.guest_review else {
                return Vec::new();
            };
            let default = match p.default_action {
                GuestAction::Remove => Move::Request(vec![Effect::RemoveGuests]),
                GuestAction::KeepAndReport => Move::KeepByDefault,
            };
            ask(Audience::Owners, p.answer_days, false, default)
        }
        (PolicyKind::PermanentMembers, Action::ReAddMembers) => {
            once(Move::Request(vec![Effect::ReAddMissingMembers]))
        }
        // Naming drift is never enforced: a name is only ever suggested.
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::governance::lifecycle::policy::Policies;

    const NOW: OffsetDateTime = datetime!(2026-12-02 09:00 UTC);

    fn set(defaults: serde_json::Value) -> PolicySet {
        let p: Policies = serde_json::from_value(json!({ "defaults": defaults })).unwrap();
        p.defaults
    }

    fn finding(policy: PolicyKind, action: Action, enforced: bool) -> Finding {
        Finding {
            team_id: "g1".into(),
            team_name: "Falcon".into(),
            policy,
            policy_version: 2,
            facts: Vec::new(),
            threshold: String::new(),
            decision: String::new(),
            action,
            due: NOW,
            then: None,
            enforced,
        }
    }

    fn acted(did: Did, action: Action, days_ago: i64) -> Acted {
        Acted {
            did,
            action,
            at: NOW - Duration::days(days_ago),
            detail: String::new(),
        }
    }

    #[test]
    fn a_dry_run_or_not_yet_due_finding_moves_nothing() {
        let p = set(json!({"expiry": {}}));
        let dry = finding(PolicyKind::Expiry, Action::Archive, false);
        assert!(next(&dry, &p, &[], NOW).is_empty());
        let later = Finding {
            due: NOW + Duration::minutes(1),
            ..finding(PolicyKind::Expiry, Action::Archive, true)
        };
        assert!(next(&later, &p, &[], NOW).is_empty());
        let due = finding(PolicyKind::Expiry, Action::Archive, true);
        assert_eq!(
            next(&due, &p, &[], NOW),
            vec![Move::Request(vec![Effect::Archive])]
        );
        let queued = [acted(Did::Requested, Action::Archive, 0)];
        assert!(next(&due, &p, &queued, NOW).is_empty(), "queued once");
    }

    #[test]
    fn the_renewal_card_is_sent_once_and_warns_and_what_was_done_before_does_not_count_for_the_archive()
     {
        let p = set(json!({"expiry": {}}));
        let card = finding(PolicyKind::Expiry, Action::SendRenewalCard, true);
        assert_eq!(
            next(&card, &p, &[], NOW),
            vec![Move::Ask {
                to: Audience::Owners,
                reminder: false,
                warn: true
            }]
        );
        let sent = [acted(Did::Asked, Action::SendRenewalCard, 20)];
        assert!(next(&card, &p, &sent, NOW).is_empty());
        let expired = finding(PolicyKind::Expiry, Action::Archive, true);
        assert_eq!(
            next(&expired, &p, &sent, NOW),
            vec![Move::Request(vec![Effect::Archive])]
        );
    }

    #[test]
    fn an_inactive_team_is_asked_reminded_half_way_and_defaulted_on_the_boundary() {
        let p = set(json!({"inactivity": {"answerDays": 14, "defaultAction": "archive"}}));
        let f = finding(PolicyKind::Inactivity, Action::AskKeepArchiveOrDelete, true);
        let ask = |days_ago: i64, reminded: bool| {
            let mut a = vec![acted(Did::Asked, f.action, days_ago)];
            if reminded {
                a.push(acted(Did::Reminded, f.action, 0));
            }
            next(&f, &p, &a, NOW)
        };
        assert!(matches!(
            next(&f, &p, &[], NOW)[..],
            [Move::Ask {
                reminder: false,
                warn: true,
                ..
            }]
        ));
        assert!(ask(6, false).is_empty(), "before half-way");
        assert!(matches!(
            ask(7, false)[..],
            [Move::Ask { reminder: true, .. }]
        ));
        assert!(ask(13, true).is_empty(), "N-1 days: still waiting");
        assert_eq!(
            ask(14, true),
            vec![Move::Request(vec![Effect::Archive])],
            "N"
        );
        assert_eq!(
            ask(15, true),
            vec![Move::Request(vec![Effect::Archive])],
            "N+1"
        );
        let mut done = vec![
            acted(Did::Asked, f.action, 15),
            acted(Did::Requested, f.action, 1),
        ];
        assert!(next(&f, &p, &done, NOW).is_empty(), "defaulted once");
        done.clear();
        let keep = set(json!({"inactivity": {"answerDays": 14, "defaultAction": "keep"}}));
        done.push(acted(Did::Asked, f.action, 14));
        done.push(acted(Did::Reminded, f.action, 7));
        assert_eq!(next(&f, &keep, &done, NOW), vec![Move::KeepByDefault]);
    }

    #[test]
    fn guests_unreviewed_are_removed_or_kept_as_the_policy_says() {
        let f = finding(PolicyKind::GuestReview, Action::ReviewGuests, true);
        let a = [
            acted(Did::Asked, f.action, 30),
            acted(Did::Reminded, f.action, 20),
        ];
        let remove = set(json!({"guestReview": {"answerDays": 14, "defaultAction": "remove"}}));
        assert_eq!(
            next(&f, &remove, &a, NOW),
            vec![Move::Request(vec![Effect::RemoveGuests])]
        );
        let keep =
            set(json!({"guestReview": {"answerDays": 14, "defaultAction": "keepAndReport"}}));
        assert_eq!(next(&f, &keep, &a, NOW), vec![Move::KeepByDefault]);
    }

    #[test]
    fn an_ownerless_team_asks_its_members_then_tells_the_contacts_if_there_are_any() {
        let contact = "5b2c1f0e-8d7a-4e3b-9c6d-1a2b3c4d5e6f";
        let p = set(json!({"minimumOwners": {"nominateDays": 7, "contacts": [contact]}}));
        let f = finding(
            PolicyKind::MinimumOwners,
            Action::AskMembersToNominate,
            true,
        );
        assert!(matches!(
            next(&f, &p, &[], NOW)[..],
            [Move::Ask {
                to: Audience::Members,
                warn: false,
                ..
            }]
        ));
        let a = [
            acted(Did::Asked, f.action, 7),
            acted(Did::Reminded, f.action, 3),
        ];
        assert_eq!(
            next(&f, &p, &a, NOW),
            vec![Move::TellContacts(vec![contact.into()])]
        );
        let nobody = set(json!({"minimumOwners": {"nominateDays": 7}}));
        assert!(next(&f, &nobody, &a, NOW).is_empty());
    }

    #[test]
    fn permanent_members_are_added_back_once_and_names_are_never_enforced() {
        let p = set(json!({"permanentMembers": {}, "namingDrift": {}}));
        let f = finding(PolicyKind::PermanentMembers, Action::ReAddMembers, true);
        assert_eq!(
            next(&f, &p, &[], NOW),
            vec![Move::Request(vec![Effect::ReAddMissingMembers])]
        );
        let name = finding(PolicyKind::NamingDrift, Action::SuggestName, true);
        assert!(next(&name, &p, &[], NOW).is_empty());
    }
}
