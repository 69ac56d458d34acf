//! Serving: one hyper connection per client, the state under one lock;
//! the token endpoint, the Web API's checks (token, application user,
//! throttling), then the resources (`odata`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{API, Seen, State, odata};

pub(super) async fn serve(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>) {
    super::super::http_serve::serve(listener, move |parts, body| {
        let state = state.clone();
        async move {
            let headers: HashMap<String, String> = parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            let target = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let reply = {
                let mut st = state.lock().expect("the state is never poisoned");
                handle(&mut st, parts.method.as_str(), &target, &headers, &body)
            };
            reply.into_response()
        }
    })
    .await
}

pub(super) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Dataverse's error shape.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(status, json!({"error": {"code": code, "message": message}}))
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn into_response(self) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
        let bytes = self
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).expect("JSON serialises"))
            .unwrap_or_default();
        let mut response = hyper::Response::new(http_body_util::Full::new(bytes.into()));
        *response.status_mut() = hyper::StatusCode::from_u16(self.status).expect("a valid status");
        let headers = response.headers_mut();
        if self.body.is_some() {
            headers.insert(
                "content-type",
                "application/json; odata.metadata=minimal"
                    .parse()
                    .expect("a header"),
            );
        }
        headers.insert("odata-version", "4.0".parse().expect("a header"));
        for (name, value) in self.headers {
            headers.insert(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                value.parse().expect("a header value"),
            );
        }
        response
    }
}

fn handle(
    st: &mut State,
    method: &str,
    target: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method == "POST" && path.ends_with("/oauth2/v2.0/token") {
        let tenant = path.trim_start_matches('/').split('/').next().unwrap_or("");
        return token(st, tenant, body);
    }
    let Some(api_path) = path.strip_prefix(API.trim_end_matches('/')) else {
        return Reply::error(404, "0x80060888", "Resource not found for the segment.");
    };
    let query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
    let caller = Some(header("callerobjectid")).filter(|c| !c.is_empty());
    let reply = api(
        st,
        method,
        api_path,
        &query,
        headers,
        caller.as_deref(),
        body,
    );
    st.seen.push(Seen {
        method: method.to_owned(),
        path: api_path.to_owned(),
        query,
        caller,
        prefer: header("prefer"),
        status: reply.status,
    });
    reply
}

/// Entra's v2.0 token endpoint, client credentials only.
fn token(st: &mut State, tenant: &str, body: &[u8]) -> Reply {
    st.token_requests += 1;
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let entra = |status: u16, error: &str, description: &str| {
        Reply::json(
            status,
            json!({"error": error, "error_description": description, "error_codes": [],
                "trace_id": uuid::Uuid::new_v4().to_string()}),
        )
    };
    if field("grant_type") != "client_credentials" {
        return entra(
            400,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if !st.tenants.contains_key(tenant) {
        return entra(
            400,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    if field("client_id") != st.client_id {
        return entra(
            400,
            "unauthorized_client",
            "AADSTS700016: Application was not found in the directory.",
        );
    }
    if st.revoked || field("client_secret") != st.secret {
        return entra(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    if field("scope") != format!("{}/.default", st.origin) {
        return entra(
            400,
            "invalid_scope",
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
        );
    }
    let access_token = format!("dv-{}", uuid::Uuid::new_v4());
    st.tokens
        .insert(access_token.clone(), (tenant.to_owned(), false));
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": access_token}),
    )
}

fn api(
    st: &mut State,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &HashMap<String, String>,
    caller: Option<&str>,
    body: &[u8],
) -> Reply {
    let bearer = headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("");
    let tenant = match st.tokens.get(bearer) {
        Some((tenant, false)) if !st.refuse_tokens => tenant.clone(),
        _ => {
            return Reply::empty(401).with_header(
                "www-authenticate",
                format!("Bearer error=invalid_token, error_description=\"Error during token validation!\", authorization_uri={}/common/oauth2/authorize", st.origin),
            );
        }
    };
    if st.tenants.get(&tenant) != Some(&true) {
        return Reply::error(
            403,
            "0x80072560",
            "The user is not a member of the organization.",
        );
    }
    if let Some(wait) = st.throttles.pop_front() {
        return Reply::error(
            429,
            "0x80072322",
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
        )
        .with_header("retry-after", wait.to_string());
    }
    let prefer = headers.get("prefer").map(String::as_str).unwrap_or("");
    odata::route(st, method, path, query, prefer, headers, caller, body)
}
