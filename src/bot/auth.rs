//! Inbound Bot Framework authentication: the checks botbuilder's
//! `ChannelValidation` / `JwtTokenExtractor` make, and no fewer.
//!
//! 1. `Authorization: Bearer <JWT>`; the header's `alg` is RS256/384/512
//!    (never `none` or an HMAC).
//! 2. The token's (not yet verified) `iss` picks whom to trust: the Bot
//!    Framework, or, for a SingleTenant bot only, Entra ID in the bot's own
//!    tenant. Any other issuer is refused before any key is fetched.
//! 3. The key is found by `kid` among that issuer's OpenID keys.
//! 4. The signature verifies; `iss` is that issuer; `aud` is this bot's app
//!    id; `exp`/`nbf` hold with 5 minutes of clock skew (by the injected
//!    clock).
//! 5. The key's `endorsements`, when present, contain the activity's
//!    `channelId` (Entra keys carry none).
//! 6. The `serviceurl` claim equals the activity's `serviceUrl`, for every
//!    issuer. The bot sends its Connector token to that URL when it
//!    replies, and to the conversation references it stores from the
//!    activity; so no activity is taken whose serviceUrl a validated claim
//!    does not vouch for (botbuilder's `EmulatorValidation` lets Entra
//!    tokens omit it: we do not).
//! 7. Entra tokens are app-only tokens of the bot itself: requested by the
//!    bot (`appid` in a v1.0 token, `azp` in a v2.0 one, equal to the app
//!    id; a token another application asked for is what botbuilder calls a
//!    skill token, refused without an allow-list, and we have none), and
//!    not on behalf of a user: `idtyp`, when the optional claim is there, is
//!    `app`, and there is no `scp`. Microsoft's rules for that, in
//!    MicrosoftDocs/entra-docs `docs/identity-platform/`: claims-validation.md
//!    ("Validate the actor": `appid`/`azp` may authorise an app-only
//!    caller only once `idtyp` says `app`, since delegated tokens can be
//!    obtained by others) and access-token-claims-reference.md (`scp` is
//!    "only included for user tokens"; app-only tokens carry `roles`
//!    instead, as access-tokens.md "User and application tokens" says).
//!    We found no Microsoft text that makes `oid` == `sub` a rule, so it is
//!    not checked.
//!
//! Steps 1-4 and 7 need only the `Authorization` header, so they run before
//! the body is read ([`BotAuthenticator::verify`]); 5 and 6 need the
//! activity ([`VerifiedToken::bind`]).
//!
//! Every failure is one [`AuthError`], which the HTTP layer answers with 401
//! and a short reason; the cause goes to the log.

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::openid::{KeyError, KeySource};
use crate::platform::clock::Clock;

/// Clock skew tolerated on `exp` and `nbf` (botbuilder's 5 minutes).
pub const CLOCK_SKEW_SECS: i64 = 300;
const ALLOWED_ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
/// Real tokens are a few KiB; a huge header is refused before any parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm not allowed")]
    Algorithm,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("signing keys unavailable")]
    KeysUnavailable,
    #[error("invalid token signature")]
    Signature,
    #[error("token from an unexpected issuer")]
    Issuer,
    #[error("token for another audience")]
    Audience,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("signing key not endorsed for this channel")]
    Endorsement,
    #[error("token serviceurl does not match the activity")]
    ServiceUrl,
    #[error("token not requested by this bot")]
    Caller,
    #[error("token is not an app-only token")]
    NotAppOnly,
}

/// Who signed a token, which decides the checks after the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issuer {
    /// The Bot Framework channel service: the token binds the serviceUrl.
    BotFramework,
    /// Entra ID in a SingleTenant bot's own tenant.
    Entra,
}

/// The issuer names one signer uses and the keys behind them.
struct Trusted {
    kind: Issuer,
    issuers: Vec<String>,
    keys: KeySource,
}

/// What a valid token says.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BotClaims {
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub serviceurl: Option<String>,
    /// Entra tokens: the token version, and who requested the token (`appid`
    /// in v1.0, `azp` in v2.0).
    #[serde(default)]
    pub ver: Option<String>,
    #[serde(default)]
    pub appid: Option<String>,
    #[serde(default)]
    pub azp: Option<String>,
    /// Entra tokens: `app` for an app-only token (an optional claim), and
    /// the delegated scopes a user token carries (never an app-only one).
    #[serde(default)]
    pub idtyp: Option<String>,
    #[serde(default)]
    pub scp: Option<serde_json::Value>,
}

/// Only the issuer is read before the signature is checked, to pick the keys.
#[derive(Deserialize)]
struct UnverifiedIssuer {
    iss: Option<String>,
}

pub struct BotAuthenticator {
    app_id: String,
    trusted: Vec<Trusted>,
}

impl BotAuthenticator {
    /// Trusts the Bot Framework (`issuer`, signing with `keys`) only.
    pub fn new(app_id: String, issuer: String, keys: KeySource) -> Self {
        BotAuthenticator {
            app_id,
            trusted: vec![Trusted {
                kind: Issuer::BotFramework,
                issuers: vec![issuer],
                keys,
            }],
        }
    }

    /// Also trusts Entra ID tokens from `issuers` (a SingleTenant bot's own
    /// tenant), signed with `keys`.
    pub fn with_entra(mut self, issuers: Vec<String>, keys: KeySource) -> Self {
        self.trusted.push(Trusted {
            kind: Issuer::Entra,
            issuers,
            keys,
        });
        self
    }

    /// What is read before the signature is checked: the header (its
    /// algorithm must be one we allow) and whom the token says issued it.
    /// Cheap, and total on any input: every failure is an [`AuthError`].
    fn unverified(&self, token: &str) -> Result<(jsonwebtoken::Header, &Trusted), AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::Algorithm);
        }
        let trusted = self.route(token)?;
        Ok((header, trusted))
    }

    /// Whom the token says signed it, before anything is verified.
    fn route(&self, token: &str) -> Result<&Trusted, AuthError> {
        use base64::Engine;
        let payload = token.split('.').nth(1).ok_or(AuthError::Malformed)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| AuthError::Malformed)?;
        let claimed: UnverifiedIssuer =
            serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
        let iss = claimed.iss.ok_or(AuthError::Issuer)?;
        self.trusted
            .iter()
            .find(|t| t.issuers.contains(&iss))
            .ok_or(AuthError::Issuer)
    }

    /// Validates the `Authorization` header of a request to the bot, from
    /// the header alone (steps 1-4 and 7), before the activity is read; the
    /// checks against the activity are [`VerifiedToken::bind`]'s.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        clock: &dyn Clock,
    ) -> Result<VerifiedToken, AuthError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let (header, trusted) = self.unverified(token)?;
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let key = match trusted.keys.key(&kid, clock).await {
            Ok(Some(key)) => key,
            Ok(None) => return Err(AuthError::UnknownKey),
            Err(KeyError::Fetch { .. } | KeyError::Invalid { .. }) => {
                return Err(AuthError::KeysUnavailable);
            }
        };
        // Signature, issuer and audience here; time by our own clock below.
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&trusted.issuers);
        validation.set_audience(&[&self.app_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<BotClaims>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => AuthError::Signature,
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => AuthError::Issuer,
                jsonwebtoken::errors::ErrorKind::InvalidAudience => AuthError::Audience,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => AuthError::Algorithm,
                _ => AuthError::Malformed,
            })?
            .claims;
        let now = clock.now().unix_timestamp();
        if now > claims.exp + CLOCK_SKEW_SECS {
            return Err(AuthError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now + CLOCK_SKEW_SECS < nbf) {
            return Err(AuthError::NotYetValid);
        }
        if trusted.kind == Issuer::Entra {
            let requested_by = match claims.ver.as_deref() {
                Some("1.0") => claims.appid.as_deref(),
                Some("2.0") => claims.azp.as_deref(),
                _ => None,
            };
            if requested_by != Some(self.app_id.as_str()) {
                return Err(AuthError::Caller);
            }
            if claims.idtyp.as_deref().is_some_and(|t| t != "app") || claims.scp.is_some() {
                return Err(AuthError::NotAppOnly);
            }
        }
        Ok(VerifiedToken {
            claims,
            endorsements: key.endorsements.clone(),
        })
    }

    /// Every check at once, for an activity from `channel_id` whose
    /// `serviceUrl` is `service_url`: [`Self::verify`], then
    /// [`VerifiedToken::bind`].
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        channel_id: &str,
        service_url: &str,
        clock: &dyn Clock,
    ) -> Result<BotClaims, AuthError> {
        self.verify(authorization, clock)
            .await?
            .bind(channel_id, service_url)
    }
}

/// A token [`BotAuthenticator::verify`] accepted, not yet bound to an
/// activity.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    claims: BotClaims,
    /// The signing key's endorsements, when it has any.
    endorsements: Option<Vec<String>>,
}

impl VerifiedToken {
    /// The checks that need the activity (steps 5 and 6): the key is
    /// endorsed for its `channel_id` and the token vouches for its
    /// `service_url`.
    pub fn bind(self, channel_id: &str, service_url: &str) -> Result<BotClaims, AuthError> {
        if let Some(endorsements) = &self.endorsements
            && !endorsements.iter().any(|e| e == channel_id)
        {
            return Err(AuthError::Endorsement);
        }
        if self.claims.serviceurl.as_deref() != Some(service_url) {
            return Err(AuthError::ServiceUrl);
        }
        Ok(self.claims)
    }
}

#[cfg(test)]
mod tests {
    //! The pre-parsing of outside tokens (header, then the unverified
    //! issuer) is total: any string gets a verdict, never a panic.

    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    const BF: &str = "https://api.botframework.com";
    const ENTRA: &str =
        "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";

    /// One for all cases: building HTTP clients is what costs time here.
    fn authenticator() -> &'static BotAuthenticator {
        static AUTH: std::sync::LazyLock<BotAuthenticator> = std::sync::LazyLock::new(|| {
            // Nothing here fetches keys: the port is never contacted.
            let nowhere = || {
                KeySource::new(
                    "http://127.0.0.1:9/openid".parse().expect("a URL"),
                    reqwest::Client::new(),
                )
            };
            BotAuthenticator::new("app".into(), BF.into(), nowhere())
                .with_entra(vec![ENTRA.into()], nowhere())
        });
        &AUTH
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("RS256"),
                Just("none"),
                Just("HS256"),
                Just(BF),
                Just(ENTRA)
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A JSON object with the names a JWT header or claims set uses.
    fn object() -> impl Strategy<Value = Value> {
        let name = prop_oneof![
            Just("alg".to_owned()),
            Just("kid".to_owned()),
            Just("typ".to_owned()),
            Just("crit".to_owned()),
            Just("jku".to_owned()),
            Just("x5c".to_owned()),
            Just("iss".to_owned()),
            Just("aud".to_owned()),
            Just("exp".to_owned()),
            "[a-z]{1,5}",
        ];
        prop::collection::btree_map(name, json_value(), 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    fn encode(bytes: &[u8], how: u8) -> String {
        match how % 4 {
            0 => URL_SAFE_NO_PAD.encode(bytes),
            1 => URL_SAFE.encode(bytes),
            2 => STANDARD.encode(bytes),
            _ => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn any_string_gets_a_verdict(token in "\\PC{0,300}") {
            let _ = authenticator().unverified(&token);
        }

        #[test]
        fn any_bytes_in_any_segments_get_a_verdict(
            segments in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..5),
            how in any::<u8>(),
        ) {
            let token: Vec<String> = segments.iter().map(|s| encode(s, how)).collect();
            let _ = authenticator().unverified(&token.join("."));
        }

        #[test]
        fn only_an_allowed_algorithm_and_a_trusted_issuer_pass(
            header in object(),
            claims in object(),
            signature in "[A-Za-z0-9_-]{0,40}",
            how in any::<u8>(),
        ) {
            let token = format!(
                "{}.{}.{signature}",
                encode(header.to_string().as_bytes(), how),
                encode(claims.to_string().as_bytes(), how),
            );
            let auth = authenticator();
            if let Ok((parsed, trusted)) = auth.unverified(&token) {
                prop_assert!(ALLOWED_ALGORITHMS.contains(&parsed.alg));
                let iss = claims.get("iss").and_then(Value::as_str);
                prop_assert!(iss.is_some_and(|iss| trusted.issuers.iter().any(|t| t == iss)));
            }
        }
    }

    #[test]
    fn a_well_formed_header_and_issuer_are_routed_to_their_signer() {
        let token = |header: Value, claims: Value| {
            format!(
                "{}.{}.sig",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            )
        };
        let auth = authenticator();
        let (_, t) = auth
            .unverified(&token(
                json!({"alg": "RS256", "kid": "k"}),
                json!({"iss": BF}),
            ))
            .unwrap();
        assert_eq!(t.kind, Issuer::BotFramework);
        let (_, t) = auth
            .unverified(&token(json!({"alg": "RS384"}), json!({"iss": ENTRA})))
            .unwrap();
        assert_eq!(t.kind, Issuer::Entra);
        assert_eq!(
            auth.unverified(&token(json!({"alg": "HS256"}), json!({"iss": BF})))
                .err(),
            Some(AuthError::Algorithm)
        );
        assert_eq!(
            auth.unverified(&token(json!({"alg": "RS256"}), json!({"iss": "x"})))
                .err(),
            Some(AuthError::Issuer)
        );
        assert_eq!(
            auth.unverified(&token(json!({"alg": "RS256"}), json!({"iss": 7})))
                .err(),
            Some(AuthError::Malformed)
        );
    }
}
