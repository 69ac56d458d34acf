//! Which Stripe customer pays for which tenant, and the checkouts SalesTim
//! started.
//!
//! Anyone can open a Stripe Checkout or a Payment Link and choose its
//! `client_reference_id` and metadata, so nothing an event says about a
//! tenant is proof. A customer is bound to a tenant only by SalesTim itself:
//! by a Checkout Session the product created for that tenant (recorded here
//! before its URL is shown to anyone), or by an operator. A binding is
//! created once and never replaced: a customer never moves to another tenant.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::TenantId;
use crate::platform::documents::{Container, Document, Documents};
use crate::platform::{PlatformError, PlatformResult};

const BINDING_TYPE: &str = "stripeBinding";
const CHECKOUT_TYPE: &str = "stripeCheckout";

/// Where bindings and checkout records live: no customer's partition.
pub(crate) fn billing_partition() -> TenantId {
    TenantId::system("billing")
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a Stripe {kind} id: {value:?}")]
pub struct InvalidStripeId {
    kind: &'static str,
    value: String,
}

/// Parses a Stripe object id: its prefix, then letters, digits and `_`.
fn stripe_id(kind: &'static str, prefix: &str, raw: &str) -> Result<String, InvalidStripeId> {
    let raw = raw.trim();
    let ok = raw.len() <= 200
        && raw.len() > prefix.len()
        && raw.starts_with(prefix)
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(InvalidStripeId {
            kind,
            value: raw.chars().take(64).collect(),
        })
    }
}

/// A Stripe customer id (`cus_...`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(raw: &str) -> Result<Self, InvalidStripeId> {
        stripe_id("customer", "cus_", raw).map(CustomerId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CustomerId {
    type Error = InvalidStripeId;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        CustomerId::parse(&raw)
    }
}

impl From<CustomerId> for String {
    fn from(id: CustomerId) -> String {
        id.0
    }
}

impl std::fmt::Display for CustomerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Checkout Session id (`cs_...`).
pub fn checkout_session_id(raw: &str) -> Result<String, InvalidStripeId> {
    stripe_id("Checkout Session", "cs_", raw)
}

/// Who made a binding, kept with it for the audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum BoundBy {
    /// A Checkout Session SalesTim created for the tenant.
    Checkout { session: String },
    /// An operator (`handler billing bind`), for deals invoiced by sales.
    Operator { actor: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerBinding {
    pub tenant: TenantId,
    pub by: BoundBy,
    #[serde(with = "time::serde::rfc3339")]
    pub bound_at: OffsetDateTime,
}

/// What [`bind`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    New,
    /// Bound to the same tenant before: nothing changed.
    Already,
}

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("Stripe customer {customer} belongs to tenant {owner}; a customer never moves")]
    OtherTenant {
        customer: CustomerId,
        owner: TenantId,
    },
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

fn binding_id(customer: &CustomerId) -> String {
    format!("binding-{customer}")
}

pub async fn customer_binding(
    docs: &dyn Documents,
    customer: &CustomerId,
) -> PlatformResult<Option<CustomerBinding>> {
    match docs
        .get(
            Container::Tenants,
            &billing_partition(),
            &binding_id(customer),
        )
        .await?
    {
        Some(doc) => doc.parse().map(Some),
        None => Ok(None),
    }
}

/// Binds `customer` to `tenant`, once: a create, so of two racing bindings
/// the first wins and the other sees who owns the customer.
pub async fn bind(
    docs: &dyn Documents,
    customer: &CustomerId,
    tenant: &TenantId,
    by: BoundBy,
    now: OffsetDateTime,
) -> Result<Bound, BindError> {
    let binding = CustomerBinding {
        tenant: tenant.clone(),
        by,
        bound_at: now,
    };
    let doc = Document::new(
        &billing_partition(),
        BINDING_TYPE,
        binding_id(customer),
        &binding,
    )?;
    let existing = match docs.create(Container::Tenants, &doc).await {
        Ok(_) => return Ok(Bound::New),
        Err(PlatformError::Conflict) => customer_binding(docs, customer).await?,
        Err(e) => return Err(e.into()),
    };
    match existing {
        Some(b) if &b.tenant == tenant => Ok(Bound::Already),
        Some(b) => Err(BindError::OtherTenant {
            customer: customer.clone(),
            owner: b.tenant,
        }),
        // Created and gone again: bindings are never deleted, so this is a
        // store fault; the caller retries the whole event.
        None => Err(BindError::Platform(PlatformError::Unavailable {
            service: "documents",
            message: format!("binding of {customer} conflicted but cannot be read"),
        })),
    }
}

/// A Checkout Session SalesTim created, recorded before its URL was shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutRecord {
    pub tenant: TenantId,
    pub price: String,
    pub seats: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub actor: String,
}

fn checkout_id(session: &str) -> String {
    format!("checkout-{session}")
}

pub async fn record_checkout(
    docs: &dyn Documents,
    session: &str,
    record: &CheckoutRecord,
) -> PlatformResult<()> {
    let doc = Document::new(
        &billing_partition(),
        CHECKOUT_TYPE,
        checkout_id(session),
        record,
    )?;
    docs.create(Container::Tenants, &doc).await.map(|_| ())
}

/// The record of a checkout SalesTim created, or `None` for any other
/// session (a Payment Link, someone else's Checkout).
pub async fn our_checkout(
    docs: &dyn Documents,
    session: &str,
) -> PlatformResult<Option<CheckoutRecord>> {
    let Ok(session) = checkout_session_id(session) else {
        return Ok(None);
    };
    match docs
        .get(
            Container::Tenants,
            &billing_partition(),
            &checkout_id(&session),
        )
        .await?
    {
        Some(doc) => doc.parse().map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_ids_are_checked_at_the_edge() {
        assert!(CustomerId::parse("cus_NffrFeUfNV2Hib").is_ok());
        for bad in ["", "cus_", "sub_123", "cus_../x", "cus_a/b", "cus_a b"] {
            assert!(CustomerId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(CustomerId::parse(&format!("cus_{}", "a".repeat(300))).is_err());
        assert!(checkout_session_id("cs_test_a1B2").is_ok());
        assert!(checkout_session_id("cus_1").is_err());
    }
}
