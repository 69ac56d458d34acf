//! Reading the tabs' API input: a JSON body declared as such, parsed into
//! the endpoint's type, with the failing field named in the 400
//! (`serde_path_to_error`), and query parameters.

use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};

/// The body as `T`; a 415 when it is not declared as JSON, a 400 naming
/// the field that does not fit.
pub fn json<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, AppError> {
    if !crate::http::is_json(&req.head.headers) {
        return Err(AppError::UnsupportedMediaType(
            "the body must be declared as application/json".into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(&req.body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let reason = e.inner().to_string();
        invalid(&field_of("", &e.path().to_string(), &reason), reason)
    })?;
    de.end().map_err(|e| invalid("body", e.to_string()))?;
    Ok(value)
}

/// The field a deserialisation error is about, under `prefix` (the body
/// when empty): its path, or, for a field that is missing (reported at its
/// parent), the parent's path and the missing name.
pub fn field_of(prefix: &str, path: &str, reason: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !prefix.is_empty() {
        parts.push(prefix);
    }
    // `?`: the JSON itself is broken, before any field.
    if path != "." && path != "?" {
        parts.push(path);
    }
    if let Some(name) = reason
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        parts.push(name);
    }
    if parts.is_empty() {
        "body".to_owned()
    } else {
        parts.join(".")
    }
}

/// A query parameter, trimmed; `None` when absent or empty.
pub fn query<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.head
        .query
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

/// A 200 with `value` as JSON, never cached (the answers are per user).
pub fn ok(value: &impl serde::Serialize) -> HttpResponse {
    reply(warp::http::StatusCode::OK, value)
}

pub fn reply(status: warp::http::StatusCode, value: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::json(status, value).with_header(
        "cache-control",
        warp::http::HeaderValue::from_static("no-store"),
    )
}

/// `value` as `T`, a 400 naming the failing field under `prefix`.
pub fn parse_value<T: DeserializeOwned>(
    prefix: &str,
    value: serde_json::Value,
) -> Result<T, AppError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let reason = e.inner().to_string();
        invalid(&field_of(prefix, &e.path().to_string(), &reason), reason)
    })
}

/// A time as the API writes it (RFC 3339).
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A 400 naming `field`.
pub fn invalid(field: &str, reason: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}
