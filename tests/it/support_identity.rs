//! `GET /api/support/identity`: the Intercom Messenger's identity for the
//! signed-in user (a development sign-in token here), checked with
//! independent implementations: the JWT with PyJWT, the legacy `user_hash`
//! with Node's `crypto` HMAC.

use std::process::Command;

use salestim::tabs::dev::{DEMO_TENANT_NAME, DEMO_USERS, demo_tenant};
use serde_json::{Value, json};

use crate::support::app::{Options, TestApp, spawn_app_with};

const SECRET: &str = "intercom-identity-secret-made-for-tests";
const APP_ID: &str = "abc12def";

async fn app_with(settings: Vec<(&'static str, String)>) -> TestApp {
    let app = spawn_app_with(Options {
        settings,
        ..Options::default()
    })
    .await;
    app.app
        .tenants
        .add(&demo_tenant(), DEMO_TENANT_NAME)
        .await
        .unwrap();
    app
}

fn configured() -> Vec<(&'static str, String)> {
    vec![
        ("INTERCOM_IDENTITY_SECRET", SECRET.into()),
        ("INTERCOM_APP_ID", APP_ID.into()),
        ("INTERCOM_LEGACY_USER_HASH", "true".into()),
    ]
}

async fn token_for(app: &TestApp, user_id: &str) -> String {
    let issued: Value = app
        .http
        .post(app.url("api/dev/signin"))
        .json(&json!({ "userId": user_id }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    issued["token"].as_str().unwrap().to_owned()
}

async fn identity(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url("api/support/identity"));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

/// A Python with PyJWT (`python3-jwt`, which scripts/test installs).
fn python_with_pyjwt() -> &'static str {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|python| {
            Command::new(python)
                .args(["-c", "import jwt"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("a python3 with PyJWT (scripts/test installs python3-jwt)")
}

#[tokio::test]
async fn the_identity_is_the_signed_in_users_and_verifies_independently() {
    let app = app_with(configured()).await;
    let user = &DEMO_USERS[1];
    let token = token_for(&app, user.id).await;
    let res = identity(&app, Some(&token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let id: Value = res.json().await.unwrap();
    assert_eq!(id["app_id"], APP_ID);
    assert_eq!(id["email"], user.email);
    assert_eq!(id["name"], user.name);
    let user_id = id["user_id"].as_str().unwrap();
    assert!(
        !user_id.contains(user.id) && user_id.len() >= 32,
        "not the object id: {user_id}"
    );

    // PyJWT: HS256 under the secret, the same user, signed email and name, a short life.
    let script = "import jwt, json, sys; c = jwt.decode(sys.argv[1], sys.argv[2], algorithms=['HS256'], options={'require': ['exp']}); print(json.dumps(c))";
    let out = Command::new(python_with_pyjwt())
        .args([
            "-c",
            script,
            id["intercom_user_jwt"].as_str().unwrap(),
            SECRET,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["user_id"], user_id);
    assert_eq!(claims["email"], user.email);
    assert_eq!(claims["name"], user.name);
    let life = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(life > 0 && life <= 3600, "a short exp: {life}");
    let wrong = Command::new(python_with_pyjwt())
        .args([
            "-c",
            script,
            id["intercom_user_jwt"].as_str().unwrap(),
            "another-secret",
        ])
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "PyJWT refuses another secret");

    // Node's crypto: the legacy hash is HMAC-SHA256 of the user id.
    let out = Command::new("node")
        .args([
            "-e",
            "process.stdout.write(require('crypto').createHmac('sha256', process.argv[1]).update(process.argv[2]).digest('hex'))",
            SECRET,
            user_id,
        ])
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(id["user_hash"], String::from_utf8(out.stdout).unwrap());

    // Another user: another id, the same one each time.
    let other = token_for(&app, DEMO_USERS[4].id).await;
    let theirs: Value = identity(&app, Some(&other)).await.json().await.unwrap();
    assert_ne!(theirs["user_id"], id["user_id"]);
    let again: Value = identity(&app, Some(&token)).await.json().await.unwrap();
    assert_eq!(again["user_id"], id["user_id"]);
}

#[tokio::test]
async fn without_a_session_401_and_without_the_secret_503() {
    let app = app_with(configured()).await;
    let res = identity(&app, None).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(identity(&app, Some("not.a.token")).await.status(), 401);

    let unconfigured = app_with(vec![("INTERCOM_APP_ID", APP_ID.into())]).await;
    let token = token_for(&unconfigured, DEMO_USERS[0].id).await;
    assert_eq!(identity(&unconfigured, Some(&token)).await.status(), 503);

    // Without the legacy switch, no user_hash.
    let modern = app_with(vec![
        ("INTERCOM_IDENTITY_SECRET", SECRET.into()),
        ("INTERCOM_APP_ID", APP_ID.into()),
    ])
    .await;
    let token = token_for(&modern, DEMO_USERS[0].id).await;
    let id: Value = identity(&modern, Some(&token)).await.json().await.unwrap();
    assert!(id.get("user_hash").is_none(), "{id}");
}
