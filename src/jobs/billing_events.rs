//! `billing-events`: one message per verified Stripe event, for
//! `BillingEvents` to apply. The event travels inline while it fits a queue
//! message, else in a blob of [`BLOB_CONTAINER`] that the message names.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Job;

pub const QUEUE: &str = "billing-events";
/// Where events too large for a queue message wait for `BillingEvents`.
pub const BLOB_CONTAINER: &str = "stripe-events";

/// The verified event inline, or the name of the blob holding it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingMessage {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

impl Job for BillingMessage {
    const QUEUE: &'static str = QUEUE;
}
