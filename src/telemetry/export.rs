//! The export budget: at most `capacity` spans are held for export at a
//! time (queued or being sent); a span ended while the budget is full is
//! dropped at once, and so is a batch the endpoint would not take (after
//! the exporter's own bounded retries). Either way it is counted
//! ([`Budget::dropped`]). Nothing here waits: ending a span is an atomic
//! add and a bounded channel send.
//!
//! The SDK's batch processor bounds its queue too, but keeps its count of
//! drops to itself; this gate in front of it keeps the count where the
//! app can read it, and sizes the processor's queue so that it never
//! drops on its own.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::Status;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor,
};

/// What is held for export, and what was dropped.
#[derive(Debug)]
pub struct Budget {
    capacity: usize,
    held: AtomicUsize,
    dropped: AtomicU64,
}

impl Budget {
    pub fn new(capacity: usize) -> Arc<Budget> {
        Arc::new(Budget {
            capacity: capacity.max(1),
            held: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// Spans dropped (budget full, or refused by the endpoint) and metric
    /// exports that failed, since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Takes a place for one span, or counts it dropped.
    fn admit(&self) -> bool {
        if self.held.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.held.fetch_sub(1, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// `spans` left the budget: sent, or dropped when not `delivered`.
    fn settle(&self, spans: usize, delivered: bool) {
        self.held.fetch_sub(spans, Ordering::AcqRel);
        if !delivered {
            self.dropped.fetch_add(spans as u64, Ordering::Relaxed);
        }
    }
}

/// The SDK's batch processor behind the budget's gate.
#[derive(Debug)]
pub struct Gate {
    inner: BatchSpanProcessor,
    budget: Arc<Budget>,
}

impl Gate {
    pub fn new<E>(exporter: E, budget: Arc<Budget>) -> Gate
    where
        E: SpanExporter + 'static,
    {
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(budget.capacity)
            .with_max_export_batch_size(budget.capacity.min(512))
            .build();
        let inner = BatchSpanProcessor::builder(Counted {
            inner: exporter,
            budget: budget.clone(),
        })
        .with_batch_config(config)
        .build();
        Gate { inner, budget }
    }
}

impl SpanProcessor for Gate {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.budget.admit() {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// An exporter whose outcomes settle the budget.
#[derive(Debug)]
pub struct Counted<E> {
    pub inner: E,
    pub budget: Arc<Budget>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, mut batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        batch.iter_mut().for_each(name_after_function);
        let result = self.inner.export(batch).await;
        self.budget.settle(spans, result.is_ok());
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Counted<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        if result.is_err() {
            self.budget.dropped.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// Every invocation's span is called `invocation` (one call site, in the
/// routes); what the portal should show is the function. An invocation
/// that logged no error succeeded (a rejected input is logged as a
/// warning: the caller's failure, not ours).
fn name_after_function(span: &mut SpanData) {
    if span.name != super::INVOCATION_SPAN {
        return;
    }
    if span.status == Status::Unset {
        span.status = Status::Ok;
    }
    if let Some(function) = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "function")
    {
        span.name = Cow::Owned(function.value.as_str().into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_drops_and_counts_past_its_capacity_and_frees_on_settling() {
        let budget = Budget::new(2);
        assert!(budget.admit());
        assert!(budget.admit());
        assert!(!budget.admit(), "full");
        assert_eq!(budget.dropped(), 1);
        budget.settle(2, true);
        assert!(budget.admit(), "room again once sent");
        budget.settle(1, false);
        assert_eq!(budget.dropped(), 2, "a refused span counts too");
        assert_eq!(budget.held.load(Ordering::Relaxed), 0);
    }
}
