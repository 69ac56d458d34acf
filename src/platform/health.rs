//! Whether this region can serve: every platform service checked at once,
//! each under a short timeout, and the verdict kept for a few seconds.
//!
//! - **Unhealthy** (the probe answers 503 and Traffic Manager drains the
//!   region) when the region cannot serve: the document store does not
//!   answer, the key that opens every tenant's secrets is unusable, or the
//!   queues that carry every piece of deferred work are down.
//! - **Degraded** (still 200, the reasons in the body) when it serves with
//!   less: the cache or blob storage is down, or the document store answers
//!   from another region than this app's own (a Cosmos DB failover).
//! - Otherwise **healthy**.
//!
//! Traffic Manager probes from many places every 10 or 30 seconds, so one
//! verdict serves every probe for [`FRESH`]; the first probe after that
//! checks again while the others wait for its verdict (never more than one
//! round of checks at a time). A round takes at most [`CHECK_TIMEOUT`]. The
//! report names services and regions only, never a host or an error text.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::PlatformResult;
use super::blobs::Blobs;
use super::cache::Cache;
use super::documents::Documents;
use super::keys::Keys;
use super::queues::Queues;

/// Longest any one check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a verdict answers probes.
pub const FRESH: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// `up`, `degraded` or `down`.
    pub status: &'static str,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub status: Status,
    /// What makes it degraded or unhealthy, one line each.
    pub reasons: Vec<String>,
    pub checks: BTreeMap<&'static str, Check>,
}

/// The services a region needs, as the app holds them.
pub struct Services<'a> {
    pub docs: &'a dyn Documents,
    pub keys: &'a dyn Keys,
    pub queues: &'a dyn Queues,
    pub blobs: &'a dyn Blobs,
    pub cache: &'a dyn Cache,
}

/// The kept verdict (one per app).
#[derive(Default)]
pub struct Probe {
    last: tokio::sync::Mutex<Option<(Instant, Arc<Report>)>>,
}

impl Probe {
    /// The current verdict: the kept one while fresh, else a new round.
    pub async fn report(&self, services: Services<'_>) -> Arc<Report> {
        let mut last = self.last.lock().await;
        if let Some((at, report)) = last.as_ref()
            && at.elapsed() < FRESH
        {
            return report.clone();
        }
        let report = Arc::new(check_all(services).await);
        *last = Some((Instant::now(), report.clone()));
        report
    }
}

/// One round of checks, all at once.
pub async fn check_all(s: Services<'_>) -> Report {
    let (documents, keys, queues, blobs, cache) = tokio::join!(
        check(s.docs.ping()),
        check(s.keys.ping()),
        check(s.queues.ping()),
        check(s.blobs.ping()),
        check(s.cache.ping()),
    );
    let mut documents = documents;
    if documents.status == "up"
        && let Some(serving) = s.docs.serving()
        && serving.served != serving.preferred
    {
        documents.status = "degraded";
        documents.reason = Some(format!(
            "served from {}, not {} (failover)",
            serving.served, serving.preferred
        ));
    }
    let mut checks = BTreeMap::new();
    checks.insert("documents", documents);
    checks.insert("keys", keys);
    checks.insert("queues", queues);
    checks.insert("blobs", blobs);
    checks.insert("cache", cache);
    verdict(checks)
}

/// The services without which the region cannot serve.
const CRITICAL: [&str; 3] = ["documents", "keys", "queues"];

fn verdict(checks: BTreeMap<&'static str, Check>) -> Report {
    let mut status = Status::Healthy;
    let mut reasons = Vec::new();
    for (name, c) in &checks {
        if c.status == "up" {
            continue;
        }
        let critical = CRITICAL.contains(name) && c.status == "down";
        status = match (status, critical) {
            (_, true) | (Status::Unhealthy, _) => Status::Unhealthy,
            _ => Status::Degraded,
        };
        reasons.push(format!(
            "{name} {}: {}",
            c.status,
            c.reason.as_deref().unwrap_or("unknown")
        ));
    }
    Report {
        status,
        reasons,
        checks,
    }
}

async fn check(fut: impl Future<Output = PlatformResult<()>>) -> Check {
    let started = Instant::now();
    let result = tokio::time::timeout(CHECK_TIMEOUT, fut).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (status, reason) = match result {
        Ok(Ok(())) => ("up", None),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check failed");
            (
                "down",
                Some(if e.is_transient() {
                    "unavailable"
                } else {
                    "error"
                }),
            )
        }
        Err(_) => {
            tracing::warn!("health check timed out");
            ("down", Some("timeout"))
        }
    };
    Check {
        status,
        latency_ms,
        reason: reason.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(states: &[(&'static str, &'static str)]) -> BTreeMap<&'static str, Check> {
        states
            .iter()
            .map(|&(name, status)| {
                (
                    name,
                    Check {
                        status,
                        latency_ms: 1,
                        reason: (status != "up").then(|| "unavailable".to_owned()),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_critical_service_down_is_unhealthy_and_anything_else_degraded() {
        let all_up = [
            ("documents", "up"),
            ("keys", "up"),
            ("queues", "up"),
            ("blobs", "up"),
            ("cache", "up"),
        ];
        assert_eq!(verdict(checks(&all_up)).status, Status::Healthy);
        for (i, (name, _)) in all_up.iter().enumerate() {
            let mut states = all_up;
            states[i].1 = "down";
            let report = verdict(checks(&states));
            let expected = if CRITICAL.contains(name) {
                Status::Unhealthy
            } else {
                Status::Degraded
            };
            assert_eq!(report.status, expected, "{name} down");
            assert_eq!(report.reasons, vec![format!("{name} down: unavailable")]);
        }
        // A failover degrades; it does not drain the region.
        let mut states = all_up;
        states[0].1 = "degraded";
        assert_eq!(verdict(checks(&states)).status, Status::Degraded);
        // Unhealthy stays unhealthy whatever follows.
        let mut states = all_up;
        states[0].1 = "down";
        states[4].1 = "down";
        assert_eq!(verdict(checks(&states)).status, Status::Unhealthy);
    }
}
