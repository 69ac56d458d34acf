//! The forged-token matrix: every way a token can be wrong is refused, with
//! the channel stand-in serving real keys made at test time.

use std::sync::Arc;

use salestim::bot::auth::{AuthError, BotAuthenticator};
use salestim::bot::openid::KeySource;
use salestim::platform::clock::{Clock, ManualClock};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::support::botframework::{Channel, ChannelKey, ISSUER};

const APP_ID: &str = "5f6d1e0a-1111-4d5b-9c55-0123456789ab";
const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";

struct Fixture {
    auth: BotAuthenticator,
    clock: Arc<ManualClock>,
    channel: Channel,
    teams: ChannelKey,
    webchat_only: ChannelKey,
}

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
            endorsements: vec![],
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
    // Keys older than a day are refreshed even when the kid is known.
    f.clock.advance(time::Duration::hours(25));
    assert_eq!(f.check(&rotated.sign(&f.claims())).await, Ok(()));
    assert_eq!(f.channel.fetches(), 3);
}
