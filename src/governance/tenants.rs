//! Tenants: the customer organisations (Entra ID tenants) the platform
//! serves. One `tenant` document per tenant in its own partition of the
//! `tenants` container; a tenant without one is unknown, and nothing is done
//! for it.

use std::sync::Arc;

use futures::{Stream, TryStreamExt};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::naming::NamingPolicy;
use super::people::Person;
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{self, Container, Document, Documents, Query, Scope};
use crate::platform::{PlatformError, PlatformResult};

pub const TENANT_DOC_ID: &str = "tenant";
const TENANT_TYPE: &str = "tenant";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub display_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default)]
    pub onboarding: Onboarding,
    #[serde(default)]
    pub settings: TenantSettings,
    /// A SalesTim trial (given by an operator, not by Stripe): until then a
    /// tenant without a subscription may use the product.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub trial_until: Option<OffsetDateTime>,
}

/// The longest trial an operator can give, in days.
pub const MAX_TRIAL_DAYS: u32 = 365;

/// How far the tenant has come in letting the platform act in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Onboarding {
    /// A tenant admin granted the platform's app its Graph permissions
    /// (admin consent); without it nothing is provisioned.
    #[serde(default)]
    pub admin_consent: bool,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub consented_at: Option<OffsetDateTime>,
    /// Which app registration acts in the tenant. Only the platform's own
    /// multi-tenant app (`GRAPH_CLIENT_ID`) exists today.
    #[serde(default = "platform_app")]
    pub credentials: String,
}

fn platform_app() -> String {
    "platform".to_owned()
}

/// The tenant's governance policies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantSettings {
    /// Applies to every team (mirrors the tenant's Entra group naming
    /// policy, so Graph never refuses a name the product accepted).
    #[serde(default)]
    pub naming: NamingPolicy,
    /// A request waiting this long for its approvers gets one reminder.
    #[serde(default = "reminder_hours")]
    pub reminder_after_hours: u32,
    /// Then, this long after it began waiting, it is escalated once to
    /// `escalate_to` (added as an approver of the waiting stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<Person>,
    /// Expiry for teams whose template names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expiry_days: Option<u32>,
}

fn reminder_hours() -> u32 {
    48
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            naming: NamingPolicy::default(),
            reminder_after_hours: reminder_hours(),
            escalate_after_hours: None,
            escalate_to: None,
            default_expiry_days: None,
        }
    }
}

impl TenantSettings {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.naming.problems();
        if self
            .naming
            .uses(crate::governance::naming::Attribute::CrmRecord)
        {
            // The tenant's policy names every team; most have no record.
            problems.push(
                "[CrmRecord] belongs in the naming policy of a template made for CRM records, not the organisation's."
                    .to_owned(),
            );
        }
        if self.reminder_after_hours == 0 {
            problems.push("The reminder period is at least 1 hour.".to_owned());
        }
        match (self.escalate_after_hours, &self.escalate_to) {
            (Some(h), Some(_)) if h <= self.reminder_after_hours => problems
                .push("Escalation comes after the reminder (more hours than it).".to_owned()),
            (Some(_), None) => problems.push("Escalation needs someone to escalate to.".to_owned()),
            (None, Some(_)) => {
                problems.push("Escalation needs the hours after which it happens.".to_owned())
            }
            _ => {}
        }
        if let Some(p) = &self.escalate_to
            && uuid::Uuid::parse_str(&p.aad_object_id).is_err()
        {
            problems.push(format!(
                "\"{}\" is not an Entra object id.",
                p.aad_object_id
            ));
        }
        if self.default_expiry_days == Some(0) {
            problems.push("Expiry is at least 1 day (or none).".to_owned());
        }
        problems
    }
}

#[derive(Clone)]
pub struct Tenants {
    docs: Arc<dyn Documents>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant {0} already exists")]
    Exists(TenantId),
    #[error("a tenant needs a display name of 1 to 256 characters")]
    BadName,
    #[error("a trial lasts 1 to {MAX_TRIAL_DAYS} days")]
    BadTrial,
    #[error("tenant {0} is not registered")]
    Unknown(TenantId),
    #[error("the settings are not valid: {}", .0.join(" "))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl Tenants {
    pub fn new(docs: Arc<dyn Documents>, clock: Arc<dyn Clock>) -> Self {
        Tenants { docs, clock }
    }

    pub async fn get(&self, id: &TenantId) -> PlatformResult<Option<Tenant>> {
        match self.docs.get(Container::Tenants, id, TENANT_DOC_ID).await? {
            Some(doc) => doc.parse().map(Some),
            None => Ok(None),
        }
    }

    pub async fn exists(&self, id: &TenantId) -> PlatformResult<bool> {
        Ok(self.get(id).await?.is_some())
    }

    pub async fn add(&self, id: &TenantId, display_name: &str) -> Result<Tenant, TenantError> {
        self.add_with_trial(id, display_name, None).await
    }

    /// Registers a tenant, on a SalesTim trial of `trial_days` from now when
    /// given (in the same write: a tenant never exists half set up).
    pub async fn add_with_trial(
        &self,
        id: &TenantId,
        display_name: &str,
        trial_days: Option<u32>,
    ) -> Result<Tenant, TenantError> {
        let display_name = display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > 256 {
            return Err(TenantError::BadName);
        }
        let now = self.clock.now();
        let trial_until = match trial_days {
            None => None,
            Some(days @ 1..=MAX_TRIAL_DAYS) => Some(now + time::Duration::days(days.into())),
            Some(_) => return Err(TenantError::BadTrial),
        };
        let tenant = Tenant {
            display_name: display_name.to_owned(),
            created_at: now,
            onboarding: Onboarding::default(),
            settings: TenantSettings::default(),
            trial_until,
        };
        let doc = Document::new(id, TENANT_TYPE, TENANT_DOC_ID, &tenant)?;
        match self.docs.create(Container::Tenants, &doc).await {
            Ok(_) => Ok(tenant),
            Err(PlatformError::Conflict) => Err(TenantError::Exists(id.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes a tenant under its ETag (the documents layer's one
    /// concurrency loop: `change` sees the current tenant each time).
    pub async fn update(
        &self,
        id: &TenantId,
        change: impl Fn(&mut Tenant, OffsetDateTime) -> Result<(), TenantError>,
    ) -> Result<Tenant, TenantError> {
        let mut changed = None;
        update(
            self.docs.as_ref(),
            Container::Tenants,
            id,
            TENANT_DOC_ID,
            |doc| {
                let Some(doc) = doc else {
                    return Err(TenantError::Unknown(id.clone()));
                };
                let mut tenant: Tenant = doc.parse()?;
                change(&mut tenant, self.clock.now())?;
                if tenant.display_name.trim().is_empty()
                    || tenant.display_name.chars().count() > 256
                {
                    return Err(TenantError::BadName);
                }
                let problems = tenant.settings.problems();
                if !problems.is_empty() {
                    return Err(TenantError::Invalid(problems));
                }
                let next = Document::new(id, TENANT_TYPE, TENANT_DOC_ID, &tenant)?;
                changed = Some(tenant);
                Ok(Decision::Write(next))
            },
        )
        .await?;
        Ok(changed.expect("a written update decided on the tenant"))
    }

    /// Every tenant's id, page by page (cross-partition), without reading
    /// the tenants themselves: what the timers fan out over, so that one
    /// tenant whose document cannot be read is that tenant's trouble alone.
    pub fn ids(&self) -> impl Stream<Item = PlatformResult<TenantId>> + Send + '_ {
        documents::stream(
            self.docs.as_ref(),
            Container::Tenants,
            Scope::AllTenants,
            Query::of_type(TENANT_TYPE),
        )
        .map_ok(|d| d.tenant_id)
    }

    /// The ids of the tenants whose admin granted consent (the platform may
    /// act in them), page by page (cross-partition): what the governance
    /// sweep fans out over.
    pub fn onboarded_ids(&self) -> impl Stream<Item = PlatformResult<TenantId>> + Send + '_ {
        documents::stream(
            self.docs.as_ref(),
            Container::Tenants,
            Scope::AllTenants,
            Query::of_type(TENANT_TYPE).with("onboarding.adminConsent", true),
        )
        .map_ok(|d| d.tenant_id)
    }

    /// Every tenant, page by page (cross-partition): for operators and the
    /// timers that walk all tenants. Memory holds one page however many
    /// tenants there are.
    pub fn all(&self) -> impl Stream<Item = PlatformResult<(TenantId, Tenant)>> + Send + '_ {
        documents::stream(
            self.docs.as_ref(),
            Container::Tenants,
            Scope::AllTenants,
            Query::of_type(TENANT_TYPE),
        )
        .and_then(|d| async move { Ok::<_, PlatformError>((d.tenant_id.clone(), d.parse()?)) })
    }
}
