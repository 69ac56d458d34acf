//! Application Insights' ingestion endpoint on 127.0.0.1, as the exporter
//! uses it: `POST /v2/track` with a gzip JSON array of envelopes, answered
//! `{"itemsReceived","itemsAccepted","errors":[]}`. It checks each
//! envelope's shape as the service would refuse it (a name it knows, an
//! iKey, a time, the tags and fields of its kind) and records the
//! envelopes and every byte it was sent (decompressed), for tests to look
//! for what must never leave.
//!
//! It serves HTTPS (the exporter upgrades every endpoint to HTTPS) with a
//! certificate made at test time ([`IngestionStandIn::client`] trusts it),
//! on a thread and runtime of its own, so a test may block on a flush while
//! the stand-in answers. [`Mode::Unavailable`] answers 503 to
//! everything (the endpoint down). Its thread is named `ingestion`.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::tls::{SeenRequest, TestPki, serve_https};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Accept,
    Unavailable,
    /// Answers 200 without reading what it was sent (a bench's endpoint:
    /// the stand-in's own work stays out of the figures).
    #[allow(dead_code, reason = "the telemetry bench's mode")]
    Discard,
}

#[derive(Default)]
struct State {
    envelopes: Vec<Value>,
    bytes: Vec<u8>,
    posts: usize,
    /// What was wrong with an envelope, per envelope refused.
    refused: Vec<String>,
}

pub struct IngestionStandIn {
    pub addr: SocketAddr,
    pub pki: Arc<TestPki>,
    pub ikey: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for IngestionStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl IngestionStandIn {
    pub fn start(mode: Mode) -> IngestionStandIn {
        let state = Arc::new(Mutex::new(State::default()));
        let pki = Arc::new(TestPki::new(&[]));
        let server_pki = pki.clone();
        let shared = state.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, addr) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("ingestion".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move {
                    let (addr, task) = serve_https(&server_pki, move |seen| {
                        let (status, text) = handle(&shared, mode, &seen);
                        (status, Vec::new(), text)
                    })
                    .await;
                    let _ = bound.send(addr);
                    let _ = stopped.await;
                    task.abort();
                });
            })
            .expect("a thread");
        IngestionStandIn {
            addr: addr.recv().expect("the stand-in binds"),
            pki,
            ikey: uuid::Uuid::new_v4().to_string(),
            state,
            stop: Some(stop),
        }
    }

    /// `APPLICATIONINSIGHTS_CONNECTION_STRING` for this stand-in, as the
    /// portal writes one (with a trailing `;`).
    pub fn connection_string(&self) -> String {
        format!(
            "InstrumentationKey={};IngestionEndpoint=https://{}/;LiveEndpoint=https://{}/;",
            self.ikey, self.addr, self.addr
        )
    }

    /// A client that trusts the stand-in's certificate.
    pub fn client(&self) -> reqwest::Client {
        self.pki
            .client_builder("localhost", self.addr)
            .build()
            .expect("a client")
    }

    pub fn envelopes(&self) -> Vec<Value> {
        self.state.lock().unwrap().envelopes.clone()
    }

    /// Everything it was sent, decompressed.
    pub fn bytes(&self) -> Vec<u8> {
        self.state.lock().unwrap().bytes.clone()
    }

    pub fn posts(&self) -> usize {
        self.state.lock().unwrap().posts
    }

    /// Why envelopes were refused (empty when every one was well formed).
    pub fn refused(&self) -> Vec<String> {
        self.state.lock().unwrap().refused.clone()
    }

    /// The envelopes named `Microsoft.ApplicationInsights.<kind>`.
    pub fn of_kind(&self, kind: &str) -> Vec<Value> {
        let name = format!("Microsoft.ApplicationInsights.{kind}");
        self.envelopes()
            .into_iter()
            .filter(|e| e["name"] == name.as_str())
            .collect()
    }
}

fn handle(state: &Mutex<State>, mode: Mode, seen: &SeenRequest) -> (u16, String) {
    let mut state = state.lock().unwrap();
    state.posts += 1;
    match mode {
        Mode::Unavailable => return (503, String::new()),
        Mode::Discard => return (200, String::new()),
        Mode::Accept => {}
    }
    if (seen.method.as_str(), seen.target.as_str()) != ("POST", "/v2/track") {
        return (404, String::new());
    }
    let body = &seen.body[..];
    let gzip = seen
        .headers
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let mut json = Vec::new();
    let read = if gzip {
        flate2::read::GzDecoder::new(body).read_to_end(&mut json)
    } else {
        json.extend_from_slice(body);
        Ok(json.len())
    };
    if read.is_err() {
        return (400, "not gzip".into());
    }
    state.bytes.extend_from_slice(&json);
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&json) else {
        return (400, "not a JSON array".into());
    };
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match check(item) {
            Ok(()) => state.envelopes.push(item.clone()),
            Err(why) => {
                state.refused.push(format!("{why}: {item}"));
                errors.push(json!({"index": index, "statusCode": 400, "message": why}));
            }
        }
    }
    let accepted = items.len() - errors.len();
    let status = if errors.is_empty() { 200 } else { 206 };
    let answer = json!({"itemsReceived": items.len(), "itemsAccepted": accepted, "errors": errors});
    (status, answer.to_string())
}

/// What the service requires of an envelope of each kind.
fn check(item: &Value) -> Result<(), String> {
    let name = item["name"].as_str().ok_or("no name")?;
    let kind = name
        .strip_prefix("Microsoft.ApplicationInsights.")
        .ok_or("an unknown name")?;
    if item["iKey"].as_str().is_none_or(str::is_empty) {
        return Err("no iKey".into());
    }
    if item["time"].as_str().is_none_or(|t| !t.ends_with('Z')) {
        return Err("no UTC time".into());
    }
    let data = &item["data"];
    let base = &data["baseData"];
    let expected_type = match kind {
        "RemoteDependency" => "RemoteDependencyData",
        "Request" => "RequestData",
        "Event" => "EventData",
        "Message" => "MessageData",
        "Exception" => "ExceptionData",
        "Metric" => "MetricData",
        _ => return Err(format!("an unknown kind {kind}")),
    };
    if data["baseType"] != expected_type || base["ver"] != 2 {
        return Err("baseType or ver".into());
    }
    let has = |field: &str| !base[field].is_null();
    let required: &[&str] = match kind {
        "RemoteDependency" => &["name", "id", "duration", "success"],
        "Request" => &["id", "duration", "responseCode", "success"],
        "Event" => &["name"],
        "Message" => &["message"],
        "Exception" => &["exceptions"],
        _ => &["metrics"],
    };
    if let Some(missing) = required.iter().find(|f| !has(f)) {
        return Err(format!("no {missing}"));
    }
    if kind != "Metric" && item["tags"]["ai.operation.id"].as_str().is_none() {
        return Err("no ai.operation.id".into());
    }
    Ok(())
}
