//! The Bot Connector client against the HTTPS stand-in: token by client
//! credentials, cached; replies and sends; 429s with Retry-After honoured;
//! persistent failures reported after bounded attempts, never silently.

use std::sync::Arc;

use salestim::bot::activity::Activity;
use salestim::bot::connector::{ConnectorClient, ConnectorConfig, ConnectorError};
use salestim::platform::cache::memory::MemoryCache;
use salestim::platform::clock::SystemClock;
use secrecy::SecretString;
use serde_json::json;

use crate::support::connector::{APP_ID, ConnectorStandIn, SECRET};

fn client(standin: &ConnectorStandIn, secret: &str) -> ConnectorClient {
    let config = ConnectorConfig {
        app_id: APP_ID.into(),
        app_password: SecretString::from(secret.to_owned()),
        login_url: standin.login_url.clone(),
        oauth_scope: "https://api.botframework.com".into(),
    };
    ConnectorClient::new(
        config,
        standin.client.clone(),
        Arc::new(MemoryCache::new(Arc::new(SystemClock))),
    )
}

fn incoming(service_url: &str) -> Activity {
    serde_json::from_value(json!({
        "type": "message", "id": "1700000000001", "channelId": "msteams", "serviceUrl": service_url,
        "from": {"id": "29:user"}, "recipient": {"id": "28:bot"},
        "conversation": {"id": "a:1conversation;messageid=7", "conversationType": "personal"}, "text": "help"
    }))
    .unwrap()
}

#[tokio::test]
async fn replies_carry_the_bots_token_and_land_in_the_right_conversation() {
    let standin = ConnectorStandIn::start().await;
    let connector = client(&standin, SECRET);
    let activity = incoming(&standin.service_url);
    let reply = activity.reply().with_text("Here is what I can do");
    let id = connector
        .reply(
            &standin.service_url,
            "a:1conversation;messageid=7",
            "1700000000001",
            &reply,
        )
        .await
        .unwrap();
    assert_eq!(id, "act-1");
    let sent = standin.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "POST");
    assert_eq!(
        sent[0].path,
        "/emea/v3/conversations/a%3A1conversation%3Bmessageid%3D7/activities/1700000000001"
    );
    assert_eq!(sent[0].authorization, "Bearer tok-1");
    assert_eq!(sent[0].activity["text"], "Here is what I can do");
    assert_eq!(sent[0].activity["replyToId"], "1700000000001");
    assert_eq!(sent[0].activity["recipient"]["id"], "29:user");
}

#[tokio::test]
async fn the_token_is_fetched_once_and_reused() {
    let standin = ConnectorStandIn::start().await;
    let connector = client(&standin, SECRET);
    let message = Activity {
        kind: "message".into(),
        ..Default::default()
    }
    .with_text("hi");
    for _ in 0..3 {
        connector
            .send(&standin.service_url, "a:1", &message)
            .await
            .unwrap();
    }
    assert_eq!(standin.token_requests(), 1);
    assert_eq!(standin.sent().len(), 3);
}

#[tokio::test]
async fn throttling_is_waited_out_and_persistent_failures_give_up() {
    let standin = ConnectorStandIn::start().await;
    let connector = client(&standin, SECRET);
    let message = Activity {
        kind: "message".into(),
        ..Default::default()
    }
    .with_text("hi");
    standin.fail_next(429, Some(1));
    standin.fail_next(503, None);
    connector
        .send(&standin.service_url, "a:1", &message)
        .await
        .unwrap();
    assert_eq!(
        standin.sent().len(),
        1,
        "delivered once, after two refusals"
    );

    for _ in 0..4 {
        standin.fail_next(500, None);
    }
    let err = connector
        .send(&standin.service_url, "a:1", &message)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::GaveUp {
                status: 500,
                attempts: 4
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient(), "a queue retries it later");

    standin.fail_next(429, Some(3600));
    let err = connector
        .send(&standin.service_url, "a:1", &message)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::GaveUp { status: 429, .. }),
        "an hour is not waited inside one call: {err:?}"
    );
}

#[tokio::test]
async fn a_bad_secret_or_a_refused_request_is_an_error_not_a_retry_loop() {
    let standin = ConnectorStandIn::start().await;
    let message = Activity {
        kind: "message".into(),
        ..Default::default()
    }
    .with_text("hi");
    let err = client(&standin, "wrong-secret")
        .send(&standin.service_url, "a:1", &message)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Token(_)), "{err:?}");
    assert!(standin.sent().is_empty());

    let connector = client(&standin, SECRET);
    standin.fail_next(403, None);
    let err = connector
        .send(&standin.service_url, "a:1", &message)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Rejected { status: 403 }),
        "{err:?}"
    );
    assert!(standin.sent().is_empty());
    let err = connector
        .send("http://bot.test/emea/", "a:1", &message)
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::ServiceUrl(_)), "{err:?}");
}

#[tokio::test]
async fn a_personal_conversation_is_created_for_proactive_messages() {
    let standin = ConnectorStandIn::start().await;
    let connector = client(&standin, SECRET);
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let id = connector
        .create_personal_conversation(&standin.service_url, "28:bot", "29:user", tenant)
        .await
        .unwrap();
    assert_eq!(id, "act-1");
    let sent = standin.sent();
    assert_eq!(sent[0].path, "/emea/v3/conversations");
    assert_eq!(
        sent[0].activity,
        json!({"isGroup": false, "bot": {"id": "28:bot"}, "members": [{"id": "29:user"}], "tenantId": tenant, "channelData": {"tenant": {"id": tenant}}})
    );
}
