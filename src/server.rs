//! Running the binary: the handler server alone (under the Functions host),
//! or the handler plus the local host (`handler local`), with logging set up
//! for each and a clean shutdown on Ctrl-C / SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use tokio::sync::watch;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};
use url::Url;

use crate::app::App;
use crate::config::{RunMode, Settings};
use crate::host::function_json::FunctionDef;
use crate::host::host_json::HostJson;
use crate::host::local::{LocalHost, LocalHostConfig};
use crate::platform::queues::QueueName;
use crate::routes;
use crate::telemetry::Telemetry;

/// JSON logs under the host (one object a line, for the host's log stream),
/// readable lines under `handler local`. `RUST_LOG` overrides the level.
/// With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, the telemetry layers
/// go alongside (and are flushed by [`run_under_host`] / [`run_local`] on
/// the way out); without it, the subscriber is the plain log alone.
pub fn init_tracing(mode: RunMode, settings: &Settings) {
    // Set once per process; a second call (tests) keeps the first.
    let telemetry = settings
        .telemetry
        .as_ref()
        .map(|t| Telemetry::start(t, &settings.region));
    let failed = match telemetry {
        Some(Ok(telemetry)) => {
            let _ = tracing_subscriber::registry()
                .with(log_layer(mode))
                .with(telemetry.layer())
                .try_init();
            crate::telemetry::set_global(telemetry);
            return;
        }
        Some(Err(e)) => Some(e),
        None => None,
    };
    match mode {
        RunMode::Host => {
            let _ = host_log(std::io::stdout).try_init();
        }
        RunMode::Local => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(log_filter())
                .compact()
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                .try_init();
        }
    }
    if let Some(e) = failed {
        tracing::error!("telemetry is off: {e:#}");
    }
}

/// The log of `mode` as a layer beside the telemetry's: the same lines as
/// [`host_log`] (or the local compact ones), never a dependency span.
fn log_layer(mode: RunMode) -> Box<dyn Layer<Registry> + Send + Sync> {
    match mode {
        RunMode::Host => host_log_layer(std::io::stdout).boxed(),
        RunMode::Local => tracing_subscriber::fmt::layer()
            .compact()
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_filter(log_layer_filter())
            .boxed(),
    }
}

fn host_log_layer<W>(writer: W) -> impl Layer<Registry> + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
        .with_filter(log_layer_filter())
}

fn log_layer_filter() -> impl tracing_subscriber::layer::Filter<Registry> + Send + Sync {
    log_filter().and(filter_fn(|meta| {
        meta.target() != crate::telemetry::DEPENDENCY_TARGET
    }))
}

/// [`host_log`] with `telemetry`'s layers beside it (tests).
pub fn host_log_with_telemetry<W>(
    writer: W,
    telemetry: &Telemetry,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::registry()
        .with(host_log_layer(writer))
        .with(telemetry.layer())
}

/// The log of an operator command (`handler tenant|template|policy|sweep|
/// billing`): on stderr, so the command's output on stdout (a table, JSON)
/// stays only that.
pub fn init_command_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .compact()
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The log the handler writes under the Functions host, which forwards its
/// stdout: one JSON object a line, each with the fields of the invocation's
/// span (function, invocation id, tenant).
pub fn host_log<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
        .finish()
}

fn log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,hyper=warn,reqwest=warn,azure_core=warn")
    })
}

/// Binds the handler's routes on `addr`; returns the bound address and the
/// server future, which ends once `shutdown` turns true.
pub fn bind(
    app: App,
    addr: SocketAddr,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, impl Future<Output = ()> + Send + 'static)> {
    serve_filter(routes::filter(app), addr, shutdown)
        .with_context(|| format!("listening on {addr}"))
}

/// Binds `addr` (failing cleanly, not panicking, when it is taken) and
/// serves `filter` until `shutdown` turns true.
pub fn serve_filter<F>(
    filter: F,
    addr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, impl Future<Output = ()> + Send + 'static)>
where
    F: warp::Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    let bound = listener.local_addr()?;
    let server = warp::serve(filter)
        .incoming(listener)
        .graceful(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .run();
    Ok((bound, server))
}

/// Creates the queues the app sends to and their poison queues, so the
/// first message never meets a missing queue (creating is idempotent).
pub async fn ensure_queues(app: &App) -> anyhow::Result<()> {
    for name in routes::trigger_queues() {
        let queue = QueueName::parse(name).expect("the route table names valid queues");
        app.queues
            .ensure(&queue)
            .await
            .with_context(|| format!("creating queue {queue}"))?;
        app.queues
            .ensure(&queue.poison())
            .await
            .with_context(|| format!("creating queue {}", queue.poison()))?;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `handler`: serve on 127.0.0.1:`FUNCTIONS_CUSTOMHANDLER_PORT` for the host.
pub async fn run_under_host(settings: Settings) -> anyhow::Result<()> {
    let port = settings.port;
    let app = App::build(settings).await?;
    ensure_queues(&app).await?;
    let (tx, rx) = watch::channel(false);
    let (addr, server) = bind(app, SocketAddr::from(([127, 0, 0, 1], port)), rx)?;
    tracing::info!(%addr, "handler listening for the Functions host");
    let server = tokio::spawn(server);
    shutdown_signal().await;
    let _ = tx.send(true);
    let _ = server.await;
    crate::telemetry::shutdown_global().await;
    Ok(())
}

/// Where `handler local` finds the function app.
pub struct LocalLayout {
    pub functions_dir: PathBuf,
    pub host_json: PathBuf,
}

/// `handler local`: the handler on a private port, the local host in front
/// of it on `settings.port`, until Ctrl-C.
pub async fn run_local(settings: Settings, layout: LocalLayout) -> anyhow::Result<()> {
    let functions = FunctionDef::load_dir(&layout.functions_dir)
        .with_context(|| format!("reading {}", layout.functions_dir.display()))?;
    let host = HostJson::load(&layout.host_json)?;
    let listen = SocketAddr::from(([127, 0, 0, 1], settings.port));
    let warnings = settings.startup_warnings();
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let app = App::build(settings).await?;
    ensure_queues(&app).await?;
    if app.settings.tabs.dev_signin {
        crate::tabs::demo::seed(&app)
            .await
            .context("writing the demo tenant for the development sign-in")?;
    }
    let queues = app.queues.clone();
    let (tx, rx) = watch::channel(false);
    let (handler_addr, server) = bind(app, SocketAddr::from(([127, 0, 0, 1], 0)), rx)?;
    let server = tokio::spawn(server);
    let handler =
        Url::parse(&format!("http://{handler_addr}/")).expect("a socket address makes a URL");
    let local = LocalHost::start(LocalHostConfig {
        functions,
        host,
        handler,
        listen,
        queues,
        max_request_bytes: crate::host::local::MAX_REQUEST_BYTES,
    })
    .await?;
    tracing::info!(
        "ready: try curl http://{}/api/health  (Ctrl-C to stop)",
        local.addr
    );
    // Said at start, and again here, last, where it is seen.
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing invocations in flight; queued messages stay queued");
    local.shutdown().await;
    let _ = tx.send(true);
    let _ = server.await;
    crate::telemetry::shutdown_global().await;
    Ok(())
}
