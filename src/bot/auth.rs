//! Inbound Bot Framework authentication: the checks botbuilder's
//! `ChannelValidation` / `JwtTokenExtractor` make, and no fewer.
//!
//! 1. `Authorization: Bearer <JWT>`; the header's `alg` is RS256/384/512
//!    (never `none` or an HMAC).
//! 2. The key is found by `kid` in the channel's OpenID keys.
//! 3. The signature verifies; `iss` is the Bot Framework issuer; `aud` is
//!    this bot's app id; `exp`/`nbf` hold with 5 minutes of clock skew (by
//!    the injected clock).
//! 4. The key's `endorsements`, when present, contain the activity's
//!    `channelId`.
//! 5. The token's `serviceurl` claim equals the activity's `serviceUrl`.
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
}

pub struct BotAuthenticator {
    app_id: String,
    issuer: String,
    keys: KeySource,
}

impl BotAuthenticator {
    pub fn new(app_id: String, issuer: String, keys: KeySource) -> Self {
        BotAuthenticator {
            app_id,
            issuer,
            keys,
        }
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
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let key = match self.keys.key(&kid, clock).await {
            Ok(Some(key)) => key,
            Ok(None) => return Err(AuthError::UnknownKey),
            Err(KeyError::Fetch { .. } | KeyError::Invalid { .. }) => {
                return Err(AuthError::KeysUnavailable);
            }
        };
        // Signature, issuer and audience here; time by our own clock below.
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
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
        if claims.serviceurl.as_deref() != Some(service_url) {
            return Err(AuthError::ServiceUrl);
        }
        Ok(claims)
    }
}
