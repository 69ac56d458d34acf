//! A stateful Dataverse environment on 127.0.0.1 (plain HTTP), with the
//! Entra token endpoint that issues tokens for its scope: the slice of the
//! Web API the CRM connector uses (PROTOCOLS-2 §5), keeping what is written
//! so a test can look at the environment afterwards.
//!
//! It answers the way Dataverse does where a client must care: OData
//! headers, `$select`/`$filter`/`$top`/`$orderby`, paging by
//! `Prefer: odata.maxpagesize` with an absolute `@odata.nextLink` whose
//! `$skiptoken` is an opaque paging cookie (no `$skip`), formatted values
//! only when `odata.include-annotations` asks for them, `searchquery` with
//! its `entities` as a JSON string and its `response` as escaped JSON,
//! errors as `{"error":{"code":"0x…","message":"…"}}`, `CallerObjectId`
//! impersonation, PATCH as an upsert unless `If-Match: *`, and the refusals
//! a client must survive: 429 + `Retry-After`, 401 for an expired token,
//! "The user is not a member of the organization." (`0x80072560`) for a
//! tenant whose environment has no application user for the app, and a
//! token endpoint that refuses a revoked client (`invalid_client`).
//!
//! Simplifications, on purpose: `$filter` knows `contains(<column>,'…')`
//! only (anything else: 400); search matches a term as a substring of a
//! search column, and an unescaped `*` as "everything" (Lucene's match-all),
//! so an escaping mistake shows; an environment without Dataverse search
//! answers 400 `0x80048d0b` (the code clients in the wild match; Microsoft
//! documents no body for it).

#![allow(dead_code, reason = "each test uses part of the stand-in")]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use serde_json::{Map, Value, json};

#[path = "dataverse/odata.rs"]
mod odata;

/// The application (client) id the token endpoint knows.
pub const CLIENT_ID: &str = "5c1b2e7a-3d4f-4a6b-9c8d-7e6f5a4b3c2d";
pub const API: &str = "/api/data/v9.2/";
const FORMATTED: &str = "@OData.Community.Display.V1.FormattedValue";

/// One Web API request as the stand-in saw it (token requests apart).
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Below `/api/data/v9.2`, without the query: `/accounts`.
    pub path: String,
    /// The decoded query pairs.
    pub query: Vec<(String, String)>,
    pub caller: Option<String>,
    pub prefer: String,
    pub status: u16,
}

impl Seen {
    /// Whether its query had this pair (decoded).
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.query.iter().any(|(k, v)| k == name && v == value)
    }
}

/// A note written on a record.
#[derive(Debug, Clone)]
pub struct Note {
    pub subject: String,
    pub notetext: String,
    /// (logical name, id) of the record it is on.
    pub regarding: (String, String),
}

pub(super) struct Row {
    table: &'static odata::Table,
    id: String,
    /// Raw values, and formatted values under `<column>@…FormattedValue`.
    values: Map<String, Value>,
    /// The owner's Entra object id and name.
    owner: String,
    owner_name: String,
    modified: u64,
}

struct State {
    origin: String,
    secret: String,
    /// Tenant → whether the environment has an application user for it.
    tenants: HashMap<String, bool>,
    /// Token → (tenant, expired).
    tokens: HashMap<String, (String, bool)>,
    revoked: bool,
    search_enabled: bool,
    owner_scoped: bool,
    rows: Vec<Row>,
    /// Extra columns an admin made (what a write-back may name).
    columns: Vec<(String, String)>,
    notes: Vec<Note>,
    /// Paging cookie → offset.
    cookies: HashMap<String, usize>,
    throttles: VecDeque<u64>,
    seen: Vec<Seen>,
    token_requests: usize,
    tick: u64,
}

pub struct DataverseStandIn {
    /// The environment's URL: `http://127.0.0.1:<port>`.
    pub org_url: url::Url,
    /// Entra's authority host (the same server).
    pub authority_host: url::Url,
    secret: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DataverseStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The default owner of seeded records.
pub const OWNER: (&str, &str) = ("0a0a0a0a-0000-4000-8000-000000000001", "Ada Admin");

impl DataverseStandIn {
    pub async fn start() -> DataverseStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a loopback port");
        let port = listener.local_addr().expect("an address").port();
        let origin = format!("http://127.0.0.1:{port}");
        let secret = format!("dv-secret-{}", uuid::Uuid::new_v4());
        let state = Arc::new(Mutex::new(State {
            origin: origin.clone(),
            secret: secret.clone(),
            tenants: HashMap::new(),
            tokens: HashMap::new(),
            revoked: false,
            search_enabled: true,
            owner_scoped: false,
            rows: Vec::new(),
            columns: Vec::new(),
            notes: Vec::new(),
            cookies: HashMap::new(),
            throttles: VecDeque::new(),
            seen: Vec::new(),
            token_requests: 0,
            tick: 0,
        }));
        let task = tokio::spawn(serve(listener, state.clone()));
        let url = url::Url::parse(&origin).expect("a URL");
        DataverseStandIn {
            org_url: url.clone(),
            authority_host: url,
            secret,
            state,
            task,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("the stand-in never panics holding its state")
    }

    pub fn client_secret(&self) -> String {
        self.secret.clone()
    }

    /// A tenant whose admin consented; `app_user`: the environment has the
    /// app as an application user.
    pub fn add_tenant(&self, tenant: &str, app_user: bool) {
        self.state().tenants.insert(tenant.to_owned(), app_user);
    }

    pub fn add_account(&self, name: &str, city: &str) -> String {
        self.add_row(
            "account",
            json!({"name": name, "address1_city": city, "telephone1": "+1 555 0100",
                "websiteurl": "https://example.com", "industrycode": 7,
                "industrycode@OData.Community.Display.V1.FormattedValue": "Consulting"}),
        )
    }

    pub fn add_contact(&self, fullname: &str, job: &str, account: &str) -> String {
        let company = self.value("account", account, "name");
        self.add_row(
            "contact",
            json!({"fullname": fullname, "jobtitle": job, "emailaddress1": "someone@example.com",
                "_parentcustomerid_value": account,
                format!("_parentcustomerid_value{FORMATTED}"): company}),
        )
    }

    pub fn add_opportunity(&self, name: &str, account: &str, value: f64) -> String {
        let company = self.value("account", account, "name");
        self.add_row(
            "opportunity",
            json!({"name": name, "_customerid_value": account,
                format!("_customerid_value{FORMATTED}"): company,
                "salesstage": 1, format!("salesstage{FORMATTED}"): "Develop",
                "estimatedvalue": value, format!("estimatedvalue{FORMATTED}"): format!("${value:.2}"),
                "estimatedclosedate": "2027-03-31", "closeprobability": 40}),
        )
    }

    fn add_row(&self, logical: &str, values: Value) -> String {
        let table = odata::Table::by_logical(logical).expect("a known table");
        let id = uuid::Uuid::new_v4().to_string();
        let mut st = self.state();
        st.tick += 1;
        let Value::Object(values) = values else {
            panic!("a row is an object")
        };
        let modified = st.tick;
        st.rows.push(Row {
            table,
            id: id.clone(),
            values,
            owner: OWNER.0.to_owned(),
            owner_name: OWNER.1.to_owned(),
            modified,
        });
        id
    }

    /// Gives the record to another user (by Entra object id and name).
    pub fn set_owner(&self, id: &str, object_id: &str, name: &str) {
        let mut st = self.state();
        let row = st.rows.iter_mut().find(|r| r.id == id).expect("a row");
        row.owner = object_id.to_owned();
        row.owner_name = name.to_owned();
    }

    /// A column's raw value on a record.
    pub fn value(&self, logical: &str, id: &str, column: &str) -> Value {
        self.state()
            .rows
            .iter()
            .find(|r| r.table.logical == logical && r.id == id)
            .and_then(|r| r.values.get(column).cloned())
            .unwrap_or(Value::Null)
    }

    /// A custom column an admin added to a table.
    pub fn add_column(&self, logical: &str, column: &str) {
        self.state()
            .columns
            .push((logical.to_owned(), column.to_owned()));
    }

    pub fn set_search_enabled(&self, on: bool) {
        self.state().search_enabled = on;
    }

    /// Impersonated requests see only the records their user owns.
    pub fn scope_to_owner(&self, on: bool) {
        self.state().owner_scoped = on;
    }

    /// The next `n` Web API requests answer 429 with this `Retry-After`.
    pub fn throttle_next(&self, n: usize, retry_after_secs: u64) {
        self.state()
            .throttles
            .extend(std::iter::repeat_n(retry_after_secs, n));
    }

    /// Every token issued so far is refused as expired.
    pub fn expire_tokens(&self) {
        for (_, expired) in self.state().tokens.values_mut() {
            *expired = true;
        }
    }

    /// The app's secret is revoked: the token endpoint answers
    /// `invalid_client` (issued tokens stay valid until they expire).
    pub fn revoke_client(&self) {
        self.state().revoked = true;
    }

    pub fn notes(&self) -> Vec<Note> {
        self.state().notes.clone()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state().seen.clone()
    }

    /// Web API requests to `path` (below `/api/data/v9.2`), whatever their
    /// query.
    pub fn count(&self, path: &str) -> usize {
        self.state().seen.iter().filter(|s| s.path == path).count()
    }

    /// The first Web API request to `path`.
    pub fn first_to(&self, path: &str) -> Seen {
        self.state()
            .seen
            .iter()
            .find(|s| s.path == path)
            .cloned()
            .unwrap_or_else(|| panic!("no request to {path}"))
    }

    pub fn token_requests(&self) -> usize {
        self.state().token_requests
    }
}

// ---------------------------------------------------------------- serving

async fn serve(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let state = state.clone();
        connections.spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let headers: HashMap<String, String> = parts
                            .headers
                            .iter()
                            .filter_map(|(k, v)| {
                                Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))
                            })
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
                        Ok::<_, hyper::Error>(reply.into_response())
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
    }
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
    if field("client_id") != CLIENT_ID {
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
        Some((tenant, false)) => tenant.clone(),
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
