//! The local host: what the Azure Functions host does for this app, on one
//! machine, for `handler local` and for the integration tests.
//!
//! It reads `functions/*/function.json` and `host.json`, forwards HTTP
//! functions to the handler (`enableForwardingHttpRequest`), fires timers on
//! their NCRONTAB schedules, and feeds queue functions from the queues with
//! the host's payloads, dequeue counts, visibility timeouts and poison
//! queues. It talks to the handler only over HTTP, exactly as the host does.

mod http_front;
mod invoker;
mod queue_poller;
mod timers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::task::JoinSet;
use url::Url;

use super::HostError;
use super::function_json::{FunctionDef, Trigger};
use super::host_json::HostJson;
use super::invoke::InvokeResponse;
use crate::platform::queues::Queues;
pub use http_front::MAX_REQUEST_BYTES;
pub use invoker::{InvokeError, Invoker};

/// How long shutdown waits for invocations in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub struct LocalHostConfig {
    pub functions: Vec<FunctionDef>,
    pub host: HostJson,
    /// Where the handler listens (`http://127.0.0.1:<port>`).
    pub handler: Url,
    /// Where the local host listens for HTTP functions (port 7071 by default).
    pub listen: SocketAddr,
    pub queues: Arc<dyn Queues>,
    /// The largest request body forwarded: the host's [`MAX_REQUEST_BYTES`]
    /// (tests lower it).
    pub max_request_bytes: u64,
}

pub struct LocalHost {
    pub addr: SocketAddr,
    invoker: Arc<Invoker>,
    functions: Arc<Vec<FunctionDef>>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl LocalHost {
    /// Waits for the handler to answer (as the host polls `GET /`), then
    /// starts the HTTP front, the timers and the queue pollers.
    pub async fn start(config: LocalHostConfig) -> Result<LocalHost, HostError> {
        let LocalHostConfig {
            functions,
            host,
            handler,
            listen,
            queues,
            max_request_bytes,
        } = config;
        let invoker = Arc::new(Invoker::new(handler, queues.clone(), &functions)?);
        invoker.wait_ready(Duration::from_secs(60)).await?;
        let functions = Arc::new(functions);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();

        for def in functions.iter() {
            if let Trigger::Queue { queue, .. } = &def.trigger {
                queues.ensure(queue).await.map_err(|e| HostError::Config {
                    path: def.name.clone(),
                    message: format!("queue {queue}: {e}"),
                })?;
                queues
                    .ensure(&queue.poison())
                    .await
                    .map_err(|e| HostError::Config {
                        path: def.name.clone(),
                        message: format!("queue {}: {e}", queue.poison()),
                    })?;
            }
        }
        let (addr, front) = http_front::serve(
            listen,
            http_front::Front {
                functions: functions.clone(),
                prefix: host.route_prefix.clone(),
                invoker: invoker.clone(),
                max_request_bytes,
            },
            shutdown_rx.clone(),
        )?;
        tasks.spawn(front);
        for def in functions.iter() {
            match &def.trigger {
                Trigger::Timer { .. } => {
                    tasks.spawn(timers::run(
                        def.clone(),
                        invoker.clone(),
                        shutdown_rx.clone(),
                    ));
                }
                Trigger::Queue { .. } => {
                    tasks.spawn(queue_poller::run(
                        def.clone(),
                        host.clone(),
                        queues.clone(),
                        invoker.clone(),
                        shutdown_rx.clone(),
                    ));
                }
                Trigger::Http { .. } => {}
            }
        }
        tracing::info!(%addr, functions = functions.len(), "local host started");
        for def in functions.iter() {
            if let Trigger::Http { methods, route, .. } = &def.trigger {
                tracing::info!(
                    "  {}: [{}] http://{addr}/{}/{route}",
                    def.name,
                    methods.join(",").to_uppercase(),
                    host.route_prefix
                );
            } else {
                tracing::info!("  {}: {}", def.name, describe(&def.trigger));
            }
        }
        Ok(LocalHost {
            addr,
            invoker,
            functions,
            shutdown,
            tasks,
        })
    }

    /// Runs a non-HTTP function once, now, as the host's admin endpoint
    /// (`POST /admin/functions/<name>`) does; `input` is a queue function's
    /// message text (ignored for timers).
    pub async fn run_function(
        &self,
        name: &str,
        input: &str,
    ) -> Result<InvokeResponse, InvokeError> {
        let def = self
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| InvokeError::UnknownFunction(name.to_owned()))?;
        run_once(&self.invoker, def, input).await
    }

    /// Stops taking new work, lets invocations in flight finish (bounded),
    /// and leaves every message not yet completed in its queue.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "local host: invocations still running after {DRAIN_TIMEOUT:?}; their messages stay queued"
            );
            self.tasks.abort_all();
        }
        tracing::info!("local host stopped");
    }
}

fn describe(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Timer {
            schedule,
            run_on_startup,
            ..
        } => format!(
            "timerTrigger {schedule:?}{}",
            if *run_on_startup {
                " (runOnStartup)"
            } else {
                ""
            }
        ),
        Trigger::Queue { queue, .. } => format!("queueTrigger {queue}"),
        Trigger::Http { route, .. } => format!("httpTrigger {route}"),
    }
}

async fn run_once(
    invoker: &Invoker,
    def: &FunctionDef,
    input: &str,
) -> Result<InvokeResponse, InvokeError> {
    match &def.trigger {
        Trigger::Timer { binding, .. } => {
            let (data, mut metadata) = timers::payload(binding, None, false);
            metadata.insert("sys".into(), sys_metadata(&def.name));
            invoker.invoke(def, (data, metadata), "manual run").await
        }
        Trigger::Queue { binding, .. } => {
            let now = time::OffsetDateTime::now_utc();
            let message = crate::platform::queues::QueueMessage {
                id: uuid::Uuid::new_v4().to_string(),
                pop_receipt: String::new(),
                text: input.to_owned(),
                dequeue_count: 1,
                insertion_time: now,
                expiration_time: now + time::Duration::days(7),
                next_visible_time: now,
            };
            let (data, mut metadata) = queue_poller::payload(binding, &message);
            metadata.insert("sys".into(), sys_metadata(&def.name));
            invoker.invoke(def, (data, metadata), "manual run").await
        }
        Trigger::Http { .. } => Err(InvokeError::UnknownFunction(format!(
            "{} is an HTTP function; call its route",
            def.name
        ))),
    }
}

/// A host-style `Metadata.sys`.
fn sys_metadata(function: &str) -> Value {
    serde_json::json!({
        "MethodName": function,
        "UtcNow": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "RandGuid": uuid::Uuid::new_v4().to_string(),
    })
}

type Payload = (Map<String, Value>, Map<String, Value>);
