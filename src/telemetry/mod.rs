//! Telemetry to Application Insights, through OpenTelemetry, when
//! `APPLICATIONINSIGHTS_CONNECTION_STRING` is set; without it no layer is
//! installed and nothing here runs (each helper first asks [`active`], a
//! thread-local read).
//!
//! What goes out, all under the host's operation:
//! - a `RemoteDependency` per outbound call ([`dependency`]): each HTTP
//!   request of the outbound stack (Graph, Bot Connector, Entra tokens,
//!   Stripe, OpenID metadata) and each call of a platform store (Cosmos DB,
//!   Storage queues and blobs, Key Vault, Redis, or their embedded
//!   stand-ins: [`stores`]);
//! - one `InProc` dependency per invocation, named after its function, with
//!   its invocation id and tenant: the parent of the others, and the
//!   carrier of their log lines. No `Request`: the Functions host already
//!   sends one per invocation, and the invocation's span is its child (the
//!   host's `traceparent`, which .NET's HTTP client adds to every request
//!   the host sends the handler, forwarded HTTP or invocation alike; the
//!   host puts no trace context in `Metadata` for custom handlers);
//! - `Event`s for governance decisions ([`custom_event`]);
//! - `Message`s for warnings and errors logged inside an invocation (span
//!   events of the tracing layer; lines logged outside any invocation stay
//!   in stdout only, which the host forwards anyway);
//! - `Metric`s: queue lag, Graph requests and 429s per tenant, outbox
//!   retries ([`metrics`]), emitted as tracing events on their own target
//!   and turned into instruments by the metrics layer.
//!
//! The budget: parent-based sampling with a ratio for traces that start
//! here ([`TelemetrySettings::sampling`]); at most
//! [`TelemetrySettings::buffer`] spans held for export, past which spans
//! are dropped and counted ([`export`]); uploads on their own small
//! runtime ([`http`]) through the app's reqwest. Nothing an invocation does
//! waits on the endpoint. The exporter crate authenticates with the
//! instrumentation key only (`Authorization=ikey`): an Application Insights
//! resource with local authentication disabled cannot be sent to.

pub mod dependency;
mod export;
mod http;
pub mod metrics;
pub mod stores;

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_application_insights::Exporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

pub use crate::config::TelemetrySettings;
use export::{Budget, Counted, Gate};

/// The name of every invocation's span (`routes`); exported under its
/// function's name.
pub const INVOCATION_SPAN: &str = "invocation";
/// The target of dependency spans (TRACE: never in the stdout log).
pub const DEPENDENCY_TARGET: &str = "salestim::dependency";
/// The target of metric events (DEBUG).
pub const METRICS_TARGET: &str = "salestim::metrics";

/// How often metrics are sent (Application Insights' own SDKs: 60 s).
const METRIC_INTERVAL: Duration = Duration::from_secs(60);
/// How often a rise of the drop count is logged.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(60);
/// How long a shutdown may wait for the last export.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The running exporters. Dropping it stops nothing: call [`shutdown`].
///
/// [`shutdown`]: Telemetry::shutdown
#[derive(Clone)]
pub struct Telemetry {
    traces: SdkTracerProvider,
    metrics: SdkMeterProvider,
    budget: Arc<Budget>,
}

impl Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Telemetry {
    /// Starts the exporters (no connection is made until the first
    /// export). `instance` names this instance (`ai.cloud.roleInstance`).
    pub fn start(settings: &TelemetrySettings, instance: &str) -> anyhow::Result<Telemetry> {
        Telemetry::start_with(settings, instance, crate::outbound::http_client()?)
    }

    /// The same, uploading with `client` (tests: one that trusts the
    /// stand-in's certificate; the exporter sends to HTTPS only).
    pub fn start_with(
        settings: &TelemetrySettings,
        instance: &str,
        client: reqwest::Client,
    ) -> anyhow::Result<Telemetry> {
        let uploads = http::Uploads::new(client)?;
        let budget = Budget::new(settings.buffer);
        let exporter = |what: &str| {
            Exporter::new_from_connection_string(&settings.connection_string, uploads.clone())
                .map_err(|e| anyhow::anyhow!("APPLICATIONINSIGHTS_CONNECTION_STRING ({what}): {e}"))
        };
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "salestim"),
                KeyValue::new("service.instance.id", instance.to_owned()),
            ])
            .build();
        let traces = SdkTracerProvider::builder()
            .with_span_processor(Gate::new(
                exporter("traces")?.with_sample_rate(settings.sampling),
                budget.clone(),
            ))
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.sampling,
            ))))
            .with_resource(resource.clone())
            .build();
        let reader = PeriodicReader::builder(Counted {
            inner: exporter("metrics")?,
            budget: budget.clone(),
        })
        .with_interval(METRIC_INTERVAL)
        .build();
        let metrics = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource)
            .build();
        let telemetry = Telemetry {
            traces,
            metrics,
            budget,
        };
        telemetry.report_drops();
        Ok(telemetry)
    }

    /// The layers to add to the app's subscriber: the tenant of each
    /// invocation, the invocation and dependency spans with the warnings
    /// and errors logged in them, and the metric events.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let spans = tracing_opentelemetry::layer()
            .with_tracer(self.traces.tracer("salestim"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_filter(filter_fn(|meta| {
                if meta.is_span() {
                    meta.name() == INVOCATION_SPAN || meta.target() == DEPENDENCY_TARGET
                } else {
                    *meta.level() <= tracing::Level::WARN
                }
            }));
        let metrics = tracing_opentelemetry::MetricsLayer::new(self.metrics.clone())
            .with_filter(filter_fn(|meta| meta.target() == METRICS_TARGET));
        TenantLayer.and_then(spans).and_then(metrics)
    }

    /// Spans dropped (budget full, endpoint refusing) and metric exports
    /// that failed, since the start.
    pub fn dropped(&self) -> u64 {
        self.budget.dropped()
    }

    /// Sends what is held now (blocking; bounded by the SDK's timeouts).
    pub fn flush(&self) {
        let _ = self.traces.force_flush();
        let _ = self.metrics.force_flush();
    }

    /// Sends what is held and stops (blocking, at most a few seconds).
    pub fn shutdown(&self) {
        let _ = self.traces.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        let _ = self.metrics.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        if self.dropped() > 0 {
            tracing::warn!(
                dropped = self.dropped(),
                "telemetry: items dropped since the start"
            );
        }
    }

    /// Logs the drop count every minute it has risen (outside any
    /// invocation, so the line itself is not exported).
    fn report_drops(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let budget = Arc::downgrade(&self.budget);
        runtime.spawn(async move {
            let mut reported = 0;
            loop {
                tokio::time::sleep(DROP_REPORT_INTERVAL).await;
                let Some(budget) = budget.upgrade() else {
                    return;
                };
                let dropped = budget.dropped();
                if dropped > reported {
                    tracing::warn!(
                        dropped,
                        since_last = dropped - reported,
                        "telemetry: items dropped (the endpoint is down or the buffer full)"
                    );
                    reported = dropped;
                }
            }
        });
    }
}

/// The process's telemetry, when the handler runs with it.
static GLOBAL: OnceLock<Telemetry> = OnceLock::new();

/// Keeps `telemetry` for [`shutdown_global`] (the first one kept wins).
pub fn set_global(telemetry: Telemetry) {
    let _ = GLOBAL.set(telemetry);
}

/// Flushes and stops the process's telemetry, if any (at shutdown, off
/// the async threads).
pub async fn shutdown_global() {
    if let Some(telemetry) = GLOBAL.get() {
        let telemetry = telemetry.clone();
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    }
}

/// Whether the current subscriber exports telemetry.
pub fn active() -> bool {
    tracing::dispatcher::get_default(|d| d.is::<TenantLayer>())
}

/// Makes `span` (an invocation's, not yet entered) the child of the host's
/// trace, read from the W3C `traceparent` (and `tracestate`) header.
pub fn adopt_host_trace(span: &tracing::Span, headers: &warp::http::HeaderMap) {
    if !active() || !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// An `Event` (a governance decision) on the current invocation, with the
/// invocation's tenant and `properties`; never a secret or a token.
pub fn custom_event(name: &'static str, properties: &[(&'static str, &str)]) {
    if !active() {
        return;
    }
    let mut attributes = vec![KeyValue::new("ai.customEvent.name", name)];
    if !properties.iter().any(|(k, _)| *k == "tenant")
        && let Some(tenant) = current_tenant()
    {
        attributes.push(KeyValue::new("tenant", tenant));
    }
    attributes.extend(
        properties
            .iter()
            .map(|(k, v)| KeyValue::new(*k, (*v).to_owned())),
    );
    tracing::Span::current().add_event("ai.custom", attributes);
}

/// The tenant of the current invocation, as its span recorded it
/// (`tenant_id`), found by [`TenantLayer`] in the span or a parent.
fn current_tenant() -> Option<String> {
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            span.scope()
                .find_map(|s| s.extensions().get::<Tenant>().map(|t| t.0.clone()))
        })
        .flatten()
}

/// Keeps each span's `tenant_id` where [`current_tenant`] finds it (the
/// field is recorded once the invocation knows its tenant). Its presence
/// is also what [`active`] looks for.
struct TenantLayer;

struct Tenant(String);

struct TenantField(Option<String>);

impl tracing::field::Visit for TenantField {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "tenant_id" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn Debug) {
        if field.name() == "tenant_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl TenantLayer {
    fn keep<S>(id: &span::Id, ctx: &Context<'_, S>, found: TenantField)
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        if let (Some(tenant), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().replace(Tenant(tenant));
        }
    }
}

impl<S> Layer<S> for TenantLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut found = TenantField(None);
        attrs.record(&mut found);
        Self::keep(id, &ctx, found);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let mut found = TenantField(None);
        values.record(&mut found);
        Self::keep(id, &ctx, found);
    }
}
