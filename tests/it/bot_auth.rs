//! The forged-token matrix: every way a token can be wrong is refused, with
//! the channel stand-in serving real keys made at test time; and the same
//! for the Entra ID tokens a SingleTenant bot also accepts.

use std::sync::Arc;
use std::time::Duration;

use salestim::bot::auth::{AuthError, BotAuthenticator};
use salestim::bot::openid::KeySource;
use salestim::platform::clock::{Clock, ManualClock};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::support::app::wait_until;
use crate::support::botframework::{Channel, ChannelKey, ISSUER, entra_issuers};

const APP_ID: &str = "5f6d1e0a-1111-4d5b-9c55-0123456789ab";
const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";

/// The bot's own tenant (a SingleTenant bot), and someone else's.
const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const OTHER_TENANT: &str = "0b9a3f4c-2d1e-4f5a-8b7c-6d5e4f3a2b1c";

struct Fixture {
    auth: BotAuthenticator,
    clock: Arc<ManualClock>,
    channel: Channel,
    teams: ChannelKey,
    webchat_only: ChannelKey,
}

/// A MultiTenant bot: the Bot Framework is its only issuer.
async fn fixture() -> Fixture {
    let teams = ChannelKey::generate("teams-key", &["msteams", "webchat"]);
    let webchat_only = ChannelKey::generate("webchat-key", &["webchat"]);
    let channel = Channel::start(&[&teams, &webchat_only]).await;
    let keys = KeySource::new(channel.metadata_url.clone(), reqwest::Client::new());
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    Fixture {
        auth: BotAuthenticator::new(APP_ID.into(), ISSUER.into(), keys),
        clock,
        channel,
        teams,
        webchat_only,
    }
}

/// A SingleTenant bot in [`TENANT`]: the Bot Framework, and Entra ID in its
/// tenant (a second stand-in, with its own keys).
struct SingleTenant {
    bf: Fixture,
    entra: Channel,
    entra_key: ChannelKey,
}

async fn single_tenant() -> SingleTenant {
    let mut bf = fixture().await;
    let entra_key = ChannelKey::entra("entra-key");
    let entra = Channel::start_entra(TENANT, &[&entra_key]).await;
    let keys = KeySource::new(entra.metadata_url.clone(), reqwest::Client::new());
    bf.auth = bf.auth.with_entra(entra_issuers(TENANT).to_vec(), keys);
    SingleTenant {
        bf,
        entra,
        entra_key,
    }
}

impl SingleTenant {
    /// What Entra ID issues to the bot asking for a token for itself (app
    /// only: `roles`, no `scp`): v2.0 names the requester in `azp`; the
    /// caller adds the `serviceurl` it vouches for.
    fn v2_claims(&self) -> Value {
        let now = self.bf.clock.now().unix_timestamp();
        let [v2, _] = entra_issuers(TENANT);
        json!({"iss": v2, "aud": APP_ID, "azp": APP_ID, "ver": "2.0", "tid": TENANT,
               "oid": "3f0b4c1e-5d6a-4b7c-8d9e-0a1b2c3d4e5f", "sub": "3f0b4c1e-5d6a-4b7c-8d9e-0a1b2c3d4e5f",
               "roles": [], "serviceurl": SERVICE_URL,
               "exp": now + 3600, "nbf": now - 10, "iat": now - 10})
    }

    /// A v1.0 token names the requester in `appid`.
    fn v1_claims(&self) -> Value {
        let now = self.bf.clock.now().unix_timestamp();
        let [_, v1] = entra_issuers(TENANT);
        json!({"iss": v1, "aud": APP_ID, "appid": APP_ID, "ver": "1.0", "tid": TENANT,
               "serviceurl": SERVICE_URL, "exp": now + 3600, "nbf": now - 10, "iat": now - 10})
    }

    async fn check(&self, token: &str) -> Result<(), AuthError> {
        self.bf.check(token).await
    }
}

impl Fixture {
    fn claims(&self) -> Value {
        let now = self.clock.now().unix_timestamp();
        json!({"iss": ISSUER, "aud": APP_ID, "exp": now + 3600, "nbf": now - 10, "serviceurl": SERVICE_URL})
    }

    async fn check(&self, token: &str) -> Result<(), AuthError> {
        self.auth
            .authenticate(
                Some(&format!("Bearer {token}")),
                "msteams",
                SERVICE_URL,
                self.clock.as_ref(),
            )
            .await
            .map(|_| ())
    }
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[tokio::test]
async fn a_token_signed_by_the_channel_is_accepted() {
    let f = fixture().await;
    let claims = f
        .auth
        .authenticate(
            Some(&format!("Bearer {}", f.teams.sign(&f.claims()))),
            "msteams",
            SERVICE_URL,
            f.clock.as_ref(),
        )
        .await
        .unwrap();
    assert_eq!(claims.aud, APP_ID);
    assert_eq!(claims.serviceurl.as_deref(), Some(SERVICE_URL));
}

#[tokio::test]
async fn forged_tokens_are_refused_each_for_its_reason() {
    let f = fixture().await;
    let now = f.clock.now().unix_timestamp();
    let good = f.teams.sign(&f.claims());
    let b64 = |v: &Value| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v.to_string(),
        )
    };
    let parts: Vec<&str> = good.split('.').collect();

    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "teams-key"})),
        parts[1]
    );
    let hs256_with_public_key = {
        use rsa::pkcs1::EncodeRsaPublicKey;
        let pem = f
            .teams
            .public()
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("teams-key".into());
        jsonwebtoken::encode(
            &header,
            &f.claims(),
            &jsonwebtoken::EncodingKey::from_secret(pem.as_bytes()),
        )
        .unwrap()
    };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with(f.claims(), "aud", json!("another-bot"))),
        parts[2]
    );
    let unknown_kid = {
        let stranger = ChannelKey::generate("not-published", &["msteams"]);
        stranger.sign(&f.claims())
    };

    let cases: Vec<(&str, String, AuthError)> = vec![
        ("alg none", alg_none, AuthError::Malformed),
        (
            "HS256 signed with the public key",
            hs256_with_public_key,
            AuthError::Algorithm,
        ),
        (
            "wrong issuer",
            f.teams.sign(&with(
                f.claims(),
                "iss",
                json!("https://sts.windows.net/evil/"),
            )),
            AuthError::Issuer,
        ),
        (
            "wrong audience",
            f.teams.sign(&with(
                f.claims(),
                "aud",
                json!("https://graph.microsoft.com"),
            )),
            AuthError::Audience,
        ),
        (
            "token for another bot",
            f.teams.sign(&with(
                f.claims(),
                "aud",
                json!("0000aaaa-1111-2222-3333-444455556666"),
            )),
            AuthError::Audience,
        ),
        (
            "expired",
            f.teams.sign(&with(f.claims(), "exp", json!(now - 301))),
            AuthError::Expired,
        ),
        (
            "not yet valid",
            f.teams.sign(&with(f.claims(), "nbf", json!(now + 301))),
            AuthError::NotYetValid,
        ),
        ("unknown kid", unknown_kid, AuthError::UnknownKey),
        (
            "key without the endorsement",
            f.webchat_only.sign(&f.claims()),
            AuthError::Endorsement,
        ),
        (
            "serviceUrl mismatch",
            f.teams.sign(&with(
                f.claims(),
                "serviceurl",
                json!("https://attacker.example/"),
            )),
            AuthError::ServiceUrl,
        ),
        (
            "no serviceurl claim",
            f.teams.sign(&{
                let mut c = f.claims();
                c.as_object_mut().unwrap().remove("serviceurl");
                c
            }),
            AuthError::ServiceUrl,
        ),
        (
            "no exp",
            f.teams.sign(&{
                let mut c = f.claims();
                c.as_object_mut().unwrap().remove("exp");
                c
            }),
            AuthError::Malformed,
        ),
        ("tampered payload", tampered, AuthError::Signature),
        ("garbage", "not.a.jwt".into(), AuthError::Malformed),
    ];
    for (name, token, expected) in cases {
        assert_eq!(f.check(&token).await, Err(expected), "{name}");
    }
    // Inside the 5-minute skew both ways, the same token is fine.
    assert_eq!(
        f.check(&f.teams.sign(&with(f.claims(), "exp", json!(now - 299))))
            .await,
        Ok(())
    );
    assert_eq!(
        f.check(&f.teams.sign(&with(f.claims(), "nbf", json!(now + 299))))
            .await,
        Ok(())
    );
}

#[tokio::test]
async fn missing_or_non_bearer_headers_are_refused() {
    let f = fixture().await;
    let token = f.teams.sign(&f.claims());
    for header in [
        None,
        Some(String::new()),
        Some("Bearer ".into()),
        Some(format!("Basic {token}")),
        Some(format!("bearer{token}")),
    ] {
        let result = f
            .auth
            .authenticate(header.as_deref(), "msteams", SERVICE_URL, f.clock.as_ref())
            .await;
        assert_eq!(result.unwrap_err(), AuthError::Missing, "{header:?}");
    }
    let huge = format!("Bearer {}", "a".repeat(20_000));
    assert_eq!(
        f.auth
            .authenticate(Some(&huge), "msteams", SERVICE_URL, f.clock.as_ref())
            .await
            .unwrap_err(),
        AuthError::Malformed
    );
}

#[tokio::test]
async fn a_token_reused_after_its_expiry_is_refused() {
    let f = fixture().await;
    let token = f.teams.sign(&f.claims());
    assert_eq!(f.check(&token).await, Ok(()));
    f.clock.advance(time::Duration::seconds(3600 + 301));
    assert_eq!(f.check(&token).await, Err(AuthError::Expired));
}

#[tokio::test]
async fn unknown_key_ids_cannot_make_the_endpoint_hammer_the_key_server() {
    let f = fixture().await;
    assert_eq!(f.check(&f.teams.sign(&f.claims())).await, Ok(()));
    assert_eq!(f.channel.fetches(), 1);
    for i in 0..50 {
        let forged = ChannelKey {
            kid: format!("made-up-{i}"),
            private: f.teams.private.clone(),
            endorsements: None,
        };
        assert_eq!(
            f.check(&forged.sign(&f.claims())).await,
            Err(AuthError::UnknownKey)
        );
    }
    assert_eq!(
        f.channel.fetches(),
        1,
        "within 5 minutes of a fetch, unknown kids do not refetch"
    );

    // A rotated key is picked up once the refresh window has passed.
    let rotated = ChannelKey::generate("rotated-key", &["msteams"]);
    f.channel.publish(&rotated);
    f.clock.advance(time::Duration::minutes(5));
    assert_eq!(f.check(&rotated.sign(&f.claims())).await, Ok(()));
    assert_eq!(f.channel.fetches(), 2);
    // Keys older than a day are refreshed even when the kid is known (in
    // the background: the token is checked with the keys we have).
    f.clock.advance(time::Duration::hours(25));
    assert_eq!(f.check(&rotated.sign(&f.claims())).await, Ok(()));
    wait_until(Duration::from_secs(20), || async {
        f.channel.fetches() == 3
    })
    .await;
}

/// Turns "this never finished" into a failure instead of a hung test; the
/// behaviour asserted is the order of events, not how long they took.
async fn or_hang<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting"))
}

#[tokio::test]
async fn a_refresh_in_flight_does_not_hold_up_tokens_signed_by_known_keys() {
    let f = Arc::new(fixture().await);
    assert_eq!(f.check(&f.teams.sign(&f.claims())).await, Ok(()));
    assert_eq!(f.channel.fetches(), 1);

    // A token with a key id we do not know starts a refresh, which the
    // stand-in holds on the wire.
    f.clock.advance(time::Duration::minutes(5));
    let rotated = ChannelKey::generate("rotated-key", &["msteams"]);
    f.channel.publish(&rotated);
    f.channel.hold_keys();
    let unknown = tokio::spawn({
        let f = f.clone();
        let token = rotated.sign(&f.claims());
        async move { f.check(&token).await }
    });
    wait_until(Duration::from_secs(20), || async {
        f.channel.fetches() == 2
    })
    .await;

    // Meanwhile a token signed by a cached key is checked at once.
    let known = or_hang(
        "a known key waited for the refresh",
        f.check(&f.teams.sign(&f.claims())),
    )
    .await;
    assert_eq!(known, Ok(()));
    assert!(
        !unknown.is_finished(),
        "the refresh was still in flight when the known key was served"
    );

    // The unknown-kid token waited for that refresh and is then accepted.
    f.channel.release_keys();
    assert_eq!(or_hang("the refresh", unknown).await.unwrap(), Ok(()));
    assert_eq!(f.channel.fetches(), 2);
}

#[tokio::test]
async fn keys_past_their_age_are_refreshed_behind_the_tokens_they_still_validate() {
    let f = fixture().await;
    assert_eq!(f.check(&f.teams.sign(&f.claims())).await, Ok(()));

    // A day later the known key still validates while the refresh it
    // starts is held; the refresh then completes and brings a new key.
    f.clock.advance(time::Duration::hours(25));
    f.channel.hold_keys();
    let late = ChannelKey::generate("late-key", &["msteams"]);
    f.channel.publish(&late);
    let known = or_hang(
        "a day-old key waited for the refresh",
        f.check(&f.teams.sign(&f.claims())),
    )
    .await;
    assert_eq!(known, Ok(()));
    wait_until(Duration::from_secs(20), || async {
        f.channel.fetches() == 2
    })
    .await;
    f.channel.release_keys();
    // The key the held answer carried is there, without another fetch
    // (an unknown kid within 5 minutes of an attempt does not refetch).
    assert_eq!(
        or_hang("the refresh", f.check(&late.sign(&f.claims()))).await,
        Ok(())
    );
    assert_eq!(f.channel.fetches(), 2);
}

#[tokio::test]
async fn concurrent_tokens_with_a_new_key_share_one_fetch() {
    let f = Arc::new(fixture().await);
    assert_eq!(f.check(&f.teams.sign(&f.claims())).await, Ok(()));
    f.clock.advance(time::Duration::minutes(5));
    let rotated = ChannelKey::generate("rotated-key", &["msteams"]);
    f.channel.publish(&rotated);
    f.channel.hold_keys();
    let token = rotated.sign(&f.claims());
    let checks: Vec<_> = (0..20)
        .map(|_| {
            let (f, token) = (f.clone(), token.clone());
            tokio::spawn(async move { f.check(&token).await })
        })
        .collect();
    wait_until(Duration::from_secs(20), || async {
        f.channel.fetches() == 2
    })
    .await;
    // Let every check reach the refresh before it is answered.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    f.channel.release_keys();
    for check in checks {
        assert_eq!(or_hang("a check", check).await.unwrap(), Ok(()));
    }
    assert_eq!(f.channel.fetches(), 2, "one fetch for all of them");
}

#[tokio::test]
async fn a_single_tenant_bot_accepts_entra_tokens_from_its_own_tenant() {
    let st = single_tenant().await;
    let sign = |c: &Value| st.entra_key.sign(c);
    assert_eq!(
        st.check(&sign(&st.v2_claims())).await,
        Ok(()),
        "v2.0 issuer"
    );
    assert_eq!(
        st.check(&sign(&st.v1_claims())).await,
        Ok(()),
        "v1.0 (sts.windows.net) issuer"
    );
    assert_eq!(
        st.check(&sign(&with(st.v2_claims(), "idtyp", json!("app"))))
            .await,
        Ok(()),
        "idtyp says app"
    );
    // The Bot Framework keeps working as before, keys kept apart.
    assert_eq!(st.check(&st.bf.teams.sign(&st.bf.claims())).await, Ok(()));
    assert_eq!(st.entra.fetches(), 1);
    assert_eq!(st.bf.channel.fetches(), 1);
}

#[tokio::test]
async fn entra_tokens_are_refused_each_for_its_reason() {
    let st = single_tenant().await;
    let now = st.bf.clock.now().unix_timestamp();
    let sign = |c: &Value| st.entra_key.sign(c);
    let [other_v2, other_v1] = entra_issuers(OTHER_TENANT);
    let without = |mut c: Value, key: &str| {
        c.as_object_mut().unwrap().remove(key);
        c
    };
    let cases: Vec<(&str, String, AuthError)> = vec![
        (
            "another tenant's v2.0 issuer",
            sign(&with(st.v2_claims(), "iss", json!(other_v2))),
            AuthError::Issuer,
        ),
        (
            "another tenant's v1.0 issuer",
            sign(&with(st.v1_claims(), "iss", json!(other_v1))),
            AuthError::Issuer,
        ),
        (
            "the common endpoint's issuer",
            sign(&with(
                st.v2_claims(),
                "iss",
                json!("https://login.microsoftonline.com/common/v2.0"),
            )),
            AuthError::Issuer,
        ),
        (
            "the v1.0 issuer shape on the v2.0 host",
            sign(&with(
                st.v2_claims(),
                "iss",
                json!(format!("https://login.microsoftonline.com/{TENANT}/")),
            )),
            AuthError::Issuer,
        ),
        (
            "audience of another app",
            sign(&with(
                st.v2_claims(),
                "aud",
                json!("0000aaaa-1111-2222-3333-444455556666"),
            )),
            AuthError::Audience,
        ),
        (
            "audience as an api:// URI (botbuilder checks the bare app id)",
            sign(&with(
                st.v2_claims(),
                "aud",
                json!(format!("api://{APP_ID}")),
            )),
            AuthError::Audience,
        ),
        (
            "audience Microsoft Graph",
            sign(&with(
                st.v1_claims(),
                "aud",
                json!("https://graph.microsoft.com"),
            )),
            AuthError::Audience,
        ),
        (
            "serviceurl present and different",
            sign(&with(
                st.v2_claims(),
                "serviceurl",
                json!("https://attacker.example/"),
            )),
            AuthError::ServiceUrl,
        ),
        (
            "no serviceurl: nothing vouches for the activity's serviceUrl",
            sign(&without(st.v2_claims(), "serviceurl")),
            AuthError::ServiceUrl,
        ),
        (
            "v1.0 without serviceurl",
            sign(&without(st.v1_claims(), "serviceurl")),
            AuthError::ServiceUrl,
        ),
        (
            "a user's token (delegated scopes) requested by the bot",
            sign(&with(st.v2_claims(), "scp", json!("access_as_user"))),
            AuthError::NotAppOnly,
        ),
        (
            "a v1.0 user token",
            sign(&with(st.v1_claims(), "scp", json!("user_impersonation"))),
            AuthError::NotAppOnly,
        ),
        (
            "idtyp says user",
            sign(&with(st.v2_claims(), "idtyp", json!("user"))),
            AuthError::NotAppOnly,
        ),
        (
            "idtyp says app, but scopes are there",
            sign(&with(
                with(st.v2_claims(), "idtyp", json!("app")),
                "scp",
                json!("x"),
            )),
            AuthError::NotAppOnly,
        ),
        (
            "requested by another application (v2.0 azp)",
            sign(&with(
                st.v2_claims(),
                "azp",
                json!("0000aaaa-1111-2222-3333-444455556666"),
            )),
            AuthError::Caller,
        ),
        (
            "requested by another application (v1.0 appid)",
            sign(&with(
                st.v1_claims(),
                "appid",
                json!("0000aaaa-1111-2222-3333-444455556666"),
            )),
            AuthError::Caller,
        ),
        (
            "v2.0 naming the requester only in appid",
            sign(&with(
                without(st.v2_claims(), "azp"),
                "appid",
                json!(APP_ID),
            )),
            AuthError::Caller,
        ),
        (
            "no version claim",
            sign(&without(st.v1_claims(), "ver")),
            AuthError::Caller,
        ),
        (
            "expired",
            sign(&with(st.v2_claims(), "exp", json!(now - 301))),
            AuthError::Expired,
        ),
        (
            "an Entra issuer signed with a Bot Framework key",
            st.bf.teams.sign(&st.v2_claims()),
            AuthError::UnknownKey,
        ),
        (
            "the Bot Framework issuer signed with the Entra key",
            sign(&st.bf.claims()),
            AuthError::UnknownKey,
        ),
        (
            "signed by a stranger's key of the same kid",
            ChannelKey::entra("entra-key").sign(&st.v2_claims()),
            AuthError::Signature,
        ),
    ];
    for (name, token, expected) in cases {
        assert_eq!(st.check(&token).await, Err(expected), "{name}");
    }
}

#[tokio::test]
async fn a_multi_tenant_bot_refuses_entra_issued_tokens() {
    let f = fixture().await;
    let entra_key = ChannelKey::entra("entra-key");
    let entra = Channel::start_entra(TENANT, &[&entra_key]).await;
    let now = f.clock.now().unix_timestamp();
    for iss in entra_issuers(TENANT) {
        let token = entra_key.sign(
            &json!({"iss": iss, "aud": APP_ID, "azp": APP_ID, "appid": APP_ID,
            "ver": "2.0", "exp": now + 3600, "nbf": now - 10, "serviceurl": SERVICE_URL}),
        );
        assert_eq!(f.check(&token).await, Err(AuthError::Issuer), "{iss}");
    }
    assert_eq!(
        f.channel.fetches(),
        0,
        "an untrusted issuer is refused before any key is fetched"
    );
    assert_eq!(entra.fetches(), 0);
}
