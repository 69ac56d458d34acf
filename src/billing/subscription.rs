//! A tenant's subscription state, and the pure rules that move it: applying a
//! Stripe event (idempotent, out-of-order safe), dunning, and entitlements.
//!
//! Stripe does not order its deliveries. Each family of facts carries the
//! version of the event that last set it — `(event.created, rank)` where the
//! rank orders events of the same second by how final they are — and an
//! older version never overwrites a newer one.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::event::{EventKind, StripeEvent, subscription_facts};

/// How many applied event ids the document remembers for de-duplication
/// (older replays are still caught by the version check).
const REMEMBERED_EVENTS: usize = 64;

/// `(created, rank)`: later is newer; in the same second, the higher rank wins.
pub type Version = (i64, u8);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    /// Stripe's status: incomplete, incomplete_expired, trialing, active,
    /// past_due, unpaid, canceled, paused; `None` before any subscription event.
    pub status: Option<String>,
    pub plan: Option<String>,
    pub seats: u32,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub current_period_end: Option<OffsetDateTime>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub payment_failed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub grace_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_paid_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub suspended: bool,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub suspended_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub state_version: Version,
    #[serde(default)]
    pub payment_version: Version,
    #[serde(default)]
    pub checkout_version: Version,
    #[serde(default)]
    pub applied_events: VecDeque<String>,
}

/// Whether an event about `subscription` may touch the tenant's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// About the current subscription, or about no subscription at all
    /// (customer-level facts such as an invoice without one).
    Current,
    /// The tenant has no live subscription yet: this one becomes current.
    Adopt,
    /// From a checkout SalesTim created for this tenant: replaces the current one.
    Replace,
    /// Another subscription of a bound customer: audited, never applied.
    NotCurrent,
}

/// The rank of an event kind among events of the same second: how final it is.
pub fn rank(kind: EventKind) -> u8 {
    match kind {
        EventKind::CheckoutCompleted => 0,
        EventKind::SubscriptionCreated => 1,
        EventKind::SubscriptionUpdated => 2,
        EventKind::SubscriptionDeleted => 3,
        EventKind::InvoicePaymentFailed => 1,
        EventKind::InvoicePaid => 2,
    }
}

/// What applying one event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    Changed,
    /// Already applied (a Stripe retry or a duplicate delivery).
    Duplicate,
    /// Older than what the document already reflects; recorded, not applied.
    Stale,
}

fn at(unix: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(unix).ok()
}

impl Subscription {
    /// The one rule for which subscription a tenant's state follows: its
    /// current one. A subscription is adopted only while the tenant has none
    /// that lives (none yet, or the current one ended), and replaced only by
    /// one from a checkout SalesTim created for this tenant
    /// (`from_our_checkout`); so a replaced subscription's late events, a
    /// `deleted` included, never touch the tenant.
    pub fn admit(&self, subscription: Option<&str>, from_our_checkout: bool) -> Admission {
        let Some(sub) = subscription else {
            return Admission::Current;
        };
        match self.stripe_subscription_id.as_deref() {
            Some(current) if current == sub => Admission::Current,
            _ if from_our_checkout => Admission::Replace,
            None => Admission::Adopt,
            Some(_) if self.ended() => Admission::Adopt,
            Some(_) => Admission::NotCurrent,
        }
    }

    /// Whether the current subscription is over for good (Stripe never
    /// brings a canceled or expired subscription back).
    fn ended(&self) -> bool {
        matches!(
            self.status.as_deref(),
            Some("canceled" | "incomplete_expired")
        )
    }

    /// Makes `subscription` the current one. Its facts start afresh: the
    /// versions of the previous subscription's events say nothing about it.
    pub fn follow(&mut self, subscription: &str) {
        if self.stripe_subscription_id.as_deref() == Some(subscription) {
            return;
        }
        self.stripe_subscription_id = Some(subscription.to_owned());
        self.status = None;
        self.cancel_at_period_end = false;
        self.state_version = Version::default();
        self.payment_version = Version::default();
    }

    /// Applies `event`; the grace period starts at the first failed payment.
    pub fn apply(&mut self, event: &StripeEvent, grace: Duration) -> Applied {
        if self.applied_events.iter().any(|id| id == &event.id) {
            return Applied::Duplicate;
        }
        let version = (event.created, rank(event.kind));
        let changed = match event.kind {
            EventKind::CheckoutCompleted => self.apply_checkout(event, version),
            EventKind::SubscriptionCreated
            | EventKind::SubscriptionUpdated
            | EventKind::SubscriptionDeleted => self.apply_subscription(event, version),
            EventKind::InvoicePaid | EventKind::InvoicePaymentFailed => {
                self.apply_invoice(event, version, grace)
            }
        };
        self.applied_events.push_back(event.id.clone());
        while self.applied_events.len() > REMEMBERED_EVENTS {
            self.applied_events.pop_front();
        }
        if changed {
            Applied::Changed
        } else {
            Applied::Stale
        }
    }

    fn apply_checkout(&mut self, event: &StripeEvent, version: Version) -> bool {
        if version <= self.checkout_version {
            return false;
        }
        self.checkout_version = version;
        if let Some(customer) = event.customer_id() {
            self.stripe_customer_id = Some(customer);
        }
        if self.stripe_subscription_id.is_none() {
            self.stripe_subscription_id = event.subscription_id();
        }
        // A paid checkout means an active subscription, unless a
        // subscription event (the authority on status) has already spoken.
        let paid = event.object.get("payment_status").and_then(|v| v.as_str()) == Some("paid");
        if paid && self.status.is_none() {
            self.status = Some("active".into());
        }
        true
    }

    fn apply_subscription(&mut self, event: &StripeEvent, version: Version) -> bool {
        if version <= self.state_version {
            return false;
        }
        let facts = subscription_facts(&event.object);
        self.state_version = version;
        self.stripe_subscription_id = event
            .subscription_id()
            .or(self.stripe_subscription_id.take());
        if let Some(customer) = event.customer_id() {
            self.stripe_customer_id = Some(customer);
        }
        self.status = Some(if event.kind == EventKind::SubscriptionDeleted {
            "canceled".into()
        } else {
            facts.status
        });
        self.plan = facts.plan.or(self.plan.take());
        self.seats = facts.seats;
        self.current_period_end = facts
            .current_period_end
            .and_then(at)
            .or(self.current_period_end);
        self.cancel_at_period_end = facts.cancel_at_period_end;
        true
    }

    fn apply_invoice(&mut self, event: &StripeEvent, version: Version, grace: Duration) -> bool {
        let when = at(event.created);
        // The latest payment date is kept whatever order payments arrive in.
        let mut changed = false;
        if event.kind == EventKind::InvoicePaid && when > self.last_paid_at {
            self.last_paid_at = when;
            changed = true;
        }
        if version <= self.payment_version {
            return changed;
        }
        self.payment_version = version;
        match event.kind {
            EventKind::InvoicePaid => {
                self.payment_failed_at = None;
                self.grace_until = None;
                self.restore();
            }
            _ => {
                if self.payment_failed_at.is_none() {
                    self.payment_failed_at = when;
                    self.grace_until = when.map(|w| w + grace);
                }
            }
        }
        true
    }

    fn restore(&mut self) {
        self.suspended = false;
        self.suspended_at = None;
    }

    /// The daily dunning rule: suspend once the grace period after a failed
    /// payment is over; restore a suspended tenant that has paid since.
    pub fn dunning(&mut self, now: OffsetDateTime) -> Option<DunningAction> {
        match (self.suspended, self.grace_until) {
            (false, Some(until)) if now > until => {
                self.suspended = true;
                self.suspended_at = Some(now);
                Some(DunningAction::Suspended)
            }
            (true, None) => {
                self.restore();
                Some(DunningAction::Restored)
            }
            _ => None,
        }
    }

    pub fn entitlement(&self, now: OffsetDateTime) -> Entitlement {
        let (active, reason) = if self.suspended {
            (false, "suspended after a failed payment")
        } else {
            match self.status.as_deref() {
                Some("active") => (true, "active"),
                Some("trialing") => (true, "trialing"),
                Some("past_due") => match self.grace_until {
                    Some(until) if now > until => (false, "payment overdue past the grace period"),
                    _ => (true, "payment overdue, within the grace period"),
                },
                Some("canceled") => (false, "subscription canceled"),
                Some("unpaid") => (false, "subscription unpaid"),
                Some("paused") => (false, "subscription paused"),
                Some(_) => (false, "subscription not started"),
                None => (false, "no subscription"),
            }
        };
        Entitlement {
            active,
            reason,
            plan: self.plan.clone(),
            seats: if active { self.seats } else { 0 },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DunningAction {
    Suspended,
    Restored,
}

/// What a tenant may do, for every feature that checks before it works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entitlement {
    pub active: bool,
    pub reason: &'static str,
    pub plan: Option<String>,
    pub seats: u32,
}

impl Entitlement {
    pub fn none() -> Self {
        Entitlement {
            active: false,
            reason: "no subscription",
            plan: None,
            seats: 0,
        }
    }

    /// Whether one more seat fits when `used` are taken.
    pub fn has_seat_for(&self, used: u32) -> bool {
        self.active && used < self.seats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::event::{Parsed, parse};
    use serde_json::{Value, json};

    fn ev(id: &str, ty: &str, created: i64, object: Value) -> StripeEvent {
        let body = json!({"id": id, "object": "event", "type": ty, "created": created, "data": {"object": object}});
        match parse(&serde_json::to_vec(&body).unwrap()).unwrap() {
            Parsed::Handled(e) => e,
            Parsed::Ignored { .. } => panic!("{ty} is handled"),
        }
    }

    fn sub_event(id: &str, ty: &str, created: i64, status: &str, seats: u64) -> StripeEvent {
        ev(
            id,
            ty,
            created,
            json!({"id": "sub_1", "customer": "cus_1", "status": status, "current_period_end": 5000,
            "items": {"data": [{"quantity": seats, "price": {"id": "price_1", "lookup_key": "business"}}]}}),
        )
    }

    const GRACE: Duration = Duration::days(7);

    fn history() -> Vec<StripeEvent> {
        vec![
            ev(
                "evt_1",
                "checkout.session.completed",
                100,
                json!({"customer": "cus_1", "subscription": "sub_1", "payment_status": "paid"}),
            ),
            sub_event(
                "evt_2",
                "customer.subscription.created",
                100,
                "incomplete",
                10,
            ),
            sub_event("evt_3", "customer.subscription.updated", 100, "active", 10),
            ev(
                "evt_4",
                "invoice.paid",
                101,
                json!({"id": "in_1", "customer": "cus_1", "subscription": "sub_1"}),
            ),
            sub_event("evt_5", "customer.subscription.updated", 200, "active", 25),
            ev(
                "evt_6",
                "invoice.payment_failed",
                300,
                json!({"id": "in_2", "customer": "cus_1", "subscription": "sub_1"}),
            ),
            sub_event(
                "evt_7",
                "customer.subscription.updated",
                300,
                "past_due",
                25,
            ),
        ]
    }

    fn replay(events: &[StripeEvent]) -> Subscription {
        let mut s = Subscription::default();
        for e in events {
            s.apply(e, GRACE);
        }
        s.applied_events.clear();
        s
    }

    #[test]
    fn every_order_of_the_same_events_ends_in_the_same_state() {
        let events = history();
        let expected = replay(&events);
        assert_eq!(expected.status.as_deref(), Some("past_due"));
        assert_eq!(expected.seats, 25);
        assert_eq!(expected.payment_failed_at.unwrap().unix_timestamp(), 300);
        // A deterministic walk over many permutations (all rotations of
        // several shuffles, and the reverse).
        let mut orders = vec![events.iter().rev().cloned().collect::<Vec<_>>()];
        for seed in 0..40u64 {
            let mut v = events.clone();
            let mut x = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            for i in (1..v.len()).rev() {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v.swap(i, (x >> 33) as usize % (i + 1));
            }
            orders.push(v);
        }
        for order in orders {
            assert_eq!(
                replay(&order),
                expected,
                "order: {:?}",
                order.iter().map(|e| &e.id).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn a_replayed_event_changes_nothing() {
        let mut s = Subscription::default();
        let e = sub_event("evt_9", "customer.subscription.updated", 10, "active", 5);
        assert_eq!(s.apply(&e, GRACE), Applied::Changed);
        let before = s.clone();
        assert_eq!(s.apply(&e, GRACE), Applied::Duplicate);
        assert_eq!(s, before);
        let older = sub_event("evt_8", "customer.subscription.updated", 9, "canceled", 1);
        assert_eq!(s.apply(&older, GRACE), Applied::Stale);
        assert_eq!((s.status.as_deref(), s.seats), (Some("active"), 5));
    }

    #[test]
    fn deleted_wins_over_an_update_of_the_same_second() {
        let mut s = Subscription::default();
        s.apply(
            &sub_event("evt_b", "customer.subscription.deleted", 50, "canceled", 5),
            GRACE,
        );
        s.apply(
            &sub_event("evt_a", "customer.subscription.updated", 50, "active", 5),
            GRACE,
        );
        assert_eq!(s.status.as_deref(), Some("canceled"));
    }

    #[test]
    fn dunning_suspends_after_grace_and_restores_after_payment() {
        let mut s = replay(&history());
        let failed = OffsetDateTime::from_unix_timestamp(300).unwrap();
        assert_eq!(s.dunning(failed + Duration::days(6)), None);
        assert!(s.entitlement(failed + Duration::days(6)).active);
        assert_eq!(
            s.dunning(failed + Duration::days(8)),
            Some(DunningAction::Suspended)
        );
        assert_eq!(s.dunning(failed + Duration::days(9)), None);
        let e = s.entitlement(failed + Duration::days(8));
        assert!(!e.active && !e.has_seat_for(0));
        s.apply(
            &ev(
                "evt_p",
                "invoice.paid",
                400_000_000,
                json!({"id": "in_3", "customer": "cus_1"}),
            ),
            GRACE,
        );
        assert!(!s.suspended, "a payment restores at once");
        assert_eq!(s.dunning(failed + Duration::days(10)), None);
        // A suspension left behind with no failure pending is lifted by dunning.
        s.suspended = true;
        assert_eq!(
            s.dunning(failed + Duration::days(10)),
            Some(DunningAction::Restored)
        );
    }

    #[test]
    fn only_the_current_subscription_moves_the_state() {
        let mut s = Subscription::default();
        assert_eq!(s.admit(Some("sub_1"), false), Admission::Adopt);
        s.follow("sub_1");
        s.apply(
            &sub_event("evt_1", "customer.subscription.updated", 10, "active", 5),
            GRACE,
        );
        assert_eq!(s.admit(Some("sub_1"), false), Admission::Current);
        assert_eq!(s.admit(None, false), Admission::Current);
        assert_eq!(s.admit(Some("sub_2"), false), Admission::NotCurrent);
        assert_eq!(s.admit(Some("sub_2"), true), Admission::Replace);
        // Replaced, the new subscription's facts start afresh: an event of
        // it older than the last one of sub_1 still applies.
        s.follow("sub_2");
        assert_eq!(
            (s.status.as_deref(), s.state_version),
            (None, Version::default())
        );
        assert_eq!(s.admit(Some("sub_1"), false), Admission::NotCurrent);
        // Once the current one has ended, a bound customer's next one is adopted.
        s.status = Some("canceled".into());
        assert_eq!(s.admit(Some("sub_3"), false), Admission::Adopt);
    }

    #[test]
    fn entitlements_follow_status_and_seats() {
        let now = OffsetDateTime::from_unix_timestamp(1000).unwrap();
        let mut s = Subscription {
            status: Some("active".into()),
            seats: 3,
            ..Default::default()
        };
        assert!(s.entitlement(now).has_seat_for(2));
        assert!(!s.entitlement(now).has_seat_for(3));
        for (status, active) in [
            ("trialing", true),
            ("canceled", false),
            ("unpaid", false),
            ("incomplete", false),
            ("paused", false),
        ] {
            s.status = Some(status.into());
            assert_eq!(s.entitlement(now).active, active, "{status}");
        }
        assert!(!Subscription::default().entitlement(now).active);
    }
}
