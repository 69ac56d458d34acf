//! A Bot Connector that only listens: plain HTTP on 127.0.0.1 (what the
//! bot talks to with `SALESTIM_BOT_AUTH_DISABLED`), answering every POST
//! 200 `{"id": …}` and recording its path, body and arrival time.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use serde_json::{Value, json};

/// One activity as it reached the sink.
#[derive(Clone)]
pub struct Posted {
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

pub struct Sink {
    /// `http://127.0.0.1:<port>/`: what activities carry as serviceUrl.
    pub service_url: String,
    posted: Arc<Mutex<Vec<Posted>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    posted: Arc<Mutex<Vec<Posted>>>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let at = Instant::now();
    let (status, reply) = if parts.method == hyper::Method::POST {
        let mut posted = posted.lock().expect("not poisoned");
        posted.push(Posted {
            path: parts.uri.path().to_owned(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            at,
        });
        (200, json!({"id": format!("sink-{}", posted.len())}))
    } else {
        (405, json!({"error": {"code": "MethodNotAllowed"}}))
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(reply.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("a status");
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

impl Sink {
    pub async fn start() -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a loopback port");
        let addr = listener.local_addr().expect("an address");
        let posted = Arc::new(Mutex::new(Vec::new()));
        let shared = posted.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                let posted = shared.clone();
                connections.spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req| answer(posted.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Sink {
            service_url: format!("http://{addr}/"),
            posted,
            task,
        }
    }

    /// What was posted from index `from` on.
    pub fn since(&self, from: usize) -> Vec<Posted> {
        let posted = self.posted.lock().expect("not poisoned");
        posted
            .get(from..)
            .map(<[Posted]>::to_vec)
            .unwrap_or_default()
    }
}

/// The first card an activity carries.
pub fn card(activity: &Value) -> &Value {
    &activity["attachments"][0]["content"]
}

/// A requester status card: (team name, status), from its heading
/// "Team request: <name>" and its "Status" fact.
pub fn status_of(activity: &Value) -> Option<(String, String)> {
    let body = card(activity)["body"].as_array()?;
    let name = body
        .first()?
        .get("text")?
        .as_str()?
        .strip_prefix("Team request: ")?;
    let status = body
        .iter()
        .filter(|b| b["type"] == "FactSet")
        .flat_map(|b| b["facts"].as_array().into_iter().flatten())
        .find(|f| f["title"] == "Status")?["value"]
        .as_str()?;
    Some((name.to_owned(), status.to_owned()))
}

/// The "Why it failed" fact of a status card, if any.
pub fn failure_of(activity: &Value) -> Option<String> {
    card(activity)["body"]
        .as_array()?
        .iter()
        .filter(|b| b["type"] == "FactSet")
        .flat_map(|b| b["facts"].as_array().into_iter().flatten())
        .find(|f| f["title"] == "Why it failed")
        .and_then(|f| f["value"].as_str())
        .map(str::to_owned)
}
