//! The metrics, as events on [`METRICS_TARGET`](super::METRICS_TARGET)
//! that the metrics layer turns into instruments (with telemetry off the
//! events are disabled at their call sites, as any DEBUG line is).
//! Dimensions stay bounded: queues are the app's own, tenants are its
//! customers.

use time::OffsetDateTime;
use tracing::Level;

/// `queue_lag_ms` (histogram) per `queue`: how long a message waited
/// between being queued (`inserted`, the host's `InsertionTime`) and its
/// function starting (`now`).
pub fn queue_lag(queue: &str, inserted: OffsetDateTime, now: OffsetDateTime) {
    let lag_ms = u64::try_from((now - inserted).whole_milliseconds().max(0)).unwrap_or(u64::MAX);
    tracing::event!(target: "salestim::metrics", Level::DEBUG, histogram.queue_lag_ms = lag_ms, queue = queue);
}

/// `graph_requests` per `tenant` (`""` for requests of no tenant).
pub fn graph_request(tenant: &str) {
    tracing::event!(target: "salestim::metrics", Level::DEBUG, monotonic_counter.graph_requests = 1_u64, tenant = tenant);
}

/// `graph_throttled` (429s) per `tenant`.
pub fn graph_throttled(tenant: &str) {
    tracing::event!(target: "salestim::metrics", Level::DEBUG, monotonic_counter.graph_throttled = 1_u64, tenant = tenant);
}

/// `outbox_retries`: an outbox message delivered again (its earlier
/// attempts failed).
pub fn outbox_retry() {
    tracing::event!(target: "salestim::metrics", Level::DEBUG, monotonic_counter.outbox_retries = 1_u64);
}
