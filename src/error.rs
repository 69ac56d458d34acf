//! One error type for the HTTP and invocation layer. It maps to a status and
//! a short problem JSON (RFC 9457) for the caller; the cause goes to the log,
//! never to the caller.

use warp::http::StatusCode;

use crate::http::body::BodyError;
use crate::platform::PlatformError;

/// The `Retry-After` of a [`AppError::Busy`] answer.
pub const BUSY_RETRY_AFTER_SECS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A field of the caller's input is not valid: a 400 naming it.
    #[error("bad request: {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// No valid credentials: answered 401 with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The credentials are valid but the caller must act first (consent,
    /// MFA): 401 with this `WWW-Authenticate` challenge, which the client
    /// reads to get a new token (`Bearer error="interaction_required", claims="..."`).
    #[error("unauthorized: {detail} ({challenge})")]
    Challenge { detail: String, challenge: String },
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("payload too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: u64 },
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A feature that is not configured in this deployment (e.g. billing
    /// without a Stripe secret).
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
    /// Every slot for this work is taken and none freed up in time; the
    /// caller may retry after [`BUSY_RETRY_AFTER_SECS`].
    #[error("busy: {0}")]
    Busy(&'static str),
    /// The caller sends more than this deployment takes in at once; it may
    /// come back after [`BUSY_RETRY_AFTER_SECS`]. Nothing was read or done.
    #[error("too many requests: {0}")]
    TooManyRequests(&'static str),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl From<BodyError> for AppError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { limit } => AppError::PayloadTooLarge { limit },
            BodyError::Read(_) => AppError::BadRequest(e.to_string()),
        }
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) | AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) | AppError::Challenge { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::NotConfigured(_) | AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Platform(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Platform(PlatformError::PreconditionFailed | PlatformError::Conflict) => {
                StatusCode::CONFLICT
            }
            AppError::Platform(_) | AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the caller may read: the reason for a 4xx, a generic title for
    /// anything the caller cannot fix.
    pub fn public_detail(&self) -> String {
        match self {
            AppError::BadRequest(m)
            | AppError::Unauthorized(m)
            | AppError::Forbidden(m)
            | AppError::Conflict(m) => m.clone(),
            AppError::UnsupportedMediaType(m) | AppError::Challenge { detail: m, .. } => m.clone(),
            AppError::Invalid { field, reason } => format!("{field}: {reason}"),
            AppError::PayloadTooLarge { limit } => format!("the body is larger than {limit} bytes"),
            AppError::NotConfigured(what) => format!("{what} is not configured on this deployment"),
            AppError::Busy(_) => "busy; retry shortly".into(),
            AppError::TooManyRequests(what) => format!("{what}; retry shortly"),
            AppError::NotFound => "no such resource".into(),
            AppError::MethodNotAllowed => "method not allowed on this resource".into(),
            e if e.status() == StatusCode::SERVICE_UNAVAILABLE => {
                "a backing service is unavailable; retry later".into()
            }
            _ => "internal error".into(),
        }
    }

    /// How long the caller should wait before trying again, when it may.
    pub fn retry_after_secs(&self) -> Option<u32> {
        matches!(self, AppError::Busy(_) | AppError::TooManyRequests(_))
            .then_some(BUSY_RETRY_AFTER_SECS)
    }

    /// The `WWW-Authenticate` header of a 401 (RFC 6750): what the client
    /// must do to be let in.
    pub fn www_authenticate(&self) -> Option<&str> {
        match self {
            AppError::Unauthorized(_) => Some("Bearer"),
            AppError::Challenge { challenge, .. } => Some(challenge),
            _ => None,
        }
    }

    /// The problem JSON body.
    pub fn problem(&self) -> serde_json::Value {
        let status = self.status();
        let mut problem = serde_json::json!({
            "type": "about:blank",
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": self.public_detail(),
        });
        if let AppError::Invalid { field, .. } = self {
            problem["field"] = field.clone().into();
        }
        problem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_never_reach_the_caller() {
        let e = AppError::Internal(anyhow::anyhow!("sqlite file /secret/path is locked"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.problem().to_string().contains("/secret/path"));
        let e = AppError::Platform(PlatformError::unavailable(
            "cosmos",
            "dns failure for acct.documents.azure.com",
        ));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!e.problem().to_string().contains("acct"));
    }

    #[test]
    fn an_invalid_field_is_named() {
        let e = AppError::Invalid {
            field: "displayName".into(),
            reason: "give the team a name".into(),
        };
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.problem()["field"], "displayName");
        assert_eq!(e.problem()["detail"], "displayName: give the team a name");
    }

    #[test]
    fn client_errors_say_why() {
        let e = AppError::BadRequest("Stripe-Signature header is missing".into());
        assert_eq!(e.problem()["detail"], "Stripe-Signature header is missing");
        assert_eq!(e.problem()["status"], 400);
        assert_eq!(
            AppError::PayloadTooLarge { limit: 10 }.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
