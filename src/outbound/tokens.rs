//! Bearer tokens for outside services, kept in the shared cache until
//! shortly before they expire, so every instance reuses them. One fetch at a
//! time per key: concurrent callers wait for it instead of each asking the
//! token endpoint (Entra throttles token requests too), and find the fresh
//! token in the cache when it is done.
//!
//! [`grant`] is the one OAuth 2.0 token request, sent through the shared
//! send loop; [`client_credentials`] is its client-credentials form (Entra
//! ID's v2.0 token endpoint: the bot's token for the Connector, each
//! customer tenant's token for Graph and Dataverse), Salesforce's code and
//! refresh grants its others.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::retry::RetryPolicy;
use super::send::{self, Answer, Call, Failure, Rules, Unobserved};
use crate::platform::cache::Cache;

/// Tokens leave the cache this long before they expire.
const TOKEN_MARGIN_SECS: u64 = 300;

/// What a token endpoint answered.
pub struct Token {
    pub access_token: String,
    pub expires_in: u64,
}

pub struct TokenCache {
    cache: Arc<dyn Cache>,
    /// One fetch lock per key. Grows with the keys this instance uses (one
    /// per customer tenant for Graph, one for the bot), which the customer
    /// list already bounds.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl TokenCache {
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        TokenCache {
            cache,
            locks: Mutex::default(),
        }
    }

    async fn cached(&self, key: &str) -> Option<String> {
        match self.cache.get(key).await {
            Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .expect("the token lock map is never poisoned");
        locks.entry(key.to_owned()).or_default().clone()
    }

    /// The token under `key`, from the cache or from `fetch` (called by one
    /// caller at a time per key).
    pub async fn get_or_fetch<E, F, Fut>(&self, key: &str, fetch: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Token, E>>,
    {
        if let Some(token) = self.cached(key).await {
            return Ok(token);
        }
        let lock = self.lock_for(key);
        let _fetching = lock.lock().await;
        // Whoever held the lock before us may have fetched it already.
        if let Some(token) = self.cached(key).await {
            return Ok(token);
        }
        let token = fetch().await?;
        let ttl = token.expires_in.saturating_sub(TOKEN_MARGIN_SECS);
        if ttl > 0
            && let Err(e) = self
                .cache
                .set(key, token.access_token.as_bytes(), Duration::from_secs(ttl))
                .await
        {
            tracing::warn!(error = %e, "could not cache a token");
        }
        Ok(token.access_token)
    }

    /// Drops a token the service refused (revoked, rotated, consent
    /// changed), so the next call fetches a new one.
    pub async fn forget(&self, key: &str) {
        let _ = self.cache.delete(key).await;
    }
}

/// A token endpoint throttles and fails too: three attempts, a short cap.
const TOKEN_RULES: Rules = Rules {
    service: "token endpoint",
    policy: RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(10),
    },
    timeout: Duration::from_secs(15),
    retryable: |status| matches!(status, 429 | 500 | 502 | 503 | 504),
    throttle: |status| status == 429,
};

/// A client-credentials request: `POST <token_url>` with the client's id,
/// secret and the scope (`<resource>/.default`).
pub struct ClientCredentials<'a> {
    pub token_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a SecretString,
    pub scope: &'a str,
}

/// Why a token endpoint gave no token, as Entra says it:
/// `{"error":"invalid_client","error_description":"AADSTS7000215: …"}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct TokenError {
    /// `None` when the endpoint never answered.
    pub status: Option<u16>,
    pub code: String,
    pub message: String,
    /// Worth asking again later (the endpoint failed or throttled), rather
    /// than a refusal (unknown tenant, bad secret, no consent).
    pub transient: bool,
}

impl TokenError {
    /// The error of a token endpoint's answer with this status and body.
    pub fn from_answer(status: u16, body: &Value) -> TokenError {
        TokenError {
            status: Some(status),
            code: body["error"].as_str().unwrap_or("unknown").to_owned(),
            message: body["error_description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            transient: status >= 500 || status == 429,
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// One OAuth 2.0 token request, whatever its grant (client credentials,
/// an authorization code, a refresh token): `form` posted to `token_url`
/// through the shared send loop, the endpoint's refusal read as a
/// [`TokenError`]. `path` names the call in the logs and telemetry. The
/// caller reads the answer's fields, which differ by service.
pub async fn grant(
    http: &reqwest::Client,
    token_url: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Result<Answer, TokenError> {
    let call = Call {
        rules: &TOKEN_RULES,
        idempotent: true,
        path,
    };
    let build = || async { Ok::<_, TokenError>(http.post(token_url).form(form)) };
    match send::send(call, build, || async { false }, &Unobserved).await {
        Ok(answer) => Ok(answer),
        Err(Failure::Prepare(e)) => Err(e),
        Err(Failure::Transport { error, .. }) => Err(TokenError {
            status: None,
            code: "transport".into(),
            message: error,
            transient: true,
        }),
        Err(Failure::Status { answer, .. }) => {
            let body = serde_json::from_slice(&answer.body).unwrap_or_default();
            Err(TokenError::from_answer(answer.status, &body))
        }
    }
}

/// Asks for an app-only token with client credentials.
pub async fn client_credentials(
    http: &reqwest::Client,
    request: ClientCredentials<'_>,
) -> Result<Token, TokenError> {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", request.client_id),
        ("client_secret", request.client_secret.expose_secret()),
        ("scope", request.scope),
    ];
    let answer = grant(http, request.token_url, "/oauth2/v2.0/token", &form).await?;
    let token: TokenResponse = serde_json::from_slice(&answer.body).map_err(|e| TokenError {
        status: Some(answer.status),
        code: "invalid_response".into(),
        message: e.to_string(),
        transient: false,
    })?;
    Ok(Token {
        access_token: token.access_token,
        expires_in: token.expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_a_forgotten_token_is_fetched_again() {
        let clock = Arc::new(crate::platform::clock::SystemClock);
        let tokens = TokenCache::new(Arc::new(crate::platform::cache::memory::MemoryCache::new(
            clock,
        )));
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, ()>(Token {
                access_token: format!("t{n}"),
                expires_in: 3599,
            })
        };
        let all = futures::future::join_all((0..8).map(|_| tokens.get_or_fetch("k", fetch))).await;
        assert!(all.iter().all(|t| t.as_deref() == Ok("t1")), "{all:?}");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        tokens.forget("k").await;
        assert_eq!(tokens.get_or_fetch("k", fetch).await.as_deref(), Ok("t2"));
        // A token about to expire is not kept.
        let short = || async {
            Ok::<_, ()>(Token {
                access_token: "brief".into(),
                expires_in: 60,
            })
        };
        tokens.forget("k").await;
        assert_eq!(
            tokens.get_or_fetch("k", short).await.as_deref(),
            Ok("brief")
        );
        assert_eq!(tokens.get_or_fetch("k", fetch).await.as_deref(), Ok("t3"));
    }
}
