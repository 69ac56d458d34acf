//! Billing: Stripe subscriptions turned into per-tenant entitlements.
//!
//! The webhook function verifies and enqueues; [`Billing::process`] applies
//! each event to the tenant's `subscription` document exactly once, in any
//! order; [`Billing::run_dunning`] suspends and restores tenants daily;
//! [`Billing::entitlement`] is what every other feature asks before working.

pub mod event;
pub mod signature;
pub mod subscription;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Duration;

use crate::governance::audit::{self, AuditEntry};
use crate::governance::tenants::Tenants;
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::{self, Container, Document, Documents, Query, Scope};
use crate::platform::{PlatformError, PlatformResult};
use event::StripeEvent;
use futures::TryStreamExt;
use subscription::{Applied, DunningAction, Entitlement, Subscription};

const SUBSCRIPTION_ID: &str = "subscription";
const SUBSCRIPTION_TYPE: &str = "subscription";
const CUSTOMER_MAP_TYPE: &str = "stripeCustomer";
/// How long processed and dropped event records are kept (Stripe retries
/// for up to 3 days).
const EVENT_RECORD_TTL_SECS: u32 = 30 * 24 * 3600;
/// Seats of a SalesTim trial (a trial is for trying, by a few people).
const TRIAL_SEATS: u32 = 10;
/// Optimistic-concurrency retries when two events for one tenant race.
const MAX_WRITE_ATTEMPTS: usize = 8;

fn billing_partition() -> TenantId {
    TenantId::system("billing")
}

#[derive(Clone)]
pub struct Billing {
    docs: Arc<dyn Documents>,
    tenants: Tenants,
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
    /// No known tenant: recorded in the billing partition and dropped.
    UnknownTenant,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DunningReport {
    pub checked: usize,
    pub suspended: Vec<TenantId>,
    pub restored: Vec<TenantId>,
    /// Tenants whose update failed; the next run retries them.
    pub failed: Vec<TenantId>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerMapping {
    tenant: TenantId,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventRecord<'a> {
    event_type: &'a str,
    created: i64,
    outcome: &'a str,
}

impl Billing {
    pub fn new(
        docs: Arc<dyn Documents>,
        tenants: Tenants,
        clock: Arc<dyn Clock>,
        grace_days: u32,
    ) -> Self {
        Billing {
            docs,
            tenants,
            clock,
            grace: Duration::days(grace_days.into()),
        }
    }

    /// Applies one verified Stripe event to its tenant's subscription.
    pub async fn process(&self, event: &StripeEvent) -> PlatformResult<EventOutcome> {
        let Some(tenant) = self.resolve_tenant(event).await? else {
            tracing::warn!(event_id = %event.id, event_type = %event.type_name, customer = ?event.customer_id(), "stripe event for no known tenant: recorded and dropped");
            self.record_event(&billing_partition(), event, "unknown-tenant")
                .await?;
            return Ok(EventOutcome::UnknownTenant);
        };
        tracing::Span::current().record("tenant_id", tenant.as_str());
        let (applied, before, after) = self.apply_with_retry(&tenant, event).await?;
        if applied == Applied::Duplicate {
            tracing::info!(event_id = %event.id, "stripe event already applied; nothing changed");
            return Ok(EventOutcome::Applied { tenant, applied });
        }
        let outcome = if applied == Applied::Changed {
            "applied"
        } else {
            "stale"
        };
        self.record_event(&tenant, event, outcome).await?;
        if before.status != after.status || before.suspended != after.suspended {
            let entry = AuditEntry {
                at: self.clock.now(),
                actor: "system:billing".into(),
                action: "billing.subscription.changed".into(),
                details: json!({"eventId": event.id, "from": before.status, "to": after.status, "suspended": after.suspended, "plan": after.plan, "seats": after.seats}),
            };
            audit::record(self.docs.as_ref(), &tenant, &entry).await?;
        }
        tracing::info!(event_id = %event.id, event_type = %event.type_name, outcome, status = ?after.status, "stripe event processed");
        Ok(EventOutcome::Applied { tenant, applied })
    }

    /// The tenant named in the signed event, else the one its Stripe customer
    /// was mapped to at checkout; only tenants the platform knows count.
    async fn resolve_tenant(&self, event: &StripeEvent) -> PlatformResult<Option<TenantId>> {
        let customer = event.customer_id();
        let tenant = match event.tenant_hint() {
            Some(t) => Some(t),
            None => match &customer {
                Some(c) => self.customer_tenant(c).await?,
                None => None,
            },
        };
        let Some(tenant) = tenant else {
            return Ok(None);
        };
        if !self.tenants.exists(&tenant).await? {
            return Ok(None);
        }
        if let (Some(c), Some(_)) = (&customer, event.tenant_hint()) {
            let doc = Document::new(
                &billing_partition(),
                CUSTOMER_MAP_TYPE,
                format!("customer-{c}"),
                &CustomerMapping {
                    tenant: tenant.clone(),
                },
            )?;
            self.docs.upsert(Container::Tenants, &doc).await?;
        }
        Ok(Some(tenant))
    }

    async fn customer_tenant(&self, customer: &str) -> PlatformResult<Option<TenantId>> {
        match self
            .docs
            .get(
                Container::Tenants,
                &billing_partition(),
                &format!("customer-{customer}"),
            )
            .await?
        {
            Some(doc) => Ok(Some(doc.parse::<CustomerMapping>()?.tenant)),
            None => Ok(None),
        }
    }

    async fn apply_with_retry(
        &self,
        tenant: &TenantId,
        event: &StripeEvent,
    ) -> PlatformResult<(Applied, Subscription, Subscription)> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self
                .docs
                .get(Container::Tenants, tenant, SUBSCRIPTION_ID)
                .await?;
            let before: Subscription = match &current {
                Some(doc) => doc.parse()?,
                None => Subscription::default(),
            };
            let mut after = before.clone();
            let applied = after.apply(event, self.grace);
            if applied == Applied::Duplicate {
                return Ok((applied, before, after));
            }
            let doc = Document::new(tenant, SUBSCRIPTION_TYPE, SUBSCRIPTION_ID, &after)?;
            let written = match current.as_ref().and_then(|d| d.etag.as_ref()) {
                Some(etag) => self.docs.replace(Container::Tenants, &doc, etag).await,
                None => self.docs.create(Container::Tenants, &doc).await,
            };
            match written {
                Ok(_) => return Ok((applied, before, after)),
                Err(PlatformError::PreconditionFailed | PlatformError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(PlatformError::Unavailable {
            service: "documents",
            message: format!(
                "subscription of {tenant} kept changing under event {}",
                event.id
            ),
        })
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

    /// What the tenant may do now: what its subscription allows; without
    /// one (none started yet), what a SalesTim trial an operator gave it
    /// allows until it ends. A subscription, once started, always decides:
    /// a canceled one never falls back to the trial.
    pub async fn entitlement(&self, tenant: &TenantId) -> PlatformResult<Entitlement> {
        let now = self.clock.now();
        if let Some(s) = self.subscription(tenant).await?
            && s.status.is_some()
        {
            return Ok(s.entitlement(now));
        }
        let trial_until = self.tenants.get(tenant).await?.and_then(|t| t.trial_until);
        Ok(match trial_until {
            Some(until) if now < until => Entitlement {
                active: true,
                reason: "trialing (SalesTim trial)",
                plan: None,
                seats: TRIAL_SEATS,
            },
            Some(_) => Entitlement {
                reason: "SalesTim trial ended",
                ..Entitlement::none()
            },
            None => Entitlement::none(),
        })
    }

    /// The daily dunning run over every tenant's subscription.
    pub async fn run_dunning(&self) -> PlatformResult<DunningReport> {
        let now = self.clock.now();
        let query = Query::of_type(SUBSCRIPTION_TYPE);
        let mut docs = std::pin::pin!(documents::stream(
            self.docs.as_ref(),
            Container::Tenants,
            Scope::AllTenants,
            query,
        ));
        let mut report = DunningReport::default();
        while let Some(doc) = docs.try_next().await? {
            report.checked += 1;
            let tenant = doc.tenant_id.clone();
            let mut sub: Subscription = doc.parse()?;
            let Some(action) = sub.dunning(now) else {
                continue;
            };
            let Some(etag) = doc.etag.as_ref() else {
                continue;
            };
            let updated = Document::new(&tenant, SUBSCRIPTION_TYPE, SUBSCRIPTION_ID, &sub)?;
            // A concurrent event write wins; the next run looks again.
            if let Err(e) = self.docs.replace(Container::Tenants, &updated, etag).await {
                tracing::warn!(tenant_id = %tenant, error = %e, "dunning update failed; retried next run");
                report.failed.push(tenant);
                continue;
            }
            let action_name = match action {
                DunningAction::Suspended => "billing.tenant.suspended",
                DunningAction::Restored => "billing.tenant.restored",
            };
            let entry = AuditEntry {
                at: now,
                actor: "system:billing-dunning".into(),
                action: action_name.into(),
                details: json!({"graceUntil": sub.grace_until.map(|g| g.unix_timestamp())}),
            };
            audit::record(self.docs.as_ref(), &tenant, &entry).await?;
            tracing::info!(tenant_id = %tenant, action = action_name, "dunning");
            match action {
                DunningAction::Suspended => report.suspended.push(tenant),
                DunningAction::Restored => report.restored.push(tenant),
            }
        }
        Ok(report)
    }
}
