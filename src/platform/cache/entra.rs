//! Signing in to Azure Managed Redis with the app's managed identity
//! (Entra ID) instead of an access key, so no key sits in app settings.
//!
//! Managed Redis takes an Entra ID access token for
//! `https://redis.azure.com/.default` as the password and the identity's
//! object id (the token's `oid`) as the user name, and closes a connection
//! whose token expired unless it re-authenticates. The redis crate's token
//! authentication re-sends `AUTH` on every open connection each time the
//! provider yields new credentials; this provider yields the identity's
//! token, then a fresh one [`REFRESH_BEFORE`] its expiry, for as long as
//! the connection lives. It uses the app's own Azure credential (the one
//! every Azure client here uses), not a second identity stack.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::Stream;
use redis::auth::{BasicAuth, StreamingCredentialsProvider};
use redis::{ErrorKind, RedisError, RedisResult};
use time::OffsetDateTime;

/// The Entra ID scope of Azure Managed Redis.
pub const SCOPE: &str = "https://redis.azure.com/.default";
/// How long before a token expires a new one is fetched.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
/// The shortest wait between two token fetches, and the wait after one
/// failed.
const MIN_WAIT: Duration = Duration::from_secs(1);
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct EntraCredentials {
    credential: Arc<dyn TokenCredential>,
}

impl EntraCredentials {
    pub fn new(credential: Arc<dyn TokenCredential>) -> Self {
        EntraCredentials { credential }
    }
}

impl StreamingCredentialsProvider for EntraCredentials {
    fn subscribe(&self) -> Pin<Box<dyn Stream<Item = RedisResult<BasicAuth>> + Send + 'static>> {
        let credential = self.credential.clone();
        Box::pin(futures::stream::unfold(Duration::ZERO, move |wait| {
            let credential = credential.clone();
            async move {
                tokio::time::sleep(wait).await;
                Some(match sign_in(credential.as_ref()).await {
                    Ok((auth, expires_on)) => {
                        (Ok(auth), refresh_in(expires_on, OffsetDateTime::now_utc()))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "getting an Entra ID token for Redis failed; trying again");
                        (Err(e), RETRY_AFTER_FAILURE)
                    }
                })
            }
        }))
    }
}

async fn sign_in(credential: &dyn TokenCredential) -> RedisResult<(BasicAuth, OffsetDateTime)> {
    let token = credential.get_token(&[SCOPE], None).await.map_err(|e| {
        RedisError::from((
            ErrorKind::AuthenticationFailed,
            "Entra ID token for Redis",
            e.to_string(),
        ))
    })?;
    let secret = token.token.secret();
    let user = object_id(secret).ok_or_else(|| {
        RedisError::from((
            ErrorKind::AuthenticationFailed,
            "the Entra ID token for Redis carries no oid claim",
        ))
    })?;
    Ok((BasicAuth::new(user, secret.to_owned()), token.expires_on))
}

/// When to fetch the next token: [`REFRESH_BEFORE`] it expires.
fn refresh_in(expires_on: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let left: Duration = (expires_on - now).try_into().unwrap_or_default();
    left.saturating_sub(REFRESH_BEFORE).max(MIN_WAIT)
}

/// The `oid` claim of a JWT issued to us by Entra ID (read, not verified:
/// Redis verifies it; we only need the user name it expects).
fn object_id(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("oid")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_user_name_is_the_tokens_object_id() {
        let payload = URL_SAFE_NO_PAD.encode(
            br#"{"oid":"4f2b3c1d-0000-4000-8000-00000000abcd","aud":"https://redis.azure.com"}"#,
        );
        assert_eq!(
            object_id(&format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln")).as_deref(),
            Some("4f2b3c1d-0000-4000-8000-00000000abcd")
        );
        assert_eq!(object_id("not-a-jwt"), None);
        let no_oid = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        assert_eq!(object_id(&format!("h.{no_oid}.s")), None);
    }

    #[test]
    fn a_token_is_refreshed_five_minutes_before_it_expires() {
        let now = datetime!(2026-12-02 12:00 UTC);
        assert_eq!(
            refresh_in(now + time::Duration::hours(1), now),
            Duration::from_secs(55 * 60)
        );
        assert_eq!(refresh_in(now + time::Duration::minutes(2), now), MIN_WAIT);
        assert_eq!(refresh_in(now - time::Duration::minutes(2), now), MIN_WAIT);
    }
}
