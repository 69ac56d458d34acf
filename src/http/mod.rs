//! The shape every HTTP function handler sees: the forwarded request's head,
//! then its body, already read within its size limit, and a response to
//! render. Handlers stay plain async functions; warp stays in `routes`.

pub mod body;
pub mod route;

use std::collections::HashMap;

use bytes::Bytes;
use serde::Serialize;
use warp::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode};

/// A request before its body is read: what a route's head check sees.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    /// The path as the host forwarded it (`/api/billing/stripe`).
    pub path: String,
    pub query: HashMap<String, String>,
    /// Route template parameters (`{id}`).
    pub params: HashMap<String, String>,
    pub headers: HeaderMap,
    pub invocation_id: String,
    /// What the route's head check established (a validated token, a
    /// parsed signature header), for the handler to finish with the body.
    pub extensions: Extensions,
}

impl RequestHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub head: RequestHead,
    pub body: Bytes,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
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

/// Why a request comes from a web page, if it does. Under `handler local`
/// the handler and the local host listen on 127.0.0.1, which any page open
/// in the developer's browser can reach with a simple (no-preflight) POST;
/// endpoints that take work without a token refuse it. A browser says that
/// a request comes from a page (`Origin`, `Sec-Fetch-Site`); curl and the
/// Node tools (Agents Playground, Bot Framework Emulator) send neither. No
/// page of ours posts to these endpoints, so even a "same-origin" page is
/// refused: with DNS rebinding, another site's page can be same-origin.
pub fn browser_request_reason(headers: &HeaderMap) -> Option<&'static str> {
    if headers.contains_key("origin") {
        return Some("a request from a web page (Origin)");
    }
    match headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().unwrap_or(""))
    {
        // `none`: the user typed the address; no page asked for it.
        Some(site) if !site.eq_ignore_ascii_case("none") => {
            Some("a request from a web page (Sec-Fetch-Site)")
        }
        _ => None,
    }
}

/// Whether the body is declared as JSON (`application/json`, any
/// parameters). A cross-site form or `no-cors` fetch cannot declare it.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}
