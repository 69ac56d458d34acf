//! Tenant gating: an unknown tenant, or one whose subscription is not
//! active, gets a notice (with a link to the administration page) and no work.
//!
//! The answer is kept in the shared cache for [`GATE_TTL`]: every activity
//! needs it, and it changes rarely. Applying a billing event forgets it at
//! once; other changes (dunning, a tenant added) show within the TTL.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::error::AppError;
use crate::ids::TenantId;

/// Why a tenant cannot use the product now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Closed {
    pub title: String,
    pub text: String,
}

impl Closed {
    /// The notice card, with the admin link when the deployment has one.
    pub fn card(&self, app: &App) -> serde_json::Value {
        let admin = app.links.admin();
        crate::teams::cards::notice_with_link(
            &self.title,
            &self.text,
            admin
                .as_ref()
                .map(|url| ("Open SalesTim administration", url)),
        )
    }
}

pub const GATE_TTL: Duration = Duration::from_secs(60);

fn cache_key(tenant: &TenantId) -> String {
    format!("gate:v1:{tenant}")
}

/// `Some` when the tenant may not use the product now.
pub async fn closed(app: &App, tenant: &TenantId) -> Result<Option<Closed>, AppError> {
    let key = cache_key(tenant);
    if let Ok(Some(bytes)) = app.cache.get(&key).await
        && let Ok(answer) = serde_json::from_slice::<Option<Closed>>(&bytes)
    {
        return Ok(answer);
    }
    let answer = decide(app, tenant).await?;
    match serde_json::to_vec(&answer) {
        Ok(bytes) => {
            if let Err(e) = app.cache.set(&key, &bytes, GATE_TTL).await {
                tracing::warn!(error = %e, "could not cache the tenant's gate");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not encode the tenant's gate"),
    }
    Ok(answer)
}

/// Forgets the cached answer (the tenant's subscription just changed).
pub async fn forget(app: &App, tenant: &TenantId) {
    if let Err(e) = app.cache.delete(&cache_key(tenant)).await {
        tracing::warn!(error = %e, "could not forget the tenant's cached gate; it expires within {GATE_TTL:?}");
    }
}

async fn decide(app: &App, tenant: &TenantId) -> Result<Option<Closed>, AppError> {
    if !app.tenants.exists(tenant).await? {
        return Ok(Some(Closed {
            title: "SalesTim is not set up for your organisation".into(),
            text: "Ask your Microsoft 365 administrator to sign up for SalesTim.".into(),
        }));
    }
    let entitlement = app.billing.entitlement(tenant).await?;
    if !entitlement.active {
        return Ok(Some(Closed {
            title: "SalesTim is paused for your organisation".into(),
            text: format!(
                "The subscription is not active ({}). Your SalesTim administrator can restore it.",
                entitlement.reason
            ),
        }));
    }
    Ok(None)
}
