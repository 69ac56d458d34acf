//! `Health` — `GET /api/health`, the Traffic Manager probe: 200 while the
//! document store answers, 503 when it does not (so traffic moves to another
//! region). Every check runs at once under a short timeout; the body names no
//! host or internal error.

use std::time::{Duration, Instant};

use serde::Serialize;
use warp::http::StatusCode;

use crate::app::App;
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::PlatformResult;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Check {
    status: &'static str,
    latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

async fn check(fut: impl Future<Output = PlatformResult<()>>) -> Check {
    let started = Instant::now();
    let result = tokio::time::timeout(CHECK_TIMEOUT, fut).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(Ok(())) => Check {
            status: "up",
            latency_ms,
            reason: None,
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check failed");
            Check {
                status: "down",
                latency_ms,
                reason: Some(if e.is_transient() {
                    "unavailable"
                } else {
                    "error"
                }),
            }
        }
        Err(_) => Check {
            status: "down",
            latency_ms,
            reason: Some("timeout"),
        },
    }
}

pub async fn run(app: App, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let (documents, queues, blobs, cache) = tokio::join!(
        check(app.docs.ping()),
        check(app.queues.ping()),
        check(app.blobs.ping()),
        check(app.cache.ping())
    );
    let healthy = documents.status == "up";
    let body = serde_json::json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "region": app.settings.region,
        "version": env!("CARGO_PKG_VERSION"),
        "checks": {"documents": documents, "queues": queues, "blobs": blobs, "cache": cache},
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(HttpResponse::json(status, &body).with_header(
        "cache-control",
        warp::http::HeaderValue::from_static("no-store"),
    ))
}
