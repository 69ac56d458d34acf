//! The shape every HTTP function handler sees: the forwarded request, already
//! read within its size limit, and a response to render. Handlers stay plain
//! async functions; warp stays in `routes`.

use std::collections::HashMap;

use bytes::Bytes;
use serde::Serialize;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    /// The path as the host forwarded it (`/api/billing/stripe`).
    pub path: String,
    pub query: HashMap<String, String>,
    /// Route template parameters (`{id}`).
    pub params: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub invocation_id: String,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let body =
            serde_json::to_vec(value).expect("serialising our own response types cannot fail");
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        HttpResponse {
            status,
            headers,
            body: Bytes::from(body),
        }
    }

    pub fn text(status: StatusCode, text: impl Into<String>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        HttpResponse {
            status,
            headers,
            body: Bytes::from(text.into()),
        }
    }

    pub fn empty(status: StatusCode) -> Self {
        HttpResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
}

/// What JavaScript's `encodeURIComponent` leaves alone: letters, digits
/// and `-_.!~*'()`.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Encodes `s` as JavaScript's `encodeURIComponent` does, as Bot Framework
/// and Teams expect ids inside a path segment (`19:x@thread.tacv2` becomes
/// `19%3Ax%40thread.tacv2`).
pub fn encode_uri_component(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, URI_COMPONENT).to_string()
}
