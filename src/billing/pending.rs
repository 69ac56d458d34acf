//! Verified events that wait: for a customer not bound to any tenant yet, or
//! for a subscription of a bound customer that is not the tenant's current
//! one (it may become current when a checkout SalesTim created completes,
//! whose event Stripe may deliver later).
//!
//! The whole verified event is kept (its exact bytes), so what waited is
//! applied as if it had just arrived, in Stripe's order (`created`, then the
//! rank of its kind). Bounded: at most [`MAX_PER_CUSTOMER`] events per
//! customer, each at most the webhook's body limit, each for
//! [`PENDING_TTL_SECS`]. Beyond the count, an event is recorded as dropped
//! and logged; Stripe still has it (its dashboard resends any event of the
//! last 30 days), and a binding made later applies the ones kept.

use serde::{Deserialize, Serialize};

use super::binding::{CustomerId, billing_partition};
use super::event::{self, Parsed, StripeEvent};
use super::subscription::rank;
use crate::platform::documents::{Container, Document, Documents, Query};
use crate::platform::{PlatformError, PlatformResult};

const PENDING_TYPE: &str = "stripePending";
/// Events kept per customer; Stripe sends about six for a whole checkout.
pub const MAX_PER_CUSTOMER: usize = 50;
/// Kept as long as Stripe keeps events (30 days).
pub const PENDING_TTL_SECS: u32 = 30 * 24 * 3600;
/// The webhook's own body limit: nothing larger was ever verified.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendingEvent {
    customer: CustomerId,
    event_type: String,
    created: i64,
    rank: u8,
    /// The verified event, byte for byte.
    event: String,
}

/// What [`keep`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    Kept,
    /// The customer already has [`MAX_PER_CUSTOMER`] events waiting, or the
    /// event is larger than any verified one can be.
    Full,
}

fn pending_id(event_id: &str) -> String {
    format!("pending-{event_id}")
}

/// Keeps `event` (whose verified bytes are `raw`) for `customer`.
pub async fn keep(
    docs: &dyn Documents,
    customer: &CustomerId,
    event: &StripeEvent,
    raw: &[u8],
) -> PlatformResult<Kept> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(PlatformError::Invalid(
            "a verified event is not UTF-8".into(),
        ));
    };
    if raw.len() > MAX_EVENT_BYTES {
        return Ok(Kept::Full);
    }
    let id = pending_id(&event.id);
    let waiting = query(docs, customer).await?;
    if waiting.len() >= MAX_PER_CUSTOMER && !waiting.iter().any(|d| d.id == id) {
        return Ok(Kept::Full);
    }
    let body = PendingEvent {
        customer: customer.clone(),
        event_type: event.type_name.clone(),
        created: event.created,
        rank: rank(event.kind),
        event: text.to_owned(),
    };
    let doc =
        Document::new(&billing_partition(), PENDING_TYPE, id, &body)?.with_ttl(PENDING_TTL_SECS);
    docs.upsert(Container::Events, &doc).await?;
    Ok(Kept::Kept)
}

async fn query(docs: &dyn Documents, customer: &CustomerId) -> PlatformResult<Vec<Document>> {
    let q = Query::of_type(PENDING_TYPE)
        .with("customer", customer.as_str())
        .limit(MAX_PER_CUSTOMER + 1);
    docs.query(Container::Events, &billing_partition(), &q)
        .await
}

/// One event that waited, with its verified bytes.
pub struct Waiting {
    pub event: StripeEvent,
    pub raw: Vec<u8>,
}

/// The events waiting for `customer`, oldest first (Stripe's `created`,
/// then the rank of the kind, then the id, so the order is total).
pub async fn waiting(docs: &dyn Documents, customer: &CustomerId) -> PlatformResult<Vec<Waiting>> {
    let mut kept = Vec::new();
    for doc in query(docs, customer).await? {
        let p: PendingEvent = doc.parse()?;
        match event::parse(p.event.as_bytes()) {
            Ok(Parsed::Handled(event)) => kept.push((p.created, p.rank, event, p.event)),
            // Only handled events are ever kept; anything else is a broken
            // document, which must not stop the others.
            other => {
                tracing::warn!(document = %doc.id, parsed = ?other.map(|_| ()), "a kept Stripe event no longer parses; skipped");
            }
        }
    }
    kept.sort_by(|a, b| (a.0, a.1, &a.2.id).cmp(&(b.0, b.1, &b.2.id)));
    Ok(kept
        .into_iter()
        .map(|(_, _, event, raw)| Waiting {
            event,
            raw: raw.into_bytes(),
        })
        .collect())
}

/// Forgets a kept event once it is applied.
pub async fn forget(docs: &dyn Documents, event_id: &str) -> PlatformResult<()> {
    match docs
        .delete(
            Container::Events,
            &billing_partition(),
            &pending_id(event_id),
        )
        .await
    {
        Ok(_) | Err(PlatformError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}
