//! Microsoft Graph, app-only, per customer tenant: the one client every
//! governance step goes through.
//!
//! Graph throttles per app and per tenant, and answers 429/503 with a
//! `Retry-After`; every call here waits it out (or backs off with jitter)
//! within a bounded number of attempts, and reports what is left as a
//! [`GraphError`] that says whether a later retry (from the queue) is worth
//! it. Tokens are fetched per tenant by client credentials and shared
//! through the [`Cache`]; [`Graph::batch`] packs requests twenty at a time
//! and re-sends only the sub-requests that were throttled. Counters
//! ([`Graph::stats`]) let benches and tests see what the calls cost; a
//! [`Tally`] ([`Graph::tallied`]) counts what one piece of work cost, apart
//! from the other tenants' calls going through the same client.
//!
//! Every request waits for its tenant's turn ([`governor`]): a token bucket
//! per tenant, and a pause of that tenant alone after a 429's
//! `Retry-After`. Background work (the inventory sweeps) goes through a
//! [`Graph::low_priority`] handle, whose requests carry
//! `x-ms-throttle-priority: Low` so that Graph throttles them before the
//! interactive ones (the bot, provisioning), which carry no such header.
//!
//! Tokens and secrets are never logged.

mod batch;
pub mod delta;
mod error;
mod governor;
pub mod lifecycle;
pub mod reports;
mod retry;
pub mod subscriptions;
pub mod teams;
mod token;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use url::Url;

pub use crate::outbound::RetryPolicy;
pub use batch::{BatchRequest, BatchResponse, MAX_BATCH};
pub use error::GraphError;
pub use governor::Pace;

use crate::ids::TenantId;
use crate::outbound::TokenCache;
use crate::outbound::send::{self, Call, Failure, Rules};
use crate::platform::cache::Cache;
use crate::telemetry;

/// Per HTTP request to Graph.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `get_all` gives up beyond this many pages (a loop over outside data is
/// bounded; at Graph's page sizes this is far more than any tenant holds).
const MAX_PAGES: usize = 10_000;

pub struct GraphConfig {
    /// e.g. `https://graph.microsoft.com/v1.0`.
    pub base_url: Url,
    /// e.g. `https://login.microsoftonline.com`; the token endpoint is
    /// `<authority_host>/<tenantId>/oauth2/v2.0/token`.
    pub authority_host: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub retry: RetryPolicy,
    /// Each tenant's pace ([`Pace::DEFAULT`] unless configured).
    pub pace: Pace,
}

/// Graph's request priority header (a sweep's requests send `Low`).
pub const PRIORITY_HEADER: &str = "x-ms-throttle-priority";

/// How Graph is asked to treat a handle's requests when it must throttle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Priority {
    /// No header: Graph's default (interactive work).
    #[default]
    Normal,
    /// `x-ms-throttle-priority: Low`: background work, throttled first.
    Low,
}

/// Cheap to clone: one shared client, cache and set of counters.
#[derive(Clone)]
pub struct Graph {
    inner: Arc<Inner>,
    /// Counts this handle's calls too (see [`Graph::tallied`]).
    tally: Option<Arc<Tally>>,
    priority: Priority,
}

/// What the calls made through one [`Graph::tallied`] handle cost: the
/// client is shared by concurrent invocations, so two readings of
/// [`Graph::stats`] would mix in the other tenants' calls.
#[derive(Default)]
pub struct Tally(Counters);

impl Tally {
    pub fn stats(&self) -> GraphStats {
        self.0.stats()
    }
}

struct Inner {
    config: GraphConfig,
    /// The send loop's rules: the config's retry policy, Graph's statuses.
    rules: Rules,
    http: reqwest::Client,
    cache: Arc<dyn Cache>,
    /// `<origin of base_url>/.default`.
    scope: String,
    tokens: TokenCache,
    stats: Counters,
    governor: governor::Governor,
}

/// Cumulative counters since the client was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphStats {
    /// HTTP requests sent to Graph (token requests excluded; a `$batch`
    /// counts 1), retries included.
    pub requests: u64,
    /// Sub-requests sent inside batches, re-sent ones included.
    pub batched: u64,
    /// 429/503 answers seen, `$batch` sub-responses included.
    pub throttled: u64,
    /// Requests sent again: top-level re-sends (after a throttle, a gateway
    /// failure, a transport error or a refused token) plus sub-requests
    /// re-sent in a later batch.
    pub retries: u64,
    /// Token requests.
    pub tokens: u64,
}

#[derive(Default)]
struct Counter(AtomicU64);

impl Counter {
    fn inc(&self) {
        self.add(1);
    }
    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Counters {
    requests: Counter,
    batched: Counter,
    throttled: Counter,
    retries: Counter,
    tokens: Counter,
}

impl Counters {
    fn stats(&self) -> GraphStats {
        GraphStats {
            requests: self.requests.get(),
            batched: self.batched.get(),
            throttled: self.throttled.get(),
            retries: self.retries.get(),
            tokens: self.tokens.get(),
        }
    }
}

/// The client's counters and, for a tallied handle, its tally.
struct Observers<'a>(&'a Counters, Option<&'a Counters>);

impl Observers<'_> {
    fn each(&self, count: impl Fn(&Counters)) {
        count(self.0);
        if let Some(tally) = self.1 {
            count(tally);
        }
    }
}

#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: u16,
    pub location: Option<String>,
    pub content_location: Option<String>,
    /// `Value::Null` when the answer had no body.
    pub body: Value,
}

/// What goes out with a request.
enum Payload<'a> {
    Empty,
    Json(&'a Value),
    Bytes {
        content_type: &'a str,
        bytes: bytes::Bytes,
    },
}

impl Graph {
    pub fn new(config: GraphConfig, http: reqwest::Client, cache: Arc<dyn Cache>) -> Graph {
        let scope = format!(
            "{}/.default",
            config.base_url.origin().ascii_serialization()
        );
        Graph {
            inner: Arc::new(Inner {
                rules: Rules {
                    service: "Graph",
                    policy: config.retry,
                    timeout: REQUEST_TIMEOUT,
                    retryable: retry::is_retryable,
                    throttle: retry::is_throttle,
                },
                governor: governor::Governor::new(config.pace),
                config,
                http,
                tokens: TokenCache::new(cache.clone()),
                cache,
                scope,
                stats: Default::default(),
            }),
            tally: None,
            priority: Priority::Normal,
        }
    }

    pub fn stats(&self) -> GraphStats {
        self.inner.stats.stats()
    }

    /// The same client, whose calls are also counted in `tally`.
    pub fn tallied(&self, tally: Arc<Tally>) -> Graph {
        Graph {
            tally: Some(tally),
            ..self.clone()
        }
    }

    /// The same client for background work: its requests carry
    /// `x-ms-throttle-priority: Low`.
    pub fn low_priority(&self) -> Graph {
        Graph {
            priority: Priority::Low,
            ..self.clone()
        }
    }

    pub fn priority(&self) -> Priority {
        self.priority
    }

    fn observers(&self) -> Observers<'_> {
        Observers(&self.inner.stats, self.tally.as_deref().map(|t| &t.0))
    }

    /// GET `path` (relative to base_url, may hold a query string, e.g.
    /// `/groups?$filter=mailNickname eq 'x'&$select=id`; or an absolute URL
    /// that starts with base_url, as `@odata.nextLink` is). Non-2xx -> Err.
    pub async fn get(&self, tenant: &TenantId, path: &str) -> Result<Value, GraphError> {
        let url = resolve(&self.inner.config.base_url, path)?;
        let res = self
            .execute(tenant, reqwest::Method::GET, url, Payload::Empty)
            .await?;
        Ok(res.body)
    }

    /// GET following `@odata.nextLink` until exhausted; every `value` item.
    pub async fn get_all(&self, tenant: &TenantId, path: &str) -> Result<Vec<Value>, GraphError> {
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        for _ in 0..MAX_PAGES {
            let Some(link) = next.take() else {
                return Ok(items);
            };
            let mut page = self.get(tenant, &link).await?;
            match page.get_mut("value").map(Value::take) {
                Some(Value::Array(values)) => items.extend(values),
                _ => return Err(GraphError::Decode("a page without a `value` array".into())),
            }
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        Err(GraphError::Invalid(format!(
            "{path}: more than {MAX_PAGES} pages"
        )))
    }

    /// Any method with an optional JSON body. 2xx -> Ok (body `Null` when
    /// empty); non-2xx (after retries) -> Err.
    pub async fn send(
        &self,
        tenant: &TenantId,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<GraphResponse, GraphError> {
        let url = resolve(&self.inner.config.base_url, path)?;
        let payload = body.map_or(Payload::Empty, Payload::Json);
        self.execute(tenant, method, url, payload).await
    }

    /// PUT raw bytes (e.g. `/groups/{id}/photo/$value` as `image/png`).
    pub async fn put_bytes(
        &self,
        tenant: &TenantId,
        path: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<GraphResponse, GraphError> {
        let url = resolve(&self.inner.config.base_url, path)?;
        let payload = Payload::Bytes {
            content_type,
            bytes: bytes.into(),
        };
        self.execute(tenant, reqwest::Method::PUT, url, payload)
            .await
    }

    /// One request with the retry policy: 429/503 are sent again (after
    /// `Retry-After`, else back-off); so are 502/504 and transport errors,
    /// unless the request is not `idempotent` and may have been carried out
    /// (Graph does answer 504 for a team it created: sending the POST again
    /// would make a second one, or fail on the first one's mailNickname).
    /// A POST that never reached Graph (no connection) is sent again. A 401
    /// with a cached token fetches a new token once.
    async fn execute(
        &self,
        tenant: &TenantId,
        method: reqwest::Method,
        url: Url,
        payload: Payload<'_>,
    ) -> Result<GraphResponse, GraphError> {
        let idempotent = method != reqwest::Method::POST;
        self.execute_with(tenant, method, url, payload, idempotent, 1)
            .await
    }

    /// `cost`: the requests it stands for in the tenant's bucket (a
    /// `$batch`'s sub-requests).
    async fn execute_with(
        &self,
        tenant: &TenantId,
        method: reqwest::Method,
        url: Url,
        payload: Payload<'_>,
        idempotent: bool,
        cost: u32,
    ) -> Result<GraphResponse, GraphError> {
        let request = Request {
            auth: Auth::Tenant(tenant),
            method,
            url: &url,
            log_path: url.path(),
            payload,
            cost,
            tenant_throttle: true,
        };
        let answer = self
            .answer(request, &self.inner.rules, idempotent)
            .await
            .map_err(failed)?;
        let body = if answer.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer.body)
                .map_err(|e| GraphError::Decode(format!("{}: {e}", url.path())))?
        };
        Ok(GraphResponse {
            status: answer.status,
            location: answer.header("location").map(str::to_owned),
            content_location: answer.header("content-location").map(str::to_owned),
            body,
        })
    }

    /// One request through the shared send loop under `rules`: the answer
    /// (any 2xx), or why it gave up with what Graph said.
    async fn answer(
        &self,
        request: Request<'_>,
        rules: &Rules,
        idempotent: bool,
    ) -> Result<send::Answer, Failure<GraphError>> {
        let Request {
            auth,
            method,
            url,
            log_path,
            payload,
            cost,
            tenant_throttle,
        } = request;
        let call = Call {
            rules,
            idempotent,
            path: log_path,
        };
        let governor = &self.inner.governor;
        let cap = self.inner.rules.policy.max_retry_after;
        let build = || async {
            let mut request = self.inner.http.request(method.clone(), url.clone());
            if let Auth::Tenant(tenant) = auth {
                // Paced per tenant; a sweep's requests at low priority.
                governor.ready(tenant, cost, cap).await?;
                request = request.bearer_auth(self.token(tenant).await?);
                if self.priority == Priority::Low {
                    request = request.header(PRIORITY_HEADER, "Low");
                }
            }
            Ok(match &payload {
                Payload::Empty => request,
                Payload::Json(body) => request.json(body),
                Payload::Bytes {
                    content_type,
                    bytes,
                } => request
                    .header(reqwest::header::CONTENT_TYPE, *content_type)
                    .body(bytes.clone()),
            })
        };
        let refuse_token = || async {
            match auth {
                Auth::Tenant(tenant) => {
                    self.forget_token(tenant).await;
                    true
                }
                Auth::None => false,
            }
        };
        let observer = Paced {
            counts: self.observers(),
            governor,
            tenant: match auth {
                Auth::Tenant(tenant) if tenant_throttle => Some(tenant),
                _ => None,
            },
            metric_tenant: match auth {
                Auth::Tenant(tenant) => tenant.as_str(),
                Auth::None => "",
            },
        };
        send::send(call, build, refuse_token, &observer).await
    }
}

/// What goes with a request: the tenant's token (every Graph call), or
/// nothing (a pre-authenticated download Graph redirected to, which
/// refuses a request that carries a token).
#[derive(Clone, Copy)]
enum Auth<'a> {
    Tenant(&'a TenantId),
    None,
}

/// One request, as [`Graph::answer`] sends it.
struct Request<'a> {
    auth: Auth<'a>,
    method: reqwest::Method,
    url: &'a Url,
    /// For the logs: the URL's path, or a label when the path itself is a
    /// credential (a pre-authenticated download).
    log_path: &'a str,
    payload: Payload<'a>,
    /// The requests it stands for in the tenant's bucket (a `$batch`'s
    /// sub-requests).
    cost: u32,
    /// Whether a 429's `Retry-After` is the tenant's (pausing all its
    /// requests), or this endpoint's own throttle (the reports), which
    /// pauses nothing else.
    tenant_throttle: bool,
}

/// What a call that gave up stands for: still throttled (retry later),
/// or Graph's own error.
fn failed(failure: Failure<GraphError>) -> GraphError {
    match failure {
        Failure::Prepare(e) => e,
        Failure::Transport { error, .. } => GraphError::Transport(error),
        Failure::Status {
            answer,
            attempts,
            retryable,
            throttled,
        } => {
            if retryable && throttled {
                return GraphError::Throttled {
                    status: answer.status,
                    attempts,
                };
            }
            let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            GraphError::from_answer(answer.status, &body)
        }
    }
}

/// The counters, and the tenant's pause after a `Retry-After`.
struct Paced<'a> {
    counts: Observers<'a>,
    governor: &'a governor::Governor,
    /// `None`: nothing to pause (a download, or an endpoint with its own
    /// throttle).
    tenant: Option<&'a TenantId>,
    /// The tenant the request is for, in the metrics (`""`: none).
    metric_tenant: &'a str,
}

impl send::Observer for Paced<'_> {
    fn sent(&self) {
        self.counts.each(|c| c.requests.inc());
        telemetry::metrics::graph_request(self.metric_tenant);
    }
    fn throttled(&self, retry_after: Option<Duration>) {
        self.counts.each(|c| c.throttled.inc());
        telemetry::metrics::graph_throttled(self.metric_tenant);
        if let (Some(wait), Some(tenant)) = (retry_after, self.tenant) {
            self.governor.pause(tenant, wait);
        }
    }
    fn retrying(&self) {
        self.counts.each(|c| c.retries.inc());
    }
}

/// The URL of `path`: relative to `base` (`/groups?$top=5`), or absolute
/// but under `base` (an `@odata.nextLink`). Anything else is refused, so the
/// tenant's token never leaves for another host.
fn resolve(base: &Url, path: &str) -> Result<Url, GraphError> {
    let base_str = base.as_str().trim_end_matches('/');
    let full = if path.starts_with("https://") || path.starts_with("http://") {
        let under_base = path
            .strip_prefix(base_str)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
        if !under_base {
            return Err(GraphError::Invalid(format!(
                "an absolute URL outside {base_str}"
            )));
        }
        path.to_owned()
    } else if path.starts_with('/') {
        format!("{base_str}{path}")
    } else {
        format!("{base_str}/{path}")
    };
    Url::parse(&full).map_err(|e| GraphError::Invalid(format!("{path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_under_the_base_and_nowhere_else() {
        let base = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
        let url = resolve(&base, "/groups?$filter=mailNickname eq 'x'&$select=id").unwrap();
        assert_eq!(url.path(), "/v1.0/groups");
        let pairs: Vec<_> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs[0], ("$filter".into(), "mailNickname eq 'x'".into()));
        assert_eq!(
            resolve(&base, "users/1").unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/users/1"
        );
        let next = "https://graph.microsoft.com/v1.0/groups?$skiptoken=abc";
        assert_eq!(resolve(&base, next).unwrap().as_str(), next);
        for foreign in [
            "https://evil.example/v1.0/groups",
            "https://graph.microsoft.com/beta/groups",
            "https://graph.microsoft.com/v1.0.evil/groups",
        ] {
            assert!(
                matches!(resolve(&base, foreign), Err(GraphError::Invalid(_))),
                "{foreign}"
            );
        }
    }
}
