//! What a Graph call can fail with, in terms the callers act on: retry later
//! (`is_transient`), treat as absent (`is_not_found`), or report for good.
//! Graph and the token endpoint each have their own error body; both are
//! parsed here so every caller sees the service's own code and message.

use serde_json::Value;

use crate::outbound::TokenError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// The tenant's token could not be had (AADSTS errors: unknown tenant,
    /// bad secret, consent). `transient` for 5xx/transport at the token
    /// endpoint.
    #[error("getting a Graph token: {code}: {message}")]
    Token {
        status: Option<u16>,
        code: String,
        message: String,
        transient: bool,
    },
    /// Still 429/503 after the retry policy (or a Retry-After beyond
    /// `max_retry_after`). `attempts` is 0 when not known: a `$batch`
    /// sub-response judged on its own by [`super::BatchResponse::error`].
    #[error("Graph kept throttling (HTTP {status}) after {attempts} attempts")]
    Throttled { status: u16, attempts: u32 },
    /// A Graph error answer: status plus `error.code` / `error.message`.
    #[error("Graph answered HTTP {status}: {code}: {message}")]
    Http {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Graph could not be reached: {0}")]
    Transport(String),
    #[error("Graph answered something unreadable: {0}")]
    Decode(String),
    #[error("invalid Graph request: {0}")]
    Invalid(String),
}

impl GraphError {
    /// Worth retrying later (from a queue), rather than failing for good.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Throttled { .. } | GraphError::Transport(_) => true,
            GraphError::Http { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            GraphError::Token { transient, .. } => *transient,
            GraphError::Decode(_) | GraphError::Invalid(_) => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            GraphError::Token { status, .. } => *status,
            GraphError::Throttled { status, .. } | GraphError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, GraphError::Http { status: 404, .. })
    }

    /// The error a Graph answer with this status and body stands for:
    /// `{"error":{"code":"…","message":"…"}}`, or empty strings when the
    /// body says nothing (a gateway's HTML page, an empty 404).
    pub(crate) fn from_answer(status: u16, body: &Value) -> GraphError {
        let error = &body["error"];
        GraphError::Http {
            status,
            code: error["code"].as_str().unwrap_or_default().to_owned(),
            message: error["message"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

impl From<TokenError> for GraphError {
    fn from(e: TokenError) -> GraphError {
        GraphError::Token {
            status: e.status,
            code: e.code,
            message: e.message,
            transient: e.transient,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn graph_error_bodies_give_code_and_message() {
        let body = json!({"error": {"code": "Request_ResourceNotFound", "message": "gone",
            "innerError": {"request-id": "r"}}});
        let e = GraphError::from_answer(404, &body);
        assert!(e.is_not_found() && !e.is_transient());
        assert_eq!(e.status(), Some(404));
        let GraphError::Http { code, message, .. } = e else {
            panic!("an Http error")
        };
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("Request_ResourceNotFound", "gone")
        );
        let e = GraphError::from_answer(502, &Value::Null);
        assert!(e.is_transient());
        assert!(!GraphError::from_answer(403, &body).is_transient());
    }

    #[test]
    fn token_errors_are_transient_only_when_the_endpoint_failed() {
        let body = json!({"error": "invalid_request",
            "error_description": "AADSTS90002: Tenant 'x' not found."});
        let e = GraphError::from(TokenError::from_answer(400, &body));
        assert!(!e.is_transient());
        let GraphError::Token { code, message, .. } = &e else {
            panic!("a Token error")
        };
        assert_eq!(code, "invalid_request");
        assert!(message.starts_with("AADSTS90002"));
        assert!(GraphError::from(TokenError::from_answer(503, &Value::Null)).is_transient());
        assert!(
            GraphError::Throttled {
                status: 429,
                attempts: 6
            }
            .is_transient()
        );
    }
}
