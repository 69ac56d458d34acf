//! Stripe billing end to end, driven as the Functions host drives the app:
//! signed webhooks through the local host's front door, the queue function
//! fed by the local host. Dunning is in `billing_dunning`.

use std::time::Duration;

use reqwest::StatusCode;
use salestim::governance::audit;
use salestim::ids::TenantId;
use salestim::platform::documents::{Container, Query};
use salestim::platform::queues::QueueName;
use serde_json::{Value, json};

use crate::support::app::{
    Options, STRIPE_SECRET, TestApp, spawn_app, spawn_app_with, stripe_signature, wait_until,
};
use crate::support::raw_http::HeadFirst;

const QUEUE: &str = "billing-events";

pub(crate) fn event(id: &str, ty: &str, created: i64, object: Value) -> Value {
    json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": created, "livemode": false,
           "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": ty, "data": {"object": object}})
}

pub(crate) fn subscription(tenant: &TenantId, status: &str, seats: u64) -> Value {
    json!({"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status, "cancel_at_period_end": false,
           "current_period_end": 1_900_000_000, "metadata": {"tenantId": tenant.as_str()},
           "items": {"data": [{"quantity": seats, "price": {"id": "price_1", "lookup_key": "business"}}]}})
}

/// The events of one subscription's life: checkout, created, paid, a seat
/// change, a failed payment.
pub(crate) fn life(tenant: &TenantId, t0: i64) -> Vec<Value> {
    vec![
        event(
            "evt_checkout",
            "checkout.session.completed",
            t0,
            json!({"object": "checkout.session", "mode": "subscription", "customer": "cus_1", "subscription": "sub_1", "client_reference_id": tenant.as_str(), "payment_status": "paid"}),
        ),
        event(
            "evt_created",
            "customer.subscription.created",
            t0,
            subscription(tenant, "incomplete", 10),
        ),
        event(
            "evt_active",
            "customer.subscription.updated",
            t0 + 1,
            subscription(tenant, "active", 10),
        ),
        event(
            "evt_paid",
            "invoice.paid",
            t0 + 1,
            json!({"object": "invoice", "id": "in_1", "customer": "cus_1", "subscription": "sub_1"}),
        ),
        event(
            "evt_seats",
            "customer.subscription.updated",
            t0 + 60,
            subscription(tenant, "active", 25),
        ),
        event(
            "evt_failed",
            "invoice.payment_failed",
            t0 + 120,
            json!({"object": "invoice", "id": "in_2", "customer": "cus_1", "subscription": "sub_1"}),
        ),
        event(
            "evt_past_due",
            "customer.subscription.updated",
            t0 + 121,
            subscription(tenant, "past_due", 25),
        ),
    ]
}

/// Delivers each event and waits until it is processed, so the order of
/// application is the order given.
pub(crate) async fn deliver(app: &TestApp, events: &[Value]) {
    for e in events {
        let res = app.stripe_event(e).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
        app.drain(QUEUE).await;
    }
}

/// A registered tenant whose Stripe customer an operator bound: the only
/// way, besides a checkout SalesTim created, that events reach a tenant.
pub(crate) async fn paying_tenant(app: &TestApp, name: &str, customer: &str) -> TenantId {
    let tenant = app.add_tenant(name).await;
    app.bind_customer(&tenant, customer).await;
    tenant
}

async fn snapshot(app: &TestApp, tenant: &TenantId) -> Value {
    let mut sub = serde_json::to_value(
        app.app
            .billing
            .subscription(tenant)
            .await
            .unwrap()
            .expect("a subscription"),
    )
    .unwrap();
    sub.as_object_mut().unwrap().remove("appliedEvents");
    // Each tenant pays through its own customer.
    sub.as_object_mut().unwrap().remove("stripeCustomerId");
    sub
}

#[tokio::test]
async fn a_checkout_and_its_subscription_events_make_the_tenant_active() {
    let app = spawn_app().await;
    let tenant = paying_tenant(&app, "Contoso", "cus_1").await;
    assert!(!app.app.billing.entitlement(&tenant).await.unwrap().active);
    deliver(&app, &life(&tenant, app.now() - 300)[..5]).await;
    let e = app.app.billing.entitlement(&tenant).await.unwrap();
    assert!(e.active, "{e:?}");
    assert_eq!((e.plan.as_deref(), e.seats), (Some("business"), 25));
    assert!(e.has_seat_for(24) && !e.has_seat_for(25));
    assert_eq!(app.queue_len("billing-events-poison").await, 0);
}

#[tokio::test]
async fn duplicates_and_any_delivery_order_end_in_the_same_state() {
    let app = spawn_app().await;
    let in_order = paying_tenant(&app, "In order", "cus_1").await;
    let shuffled = paying_tenant(&app, "Shuffled", "cus_2").await;
    let t0 = app.now() - 600;
    deliver(&app, &life(&in_order, t0)).await;

    let mut events = life(&shuffled, t0);
    for e in &mut events {
        // Distinct ids per tenant: Stripe ids are global; so are customers.
        e["id"] = json!(format!("{}_b", e["id"].as_str().unwrap()));
        e["data"]["object"]["customer"] = json!("cus_2");
    }
    let order = [6, 2, 5, 0, 4, 1, 3];
    let mut replayed: Vec<Value> = order.iter().map(|&i| events[i].clone()).collect();
    replayed.extend(events.iter().cloned()); // every event twice
    deliver(&app, &replayed).await;

    let (a, b) = (
        snapshot(&app, &in_order).await,
        snapshot(&app, &shuffled).await,
    );
    assert_eq!(a, b);
    assert_eq!(a["status"], "past_due");
    assert_eq!(a["seats"], 25);
    // One audit entry per status change, none for the duplicates.
    let changes = |t: TenantId| {
        let docs = app.app.docs.clone();
        async move {
            audit::trail(docs.as_ref(), &t)
                .await
                .unwrap()
                .iter()
                .filter(|a| a.action == "billing.subscription.changed")
                .count()
        }
    };
    // In order: none -> active (checkout) -> incomplete -> active -> past_due.
    assert_eq!(changes(in_order.clone()).await, 4);
    // Shuffled, the newest state arrives first; everything older is stale
    // and every duplicate is a no-op.
    assert_eq!(changes(shuffled.clone()).await, 1);
}

#[tokio::test]
async fn replaying_one_event_changes_nothing() {
    let app = spawn_app().await;
    let tenant = paying_tenant(&app, "Fabrikam", "cus_1").await;
    let events = life(&tenant, app.now() - 300);
    deliver(&app, &events[..3]).await;
    let before = app
        .app
        .docs
        .get(Container::Tenants, &tenant, "subscription")
        .await
        .unwrap()
        .unwrap();
    deliver(
        &app,
        &[events[2].clone(), events[2].clone(), events[1].clone()],
    )
    .await;
    let after = app
        .app
        .docs
        .get(Container::Tenants, &tenant, "subscription")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        before.etag, after.etag,
        "a replay must not even rewrite the document"
    );
}

#[tokio::test]
async fn bad_signatures_stale_timestamps_and_malformed_bodies_are_rejected_and_change_nothing() {
    let app = spawn_app().await;
    let tenant = app.add_tenant("Northwind").await;
    let good = serde_json::to_vec(&life(&tenant, app.now())[2]).unwrap();
    let now = app.now();
    let cases: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("missing header", good.clone(), None),
        (
            "wrong secret",
            good.clone(),
            Some(stripe_signature(&good, "whsec_someone_else", now)),
        ),
        (
            "tampered body",
            {
                let mut b = good.clone();
                b[10] ^= 1;
                b
            },
            Some(stripe_signature(&good, STRIPE_SECRET, now)),
        ),
        (
            "stale timestamp",
            good.clone(),
            Some(stripe_signature(&good, STRIPE_SECRET, now - 301)),
        ),
        (
            "future timestamp",
            good.clone(),
            Some(stripe_signature(&good, STRIPE_SECRET, now + 301)),
        ),
        ("garbage header", good.clone(), Some("t=now,v1=zz".into())),
        (
            "v0 only",
            good.clone(),
            Some(format!("t={now},v0={}", "00".repeat(32))),
        ),
        (
            "malformed json",
            b"{\"id\": \"evt_1\", ".to_vec(),
            Some(stripe_signature(
                b"{\"id\": \"evt_1\", ",
                STRIPE_SECRET,
                now,
            )),
        ),
        (
            "not an event",
            b"{\"object\":\"customer\"}".to_vec(),
            Some(stripe_signature(
                b"{\"object\":\"customer\"}",
                STRIPE_SECRET,
                now,
            )),
        ),
    ];
    for (name, body, sig) in cases {
        let res = app.stripe_raw(body, sig.as_deref()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
        let problem: Value = res.json().await.unwrap();
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}: {problem}"
        );
    }
    assert_eq!(app.queue_len(QUEUE).await, 0, "nothing was enqueued");
    assert!(
        app.app
            .billing
            .subscription(&tenant)
            .await
            .unwrap()
            .is_none(),
        "nothing was written"
    );
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413() {
    let app = spawn_app().await;
    let body = vec![b' '; 600 * 1024];
    let sig = stripe_signature(&body, STRIPE_SECRET, app.now());
    let res = app.stripe_raw(body, Some(&sig)).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.queue_len(QUEUE).await, 0);
}

#[tokio::test]
async fn without_a_webhook_secret_billing_answers_503() {
    let app = spawn_app_with(Options {
        stripe_secret: None,
        ..Options::default()
    })
    .await;
    let res = app.stripe_raw(b"{}".to_vec(), Some("t=1,v1=00")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Said from the head alone, before any of a signed body is sent.
    let body = vec![b' '; 300 * 1024];
    let signature = stripe_signature(&body, STRIPE_SECRET, app.now());
    let res = HeadFirst::post(&app.handler, "/api/billing/stripe", &body)
        .header("stripe-signature", signature)
        .answered_before_the_body()
        .await;
    assert_eq!(res.status, 503, "{}", res.text());
}

#[tokio::test]
async fn event_types_we_do_not_use_are_acknowledged_and_not_enqueued() {
    let app = spawn_app().await;
    let res = app
        .stripe_event(&event(
            "evt_x",
            "charge.refunded",
            app.now(),
            json!({"id": "ch_1"}),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["ignored"], true);
    assert_eq!(app.queue_len(QUEUE).await, 0);
}

#[tokio::test]
async fn an_event_of_a_customer_bound_to_no_tenant_waits_and_is_not_retried() {
    let app = spawn_app().await;
    let stranger = TenantId::parse("11111111-2222-3333-4444-555555555555").unwrap();
    let res = app
        .stripe_event(&event(
            "evt_stranger",
            "customer.subscription.updated",
            app.now(),
            subscription(&stranger, "active", 5),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.drain(QUEUE).await;
    assert_eq!(
        app.queue_len("billing-events-poison").await,
        0,
        "kept, not poisoned"
    );
    assert!(
        app.app
            .billing
            .subscription(&stranger)
            .await
            .unwrap()
            .is_none()
    );
    let dropped = app
        .app
        .docs
        .query(
            Container::Events,
            &TenantId::system("billing"),
            &Query::of_type("stripeEvent").with("outcome", "waiting"),
        )
        .await
        .unwrap();
    assert_eq!(
        dropped.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["evt_stranger"]
    );
}

#[tokio::test]
async fn invoices_without_tenant_metadata_find_the_tenant_through_the_customers_binding() {
    let app = spawn_app().await;
    let tenant = paying_tenant(&app, "Tailspin", "cus_1").await;
    let t0 = app.now() - 100;
    // The invoice names only cus_1, which an operator bound to the tenant.
    deliver(
        &app,
        &[event(
            "evt_s",
            "customer.subscription.updated",
            t0,
            subscription(&tenant, "active", 3),
        )],
    )
    .await;
    deliver(
        &app,
        &[event(
            "evt_f",
            "invoice.payment_failed",
            t0 + 1,
            json!({"id": "in_9", "customer": "cus_1"}),
        )],
    )
    .await;
    let sub = app
        .app
        .billing
        .subscription(&tenant)
        .await
        .unwrap()
        .unwrap();
    assert!(sub.payment_failed_at.is_some());
}

#[tokio::test]
async fn a_large_event_travels_through_blob_storage() {
    let app = spawn_app().await;
    let tenant = paying_tenant(&app, "Big", "cus_1").await;
    let mut sub = subscription(&tenant, "active", 7);
    sub["metadata"]["notes"] = json!("x".repeat(60 * 1024));
    deliver(
        &app,
        &[event(
            "evt_big",
            "customer.subscription.updated",
            app.now(),
            sub,
        )],
    )
    .await;
    assert_eq!(app.app.billing.entitlement(&tenant).await.unwrap().seats, 7);
    assert!(
        app.app
            .blobs
            .list("stripe-events", "")
            .await
            .unwrap()
            .is_empty(),
        "the blob is removed once applied"
    );
}

#[tokio::test]
async fn a_message_that_keeps_failing_ends_in_the_poison_queue() {
    let app = spawn_app().await;
    let queue = QueueName::parse(QUEUE).unwrap();
    app.app
        .queues
        .send(
            &queue,
            "{\"eventId\":\"evt_bad\",\"type\":\"invoice.paid\",\"blob\":\"missing.json\"}",
            None,
        )
        .await
        .unwrap();
    wait_until(Duration::from_secs(20), || async {
        app.queue_len("billing-events-poison").await == 1
    })
    .await;
    assert_eq!(app.queue_len(QUEUE).await, 0);
    let poisoned = app
        .app
        .queues
        .receive(&queue.poison(), 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        poisoned[0].text.contains("evt_bad"),
        "the original message is kept for operators"
    );
}

#[tokio::test]
async fn an_event_holding_characters_xml_refuses_is_queued_and_applied() {
    let app = spawn_app().await;
    let tenant = paying_tenant(&app, "Contoso", "cus_1").await;
    let mut created = event(
        "evt_odd",
        "customer.subscription.created",
        1_800_000_000,
        subscription(&tenant, "active", 7),
    );
    // A customer's own text (a description, a name) can hold anything.
    created["data"]["object"]["description"] = json!("Contoso \u{FFFE}\u{FFFF} Ltd");
    deliver(&app, &[created]).await;
    let sub = app
        .app
        .billing
        .subscription(&tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((sub.status.as_deref(), sub.seats), (Some("active"), 7));
}
