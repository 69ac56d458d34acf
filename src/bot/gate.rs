//! Tenant gating: a tenant that may not use the product now (billing's
//! [`Access`], cached there) gets a notice, with a link to the
//! administration page, and no work.

use crate::app::App;
use crate::billing::entitlement::Access;
use crate::error::AppError;
use crate::ids::TenantId;

/// Why a tenant cannot use the product now, as the notice says it.
#[derive(Debug, Clone, PartialEq)]
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

/// `Some` when the tenant may not use the product now.
pub async fn closed(app: &App, tenant: &TenantId) -> Result<Option<Closed>, AppError> {
    Ok(match app.billing.access(tenant).await? {
        Access::Open => None,
        Access::NotRegistered => Some(Closed {
            title: "SalesTim is not set up for your organisation".into(),
            text: "Ask your Microsoft 365 administrator to sign up for SalesTim.".into(),
        }),
        Access::Paused { reason } => Some(Closed {
            title: "SalesTim is paused for your organisation".into(),
            text: format!(
                "The subscription is not active ({reason}). Your SalesTim administrator can restore it."
            ),
        }),
    })
}
