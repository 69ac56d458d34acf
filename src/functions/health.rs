//! `Health` — `GET /api/health`, the Traffic Manager probe
//! ([`crate::platform::health`]): 503 when this region cannot serve
//! (document store, Key Vault key or queues down), so traffic moves to
//! another region; 200 otherwise, `degraded` with the reasons when it
//! serves with less (cache or blobs down, Cosmos DB answering from another
//! region). Cheap: one verdict answers every probe for a few seconds, and a
//! round of checks is bounded in time. The body names no host or error.

use warp::http::StatusCode;

use crate::app::App;
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::health::{Services, Status};

pub async fn run(app: App, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let report = app
        .probe
        .report(Services {
            docs: app.docs.as_ref(),
            keys: app.keys.as_ref(),
            queues: app.queues.as_ref(),
            blobs: app.blobs.as_ref(),
            cache: app.cache.as_ref(),
        })
        .await;
    let body = serde_json::json!({
        "status": report.status,
        "region": app.settings.region,
        "version": env!("CARGO_PKG_VERSION"),
        "reasons": report.reasons,
        "checks": report.checks,
    });
    let status = match report.status {
        Status::Healthy | Status::Degraded => StatusCode::OK,
        Status::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
    };
    Ok(HttpResponse::json(status, &body).with_header(
        "cache-control",
        warp::http::HeaderValue::from_static("no-store"),
    ))
}
