//! The parts of a Stripe event the platform reads, parsed once. Field paths
//! cover both the classic API shape and the 2025 one (invoice subscription
//! details under `parent`, period end on subscription items).

use serde_json::Value;

use crate::ids::TenantId;

/// The event types the platform acts on; anything else is acknowledged and
/// ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    CheckoutCompleted,
    SubscriptionCreated,
    SubscriptionUpdated,
    SubscriptionDeleted,
    InvoicePaid,
    InvoicePaymentFailed,
}

impl EventKind {
    pub fn from_type(t: &str) -> Option<Self> {
        Some(match t {
            "checkout.session.completed" => EventKind::CheckoutCompleted,
            "customer.subscription.created" => EventKind::SubscriptionCreated,
            "customer.subscription.updated" => EventKind::SubscriptionUpdated,
            "customer.subscription.deleted" => EventKind::SubscriptionDeleted,
            "invoice.paid" => EventKind::InvoicePaid,
            "invoice.payment_failed" => EventKind::InvoicePaymentFailed,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StripeEvent {
    pub id: String,
    pub kind: EventKind,
    pub type_name: String,
    /// Unix seconds.
    pub created: i64,
    pub livemode: bool,
    pub object: Value,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("not a Stripe event: {0}")]
    NotAnEvent(&'static str),
}

/// The result of reading a verified body: an event we act on, or one we
/// acknowledge and ignore (with its type, for the log).
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Handled(StripeEvent),
    Ignored { id: String, type_name: String },
}

pub fn parse(body: &[u8]) -> Result<Parsed, EventError> {
    let json: Value =
        serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    if json.get("object").and_then(Value::as_str) != Some("event") {
        return Err(EventError::NotAnEvent("\"object\" is not \"event\""));
    }
    let id = json
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| id.starts_with("evt_") && id.len() <= 255);
    let id = id.ok_or(EventError::NotAnEvent("no evt_ id"))?.to_owned();
    let type_name = json
        .get("type")
        .and_then(Value::as_str)
        .ok_or(EventError::NotAnEvent("no type"))?
        .to_owned();
    let created = json
        .get("created")
        .and_then(Value::as_i64)
        .ok_or(EventError::NotAnEvent("no created timestamp"))?;
    let object = json
        .pointer("/data/object")
        .filter(|o| o.is_object())
        .ok_or(EventError::NotAnEvent("no data.object"))?
        .clone();
    let Some(kind) = EventKind::from_type(&type_name) else {
        return Ok(Parsed::Ignored { id, type_name });
    };
    Ok(Parsed::Handled(StripeEvent {
        id,
        kind,
        type_name,
        created,
        livemode: json
            .get("livemode")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        object,
    }))
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// An id field that may be a string or an expanded object with an `id`.
fn id_at(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

impl StripeEvent {
    /// The tenant named by the event itself: `metadata.tenantId` (on the
    /// session, subscription or invoice's subscription details) or the
    /// session's `client_reference_id`. A hint for the operator's log, never
    /// proof: whoever opens a Checkout or a Payment Link chooses these
    /// fields. An id that is not a tenant GUID counts as absent.
    pub fn tenant_hint(&self) -> Option<TenantId> {
        let o = &self.object;
        [
            "/metadata/tenantId",
            "/client_reference_id",
            "/subscription_details/metadata/tenantId",
            "/parent/subscription_details/metadata/tenantId",
        ]
        .iter()
        .filter_map(|p| str_at(o, p))
        .find_map(|s| TenantId::parse(s).ok())
    }

    pub fn customer_id(&self) -> Option<String> {
        id_at(&self.object, "/customer")
    }

    /// The subscription the event is about.
    pub fn subscription_id(&self) -> Option<String> {
        match self.kind {
            EventKind::SubscriptionCreated
            | EventKind::SubscriptionUpdated
            | EventKind::SubscriptionDeleted => id_at(&self.object, "/id"),
            _ => id_at(&self.object, "/subscription")
                .or_else(|| id_at(&self.object, "/parent/subscription_details/subscription")),
        }
    }
}

/// What a subscription object says about the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionFacts {
    pub status: String,
    pub plan: Option<String>,
    pub seats: u32,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
}

pub fn subscription_facts(object: &Value) -> SubscriptionFacts {
    let item = object.pointer("/items/data/0");
    let price = item
        .and_then(|i| i.get("price"))
        .or_else(|| object.get("plan"));
    let plan = price.and_then(|p| {
        ["lookup_key", "nickname", "id"]
            .iter()
            .find_map(|k| p.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
            .map(str::to_owned)
    });
    let seats = item
        .and_then(|i| i.get("quantity"))
        .or_else(|| object.get("quantity"))
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .min(u32::MAX as u64) as u32;
    let current_period_end = object
        .get("current_period_end")
        .and_then(Value::as_i64)
        .or_else(|| {
            item.and_then(|i| i.get("current_period_end"))
                .and_then(Value::as_i64)
        });
    SubscriptionFacts {
        status: object
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("incomplete")
            .to_owned(),
        plan,
        seats,
        current_period_end,
        cancel_at_period_end: object
            .get("cancel_at_period_end")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(t: &str, object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"id": "evt_1", "object": "event", "type": t, "created": 100, "livemode": false, "data": {"object": object}})).unwrap()
    }

    #[test]
    fn parses_handled_and_ignored_events() {
        let Parsed::Handled(e) = parse(&event(
            "invoice.paid",
            json!({"id": "in_1", "customer": "cus_1", "subscription": "sub_1"}),
        ))
        .unwrap() else {
            panic!("invoice.paid is handled")
        };
        assert_eq!((e.kind, e.created), (EventKind::InvoicePaid, 100));
        assert_eq!(e.customer_id().as_deref(), Some("cus_1"));
        assert_eq!(e.subscription_id().as_deref(), Some("sub_1"));
        assert!(matches!(
            parse(&event("charge.refunded", json!({}))).unwrap(),
            Parsed::Ignored { .. }
        ));
    }

    #[test]
    fn rejects_what_is_not_an_event() {
        assert!(matches!(parse(b"{not json"), Err(EventError::NotJson(_))));
        assert!(parse(br#"{"object":"customer","id":"cus_1"}"#).is_err());
        assert!(parse(br#"{"object":"event","id":"x","type":"invoice.paid","created":1,"data":{"object":{}}}"#).is_err());
        assert!(parse(br#"{"object":"event","id":"evt_1","type":"invoice.paid","created":1,"data":{"object":[]}}"#).is_err());
        assert!(
            parse(br#"{"object":"event","id":"evt_1","type":"invoice.paid","data":{"object":{}}}"#)
                .is_err()
        );
    }

    #[test]
    fn finds_the_tenant_in_every_place_checkout_puts_it() {
        let t = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let objects = [
            (
                "checkout.session.completed",
                json!({"client_reference_id": t}),
            ),
            (
                "customer.subscription.updated",
                json!({"metadata": {"tenantId": t}}),
            ),
            (
                "invoice.paid",
                json!({"subscription_details": {"metadata": {"tenantId": t}}}),
            ),
            (
                "invoice.paid",
                json!({"parent": {"subscription_details": {"metadata": {"tenantId": t}}}}),
            ),
        ];
        for (ty, o) in objects {
            let Parsed::Handled(e) = parse(&event(ty, o)).unwrap() else {
                panic!()
            };
            assert_eq!(e.tenant_hint().unwrap().as_str(), t);
        }
        let Parsed::Handled(e) = parse(&event(
            "invoice.paid",
            json!({"metadata": {"tenantId": "../other"}}),
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(e.tenant_hint(), None);
    }

    #[test]
    fn reads_plan_seats_and_period_in_old_and_new_shapes() {
        let old = json!({"status": "active", "current_period_end": 2000, "items": {"data": [{"quantity": 25, "price": {"id": "price_1", "lookup_key": "business"}}]}});
        let new = json!({"status": "past_due", "cancel_at_period_end": true, "items": {"data": [{"quantity": 3, "current_period_end": 3000, "price": {"id": "price_2"}}]}});
        let a = subscription_facts(&old);
        assert_eq!(
            (
                a.status.as_str(),
                a.plan.as_deref(),
                a.seats,
                a.current_period_end
            ),
            ("active", Some("business"), 25, Some(2000))
        );
        let b = subscription_facts(&new);
        assert_eq!(
            (
                b.plan.as_deref(),
                b.seats,
                b.current_period_end,
                b.cancel_at_period_end
            ),
            (Some("price_2"), 3, Some(3000), true)
        );
    }
}
