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
//! 6. Bot Framework tokens: the `serviceurl` claim equals the activity's
//!    `serviceUrl`. Entra tokens, as botbuilder's `EmulatorValidation` takes
//!    them: the token was requested by the bot itself (`appid` in a v1.0
//!    token, `azp` in a v2.0 one, equal to the app id; a token another
//!    application asked for is what botbuilder calls a skill token, refused
//!    without an allow-list, and we have none); they may carry no
//!    `serviceurl`, but when they do it must match.
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

    /// Validates the `Authorization` header of an activity from `channel_id`
    /// whose `serviceUrl` is `service_url`.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        channel_id: &str,
        service_url: &str,
        clock: &dyn Clock,
    ) -> Result<BotClaims, AuthError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::Algorithm);
        }
        let trusted = self.route(token)?;
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
        if let Some(endorsements) = &key.endorsements
            && !endorsements.iter().any(|e| e == channel_id)
        {
            return Err(AuthError::Endorsement);
        }
        match trusted.kind {
            Issuer::BotFramework => {
                if claims.serviceurl.as_deref() != Some(service_url) {
                    return Err(AuthError::ServiceUrl);
                }
            }
            Issuer::Entra => {
                let requested_by = match claims.ver.as_deref() {
                    Some("1.0") => claims.appid.as_deref(),
                    Some("2.0") => claims.azp.as_deref(),
                    _ => None,
                };
                if requested_by != Some(self.app_id.as_str()) {
                    return Err(AuthError::Caller);
                }
                if claims
                    .serviceurl
                    .as_deref()
                    .is_some_and(|claimed| claimed != service_url)
                {
                    return Err(AuthError::ServiceUrl);
                }
            }
        }
        Ok(claims)
    }
}
