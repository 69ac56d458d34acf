//! The Teams bot endpoint end to end, as the Functions host drives it: a
//! signed activity through the local host's front door, the reply through
//! `BotOutbox` to the Connector stand-in.

use std::time::Duration;

use reqwest::StatusCode;
use salestim::bot::conversations;
use salestim::ids::TenantId;
use serde_json::{Value, json};

use crate::support::app::{BotOptions, Options, TestApp, WrapQueues, spawn_app_with, wait_until};
use crate::support::botframework::{Channel, ChannelKey, ISSUER};
use crate::support::connector::{APP_ID, ConnectorStandIn, SECRET};
use crate::support::raw_http::HeadFirst;

pub(crate) struct Bot {
    pub app: TestApp,
    pub channel: Channel,
    pub key: ChannelKey,
    pub connector: ConnectorStandIn,
    /// The bot's tenant's Entra ID (a SingleTenant bot) and its key.
    pub entra: Option<(Channel, ChannelKey)>,
}

/// The bot's own tenant, for a SingleTenant bot.
const BOT_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

enum Identity {
    MultiTenant,
    /// In [`BOT_TENANT`], logging in there through `ENTRA_AUTHORITY_HOST`
    /// (the connector stand-in) and trusting that tenant's Entra ID.
    SingleTenant,
    /// No identity, `SALESTIM_BOT_AUTH_DISABLED=true` (`handler local`).
    AuthDisabled,
}

pub(crate) async fn spawn_bot() -> Bot {
    spawn(Identity::MultiTenant, Vec::new()).await
}

/// A multi-tenant bot with more settings.
pub(crate) async fn spawn_bot_with(settings: Vec<(&'static str, String)>) -> Bot {
    spawn(Identity::MultiTenant, settings).await
}

/// A multi-tenant bot with more settings, its queues wrapped (fault tests).
pub(crate) async fn spawn_bot_with_queues(
    settings: Vec<(&'static str, String)>,
    queues: WrapQueues,
) -> Bot {
    spawn_with(Identity::MultiTenant, settings, Some(queues)).await
}

async fn spawn(identity: Identity, settings: Vec<(&'static str, String)>) -> Bot {
    spawn_with(identity, settings, None).await
}

async fn spawn_with(
    identity: Identity,
    settings: Vec<(&'static str, String)>,
    queues: Option<WrapQueues>,
) -> Bot {
    let key = ChannelKey::generate("teams-key", &["msteams"]);
    let channel = Channel::start(&[&key]).await;
    let connector = match identity {
        Identity::AuthDisabled => ConnectorStandIn::start_accepting_anonymous().await,
        _ => ConnectorStandIn::start().await,
    };
    let mut bot = BotOptions {
        app_id: APP_ID,
        secret: SECRET,
        openid_metadata_url: channel.metadata_url.clone(),
        login_url: Some(connector.login_url.clone()),
        http: connector.client.clone(),
        auth_disabled: false,
        settings: vec![],
    };
    let mut entra = None;
    match identity {
        Identity::MultiTenant => {}
        Identity::SingleTenant => {
            let entra_key = ChannelKey::entra("entra-key");
            let entra_channel = Channel::start_entra(BOT_TENANT, &[&entra_key]).await;
            bot.login_url = None;
            bot.settings = vec![
                ("MicrosoftAppType", "SingleTenant".into()),
                ("MicrosoftAppTenantId", BOT_TENANT.into()),
                (
                    "ENTRA_AUTHORITY_HOST",
                    connector.authority_host().to_string(),
                ),
                (
                    "ToBotFromEmulatorOpenIdMetadataUrl",
                    entra_channel.metadata_url.to_string(),
                ),
            ];
            entra = Some((entra_channel, entra_key));
        }
        Identity::AuthDisabled => bot.auth_disabled = true,
    }
    let app = spawn_app_with(Options {
        bot: Some(bot),
        settings,
        queues,
        ..Options::default()
    })
    .await;
    Bot {
        app,
        channel,
        key,
        connector,
        entra,
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

    /// `text` typed by the tenant's user, with a valid token.
    pub(crate) async fn say(&self, tenant: &TenantId, text: &str) -> reqwest::Response {
        self.post(
            &self.activity(tenant, "message", Some(text)),
            Some(&self.token()),
        )
        .await
    }

    pub(crate) async fn post(&self, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self.app.http.post(self.app.url("api/messages")).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// A registered tenant with its own Stripe customer bound and an active
    /// subscription of 10 seats.
    pub(crate) async fn active_tenant(&self) -> TenantId {
        let tenant = self.app.add_tenant("Contoso").await;
        let customer = customer_of(&tenant);
        self.app.bind_customer(&tenant, &customer).await;
        let now = self.app.now();
        let event = json!({"id": format!("evt_{}", uuid::Uuid::new_v4().simple()), "object": "event", "type": "customer.subscription.updated", "created": now,
            "data": {"object": {"id": "sub_1", "customer": customer, "status": "active", "items": {"data": [{"quantity": 10, "price": {"id": "p"}}]}}}});
        assert_eq!(self.app.stripe_event(&event).await.status(), StatusCode::OK);
        self.app.drain("billing-events").await;
        tenant
    }

    /// A registered tenant on a SalesTim trial of `days` (no subscription).
    pub(crate) async fn trial_tenant(&self, days: u32) -> TenantId {
        let id = TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
        self.app
            .app
            .tenants
            .add_with_trial(&id, "Trial", Some(days))
            .await
            .expect("tenant added");
        id
    }

    pub(crate) async fn delivered(&self, n: usize) -> Vec<crate::support::connector::Sent> {
        wait_until(Duration::from_secs(20), || async {
            self.connector.sent().len() >= n
        })
        .await;
        self.connector.sent()
    }
}

/// The Stripe customer [`Bot::active_tenant`] binds to `tenant`.
pub(crate) fn customer_of(tenant: &TenantId) -> String {
    format!("cus_{}", tenant.as_str().replace('-', ""))
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
    let res = bot.say(&tenant, "what's the weather").await;
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
    assert_eq!(bot.say(&tenant, "help").await.status(), StatusCode::OK);
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
    // A MultiTenant bot trusts the Bot Framework only.
    let entra = ChannelKey::entra("entra-key").sign(&json!({"iss": format!("https://login.microsoftonline.com/{BOT_TENANT}/v2.0"),
        "aud": APP_ID, "azp": APP_ID, "ver": "2.0", "exp": now + 3600, "serviceurl": bot.connector.service_url}));
    for (name, token) in [
        ("no token", None),
        ("forged signature", Some(forged)),
        ("another bot's token", Some(other_bot)),
        ("an Entra ID token", Some(entra)),
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
async fn a_bad_token_is_answered_before_any_of_the_activity_is_sent() {
    let bot = spawn_bot().await;
    let tenant = TenantId::parse("0b9a3f4c-2d1e-4f5a-8b7c-6d5e4f3a2b1c").unwrap();
    let mut activity = bot.activity(&tenant, "typing", None);
    activity["padding"] = json!("x".repeat(200 * 1024));
    let body = serde_json::to_vec(&activity).unwrap();
    let now = bot.app.now();
    let claims = |aud: &str, exp: i64| json!({"iss": ISSUER, "aud": aud, "exp": exp, "serviceurl": bot.connector.service_url});
    for (name, token) in [
        ("no token", None),
        ("not a JWT", Some("not-a-token".to_owned())),
        (
            "another bot's token",
            Some(bot.key.sign(&claims("another-bot", now + 3600))),
        ),
        (
            "an expired token",
            Some(bot.key.sign(&claims(APP_ID, now - 3600))),
        ),
    ] {
        let mut post = HeadFirst::post(&bot.app.handler, "/api/messages", &body);
        if let Some(token) = token {
            post = post.header("authorization", format!("Bearer {token}"));
        }
        let res = post.answered_before_the_body().await;
        assert_eq!(res.status, 401, "{name}: {}", res.text());
    }
    // A valid token waits for the activity: it must vouch for its serviceUrl.
    let res = HeadFirst::post(&bot.app.handler, "/api/messages", &body)
        .header("authorization", format!("Bearer {}", bot.token()))
        .answered_after_the_body()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn a_reply_the_connector_keeps_refusing_ends_in_the_poison_queue_not_lost() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    // The inline attempt, then 5 deliveries of 4 attempts each, all failing.
    for _ in 0..21 {
        bot.connector.fail_next(500, None);
    }
    assert_eq!(bot.say(&tenant, "help").await.status(), StatusCode::OK);
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

#[tokio::test]
async fn a_single_tenant_bot_answers_an_entra_token_and_logs_in_to_its_own_tenant() {
    let bot = spawn(Identity::SingleTenant, Vec::new()).await;
    let tenant = bot.active_tenant().await;
    let (entra, entra_key) = bot.entra.as_ref().unwrap();
    let now = bot.app.now();
    let activity = bot.activity(&tenant, "message", Some("help"));
    // A v1.0 app-only token the bot requested for itself, without the
    // serviceurl claim: nothing vouches for where the reply would go, so
    // it is refused and nothing reaches the Connector.
    let mut claims = json!({"iss": format!("https://sts.windows.net/{BOT_TENANT}/"), "aud": APP_ID,
        "appid": APP_ID, "ver": "1.0", "tid": BOT_TENANT, "exp": now + 3600, "nbf": now - 5});
    let res = bot.post(&activity, Some(&entra_key.sign(&claims))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // With the claim, it is answered.
    claims["serviceurl"] = activity["serviceUrl"].clone();
    let res = bot.post(&activity, Some(&entra_key.sign(&claims))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let sent = bot.delivered(1).await;
    assert_eq!(sent.len(), 1, "the refused activity got no reply");
    assert!(card_texts(&sent[0].activity).contains("my requests"));
    assert!(sent[0].authorization.starts_with("Bearer tok-"));
    assert_eq!(
        bot.connector.token_paths(),
        [format!("/{BOT_TENANT}/oauth2/v2.0/token")],
        "the token comes from the bot's own tenant"
    );
    assert_eq!(entra.fetches(), 1);
    // The Bot Framework still works for it.
    let res = bot.say(&tenant, "help").await;
    assert_eq!(res.status(), StatusCode::OK);
    bot.delivered(2).await;
    // Another tenant's Entra ID is not trusted.
    let other = entra_key.sign(
        &json!({"iss": "https://sts.windows.net/0b9a3f4c-2d1e-4f5a-8b7c-6d5e4f3a2b1c/",
        "aud": APP_ID, "appid": APP_ID, "ver": "1.0", "exp": now + 3600}),
    );
    let res = bot
        .post(
            &bot.activity(&tenant, "message", Some("help")),
            Some(&other),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn with_authentication_disabled_locally_a_message_without_a_token_is_answered_without_one() {
    let bot = spawn(Identity::AuthDisabled, Vec::new()).await;
    let tenant = bot.active_tenant().await;
    let activity = bot.activity(&tenant, "message", Some("help"));
    let res = bot.post(&activity, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let sent = bot.delivered(1).await;
    assert_eq!(
        sent[0].path,
        format!(
            "/emea/v3/conversations/a%3A1personal-chat/activities/{}",
            activity["id"].as_str().unwrap()
        )
    );
    assert!(card_texts(&sent[0].activity).contains("my requests"));
    assert_eq!(sent[0].authorization, "", "no Authorization header");
    assert_eq!(bot.connector.token_requests(), 0);

    // The serviceUrl is still checked: plain http only to a tool on this
    // machine (loopback), never to another host.
    let mut plain_http = bot.activity(&tenant, "message", Some("help"));
    plain_http["serviceUrl"] = json!(bot.connector.service_url.replace("https://", "http://"));
    assert_eq!(bot.post(&plain_http, None).await.status(), StatusCode::OK);
    bot.app.drain("bot-outbox").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bot.connector.sent().len(),
        1,
        "nothing sent over http to another host"
    );
    assert_eq!(bot.app.queue_len("bot-outbox-poison").await, 0);
}

#[tokio::test]
async fn without_an_identity_or_the_local_switch_an_activity_without_a_token_is_not_taken() {
    let app = crate::support::app::spawn_app().await;
    let tenant = app.add_tenant("Contoso").await;
    let activity = json!({"type": "message", "id": "act-1", "channelId": "msteams", "serviceUrl": "https://smba.trafficmanager.net/emea/",
        "from": {"id": "29:user"}, "recipient": {"id": format!("28:{APP_ID}")},
        "conversation": {"id": "a:1personal-chat", "tenantId": tenant.as_str()},
        "channelData": {"tenant": {"id": tenant.as_str()}}, "text": "help"});
    let res = app
        .http
        .post(app.url("api/messages"))
        .json(&activity)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: Value = res.json().await.unwrap();
    assert!(problem.to_string().contains("not configured"), "{problem}");
    assert_eq!(app.queue_len("bot-outbox").await, 0);
}

#[tokio::test]
async fn the_gate_opens_as_soon_as_the_subscription_is_paid_and_a_chat_is_saved_once() {
    use salestim::platform::documents::{Container, Query};
    let bot = spawn_bot().await;
    let tenant = bot.app.add_tenant("Late payer").await;
    let say = |text: &str| {
        let mut a = bot.activity(&tenant, "message", Some(text));
        a["id"] = json!(format!("act-{}", uuid::Uuid::new_v4().simple()));
        a
    };
    bot.post(&say("help"), Some(&bot.token())).await;
    let sent = bot.delivered(1).await;
    assert!(card_texts(&sent[0].activity).contains("paused"));

    // The subscription starts: the very next message is served (the cached
    // gate is forgotten when the billing event is applied).
    bot.app.bind_customer(&tenant, "cus_9").await;
    let now = bot.app.now();
    let event = json!({"id": "evt_paid", "object": "event", "type": "customer.subscription.created", "created": now,
        "data": {"object": {"id": "sub_9", "customer": "cus_9", "status": "active", "items": {"data": [{"quantity": 5, "price": {"id": "p"}}]}}}});
    assert_eq!(bot.app.stripe_event(&event).await.status(), StatusCode::OK);
    bot.app.drain("billing-events").await;
    bot.post(&say("help"), Some(&bot.token())).await;
    let sent = bot.delivered(2).await;
    assert!(card_texts(&sent[1].activity).contains("Here is what I can do"));

    let stored = || async {
        bot.app
            .app
            .docs
            .query(
                Container::Tenants,
                &tenant,
                &Query::of_type("conversationRef"),
            )
            .await
            .unwrap()
    };
    let first = stored().await;
    assert_eq!(first.len(), 1);
    bot.post(&say("help"), Some(&bot.token())).await;
    bot.delivered(3).await;
    assert_eq!(
        stored().await[0].etag,
        first[0].etag,
        "the same chat is not rewritten on every message"
    );
}

fn welcomes(sent: &[crate::support::connector::Sent]) -> usize {
    sent.iter()
        .filter(|s| card_texts(&s.activity).contains("Welcome to SalesTim"))
        .count()
}

#[tokio::test]
async fn a_personal_install_is_greeted_once_though_teams_sends_two_events_at_once() {
    let bot = spawn_bot().await;
    let tenant = bot.trial_tenant(30).await;
    let install = |action: &str| {
        let mut a = bot.activity(&tenant, "installationUpdate", None);
        a["action"] = json!(action);
        a
    };
    let mut added = bot.activity(&tenant, "conversationUpdate", None);
    added["membersAdded"] = json!([{"id": "29:user"}, {"id": format!("28:{APP_ID}")}]);
    let token = bot.token();
    // What Teams (and the Agents Playground) send for one personal install.
    let add = install("add");
    let (a, b) = tokio::join!(bot.post(&add, Some(&token)), bot.post(&added, Some(&token)));
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    bot.delivered(1).await;
    bot.app.drain("bot-outbox").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        welcomes(&bot.connector.sent()),
        1,
        "one welcome per install"
    );

    // Teams retrying an event, or an app upgrade, greets no one again.
    assert_eq!(
        bot.post(&added, Some(&token)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        bot.post(&install("add-upgrade"), Some(&token))
            .await
            .status(),
        StatusCode::OK
    );
    bot.app.drain("bot-outbox").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(welcomes(&bot.connector.sent()), 1);

    // Removed and installed again: a new welcome.
    assert_eq!(
        bot.post(&install("remove"), Some(&token)).await.status(),
        StatusCode::OK
    );
    let add = install("add");
    let (a, b) = tokio::join!(bot.post(&add, Some(&token)), bot.post(&added, Some(&token)));
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    bot.delivered(2).await;
    bot.app.drain("bot-outbox").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(welcomes(&bot.connector.sent()), 2);
}

#[tokio::test]
async fn a_tenant_on_a_salestim_trial_is_served_until_the_trial_ends() {
    let bot = spawn_bot().await;
    let tenant = bot.trial_tenant(30).await;
    let entitlement = bot.app.app.billing.entitlement(&tenant).await.unwrap();
    assert!(entitlement.active);
    assert_eq!(entitlement.reason, "trialing (SalesTim trial)");
    bot.say(&tenant, "help").await;
    let sent = bot.delivered(1).await;
    assert!(
        card_texts(&sent[0].activity).contains("Here is what I can do"),
        "{}",
        card_texts(&sent[0].activity)
    );

    bot.app.clock.advance(time::Duration::days(30));
    let entitlement = bot.app.app.billing.entitlement(&tenant).await.unwrap();
    assert!(!entitlement.active);
    assert_eq!(entitlement.reason, "SalesTim trial ended");
    bot.say(&tenant, "help").await;
    let sent = bot.delivered(2).await;
    assert!(
        card_texts(&sent[1].activity).contains("SalesTim trial ended"),
        "{}",
        card_texts(&sent[1].activity)
    );
}
