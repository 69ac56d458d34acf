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
        let field = e.path().to_string();
        let field = if field == "." {
            "body".to_owned()
        } else {
            field
        };
        invalid(&field, e.inner().to_string())
    })?;
    de.end().map_err(|e| invalid("body", e.to_string()))?;
    Ok(value)
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

/// A 400 naming `field`.
pub fn invalid(field: &str, reason: impl Into<String>) -> AppError {
    AppError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}
