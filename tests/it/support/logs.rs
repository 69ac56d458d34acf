//! What the app logs while a test runs, written as the handler writes it
//! under the Functions host (`salestim::server::host_log`): one JSON object
//! a line. The capture is this thread's default subscriber, so it sees the
//! handler and the local host of a `#[tokio::test]` (one thread), and
//! nothing of the tests running beside it.
//!
//! Tracing caches, per call site, whether any subscriber wants it; a call
//! site first reached on another test's thread while this capture was being
//! made could be cached as wanted by nobody, and this capture would miss
//! its lines. So one subscriber that always asks again lives as long as the
//! tests ([`always_ask`]): no call site is ever cached as unwanted, and
//! each event asks the thread's own subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use tracing::subscriber::{DefaultGuard, Interest};
use tracing::{Dispatch, Event, Metadata, span};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Captured {
    buffer: Buffer,
    _guard: DefaultGuard,
}

/// Wants every call site "sometimes" (so it is asked about on every
/// event), and no event.
struct AlwaysAsk;

impl tracing::Subscriber for AlwaysAsk {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

fn always_ask() {
    static KEPT: OnceLock<Dispatch> = OnceLock::new();
    KEPT.get_or_init(|| Dispatch::new(AlwaysAsk));
}

/// Captures until the returned value is dropped.
pub fn capture() -> Captured {
    always_ask();
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let guard =
        tracing::subscriber::set_default(salestim::server::host_log(move || writer.clone()));
    Captured {
        buffer,
        _guard: guard,
    }
}

/// The same, with `telemetry`'s layers beside the log (as the handler
/// runs with `APPLICATIONINSIGHTS_CONNECTION_STRING` set).
pub fn capture_with_telemetry(telemetry: &salestim::telemetry::Telemetry) -> Captured {
    always_ask();
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let guard = tracing::subscriber::set_default(salestim::server::host_log_with_telemetry(
        move || writer.clone(),
        telemetry,
    ));
    Captured {
        buffer,
        _guard: guard,
    }
}

impl Captured {
    /// The lines whose message holds `text`.
    pub fn saying(&self, text: &str) -> Vec<Value> {
        let bytes = self.buffer.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("a JSON log line"))
            .filter(|line| {
                line["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(text))
            })
            .collect()
    }
}
