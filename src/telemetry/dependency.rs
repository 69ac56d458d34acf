//! Dependencies: one Client span per call to an outside service, which the
//! exporter sends as a `RemoteDependency` under the invocation's operation.
//! Two sources, one shape: an HTTP request of the outbound stack
//! ([`http`], one per attempt) and a call of a platform trait (the
//! [`super::stores`] wrappers, [`store`]).
//!
//! What a span carries, and only that: the service's host (`target`), a
//! name that is a method and a path template (never a query string, an id
//! or a blob name: they may hold names, SAS signatures or keys), the result
//! code, success, and the invocation's tenant. The spans are at TRACE on
//! their own target, so the stdout log (INFO by default) never sees them
//! and the log lines keep the invocation's span as their own.

use std::future::Future;

use tracing::Instrument;
use tracing::field::Empty;

use crate::platform::{PlatformError, PlatformResult};

use super::{DEPENDENCY_TARGET, active, current_tenant};

/// What a platform call's wrapper reports as the dependency's type and
/// target: `Azure DocumentDB` at `acct.documents.azure.com`, or an
/// embedded store at `local`.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: &'static str,
    pub host: String,
}

/// A dependency span, or a disabled one when telemetry is off (no cost
/// beyond asking whether it is on).
fn span(kind: &'static str, host: &str, name: &str) -> tracing::Span {
    if !active() {
        return tracing::Span::none();
    }
    let span = tracing::trace_span!(
        target: DEPENDENCY_TARGET,
        "dependency",
        otel.name = name,
        otel.kind = "client",
        otel.status_code = Empty,
        server.address = host,
        db.system.name = Empty,
        http.request.method = Empty,
        http.response.status_code = Empty,
        tenant = Empty,
    );
    if kind != "HTTP" {
        span.record("db.system.name", kind);
    }
    if let Some(tenant) = current_tenant() {
        span.record("tenant", tenant.as_str());
    }
    span
}

/// One HTTP request of the outbound stack: `GET graph.microsoft.com
/// /v1.0/groups/{id}` (the caller's path template, without its query).
pub async fn http(
    client: &reqwest::Client,
    request: reqwest::Request,
    path: &str,
) -> reqwest::Result<reqwest::Response> {
    let host = request.url().host_str().unwrap_or("").to_owned();
    let method = request.method().as_str().to_owned();
    let span = span("HTTP", &host, &format!("{method} {}", template(path)));
    if span.is_disabled() {
        return client.execute(request).await;
    }
    span.record("http.request.method", method.as_str());
    let result = client.execute(request).instrument(span.clone()).await;
    match &result {
        Ok(res) => {
            let status = res.status().as_u16();
            span.record("http.response.status_code", i64::from(status));
            span.record(
                "otel.status_code",
                if status < 400 { "ok" } else { "error" },
            );
        }
        Err(_) => {
            span.record("otel.status_code", "error");
        }
    }
    result
}

/// `path` without its query, each segment that looks like an identifier
/// (digits past a short word like `v1.0`, or characters a word has not)
/// as `{id}`: `/v3/conversations/19:a@thread/activities` becomes
/// `/v3/conversations/{id}/activities`.
pub fn template(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let word = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '$'))
            && (s.len() <= 6 || !s.chars().any(|c| c.is_ascii_digit()))
    };
    path.split('/')
        .map(|segment| if word(segment) { segment } else { "{id}" })
        .collect::<Vec<_>>()
        .join("/")
}

/// One call of a platform trait: `get requests` on `Azure DocumentDB`.
pub async fn store<T>(
    target: &Target,
    operation: &'static str,
    scope: &str,
    call: impl Future<Output = PlatformResult<T>>,
) -> PlatformResult<T> {
    let name = if scope.is_empty() {
        operation.to_owned()
    } else {
        format!("{operation} {scope}")
    };
    let span = span(target.kind, &target.host, &name);
    if span.is_disabled() {
        return call.await;
    }
    let result = call.instrument(span.clone()).await;
    let (code, status) = match &result {
        Ok(_) => (200, "ok"),
        Err(e) => (result_code(e), "error"),
    };
    span.record("http.response.status_code", code);
    span.record("otel.status_code", status);
    result
}

/// A platform error as the HTTP status the Azure services answer for it
/// (Cosmos DB, Storage and Key Vault are HTTP APIs; for Redis and the
/// embedded stores it is the same meaning in the same code).
fn result_code(e: &PlatformError) -> i64 {
    match e {
        PlatformError::NotFound => 404,
        PlatformError::Conflict => 409,
        PlatformError::PreconditionFailed => 412,
        PlatformError::Throttled { .. } => 429,
        PlatformError::Invalid(_) => 400,
        PlatformError::Unavailable { .. } => 503,
        PlatformError::Backend { .. } => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_template_keeps_words_and_hides_identifiers_and_queries() {
        for (path, expected) in [
            (
                "/v1.0/groups/8e3f0d4a-62a1-4bd8-9c5a-5d8e0f3e1a11/members?$top=5",
                "/v1.0/groups/{id}/members",
            ),
            (
                "/v3/conversations/19:abc@thread.tacv2/activities/1700000000000",
                "/v3/conversations/{id}/activities/{id}",
            ),
            ("/oauth2/v2.0/token", "/oauth2/v2.0/token"),
            ("/v1/checkout/sessions", "/v1/checkout/sessions"),
            ("/users/adele%40contoso.com", "/users/{id}"),
            ("/x?sig=abc&se=2030", "/x"),
        ] {
            assert_eq!(template(path), expected, "{path}");
        }
    }
}
