//! The Teams bot endpoint end to end, as the Functions host drives it: a
//! signed activity through the local host's front door, the reply through
//! `BotOutbox` to the Connector stand-in.

use std::time::Duration;

use reqwest::StatusCode;
use salestim::bot::conversations;
use salestim::ids::TenantId;
use serde_json::{Value, json};

use crate::support::app::{BotOptions, Options, TestApp, spawn_app_with, wait_until};
use crate::support::botframework::{Channel, ChannelKey, ISSUER};
use crate::support::connector::{APP_ID, ConnectorStandIn, SECRET};

pub(crate) struct Bot {
    pub app: TestApp,
    pub channel: Channel,
    pub key: ChannelKey,
    pub connector: ConnectorStandIn,
}

pub(crate) async fn spawn_bot() -> Bot {
    spawn_bot_with(Vec::new()).await
}

pub(crate) async fn spawn_bot_with(settings: Vec<(&'static str, String)>) -> Bot {
    let key = ChannelKey::generate("teams-key", &["msteams"]);
    let channel = Channel::start(&[&key]).await;
    let connector = ConnectorStandIn::start().await;
    let bot = BotOptions {
        app_id: APP_ID,
        secret: SECRET,
        openid_metadata_url: channel.metadata_url.clone(),
        login_url: connector.login_url.clone(),
        http: connector.client.clone(),
    };
    let app = spawn_app_with(Options {
        bot: Some(bot),
        settings,
        ..Options::default()
    })
    .await;
    Bot {
        app,
        channel,
        key,
        connector,
    }
}

impl Bot {
    pub(crate) fn token(&self) -> String {
        let now = self.app.now();
        self.key.sign(&json!({"iss": ISSUER, "aud": APP_ID, "exp": now + 3600, "nbf": now - 5, "serviceurl": self.connector.service_url}))
    }

    pub(crate) fn activity(&self, tenant: &TenantId, kind: &str, text: Option<&str>) -> Value {
        json!({
            "type": kind, "id": format!("act-in-{}", uuid::Uuid::new_v4().simple()), "channelId": "msteams", "serviceUrl": self.connector.service_url,
            "from": {"id": "29:user", "aadObjectId": "00000000-0000-0000-0000-0000000000aa"}, "recipient": {"id": format!("28:{APP_ID}")},
            "conversation": {"id": "a:1personal-chat", "conversationType": "personal", "tenantId": tenant.as_str()},
            "channelData": {"tenant": {"id": tenant.as_str()}}, "text": text, "locale": "en-US"
        })
    }

    pub(crate) async fn post(&self, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self.app.http.post(self.app.url("api/messages")).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn active_tenant(&self) -> TenantId {
        let tenant = self.app.add_tenant("Contoso").await;
        let now = self.app.now();
        let event = json!({"id": format!("evt_{}", uuid::Uuid::new_v4().simple()), "object": "event", "type": "customer.subscription.updated", "created": now,
            "data": {"object": {"id": "sub_1", "customer": "cus_1", "status": "active", "metadata": {"tenantId": tenant.as_str()}, "items": {"data": [{"quantity": 10, "price": {"id": "p"}}]}}}});
        assert_eq!(self.app.stripe_event(&event).await.status(), StatusCode::OK);
        self.app.drain("billing-events").await;
        tenant
    }

    pub(crate) async fn delivered(&self, n: usize) -> Vec<crate::support::connector::Sent> {
        wait_until(Duration::from_secs(20), || async {
            self.connector.sent().len() >= n
        })
        .await;
        self.connector.sent()
    }
}

pub(crate) fn card_texts(activity: &Value) -> String {
    activity["attachments"][0]["content"]["body"].to_string()
}

#[tokio::test]
async fn help_in_a_personal_chat_gets_the_help_card_as_a_reply() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    let activity = bot.activity(&tenant, "message", Some("<at>SalesTim</at> Help"));
    let res = bot.post(&activity, Some(&bot.token())).await;
    assert_eq!(res.status(), StatusCode::OK);
    let sent = bot.delivered(1).await;
    assert_eq!(
        sent[0].path,
        format!(
            "/emea/v3/conversations/a%3A1personal-chat/activities/{}",
            activity["id"].as_str().unwrap()
        )
    );
    assert_eq!(
        sent[0].activity["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(card_texts(&sent[0].activity).contains("my requests"));
    let refs = conversations::list(bot.app.app.docs.as_ref(), &tenant)
        .await
        .unwrap();
    assert_eq!(
        refs.len(),
        1,
        "the conversation is remembered for proactive messages"
    );
    assert_eq!(
        refs[0].user_aad_id.as_deref(),
        Some("00000000-0000-0000-0000-0000000000aa")
    );
}

#[tokio::test]
async fn unknown_text_gets_a_friendly_help_card_never_silence() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    let res = bot
        .post(
            &bot.activity(&tenant, "message", Some("what's the weather")),
            Some(&bot.token()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let sent = bot.delivered(1).await;
    assert!(card_texts(&sent[0].activity).contains("what's the weather"));
}

#[tokio::test]
async fn installing_the_app_stores_the_conversation_and_sends_a_welcome() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    let mut update = bot.activity(&tenant, "conversationUpdate", None);
    update["membersAdded"] = json!([{"id": format!("28:{APP_ID}")}]);
    assert_eq!(
        bot.post(&update, Some(&bot.token())).await.status(),
        StatusCode::OK
    );
    let sent = bot.delivered(1).await;
    assert!(card_texts(&sent[0].activity).contains("Welcome to SalesTim"));
    assert!(
        sent[0].path.ends_with("/activities"),
        "a new message, not a reply: {}",
        sent[0].path
    );
    assert_eq!(
        conversations::list(bot.app.app.docs.as_ref(), &tenant)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_tenant_without_an_active_subscription_is_told_so_and_nothing_is_stored() {
    let bot = spawn_bot().await;
    let tenant = bot.app.add_tenant("No subscription").await;
    assert_eq!(
        bot.post(
            &bot.activity(&tenant, "message", Some("help")),
            Some(&bot.token())
        )
        .await
        .status(),
        StatusCode::OK
    );
    let sent = bot.delivered(1).await;
    assert!(
        card_texts(&sent[0].activity).contains("paused"),
        "{}",
        card_texts(&sent[0].activity)
    );
    assert!(
        conversations::list(bot.app.app.docs.as_ref(), &tenant)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn forged_tokens_malformed_and_oversized_activities_are_refused_and_change_nothing() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    let activity = bot.activity(&tenant, "message", Some("help"));
    let stranger = ChannelKey::generate("teams-key", &["msteams"]);
    let now = bot.app.now();
    let forged = stranger.sign(&json!({"iss": ISSUER, "aud": APP_ID, "exp": now + 3600, "serviceurl": bot.connector.service_url}));
    let other_bot = bot.key.sign(&json!({"iss": ISSUER, "aud": "another-bot", "exp": now + 3600, "serviceurl": bot.connector.service_url}));
    for (name, token) in [
        ("no token", None),
        ("forged signature", Some(forged)),
        ("another bot's token", Some(other_bot)),
    ] {
        let res = bot.post(&activity, token.as_deref()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    let mut wrong_service = activity.clone();
    wrong_service["serviceUrl"] = json!("https://attacker.example/");
    assert_eq!(
        bot.post(&wrong_service, Some(&bot.token())).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let res = bot
        .app
        .http
        .post(bot.app.url("api/messages"))
        .bearer_auth(bot.token())
        .body("{\"type\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = bot
        .app
        .http
        .post(bot.app.url("api/messages"))
        .bearer_auth(bot.token())
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bot.connector.sent().is_empty(), "nothing was sent");
    assert_eq!(bot.app.queue_len("bot-outbox").await, 0);
    assert!(
        conversations::list(bot.app.app.docs.as_ref(), &tenant)
            .await
            .unwrap()
            .is_empty(),
        "nothing was written"
    );
    assert!(bot.channel.fetches() >= 1);
}

#[tokio::test]
async fn a_reply_the_connector_keeps_refusing_ends_in_the_poison_queue_not_lost() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    // 5 deliveries of 4 attempts each, all failing.
    for _ in 0..20 {
        bot.connector.fail_next(500, None);
    }
    assert_eq!(
        bot.post(
            &bot.activity(&tenant, "message", Some("help")),
            Some(&bot.token())
        )
        .await
        .status(),
        StatusCode::OK
    );
    wait_until(Duration::from_secs(60), || async {
        bot.app.queue_len("bot-outbox-poison").await == 1
    })
    .await;
    assert!(bot.connector.sent().is_empty());
}

#[tokio::test]
async fn without_a_bot_identity_the_endpoint_answers_503() {
    let app = crate::support::app::spawn_app().await;
    let res = app
        .http
        .post(app.url("api/messages"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
}
