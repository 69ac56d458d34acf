//! Billing: Stripe subscriptions turned into per-tenant entitlements.
//!
//! The webhook function verifies and enqueues; [`Billing::process`] applies
//! each event to the `subscription` document of the tenant its customer is
//! bound to ([`binding`]: only by a checkout SalesTim created, or by an
//! operator), exactly once, in any order, and only while it is about the
//! tenant's current subscription; events of a customer bound to no tenant
//! wait whole ([`pending`]) and are applied as soon as it is bound.
//! [`Billing::dun`] suspends and restores a tenant (daily, one tenant a
//! message: [`dunning`]);
//! [`Billing::entitlement`] and [`Billing::access`] ([`entitlement`]) are
//! what every other feature asks before working.

pub mod binding;
pub mod checkout;
pub mod dunning;
pub mod entitlement;
pub mod event;
pub mod pending;
pub mod signature;
pub mod subscription;

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use time::Duration;

use crate::governance::audit::{self, AuditEntry};
use crate::governance::tenants::Tenants;
use crate::ids::TenantId;
use crate::platform::cache::Cache;
use crate::platform::clock::Clock;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{Container, Document, Documents};
use crate::platform::{PlatformError, PlatformResult};
use binding::{BindError, Bound, BoundBy, CheckoutRecord, CustomerId, billing_partition};
use checkout::{NewCheckout, StripeApi, StripeApiError};
use event::{EventKind, StripeEvent};
use pending::Kept;
use subscription::{Admission, Applied, Entitlement, Subscription};

const SUBSCRIPTION_ID: &str = "subscription";
const SUBSCRIPTION_TYPE: &str = "subscription";
/// How long processed and dropped event records are kept (Stripe retries
/// for up to 3 days).
const EVENT_RECORD_TTL_SECS: u32 = 30 * 24 * 3600;
/// The most seats one checkout sells.
pub const MAX_SEATS: u32 = 100_000;

#[derive(Clone)]
pub struct Billing {
    docs: Arc<dyn Documents>,
    tenants: Tenants,
    /// Where each tenant's [`entitlement::Access`] is kept a short while.
    cache: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
    grace: Duration,
}

/// What happened to one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    Applied {
        tenant: TenantId,
        applied: Applied,
    },
    /// About a subscription of the tenant's customer that is not its current
    /// one: audited and kept (a checkout of ours may still make it current).
    NotCurrent {
        tenant: TenantId,
    },
    /// The customer is bound to no tenant yet: the event waits for a binding.
    Waiting {
        kept: bool,
    },
    /// A checkout of ours for `tenant` paid by a customer bound to another
    /// tenant: refused, logged and audited.
    BindingRefused {
        tenant: TenantId,
        owner: TenantId,
    },
    /// No customer, or a tenant that is gone: recorded and dropped.
    Dropped,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventRecord<'a> {
    event_type: &'a str,
    created: i64,
    outcome: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    #[error("no tenant {0}; add it with `handler tenant add`")]
    UnknownTenant(TenantId),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Stripe(#[from] StripeApiError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl From<BindError> for BillingError {
    fn from(e: BindError) -> Self {
        match e {
            BindError::Platform(e) => BillingError::Platform(e),
            e @ BindError::OtherTenant { .. } => BillingError::Refused(e.to_string()),
        }
    }
}

/// What `handler billing bind` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindReport {
    pub already: bool,
    /// Events that waited for this customer and are now applied.
    pub applied: usize,
    pub entitlement: Entitlement,
}

/// A checkout to start for a tenant.
pub struct CheckoutRequest<'a> {
    pub tenant: &'a TenantId,
    pub price: &'a str,
    pub seats: u32,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub actor: &'a str,
}

/// How one event reaches the tenant's document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Just verified and delivered.
    Fresh,
    /// Kept earlier and applied now that its customer or subscription is
    /// known: audited once, when it first came.
    Replayed,
}

impl Billing {
    pub fn new(
        docs: Arc<dyn Documents>,
        tenants: Tenants,
        cache: Arc<dyn Cache>,
        clock: Arc<dyn Clock>,
        grace_days: u32,
    ) -> Self {
        Billing {
            docs,
            tenants,
            cache,
            clock,
            grace: Duration::days(grace_days.into()),
        }
    }

    /// Applies one verified Stripe event (`raw` its verified bytes) to the
    /// tenant its customer is bound to. Nothing in the event names the
    /// tenant: a checkout SalesTim created binds its customer, an operator
    /// binds the others; until then the event waits, whole.
    pub async fn process(&self, event: &StripeEvent, raw: &[u8]) -> PlatformResult<EventOutcome> {
        let ours = match event.kind {
            EventKind::CheckoutCompleted => match event.object.get("id").and_then(|v| v.as_str()) {
                Some(session) => binding::our_checkout(self.docs.as_ref(), session)
                    .await?
                    .map(|record| (session.to_owned(), record)),
                None => None,
            },
            _ => None,
        };
        let Some(customer) = event.customer_id().and_then(|c| CustomerId::parse(&c).ok()) else {
            tracing::warn!(event_id = %event.id, event_type = %event.type_name, "stripe event names no customer: recorded and dropped");
            self.record_event(&billing_partition(), event, "no-customer")
                .await?;
            return Ok(EventOutcome::Dropped);
        };
        let tenant = match &ours {
            Some((session, record)) => {
                match self
                    .bind(
                        &customer,
                        &record.tenant,
                        BoundBy::Checkout {
                            session: session.clone(),
                        },
                        "system:billing",
                    )
                    .await
                {
                    Ok(_) => record.tenant.clone(),
                    Err(BindError::OtherTenant { owner, .. }) => {
                        self.record_event(&billing_partition(), event, "binding-refused")
                            .await?;
                        return Ok(EventOutcome::BindingRefused {
                            tenant: record.tenant.clone(),
                            owner,
                        });
                    }
                    Err(BindError::Platform(e)) => return Err(e),
                }
            }
            None => match binding::customer_binding(self.docs.as_ref(), &customer).await? {
                Some(b) => b.tenant,
                None => return self.wait_for_binding(&customer, event, raw).await,
            },
        };
        tracing::Span::current().record("tenant_id", tenant.as_str());
        let outcome = self
            .apply_to(
                &tenant,
                &customer,
                event,
                raw,
                ours.is_some(),
                Delivery::Fresh,
            )
            .await?;
        if ours.is_some() {
            // Events of the new customer or subscription that came first.
            self.apply_waiting(&tenant, &customer).await?;
        }
        Ok(outcome)
    }

    /// Keeps an event of a customer bound to no tenant. Kept first, then the
    /// binding is read again: a binding made in between (which applied what
    /// it found waiting) cannot miss this event.
    async fn wait_for_binding(
        &self,
        customer: &CustomerId,
        event: &StripeEvent,
        raw: &[u8],
    ) -> PlatformResult<EventOutcome> {
        let kept = pending::keep(self.docs.as_ref(), customer, event, raw).await? == Kept::Kept;
        if let Some(b) = binding::customer_binding(self.docs.as_ref(), customer).await? {
            self.apply_waiting(&b.tenant, customer).await?;
            return self
                .apply_to(&b.tenant, customer, event, raw, false, Delivery::Replayed)
                .await;
        }
        let outcome = if kept { "waiting" } else { "waiting-full" };
        if kept {
            tracing::info!(event_id = %event.id, event_type = %event.type_name, %customer, claimed_tenant = ?event.tenant_hint(), "stripe event for a customer bound to no tenant: kept until a binding (what it claims is no proof)");
        } else {
            tracing::warn!(event_id = %event.id, event_type = %event.type_name, %customer, max = pending::MAX_PER_CUSTOMER, "stripe event for a customer bound to no tenant, who has too many waiting: dropped (Stripe can resend it)");
        }
        self.record_event(&billing_partition(), event, outcome)
            .await?;
        Ok(EventOutcome::Waiting { kept })
    }

    /// Applies, in Stripe's order, the events kept for `customer`; those
    /// still about a subscription that is not current stay kept.
    async fn apply_waiting(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
    ) -> PlatformResult<usize> {
        let mut applied = 0;
        for w in pending::waiting(self.docs.as_ref(), customer).await? {
            let outcome = self
                .apply_to(
                    tenant,
                    customer,
                    &w.event,
                    &w.raw,
                    false,
                    Delivery::Replayed,
                )
                .await?;
            if !matches!(outcome, EventOutcome::NotCurrent { .. }) {
                pending::forget(self.docs.as_ref(), &w.event.id).await?;
                applied += 1;
            }
        }
        Ok(applied)
    }

    /// Binds `customer` to `tenant` once; a binding to another tenant is
    /// refused, logged and audited (in both tenants' trails).
    async fn bind(
        &self,
        customer: &CustomerId,
        tenant: &TenantId,
        by: BoundBy,
        actor: &str,
    ) -> Result<Bound, BindError> {
        let now = self.clock.now();
        match binding::bind(self.docs.as_ref(), customer, tenant, by.clone(), now).await {
            Ok(bound) => {
                if bound == Bound::New {
                    tracing::info!(%customer, tenant_id = %tenant, ?by, "stripe customer bound");
                    let entry = AuditEntry {
                        at: now,
                        actor: actor.to_owned(),
                        action: "billing.customer.bound".into(),
                        details: json!({"customer": customer, "by": by}),
                    };
                    audit::record(self.docs.as_ref(), tenant, &entry).await?;
                }
                Ok(bound)
            }
            Err(BindError::OtherTenant { customer, owner }) => {
                tracing::warn!(%customer, tenant_id = %tenant, owner = %owner, ?by, "refused to bind a stripe customer that belongs to another tenant");
                let entry = AuditEntry {
                    at: now,
                    actor: actor.to_owned(),
                    action: "billing.customer.binding_refused".into(),
                    details: json!({"customer": customer, "requestedTenant": tenant, "owner": owner, "by": by}),
                };
                audit::record(self.docs.as_ref(), tenant, &entry).await?;
                audit::record(self.docs.as_ref(), &owner, &entry).await?;
                Err(BindError::OtherTenant { customer, owner })
            }
            Err(e) => Err(e),
        }
    }

    /// `handler billing bind`: an operator binds a customer (an invoiced
    /// deal) to a registered tenant, and what waited for it is applied at once.
    pub async fn bind_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
        actor: &str,
    ) -> Result<BindReport, BillingError> {
        if !self.tenants.exists(tenant).await? {
            return Err(BillingError::UnknownTenant(tenant.clone()));
        }
        let by = BoundBy::Operator {
            actor: actor.to_owned(),
        };
        let bound = self.bind(customer, tenant, by, actor).await?;
        let applied = self.apply_waiting(tenant, customer).await?;
        Ok(BindReport {
            already: bound == Bound::Already,
            applied,
            entitlement: self.entitlement(tenant).await?,
        })
    }

    /// `handler billing checkout`: creates a Checkout Session for the tenant
    /// through Stripe's API and records it before anyone sees its URL; its
    /// completion binds whoever pays to this tenant.
    pub async fn start_checkout(
        &self,
        stripe: &StripeApi,
        c: &CheckoutRequest<'_>,
    ) -> Result<checkout::CreatedSession, BillingError> {
        if !self.tenants.exists(c.tenant).await? {
            return Err(BillingError::UnknownTenant(c.tenant.clone()));
        }
        if c.seats == 0 || c.seats > MAX_SEATS {
            return Err(BillingError::Refused(format!(
                "seats must be from 1 to {MAX_SEATS}"
            )));
        }
        let price_ok = c.price.starts_with("price_")
            && c.price.len() <= 200
            && c.price
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !price_ok {
            return Err(BillingError::Refused(format!(
                "{:?} is not a Stripe Price id (price_...)",
                c.price.chars().take(64).collect::<String>()
            )));
        }
        let key = uuid::Uuid::new_v4().to_string();
        let session = stripe
            .create_checkout_session(&NewCheckout {
                tenant: c.tenant,
                price: c.price,
                seats: c.seats,
                success_url: c.success_url,
                cancel_url: c.cancel_url,
                idempotency_key: &key,
            })
            .await?;
        let now = self.clock.now();
        let record = CheckoutRecord {
            tenant: c.tenant.clone(),
            price: c.price.to_owned(),
            seats: c.seats,
            created_at: now,
            actor: c.actor.to_owned(),
        };
        binding::record_checkout(self.docs.as_ref(), &session.id, &record).await?;
        let entry = AuditEntry {
            at: now,
            actor: c.actor.to_owned(),
            action: "billing.checkout.created".into(),
            details: json!({"session": session.id, "price": c.price, "seats": c.seats}),
        };
        audit::record(self.docs.as_ref(), c.tenant, &entry).await?;
        tracing::info!(tenant_id = %c.tenant, session = %session.id, "stripe checkout session created");
        Ok(session)
    }

    /// A Stripe Customer Portal session for the tenant's bound customer,
    /// opened by `actor` (an admin in the admin tab): where invoices, seats
    /// and the payment method are managed. A tenant with no customer bound
    /// yet subscribes first.
    pub async fn open_portal(
        &self,
        stripe: &StripeApi,
        tenant: &TenantId,
        return_url: &str,
        actor: &str,
    ) -> Result<checkout::CreatedSession, BillingError> {
        let customer = self
            .subscription(tenant)
            .await?
            .and_then(|s| s.stripe_customer_id)
            .ok_or_else(|| {
                BillingError::Refused(
                    "no Stripe customer is bound to this tenant yet: subscribe first".into(),
                )
            })?;
        let customer =
            CustomerId::parse(&customer).map_err(|e| BillingError::Refused(e.to_string()))?;
        let key = uuid::Uuid::new_v4().to_string();
        let session = stripe
            .create_portal_session(&customer, return_url, &key)
            .await?;
        tracing::info!(tenant_id = %tenant, actor, session = %session.id, "stripe customer portal session opened");
        Ok(session)
    }

    /// Applies one event to the bound tenant's subscription, under the one
    /// rule of [`Subscription::admit`].
    async fn apply_to(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
        event: &StripeEvent,
        raw: &[u8],
        from_our_checkout: bool,
        delivery: Delivery,
    ) -> PlatformResult<EventOutcome> {
        if !self.tenants.exists(tenant).await? {
            tracing::warn!(event_id = %event.id, tenant_id = %tenant, "stripe event for a tenant that is gone: recorded and dropped");
            self.record_event(&billing_partition(), event, "unknown-tenant")
                .await?;
            return Ok(EventOutcome::Dropped);
        }
        let (admission, applied, before, after) = self
            .apply_with_retry(tenant, event, from_our_checkout)
            .await?;
        if admission == Admission::NotCurrent {
            if delivery == Delivery::Fresh {
                tracing::warn!(event_id = %event.id, event_type = %event.type_name, tenant_id = %tenant,
                    subscription = ?event.subscription_id(), current = ?before.stripe_subscription_id,
                    "stripe event for a subscription that is not the tenant's current one: audited, not applied");
                pending::keep(self.docs.as_ref(), customer, event, raw).await?;
                self.record_event(tenant, event, "not-current").await?;
                let entry = AuditEntry {
                    at: self.clock.now(),
                    actor: "system:billing".into(),
                    action: "billing.subscription.ignored".into(),
                    details: json!({"eventId": event.id, "eventType": event.type_name, "subscription": event.subscription_id(), "current": before.stripe_subscription_id}),
                };
                audit::record(self.docs.as_ref(), tenant, &entry).await?;
            }
            return Ok(EventOutcome::NotCurrent {
                tenant: tenant.clone(),
            });
        }
        if applied == Applied::Duplicate {
            tracing::info!(event_id = %event.id, "stripe event already applied; nothing changed");
            return Ok(EventOutcome::Applied {
                tenant: tenant.clone(),
                applied,
            });
        }
        self.forget_access(tenant).await;
        let outcome = if applied == Applied::Changed {
            "applied"
        } else {
            "stale"
        };
        self.record_event(tenant, event, outcome).await?;
        if admission == Admission::Replace && before.stripe_subscription_id.is_some() {
            let entry = AuditEntry {
                at: self.clock.now(),
                actor: "system:billing".into(),
                action: "billing.subscription.replaced".into(),
                details: json!({"eventId": event.id, "from": before.stripe_subscription_id, "to": after.stripe_subscription_id}),
            };
            audit::record(self.docs.as_ref(), tenant, &entry).await?;
        }
        if before.status != after.status || before.suspended != after.suspended {
            let entry = AuditEntry {
                at: self.clock.now(),
                actor: "system:billing".into(),
                action: "billing.subscription.changed".into(),
                details: json!({"eventId": event.id, "from": before.status, "to": after.status, "suspended": after.suspended, "plan": after.plan, "seats": after.seats}),
            };
            audit::record(self.docs.as_ref(), tenant, &entry).await?;
        }
        tracing::info!(event_id = %event.id, event_type = %event.type_name, tenant_id = %tenant, outcome, status = ?after.status, "stripe event processed");
        Ok(EventOutcome::Applied {
            tenant: tenant.clone(),
            applied,
        })
    }

    async fn apply_with_retry(
        &self,
        tenant: &TenantId,
        event: &StripeEvent,
        from_our_checkout: bool,
    ) -> PlatformResult<(Admission, Applied, Subscription, Subscription)> {
        let mut outcome = None;
        self.update_subscription(tenant, |current| {
            let before = current.unwrap_or_default();
            let subscription = event.subscription_id();
            let admission = before.admit(subscription.as_deref(), from_our_checkout);
            let mut after = before.clone();
            match (admission, &subscription) {
                (Admission::NotCurrent, _) => {
                    outcome = Some((admission, Applied::Stale, before, after));
                    return None;
                }
                (Admission::Adopt | Admission::Replace, Some(s)) => after.follow(s),
                _ => {}
            }
            let applied = after.apply(event, self.grace);
            if applied == Applied::Duplicate {
                outcome = Some((admission, applied, before, after));
                return None;
            }
            outcome = Some((admission, applied, before, after.clone()));
            Some(after)
        })
        .await?;
        Ok(outcome.expect("a decision that did not fail saw the subscription"))
    }

    /// Changes the tenant's subscription through the one concurrency loop:
    /// `decide` sees the current one (`None` before any) and returns what it
    /// becomes, or `None` to leave it as it is; it runs again, against the
    /// version that won, after a lost race.
    async fn update_subscription(
        &self,
        tenant: &TenantId,
        mut decide: impl FnMut(Option<Subscription>) -> Option<Subscription>,
    ) -> PlatformResult<()> {
        update(
            self.docs.as_ref(),
            Container::Tenants,
            tenant,
            SUBSCRIPTION_ID,
            |current| {
                let current = current.map(Document::parse).transpose()?;
                Ok::<_, PlatformError>(match decide(current) {
                    Some(next) => Decision::Write(Document::new(
                        tenant,
                        SUBSCRIPTION_TYPE,
                        SUBSCRIPTION_ID,
                        &next,
                    )?),
                    None => Decision::Keep,
                })
            },
        )
        .await?;
        Ok(())
    }

    async fn record_event(
        &self,
        partition: &TenantId,
        event: &StripeEvent,
        outcome: &str,
    ) -> PlatformResult<()> {
        let record = EventRecord {
            event_type: &event.type_name,
            created: event.created,
            outcome,
        };
        let doc = Document::new(partition, "stripeEvent", event.id.clone(), &record)?
            .with_ttl(EVENT_RECORD_TTL_SECS);
        self.docs.upsert(Container::Events, &doc).await.map(|_| ())
    }

    pub async fn subscription(&self, tenant: &TenantId) -> PlatformResult<Option<Subscription>> {
        match self
            .docs
            .get(Container::Tenants, tenant, SUBSCRIPTION_ID)
            .await?
        {
            Some(doc) => doc.parse().map(Some),
            None => Ok(None),
        }
    }
}
