//! Signing keys from OpenID metadata (`jwks_uri`), cached. The cache is
//! refreshed when it is a day old, and on an unknown `kid` at most once per
//! [`MIN_REFRESH_INTERVAL`], so a flood of tokens with made-up key ids cannot
//! make the endpoint hammer the metadata server.
//!
//! A refresh never blocks authentication. It runs as one task of its own
//! (single flight: one fetch at a time, whoever asked for it), and the lock
//! on the cache is only taken for a lookup or a swap, never across a fetch.
//! A token whose key is cached is checked with the current keys at once,
//! even while a refresh (for age, or for someone's unknown `kid`) is on the
//! wire; a token whose key is unknown waits for the refresh in flight, if
//! any, which ends within [`FETCH_BUDGET`]. A refresh that fails keeps the
//! keys we have.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

use crate::platform::clock::Clock;

pub const MAX_KEY_AGE: time::Duration = time::Duration::hours(24);
pub const MIN_REFRESH_INTERVAL: time::Duration = time::Duration::minutes(5);
/// How soon to retry while no key could be fetched yet.
const RETRY_WITHOUT_KEYS: time::Duration = time::Duration::seconds(10);
/// Metadata and key documents are small; anything bigger is refused.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Each of the two documents gets this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole refresh (metadata, then keys) ends within this, so whoever waits
/// for it waits at most this long.
pub const FETCH_BUDGET: Duration = Duration::from_secs(10);

/// One signing key and the channels that endorse it (Bot Framework keys
/// carry an `endorsements` array; Entra ID keys carry none).
#[derive(Clone)]
pub struct SigningKey {
    pub key: DecodingKey,
    pub endorsements: Option<Vec<String>>,
}

#[derive(Debug, Clone, thiserror::Error)]
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

/// The outcome of one refresh, awaited by everyone who needs it.
type Refresh = Shared<BoxFuture<'static, Result<(), KeyError>>>;

struct Cache {
    keys: HashMap<String, SigningKey>,
    fetched_at: Option<OffsetDateTime>,
    last_attempt: Option<OffsetDateTime>,
    /// The refresh on the wire, if any: at most one at a time.
    in_flight: Option<Refresh>,
}

struct Inner {
    metadata_url: Url,
    http: reqwest::Client,
    cache: Mutex<Cache>,
}

/// The keys published behind one OpenID metadata document.
pub struct KeySource {
    inner: Arc<Inner>,
}

impl KeySource {
    pub fn new(metadata_url: Url, http: reqwest::Client) -> Self {
        KeySource {
            inner: Arc::new(Inner {
                metadata_url,
                http,
                cache: Mutex::new(Cache {
                    keys: HashMap::new(),
                    fetched_at: None,
                    last_attempt: None,
                    in_flight: None,
                }),
            }),
        }
    }

    /// The key with this id, refreshing the key set when it is missing or
    /// old (within the refresh limits). A cached key is answered at once; a
    /// missing one waits for the refresh in flight. `Ok(None)`: no such key.
    pub async fn key(&self, kid: &str, clock: &dyn Clock) -> Result<Option<SigningKey>, KeyError> {
        let now = clock.now();
        let refresh = {
            let mut cache = self.inner.lock();
            let known = cache.keys.get(kid).cloned();
            let stale = cache.fetched_at.is_none_or(|at| now - at > MAX_KEY_AGE);
            // With no key at all nothing validates, so retry sooner.
            let interval = if cache.keys.is_empty() {
                RETRY_WITHOUT_KEYS
            } else {
                MIN_REFRESH_INTERVAL
            };
            let allowed = cache.last_attempt.is_none_or(|at| now - at >= interval);
            if (stale || known.is_none()) && allowed && cache.in_flight.is_none() {
                cache.last_attempt = Some(now);
                cache.in_flight = Some(Inner::start_refresh(&self.inner, now));
            }
            match (known, &cache.in_flight) {
                (Some(key), _) => return Ok(Some(key)),
                (None, None) => return Ok(None),
                (None, Some(refresh)) => refresh.clone(),
            }
        };
        let outcome = refresh.await;
        let cache = self.inner.lock();
        match (cache.keys.get(kid), outcome) {
            (Some(key), _) => Ok(Some(key.clone())),
            (None, Err(e)) if cache.keys.is_empty() => Err(e),
            (None, _) => Ok(None),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the cache half
        // written (every write is one assignment), so a poisoned lock is
        // still a good cache.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts one refresh as its own task: it finishes (and updates the
    /// cache) even if every request that waits for it goes away.
    fn start_refresh(this: &Arc<Inner>, started: OffsetDateTime) -> Refresh {
        let inner = this.clone();
        let task = tokio::spawn(async move {
            let fetched = match tokio::time::timeout(FETCH_BUDGET, inner.fetch()).await {
                Ok(result) => result,
                Err(_) => Err(KeyError::Fetch {
                    url: inner.metadata_url.to_string(),
                    message: format!("no answer within {FETCH_BUDGET:?}"),
                }),
            };
            let mut cache = inner.lock();
            cache.in_flight = None;
            match fetched {
                Ok(keys) => {
                    tracing::info!(url = %inner.metadata_url, keys = keys.len(), "signing keys refreshed");
                    cache.keys = keys;
                    cache.fetched_at = Some(started);
                    Ok(())
                }
                Err(e) => {
                    if cache.keys.is_empty() {
                        tracing::warn!(error = %e, "signing keys unavailable");
                    } else {
                        tracing::warn!(error = %e, "signing key refresh failed; keeping the cached keys");
                    }
                    Err(e)
                }
            }
        });
        let url = this.metadata_url.to_string();
        async move {
            task.await.unwrap_or_else(|e| {
                Err(KeyError::Fetch {
                    url,
                    message: format!("the refresh stopped: {e}"),
                })
            })
        }
        .boxed()
        .shared()
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
        let request = self
            .http
            .get(url.clone())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| fetch_err(e.to_string()))?;
        let res = crate::telemetry::dependency::http(&self.http, request, url.path())
            .await
            .map_err(|e| fetch_err(e.to_string()))?;
        if !res.status().is_success() {
            return Err(fetch_err(format!("HTTP {}", res.status())));
        }
        let too_large = || KeyError::Invalid {
            url: url.to_string(),
            message: format!("larger than {MAX_DOCUMENT_BYTES} bytes"),
        };
        if res
            .content_length()
            .is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large());
        }
        // Read no further than the limit, whatever the server sends.
        let mut res = res;
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| fetch_err(e.to_string()))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| KeyError::Invalid {
            url: url.to_string(),
            message: e.to_string(),
        })
    }
}
