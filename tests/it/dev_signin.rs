//! The development sign-in of `handler local`: demo tokens that go through
//! the same checks as Teams SSO tokens, for demo users only, and no such
//! thing under the Functions host.

use salestim::config::RunMode;
use salestim::tabs::dev::{DEMO_TENANT_ID, DEMO_TENANT_NAME, demo_tenant};
use serde_json::{Value, json};

use crate::support::app::{Options, TestApp, spawn_app_with};
use crate::tab_auth::forged;

const OID: &str = "7d3e4f5a-6b7c-4d8e-9f01-23456789abcd";

async fn dev_sign_in(app: &TestApp, user_id: &str) -> reqwest::Response {
    app.http
        .post(app.url("api/dev/signin"))
        .json(&json!({ "userId": user_id }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_development_sign_in_issues_demo_tokens_that_pass_the_same_checks() {
    let app = spawn_app_with(Options::default()).await;
    app.app
        .tenants
        .add(&demo_tenant(), DEMO_TENANT_NAME)
        .await
        .unwrap();
    let listed: Value = app.get("api/dev/signin").await.json().await.unwrap();
    assert_eq!(listed["tenant"]["id"], DEMO_TENANT_ID);
    let users = listed["users"].as_array().unwrap();
    assert_eq!(users.len(), 6);
    assert_eq!(users[0]["roles"], json!(["admin"]));

    let res = dev_sign_in(&app, users[3]["id"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let issued: Value = res.json().await.unwrap();
    assert_eq!(issued["expiresIn"], 3600);
    let token = issued["token"].as_str().unwrap();
    let res = app
        .http
        .get(app.url("api/tab/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(
        me["tenant"],
        json!({"id": DEMO_TENANT_ID, "name": DEMO_TENANT_NAME})
    );
    assert_eq!(me["user"]["id"], users[3]["id"]);
    assert_eq!(me["user"]["name"], users[3]["name"]);

    // The same checks: the token expires by the injected clock.
    app.clock.advance(time::Duration::minutes(70));
    let res = app
        .http
        .get(app.url("api/tab/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Only demo users, only as JSON.
    let res = dev_sign_in(&app, OID).await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("userId"));
    let res = app
        .http
        .post(app.url("api/dev/signin"))
        .header("content-type", "text/plain")
        .body(format!(
            "{{\"userId\":\"{}\"}}",
            users[0]["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
}

#[tokio::test]
async fn the_development_sign_in_does_not_exist_under_the_functions_host() {
    let app = spawn_app_with(Options {
        mode: RunMode::Host,
        ..Options::default()
    })
    .await;
    assert_eq!(app.get("api/dev/signin").await.status(), 404);
    let res = dev_sign_in(&app, salestim::tabs::dev::DEMO_USERS[0].id).await;
    assert_eq!(res.status(), 404);
    // And no demo token is trusted there: the demo tenant is like any other.
    let res = app
        .http
        .get(app.url("api/tab/me"))
        .bearer_auth(forged(
            "RS256",
            &json!({"tid": DEMO_TENANT_ID, "ver": "2.0"}),
        ))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 200);
}
