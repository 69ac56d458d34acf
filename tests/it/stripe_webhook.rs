//! `StripeWebhook`'s refusals of forged signatures: bounded before any MAC,
//! answered before the body is read when the header alone is enough, with
//! the reason, and nothing enqueued. (Verdict by verdict agreement with
//! Stripe's own verifier is in `stripe_verdicts.rs`.)

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::app::{STRIPE_SECRET, TestApp, spawn_app, stripe_signature};
use crate::support::raw_http::HeadFirst;

const QUEUE: &str = "billing-events";
const WEBHOOK: &str = "/api/billing/stripe";

/// A signed-looking event of about `size` bytes.
fn large_event(id: &str, now: i64, size: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "object": "event", "created": now, "type": "invoice.paid",
        "data": {"object": {"object": "invoice", "id": "in_1", "customer": "cus_1", "padding": "x".repeat(size)}}}))
    .unwrap()
}

async fn refused_with(app: &TestApp, body: Vec<u8>, header: &str) -> String {
    let res = app.stripe_raw(body, Some(header)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let problem: Value = res.json().await.unwrap();
    problem["detail"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_header_of_thousands_of_entries_is_refused_for_its_size_and_enqueues_nothing() {
    let app = spawn_app().await;
    let now = app.now();
    let body = large_event("evt_forged", now, 500 * 1024);
    let empty_v1s = format!("t={now}{}", ",v1=".repeat(4000));
    let detail = refused_with(&app, body.clone(), &empty_v1s).await;
    assert!(detail.contains("longer than"), "{detail}");

    // Within the length, too many entries: refused for their number.
    let many = format!("t={now}{}", ",v1=".repeat(300));
    let detail = refused_with(&app, body.clone(), &many).await;
    assert!(detail.contains("more than 16 entries"), "{detail}");

    // Many well-formed v1 that match nothing: refused as a mismatch once.
    let wrong = format!("t={now}{}", format!(",v1={}", "ab".repeat(32)).repeat(15));
    let detail = refused_with(&app, body, &wrong).await;
    assert!(detail.contains("does not match"), "{detail}");
    assert_eq!(app.queue_len(QUEUE).await, 0, "nothing was enqueued");
}

#[tokio::test]
async fn a_large_event_signed_among_other_entries_is_accepted() {
    let app = spawn_app().await;
    let now = app.now();
    let body = large_event("evt_large_ok", now, 100 * 1024);
    let good = stripe_signature(&body, STRIPE_SECRET, now);
    let sig = good.split_once(",v1=").unwrap().1;
    let header = format!(
        "t={now},v0={},v1={},v1={sig}",
        "00".repeat(32),
        "ab".repeat(32)
    );
    let res = app.stripe_raw(body, Some(&header)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Posts the head of a delivery signed with `signature` (if any) to the
/// handler, expecting an answer before the body is sent.
async fn refused_before_the_body(
    app: &TestApp,
    signature: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut post = HeadFirst::post(&app.handler, WEBHOOK, body);
    if let Some(signature) = signature {
        post = post.header("stripe-signature", signature);
    }
    let res = post.answered_before_the_body().await;
    (res.status, res.text())
}

#[tokio::test]
async fn a_refused_header_is_answered_before_any_of_the_body_is_sent() {
    let app = spawn_app().await;
    let now = app.now();
    let body = large_event("evt_early", now, 300 * 1024);
    let stale = stripe_signature(&body, STRIPE_SECRET, now - 3600);
    let too_long = format!("t={now}{}", ",v1=".repeat(4000));
    for (signature, reason) in [
        (None, "missing"),
        (Some(too_long.as_str()), "longer than"),
        (Some("t=soon,v1=00"), "malformed"),
        (Some(stale.as_str()), "outside the tolerance"),
    ] {
        let (status, detail) = refused_before_the_body(&app, signature, &body).await;
        assert_eq!(status, 400, "{reason}: {detail}");
        assert!(detail.contains(reason), "{reason}: {detail}");
    }
    assert_eq!(app.queue_len(QUEUE).await, 0, "nothing was enqueued");

    // A fresh, well-formed header waits for the body: the MAC is over it.
    let signature = stripe_signature(&body, STRIPE_SECRET, now);
    let res = HeadFirst::post(&app.handler, WEBHOOK, &body)
        .header("stripe-signature", signature)
        .answered_after_the_body()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn a_large_body_that_finds_no_mac_slot_in_time_gets_503_with_retry_after() {
    let app = spawn_app().await;
    let now = app.now();
    let body = large_event("evt_busy", now, 100 * 1024);
    let signature = stripe_signature(&body, STRIPE_SECRET, now);
    let slots = &app.app.stripe_mac_slots;
    let all = u32::try_from(slots.available_permits()).unwrap();
    let held = slots.acquire_many(all).await.unwrap();
    let res = tokio::time::timeout(
        Duration::from_secs(20),
        app.stripe_raw(body.clone(), Some(&signature)),
    )
    .await
    .expect("an answer while every MAC slot stays taken");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    assert_eq!(app.queue_len(QUEUE).await, 0, "nothing was enqueued");

    // Once a slot frees up, the same delivery goes through.
    drop(held);
    let res = app.stripe_raw(body, Some(&signature)).await;
    assert_eq!(res.status(), StatusCode::OK);
}
