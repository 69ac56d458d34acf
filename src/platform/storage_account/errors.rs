//! One mapping from storage SDK errors to [`PlatformError`], shared by blobs
//! and queues, so both report the same failure the same way.
//!
//! Messages are built from the status and the service's error code, never
//! from a request URL: a URL may carry the SAS signature. Transport errors
//! (whose text can quote the URL) go through [`redact_sas`].

use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderName;

use crate::platform::PlatformError;

/// Replaces the value of every `sig=` parameter in `text`.
pub fn redact_sas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sig=") {
        out.push_str(&rest[..at + 4]);
        out.push_str("REDACTED");
        rest = &rest[at + 4..];
        let end = rest
            .find(['&', ')', ' ', '"', '\'', '>'])
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The error, its causes, joined, with any SAS signature removed.
fn describe(err: &azure_core::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    // Bounded: error chains are short, but nothing forces them to be.
    for _ in 0..6 {
        let Some(cause) = source else { break };
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    redact_sas(&text)
}

fn retry_after(raw: Option<&azure_core::http::RawResponse>) -> Option<Duration> {
    let headers = raw?.headers();
    if let Some(ms) = headers.get_optional_str(&HeaderName::from_static("x-ms-retry-after-ms")) {
        return ms.trim().parse().ok().map(Duration::from_millis);
    }
    headers
        .get_optional_str(&HeaderName::from_static("retry-after"))
        .and_then(|secs| secs.trim().parse().ok())
        .map(Duration::from_secs)
}

/// Maps an SDK error: 404 -> NotFound, 409 -> Conflict, 412 ->
/// PreconditionFailed, 429 (and 503 with Retry-After) -> Throttled,
/// connection errors and 5xx -> Unavailable, anything else -> Backend.
pub fn map_storage_error(service: &'static str, err: azure_core::Error) -> PlatformError {
    match err.kind() {
        ErrorKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } => {
            let code = u16::from(*status);
            let message = format!(
                "HTTP {code} {}",
                error_code.as_deref().unwrap_or("(no error code)")
            );
            let retry_after = retry_after(raw_response.as_deref());
            match code {
                404 => PlatformError::NotFound,
                409 => PlatformError::Conflict,
                412 => PlatformError::PreconditionFailed,
                429 => PlatformError::Throttled {
                    service,
                    retry_after,
                },
                503 if retry_after.is_some() => PlatformError::Throttled {
                    service,
                    retry_after,
                },
                500..=599 => PlatformError::Unavailable { service, message },
                _ => PlatformError::Backend { service, message },
            }
        }
        ErrorKind::Connection | ErrorKind::Io => {
            PlatformError::unavailable(service, describe(&err))
        }
        _ => PlatformError::backend(service, describe(&err)),
    }
}

#[cfg(test)]
mod tests {
    use azure_core::http::headers::Headers;
    use azure_core::http::{RawResponse, StatusCode};

    use super::*;

    fn http_error(status: u16, headers: &[(&'static str, &'static str)]) -> azure_core::Error {
        let mut h = Headers::new();
        for (name, value) in headers {
            h.insert(*name, *value);
        }
        ErrorKind::HttpResponse {
            status: StatusCode::from(status),
            error_code: Some("SomeCode".into()),
            raw_response: Some(Box::new(RawResponse::from_bytes(
                StatusCode::from(status),
                h,
                Vec::new(),
            ))),
        }
        .into_error()
    }

    #[test]
    fn statuses_map_to_what_callers_act_on() {
        assert!(matches!(
            map_storage_error("blobs", http_error(404, &[])),
            PlatformError::NotFound
        ));
        assert!(matches!(
            map_storage_error("blobs", http_error(409, &[])),
            PlatformError::Conflict
        ));
        assert!(matches!(
            map_storage_error("blobs", http_error(412, &[])),
            PlatformError::PreconditionFailed
        ));
        assert!(matches!(
            map_storage_error("queues", http_error(429, &[("retry-after", "3")])),
            PlatformError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            map_storage_error("queues", http_error(503, &[("x-ms-retry-after-ms", "250")])),
            PlatformError::Throttled { retry_after: Some(d), .. } if d == Duration::from_millis(250)
        ));
        assert!(matches!(
            map_storage_error("queues", http_error(503, &[])),
            PlatformError::Unavailable { .. }
        ));
        match map_storage_error("blobs", http_error(403, &[])) {
            PlatformError::Backend { message, .. } => assert_eq!(message, "HTTP 403 SomeCode"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            map_storage_error("blobs", ErrorKind::Connection.into_error()),
            PlatformError::Unavailable { .. }
        ));
    }

    #[test]
    fn signatures_are_redacted() {
        assert_eq!(
            redact_sas("error sending request for url (http://h/a?sv=1&sig=abc%2B=&x=1): refused"),
            "error sending request for url (http://h/a?sv=1&sig=REDACTED&x=1): refused"
        );
        assert_eq!(redact_sas("sig=abc"), "sig=REDACTED");
        assert_eq!(redact_sas("nothing here"), "nothing here");
    }
}
