//! The HTTP side of the local host: `http://127.0.0.1:7071/api/<route>`,
//! forwarded to the handler byte for byte (`enableForwardingHttpRequest`)
//! with the host's invocation headers; only routes that a function.json
//! declares are forwarded. `POST /admin/functions/<name>` runs a timer or
//! queue function now, as on the real host. It takes work without a key, so
//! it refuses what a web page in the developer's browser could send: a
//! cross-site request (403) and a body not declared as JSON (415).
//!
//! For a newcomer's browser, `GET /` redirects to the tabs' web app
//! (`/api/tabs/`), and `/api/tabs` to `/api/tabs/`, the address the app's
//! client-side router is built for.
//!
//! Like the host, it refuses a body over its limit (100 MB) with 413, and
//! reads the rest of it, within bounds (`http::body`), so that a client
//! still sending gets the 413 rather than a reset.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use warp::filters::path::FullPath;
use warp::http::{HeaderMap, Method, Response, StatusCode};
use warp::{Filter, Reply};

use super::{Invoker, run_once};
use crate::host::function_json::{FunctionDef, Trigger};
use crate::host::{HOST_VERSION_HEADER, HostError, INVOCATION_ID_HEADER, LOCAL_HOST_VERSION};
use crate::http::body::{self, BodyError};
use crate::http::route::match_route;

/// The host's request size limit (100 MB).
pub const MAX_REQUEST_BYTES: u64 = 100 * 1024 * 1024;
/// An admin call carries `{"input": "<a queue message>"}`: 64 KiB and some.
const MAX_ADMIN_BODY: u64 = 128 * 1024;
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What the front door forwards, and to whom.
pub(super) struct Front {
    pub functions: Arc<Vec<FunctionDef>>,
    /// host.json `extensions.http.routePrefix`.
    pub prefix: String,
    pub invoker: Arc<Invoker>,
    /// The largest body forwarded ([`MAX_REQUEST_BYTES`] but in tests).
    pub max_request_bytes: u64,
}

pub(super) fn serve(
    listen: SocketAddr,
    front: Front,
    shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, impl Future<Output = ()> + Send + 'static), HostError> {
    let front = Arc::new(front);
    let admin = {
        let functions = front.functions.clone();
        let invoker = front.invoker.clone();
        warp::post()
            .and(warp::path!("admin" / "functions" / String))
            .and(warp::header::headers_cloned())
            .and(warp::body::stream())
            .then(move |name: String, headers: HeaderMap, body| {
                let (functions, invoker) = (functions.clone(), invoker.clone());
                async move {
                    if let Some(reason) = crate::http::browser_request_reason(&headers) {
                        tracing::warn!(function = %name, reason, "admin call refused");
                        crate::http::body::discard(body, &headers, MAX_ADMIN_BODY, 0);
                        return refused(StatusCode::FORBIDDEN, reason);
                    }
                    if !crate::http::is_json(&headers) {
                        let reason = "the body must be declared as application/json";
                        tracing::warn!(function = %name, reason, "admin call refused");
                        crate::http::body::discard(body, &headers, MAX_ADMIN_BODY, 0);
                        return refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, reason);
                    }
                    let body = match crate::http::body::read_limited(body, &headers, MAX_ADMIN_BODY)
                        .await
                    {
                        Ok(body) => body,
                        Err(e) => {
                            tracing::warn!(function = %name, error = %e, "admin call refused");
                            return refused(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string());
                        }
                    };
                    let Some(def) = functions
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case(&name))
                        .cloned()
                    else {
                        return StatusCode::NOT_FOUND.into_response();
                    };
                    if matches!(def.trigger, Trigger::Http { .. }) {
                        return StatusCode::BAD_REQUEST.into_response();
                    }
                    let input = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v.get("input").and_then(|i| i.as_str()).map(str::to_owned))
                        .unwrap_or_default();
                    let invoker = invoker.clone();
                    tokio::spawn(async move {
                        let _ = run_once(&invoker, &def, &input).await;
                    });
                    StatusCode::ACCEPTED.into_response()
                }
            })
    };
    let forward = warp::path::full()
        .and(warp::method())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |path: FullPath, method: Method, query: String, headers: HeaderMap, body| {
                let front = front.clone();
                async move { forward(&front, path, method, query, headers, body).await }
            },
        );
    let routes = admin
        .or(forward)
        .unify()
        .recover(|_| async { Ok::<_, Infallible>(StatusCode::NOT_FOUND.into_response()) })
        .unify();
    let (addr, server) =
        crate::server::serve_filter(routes, listen, shutdown).map_err(|e| HostError::Config {
            path: listen.to_string(),
            message: format!("cannot listen: {e}"),
        })?;
    Ok((addr, server))
}

/// A `.` or `..` segment, spelt plainly or percent-encoded (`%2e`), which
/// URL parsing resolves.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

fn refused(status: StatusCode, reason: &str) -> warp::reply::Response {
    warp::reply::with_status(reason.to_owned(), status).into_response()
}

async fn forward(
    front: &Front,
    path: FullPath,
    method: Method,
    query: String,
    headers: HeaderMap,
    body: impl futures::Stream<Item = Result<impl bytes::Buf, warp::Error>> + Unpin + Send + 'static,
) -> warp::reply::Response {
    let Front {
        functions,
        prefix,
        invoker,
        max_request_bytes,
    } = front;
    if method == Method::GET && (path.as_str() == "/" || path.as_str() == format!("/{prefix}/tabs"))
    {
        body::discard(body, &headers, *max_request_bytes, 0);
        let mut location = format!("/{prefix}/tabs/");
        if !query.is_empty() {
            location = format!("{location}?{query}");
        }
        return Response::builder()
            .status(StatusCode::FOUND)
            .header("location", location)
            .body(Default::default())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    if has_dot_segment(path.as_str()) {
        // The URL the request is forwarded on would resolve it to another
        // path than the one matched here.
        tracing::warn!(path = %path.as_str(), "request refused: a dot segment in the path");
        body::discard(body, &headers, *max_request_bytes, 0);
        return StatusCode::NOT_FOUND.into_response();
    }
    let relative = path
        .as_str()
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(prefix.as_str()))
        .and_then(|p| p.strip_prefix('/'));
    let lower = method.as_str().to_ascii_lowercase();
    let function = relative.and_then(|rel| {
        functions.iter().find(|f| match &f.trigger {
            Trigger::Http { methods, route, .. } => {
                (methods.is_empty() || methods.contains(&lower))
                    && match_route(route, rel).is_some()
            }
            _ => false,
        })
    });
    let Some(function) = function else {
        body::discard(body, &headers, *max_request_bytes, 0);
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = match body::read_limited(body, &headers, *max_request_bytes).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(function = %function.name, error = %e, "request refused");
            let status = match e {
                BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                BodyError::Read(_) => StatusCode::BAD_REQUEST,
            };
            return status.into_response();
        }
    };
    let mut url = invoker.handler().clone();
    url.set_path(path.as_str());
    url.set_query(if query.is_empty() { None } else { Some(&query) });
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let mut request = invoker.client().request(method, url).body(body);
    for (name, value) in headers.iter() {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    request = request
        .header(INVOCATION_ID_HEADER, &invocation_id)
        .header(HOST_VERSION_HEADER, LOCAL_HOST_VERSION);
    match request.send().await {
        Ok(res) => {
            let status = res.status();
            let mut out = Response::builder().status(status);
            for (name, value) in res.headers() {
                if !HOP_BY_HOP.contains(&name.as_str()) && name != "content-length" {
                    out = out.header(name, value);
                }
            }
            let bytes = res.bytes().await.unwrap_or_default();
            tracing::debug!(function = %function.name, %invocation_id, status = status.as_u16(), "forwarded");
            out.body(bytes.into())
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => {
            tracing::error!(function = %function.name, error = %e, "the handler did not answer");
            StatusCode::BAD_GATEWAY.into_response()
        }
    }
}
