//! What the app logs while a test runs, written as the handler writes it
//! under the Functions host (`salestim::server::host_log`): one JSON object
//! a line. The capture is this thread's default subscriber, so it sees the
//! handler and the local host of a `#[tokio::test]` (one thread), and
//! nothing of the tests running beside it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing::subscriber::DefaultGuard;

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

/// Captures until the returned value is dropped.
pub fn capture() -> Captured {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let guard =
        tracing::subscriber::set_default(salestim::server::host_log(move || writer.clone()));
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
