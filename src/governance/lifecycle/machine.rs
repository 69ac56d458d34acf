//! One lifecycle state machine for every team:
//!
//! ```text
//! Active -> Warned -> Renewed -> Active
//!             |
//!             +-> Archived (read-only) -> SoftDeleted -> Purged
//!                     ^                      |
//!   Active -----------+                      +-> Restored -> Active
//! ```
//!
//! A team is warned (renewal card, inactivity card), renewed by an owner,
//! archived when nobody renews or an owner lets it expire, soft-deleted
//! after the grace period (Entra keeps a deleted group 30 days), restored
//! within that window, or purged. Every transition names who or what made
//! it, when, under which policy version, and why; a transition the machine
//! does not allow is an error, never a silent no-op.
//!
//! Waivers exempt one team from one policy for a while, given by an admin
//! with a reason; a waived policy finds nothing for the team until the
//! waiver ends.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::policy::PolicyKind;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleState {
    #[default]
    Active,
    /// Owners were asked (renewal or inactivity card) and have not answered.
    Warned,
    /// An owner renewed; the team becomes active again for a new period.
    Renewed,
    /// Read-only in Teams.
    Archived,
    /// Deleted in Entra, restorable for 30 days.
    SoftDeleted,
    /// Gone for good.
    Purged,
    /// Brought back from soft deletion; active once its content is checked.
    Restored,
}

/// What happens to a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    Warn,
    Renew,
    /// Back to active: after a renewal, a restore, or an owner's "keep".
    Activate,
    Archive,
    Unarchive,
    SoftDelete,
    Restore,
    Purge,
}

impl LifecycleEvent {
    /// Its entry in the audit trail: what happened to the team.
    pub fn audit_action(self) -> &'static str {
        match self {
            LifecycleEvent::Warn => "team.warned",
            LifecycleEvent::Renew => "team.renewed",
            LifecycleEvent::Activate => "team.activated",
            LifecycleEvent::Archive => "team.archived",
            LifecycleEvent::Unarchive => "team.unarchived",
            LifecycleEvent::SoftDelete => "team.softDeleted",
            LifecycleEvent::Restore => "team.restored",
            LifecycleEvent::Purge => "team.purged",
        }
    }
}

impl LifecycleState {
    /// Where `event` takes a team in this state; `None` when the machine
    /// does not allow it.
    pub fn after(self, event: LifecycleEvent) -> Option<LifecycleState> {
        use LifecycleEvent as E;
        use LifecycleState as S;
        Some(match (self, event) {
            (S::Active, E::Warn) => S::Warned,
            (S::Warned, E::Renew) => S::Renewed,
            (S::Renewed | S::Restored | S::Warned, E::Activate) => S::Active,
            (S::Active | S::Warned, E::Archive) => S::Archived,
            (S::Archived, E::Unarchive) => S::Active,
            (S::Active | S::Warned | S::Archived, E::SoftDelete) => S::SoftDeleted,
            (S::SoftDeleted, E::Restore) => S::Restored,
            (S::SoftDeleted, E::Purge) => S::Purged,
            _ => return None,
        })
    }

    /// Whether the team still exists in Teams (findings apply to it).
    pub fn is_live(self) -> bool {
        !matches!(self, LifecycleState::SoftDeleted | LifecycleState::Purged)
    }
}

/// Who or what made a transition, and under which rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    /// A user's Entra object id, or `system:<function>`.
    pub actor: String,
    /// The policy and its version, when a policy decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<(PolicyKind, u32)>,
    pub reason: String,
}

/// One transition, as the audit trail and the team's history keep it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub from: LifecycleState,
    pub to: LifecycleState,
    pub event: LifecycleEvent,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub cause: Cause,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a team that is {from:?} cannot {event:?}")]
pub struct IllegalTransition {
    pub from: LifecycleState,
    pub event: LifecycleEvent,
}

/// The transition `event` makes from `from`, or why it cannot be made.
pub fn transition(
    from: LifecycleState,
    event: LifecycleEvent,
    at: OffsetDateTime,
    cause: Cause,
) -> Result<Transition, IllegalTransition> {
    let to = from.after(event).ok_or(IllegalTransition { from, event })?;
    Ok(Transition {
        from,
        to,
        event,
        at,
        cause,
    })
}

/// A time-boxed exemption of one team from one policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiver {
    pub policy: PolicyKind,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub reason: String,
    /// The admin who gave it.
    pub by: String,
}

/// Longest a waiver may run: a year, after which someone looks again.
pub const MAX_WAIVER_DAYS: i64 = 366;

impl Waiver {
    /// A waiver given at `now`, checked: a reason, an end in the future and
    /// within [`MAX_WAIVER_DAYS`].
    pub fn new(
        policy: PolicyKind,
        until: OffsetDateTime,
        reason: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<Waiver, String> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err("a waiver needs a reason".into());
        }
        if reason.chars().count() > 500 {
            return Err("a waiver's reason is at most 500 characters".into());
        }
        if until <= now {
            return Err("a waiver must end in the future".into());
        }
        if until - now > time::Duration::days(MAX_WAIVER_DAYS) {
            return Err(format!("a waiver lasts at most {MAX_WAIVER_DAYS} days"));
        }
        Ok(Waiver {
            policy,
            until,
            reason: reason.to_owned(),
            by: by.to_owned(),
        })
    }

    pub fn covers(&self, policy: PolicyKind, now: OffsetDateTime) -> bool {
        self.policy == policy && now < self.until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleEvent as E;
    use LifecycleState as S;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-02 09:00 UTC);

    fn cause() -> Cause {
        Cause {
            actor: "system:SweepTenant".into(),
            policy: Some((PolicyKind::Expiry, 4)),
            reason: "expired on 2026-12-01 without a renewal".into(),
        }
    }

    #[test]
    fn every_event_has_its_own_audit_action() {
        let all = [
            E::Warn,
            E::Renew,
            E::Activate,
            E::Archive,
            E::Unarchive,
            E::SoftDelete,
            E::Restore,
            E::Purge,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|e| e.audit_action()).collect();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn a_team_goes_the_whole_way_and_back() {
        let mut state = S::Active;
        for (event, expected) in [
            (E::Warn, S::Warned),
            (E::Renew, S::Renewed),
            (E::Activate, S::Active),
            (E::Warn, S::Warned),
            (E::Archive, S::Archived),
            (E::SoftDelete, S::SoftDeleted),
            (E::Restore, S::Restored),
            (E::Activate, S::Active),
            (E::Archive, S::Archived),
            (E::Unarchive, S::Active),
            (E::SoftDelete, S::SoftDeleted),
            (E::Purge, S::Purged),
        ] {
            let t = transition(state, event, NOW, cause()).unwrap();
            assert_eq!((t.from, t.to, t.event), (state, expected, event));
            assert_eq!(t.cause.policy, Some((PolicyKind::Expiry, 4)));
            state = t.to;
        }
    }

    #[test]
    fn every_transition_the_machine_does_not_name_is_an_error() {
        let states = [
            S::Active,
            S::Warned,
            S::Renewed,
            S::Archived,
            S::SoftDeleted,
            S::Purged,
            S::Restored,
        ];
        let events = [
            E::Warn,
            E::Renew,
            E::Activate,
            E::Archive,
            E::Unarchive,
            E::SoftDelete,
            E::Restore,
            E::Purge,
        ];
        let mut allowed = 0;
        for from in states {
            for event in events {
                match transition(from, event, NOW, cause()) {
                    Ok(_) => allowed += 1,
                    Err(e) => assert_eq!(e, IllegalTransition { from, event }),
                }
            }
        }
        assert_eq!(allowed, 13, "the arrows of the diagram, no more");
        // The ones people would try.
        assert!(
            transition(S::Active, E::Renew, NOW, cause()).is_err(),
            "nothing to renew"
        );
        assert!(
            transition(S::Purged, E::Restore, NOW, cause()).is_err(),
            "gone for good"
        );
        assert!(transition(S::Archived, E::Renew, NOW, cause()).is_err());
        assert!(!S::SoftDeleted.is_live() && S::Archived.is_live());
    }

    #[test]
    fn waivers_need_a_reason_and_an_end_and_cover_one_policy_until_then() {
        let until = NOW + time::Duration::days(30);
        let w = Waiver::new(
            PolicyKind::Inactivity,
            until,
            " seasonal team ",
            "admin",
            NOW,
        )
        .unwrap();
        assert_eq!(w.reason, "seasonal team");
        assert!(w.covers(PolicyKind::Inactivity, NOW));
        assert!(!w.covers(PolicyKind::Expiry, NOW));
        assert!(!w.covers(PolicyKind::Inactivity, until));
        assert!(Waiver::new(PolicyKind::Expiry, until, "  ", "a", NOW).is_err());
        assert!(Waiver::new(PolicyKind::Expiry, NOW, "r", "a", NOW).is_err());
        assert!(
            Waiver::new(
                PolicyKind::Expiry,
                NOW + time::Duration::days(400),
                "r",
                "a",
                NOW
            )
            .is_err()
        );
    }
}
