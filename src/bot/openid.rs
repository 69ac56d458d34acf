//! Signing keys from OpenID metadata (`jwks_uri`), cached. The cache is
//! refreshed when it is a day old, and on an unknown `kid` at most once per
//! [`MIN_REFRESH_INTERVAL`], so a flood of tokens with made-up key ids cannot
//! make the endpoint hammer the metadata server.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use url::Url;

use crate::platform::clock::Clock;

pub const MAX_KEY_AGE: time::Duration = time::Duration::hours(24);
pub const MIN_REFRESH_INTERVAL: time::Duration = time::Duration::minutes(5);
/// How soon to retry while no key could be fetched yet.
const RETRY_WITHOUT_KEYS: time::Duration = time::Duration::seconds(10);
/// Metadata and key documents are small; anything bigger is refused.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// One signing key and the channels that endorse it (Bot Framework keys
/// carry an `endorsements` array; Entra ID keys carry none).
#[derive(Clone)]
pub struct SigningKey {
    pub key: DecodingKey,
    pub endorsements: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("fetching {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{url} is not valid OpenID metadata or a key set: {message}")]
    Invalid { url: String, message: String },
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    n: Option<String>,
    e: Option<String>,
    endorsements: Option<Vec<String>>,
}

struct Cache {
    keys: HashMap<String, SigningKey>,
    fetched_at: Option<OffsetDateTime>,
    last_attempt: Option<OffsetDateTime>,
}

/// The keys published behind one OpenID metadata document.
pub struct KeySource {
    metadata_url: Url,
    http: reqwest::Client,
    cache: Mutex<Cache>,
}

impl KeySource {
    pub fn new(metadata_url: Url, http: reqwest::Client) -> Self {
        KeySource {
            metadata_url,
            http,
            cache: Mutex::new(Cache {
                keys: HashMap::new(),
                fetched_at: None,
                last_attempt: None,
            }),
        }
    }

    /// The key with this id, fetching the key set when it is missing or old
    /// (within the refresh limits). `Ok(None)`: no such key.
    pub async fn key(&self, kid: &str, clock: &dyn Clock) -> Result<Option<SigningKey>, KeyError> {
        let now = clock.now();
        let mut cache = self.cache.lock().await;
        let stale = cache.fetched_at.is_none_or(|at| now - at > MAX_KEY_AGE);
        let unknown = !cache.keys.contains_key(kid);
        // With no key at all nothing validates, so retry sooner.
        let interval = if cache.keys.is_empty() {
            RETRY_WITHOUT_KEYS
        } else {
            MIN_REFRESH_INTERVAL
        };
        let allowed = cache.last_attempt.is_none_or(|at| now - at >= interval);
        if (stale || unknown) && allowed {
            cache.last_attempt = Some(now);
            match self.fetch().await {
                Ok(keys) => {
                    tracing::info!(url = %self.metadata_url, keys = keys.len(), "signing keys refreshed");
                    cache.keys = keys;
                    cache.fetched_at = Some(now);
                }
                // Keep serving the keys we have; say why the refresh failed.
                Err(e) if !cache.keys.is_empty() => {
                    tracing::warn!(error = %e, "signing key refresh failed; keeping the cached keys")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(cache.keys.get(kid).cloned())
    }

    async fn fetch(&self) -> Result<HashMap<String, SigningKey>, KeyError> {
        let metadata: Metadata = self.get_json(&self.metadata_url).await?;
        let jwks_url = Url::parse(&metadata.jwks_uri).map_err(|e| KeyError::Invalid {
            url: self.metadata_url.to_string(),
            message: format!("jwks_uri: {e}"),
        })?;
        let set: KeySet = self.get_json(&jwks_url).await?;
        let mut keys = HashMap::new();
        for jwk in set.keys {
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            if jwk.kty != "RSA" {
                continue;
            }
            match DecodingKey::from_rsa_components(&n, &e) {
                Ok(key) => {
                    keys.insert(
                        kid,
                        SigningKey {
                            key,
                            endorsements: jwk.endorsements,
                        },
                    );
                }
                Err(err) => tracing::warn!(%kid, error = %err, "skipping an unusable signing key"),
            }
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, KeyError> {
        let fetch_err = |message: String| KeyError::Fetch {
            url: url.to_string(),
            message,
        };
        let res = self
            .http
            .get(url.clone())
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| fetch_err(e.to_string()))?;
        if !res.status().is_success() {
            return Err(fetch_err(format!("HTTP {}", res.status())));
        }
        let body = res.bytes().await.map_err(|e| fetch_err(e.to_string()))?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(KeyError::Invalid {
                url: url.to_string(),
                message: "too large".into(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| KeyError::Invalid {
            url: url.to_string(),
            message: e.to_string(),
        })
    }
}
