//! Whether a tenant may use the product now: what every feature asks
//! before working, the bot on every activity.
//!
//! [`Billing::entitlement`] reads it from the tenant's subscription (or its
//! SalesTim trial). [`Billing::access`] is the question asked on every
//! activity, so its answer is kept in the shared cache for [`ACCESS_TTL`]:
//! it changes rarely, and when billing changes a subscription (an event
//! applied, a dunning suspension or restoration) it forgets the answer at
//! once. Other changes (a tenant added, a trial given) show within the TTL.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Billing;
use super::subscription::Entitlement;
use crate::ids::TenantId;
use crate::platform::PlatformResult;

pub const ACCESS_TTL: Duration = Duration::from_secs(60);
/// Seats of a SalesTim trial (a trial is for trying, by a few people).
const TRIAL_SEATS: u32 = 10;

/// Whether a tenant may use the product now, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "access", rename_all = "camelCase")]
pub enum Access {
    Open,
    /// No tenant by this id has signed up.
    NotRegistered,
    /// Registered, but its subscription (or trial) does not allow it now.
    Paused {
        reason: String,
    },
}

fn cache_key(tenant: &TenantId) -> String {
    format!("access:v1:{tenant}")
}

impl Billing {
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

    /// Whether the tenant may use the product now; cached for [`ACCESS_TTL`].
    /// A cache that fails is only slower: the answer is then read afresh.
    pub async fn access(&self, tenant: &TenantId) -> PlatformResult<Access> {
        let key = cache_key(tenant);
        if let Ok(Some(bytes)) = self.cache.get(&key).await
            && let Ok(answer) = serde_json::from_slice::<Access>(&bytes)
        {
            return Ok(answer);
        }
        let answer = self.decide_access(tenant).await?;
        match serde_json::to_vec(&answer) {
            Ok(bytes) => {
                if let Err(e) = self.cache.set(&key, &bytes, ACCESS_TTL).await {
                    tracing::warn!(error = %e, "could not cache the tenant's access");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not encode the tenant's access"),
        }
        Ok(answer)
    }

    /// Forgets the cached answer: the tenant's subscription just changed.
    pub(super) async fn forget_access(&self, tenant: &TenantId) {
        if let Err(e) = self.cache.delete(&cache_key(tenant)).await {
            tracing::warn!(error = %e, "could not forget the tenant's cached access; it expires within {ACCESS_TTL:?}");
        }
    }

    async fn decide_access(&self, tenant: &TenantId) -> PlatformResult<Access> {
        if !self.tenants.exists(tenant).await? {
            return Ok(Access::NotRegistered);
        }
        let entitlement = self.entitlement(tenant).await?;
        Ok(if entitlement.active {
            Access::Open
        } else {
            Access::Paused {
                reason: entitlement.reason.to_owned(),
            }
        })
    }
}
