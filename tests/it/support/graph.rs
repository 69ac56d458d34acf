//! A stateful Microsoft Graph on 127.0.0.1 (plain HTTP): the token endpoint
//! of each tenant it knows, and the slice of Graph that team provisioning
//! uses (users, groups, teams and their async create operation, members,
//! channels, tabs, installed apps, group photos, `$batch`), keeping what is
//! created so a test can look at the tenant afterwards ([`GraphStandIn::teams`]).
//!
//! It answers the way Graph does where it matters to a client: error bodies
//! `{"error":{"code","message"}}`, paging by an absolute `@odata.nextLink`,
//! a team invisible (404) until its create operation has succeeded, batch
//! answers in a shuffled order with `dependsOn` failures as 424, and the
//! failures a client must survive: throttling (a seeded share of requests,
//! batch sub-requests included, answered 429 + `Retry-After`), scripted
//! failures, delays, and a create that succeeds but reports 504.
//!
//! Self-contained (dev-dependencies, serde_json, tokio, url, uuid and rand
//! only) so a bench can include it by `#[path]`.
//!
//! Change-notification subscriptions (the validation call-back, renewals,
//! notifications sent to the app) live in `graph/subscriptions.rs`.
//! The Teams activity report (302 to a CSV download) lives in
//! `graph/reports.rs`. Delta queries (`/groups/delta`, `/users/delta`) live in
//! `graph/delta.rs`, the directory changes tests make for them in
//! `graph/directory.rs`: every change, made there or by a request here, is
//! written to the tenant's journal, which the delta tokens point into.
//! Tokens are JWT-shaped with the tenant's granted permissions in `roles`,
//! and a tenant can hold app registrations (`/applications(appId='…')`,
//! their secrets' and certificates' expiry): `graph/applications.rs`.
//!
//! Simplifications, on purpose: `$filter` knows `mailNickname eq '…'` and
//! `resourceProvisioningOptions/Any(x:x eq 'Team')` only (others: 400);
//! `$select` is honoured on objects, `$expand` ignored (tabs and installed
//! apps always carry `teamsApp`); a team's `allow_guests` is
//! `guestSettings.allowCreateUpdateChannels` from its create request, when
//! given; a team is usable once its operation has answered `succeeded` (at
//! once when operation polls are set to 0).

#![allow(
    dead_code,
    reason = "each test binary or bench uses part of the stand-in"
)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

#[path = "graph/applications.rs"]
mod applications;
#[path = "graph/delta.rs"]
mod delta;
#[path = "graph/directory.rs"]
mod directory;
#[path = "graph/lifecycle.rs"]
mod lifecycle;
#[path = "graph/reports.rs"]
mod reports;
#[path = "graph/subscriptions.rs"]
mod subscriptions;
#[allow(unused_imports, reason = "a bench includes the stand-in without it")]
pub use applications::GRANTED;
#[allow(unused_imports, reason = "a bench includes the stand-in without it")]
pub use delta::DeltaExpiry;
#[allow(unused_imports, reason = "a bench includes the stand-in without it")]
pub use reports::ReportCounts;

/// The application (client) id the token endpoint accepts.
pub const CLIENT_ID: &str = "0b7c9a52-6f1e-4c0d-9a7e-6a1d2c3b4e5f";
/// The website tab app, in every tenant's catalog.
pub const WEBSITE_TAB_APP: &str = "com.microsoft.teamspace.tab.web";
/// Installed in every team from its creation, as real teams come with apps.
pub const BUILT_IN_APP: &str = "com.microsoft.teamspace.tab.wiki";
const MAX_BATCH: usize = 20;
const MAX_BINDS: usize = 20;
const DEFAULT_SEED: u64 = 20_240_601;
const CREATED: &str = "2025-01-01T00:00:00Z";

/// One request as the stand-in saw it (token requests are not recorded).
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Graph path without `/v1.0` and without the query: `/groups/x`.
    pub path: String,
    /// The decoded query string (`$filter=mailNickname eq 'x'`), or empty.
    pub query: String,
    /// A sub-request of a `$batch`.
    pub batched: bool,
    pub status: u16,
    pub at: Instant,
    /// The tenant its token was issued for (empty when it had none).
    pub tenant: String,
    /// Its `x-ms-throttle-priority` header (a sub-request: its `$batch`'s).
    pub priority: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Top-level Graph requests (token excluded, a `$batch` counts 1).
    pub http: u64,
    /// Sub-requests received inside batches.
    pub batched: u64,
    /// 429 answers served, sub-responses included.
    pub throttled: u64,
    pub tokens: u64,
}

#[derive(Debug, Clone)]
pub struct TeamSnapshot {
    pub group_id: String,
    pub display_name: String,
    pub mail_nickname: String,
    pub description: String,
    pub visibility: String,
    pub is_team: bool,
    pub owners: Vec<String>,
    /// Owners included, as Graph does for teams.
    pub members: Vec<String>,
    pub channels: Vec<ChannelSnapshot>,
    /// Teams app ids, the built-in one included.
    pub installed_apps: Vec<String>,
    pub photo: Option<(String, usize)>,
    pub allow_guests: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct ChannelSnapshot {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub membership_type: String,
    /// (displayName, websiteUrl or contentUrl, teams app id).
    pub tabs: Vec<(String, String, String)>,
}

struct User {
    id: String,
    user_principal_name: String,
    display_name: String,
    /// `Member` or `Guest`.
    user_type: &'static str,
    department: Option<String>,
    country: Option<String>,
    manager: Option<String>,
}

struct Tab {
    id: String,
    display_name: String,
    app_id: String,
    content_url: String,
    website_url: String,
}

struct Channel {
    id: String,
    display_name: String,
    description: String,
    membership_type: String,
    tabs: Vec<Tab>,
}

struct Team {
    operation_id: String,
    polls_left: u32,
    succeeded: bool,
    channels: Vec<Channel>,
    /// (installation id, teams app id).
    apps: Vec<(String, String)>,
    allow_guests: Option<bool>,
    /// `isArchived`, set by the archive and unarchive operations.
    archived: bool,
    /// Archive and unarchive operations: (id, type, polls left).
    lifecycle_ops: Vec<(String, &'static str, u32)>,
}

struct Group {
    id: String,
    display_name: String,
    mail_nickname: String,
    description: String,
    visibility: String,
    owners: Vec<String>,
    members: Vec<String>,
    photo: Option<(String, usize)>,
    /// The group's `AllowToAddGuests` directory setting, once set.
    guest_setting: Option<bool>,
    team: Option<Team>,
    /// Entra's dates (`renewedDateTime`, `expirationDateTime`), RFC 3339.
    renewed: Option<String>,
    expires: Option<String>,
}

#[derive(Default)]
struct Tenant {
    consented: bool,
    users: BTreeMap<String, User>,
    /// Teams app id -> display name.
    catalog: BTreeMap<String, String>,
    groups: Vec<Group>,
    /// Soft-deleted groups (`/directory/deletedItems`), restorable.
    deleted: Vec<Group>,
    /// `groupLifecyclePolicies`.
    lifecycle_policies: Vec<Value>,
    /// The application permissions granted ([`GRANTED`] when `None`).
    roles: Option<Vec<String>>,
    /// App registrations held by the tenant, by lowercase app id.
    applications: BTreeMap<String, Value>,
    /// What changed in the directory, in order (what delta tokens point into).
    journal: delta::Journal,
}

/// A tenant's next requests answered 429 (a throttling storm on it alone).
struct Storm {
    left: usize,
    retry_after: u64,
}

struct Fault {
    method: String,
    path_contains: String,
    status: u16,
    times: usize,
}

struct State {
    secret: String,
    /// `http://127.0.0.1:P`.
    origin: String,
    tenants: HashMap<String, Tenant>,
    /// Access token -> tenant.
    tokens: HashMap<String, String>,
    page_size: usize,
    throttle_ratio: f64,
    throttle_retry_after: u64,
    storms: HashMap<String, Storm>,
    /// The priority header of the request being served.
    priority: Option<String>,
    rng: StdRng,
    faults: Vec<Fault>,
    operation_polls: u32,
    fail_after_create: usize,
    /// Lifecycle writes that take effect and then answer 504.
    fail_after_effect: usize,
    delay: Duration,
    seen: Vec<Seen>,
    counts: Counts,
    delta: delta::Settings,
    subscriptions: subscriptions::Subscriptions,
    reports: reports::Reports,
}

pub struct GraphStandIn {
    /// `http://127.0.0.1:P/v1.0`.
    pub base_url: url::Url,
    /// `http://127.0.0.1:P`: token endpoints are `/{tenant}/oauth2/v2.0/token`.
    pub authority_host: url::Url,
    secret: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GraphStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GraphStandIn {
    pub async fn start() -> GraphStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a loopback port");
        let addr = listener.local_addr().expect("an address");
        let origin = format!("http://127.0.0.1:{}", addr.port());
        let secret = format!("graph-secret-{}", uuid::Uuid::new_v4());
        let state = Arc::new(Mutex::new(State {
            secret: secret.clone(),
            origin: origin.clone(),
            tenants: HashMap::new(),
            tokens: HashMap::new(),
            page_size: 100,
            throttle_ratio: 0.0,
            throttle_retry_after: 0,
            storms: HashMap::new(),
            priority: None,
            rng: StdRng::seed_from_u64(DEFAULT_SEED),
            faults: Vec::new(),
            operation_polls: 1,
            fail_after_create: 0,
            fail_after_effect: 0,
            delay: Duration::ZERO,
            seen: Vec::new(),
            counts: Counts::default(),
            delta: delta::Settings::default(),
            subscriptions: Default::default(),
            reports: Default::default(),
        }));
        let task = tokio::spawn(serve(listener, state.clone()));
        GraphStandIn {
            base_url: url::Url::parse(&format!("{origin}/v1.0")).expect("a URL"),
            authority_host: url::Url::parse(&origin).expect("a URL"),
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

    /// The client secret the token endpoint accepts (made at start).
    pub fn client_secret(&self) -> String {
        self.secret.clone()
    }

    pub fn add_tenant(&self, tenant: &str, consented: bool) {
        let mut st = self.state();
        let t = st.tenants.entry(tenant.to_owned()).or_default();
        t.consented = consented;
        t.catalog.insert(WEBSITE_TAB_APP.into(), "Website".into());
    }

    pub fn add_user(
        &self,
        tenant: &str,
        id: &str,
        display_name: &str,
        department: Option<&str>,
        country: Option<&str>,
        manager: Option<&str>,
    ) {
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        t.users.insert(
            id.to_owned(),
            User {
                id: id.to_owned(),
                user_principal_name: format!("{id}@stand-in.test"),
                display_name: display_name.to_owned(),
                user_type: "Member",
                department: department.map(str::to_owned),
                country: country.map(str::to_owned),
                manager: manager.map(str::to_owned),
            },
        );
        t.journal.user_created(id);
    }

    /// Gives a user the sign-in name (and address) people type in forms.
    pub fn set_upn(&self, tenant: &str, id: &str, upn: &str) {
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        t.users
            .get_mut(id)
            .expect("add_user first")
            .user_principal_name = upn.to_owned();
    }

    pub fn add_catalog_app(&self, tenant: &str, app_id: &str, display_name: &str) {
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        t.catalog.insert(app_id.to_owned(), display_name.to_owned());
    }

    /// A plain group made outside SalesTim (by an admin, another tool).
    pub fn add_group(&self, tenant: &str, display_name: &str, mail_nickname: &str) -> String {
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        let id = uuid::Uuid::new_v4().to_string();
        t.groups.push(new_group(
            id.clone(),
            display_name,
            mail_nickname.to_owned(),
            "",
            "Public",
        ));
        t.journal.group_created(&id);
        id
    }

    pub fn set_page_size(&self, n: usize) {
        self.state().page_size = n.max(1);
    }

    /// That share of Graph requests (top-level and batch sub-requests; the
    /// token endpoint excluded) is answered 429 with `Retry-After`.
    pub fn set_throttle(&self, ratio: f64, retry_after_secs: u64) {
        let mut st = self.state();
        st.throttle_ratio = ratio;
        st.throttle_retry_after = retry_after_secs;
    }

    /// The next `times` Graph requests of `tenant` (top-level and batch
    /// sub-requests) are answered 429 with `Retry-After: retry_after_secs`;
    /// the other tenants' are served as usual.
    pub fn throttle_tenant(&self, tenant: &str, times: usize, retry_after_secs: u64) {
        self.state().storms.insert(
            tenant.to_owned(),
            Storm {
                left: times,
                retry_after: retry_after_secs,
            },
        );
    }

    /// The requests seen for `tenant`, in order.
    pub fn requests_of(&self, tenant: &str) -> Vec<Seen> {
        let st = self.state();
        st.seen
            .iter()
            .filter(|s| s.tenant == tenant)
            .cloned()
            .collect()
    }

    /// Reseeds the generator behind throttling, shuffles and suffixes.
    pub fn set_seed(&self, seed: u64) {
        self.state().rng = StdRng::seed_from_u64(seed);
    }

    /// The next `times` requests with this method whose path contains
    /// `path_contains` are answered `status` with a Graph error body (429
    /// and 503 carry `Retry-After: 0`).
    pub fn fail_next(&self, method: &str, path_contains: &str, status: u16, times: usize) {
        self.state().faults.push(Fault {
            method: method.to_ascii_uppercase(),
            path_contains: path_contains.to_owned(),
            status,
            times,
        });
    }

    /// A create operation answers `inProgress` this many times before
    /// `succeeded` (0: the team is ready at once).
    pub fn set_operation_polls(&self, n: u32) {
        self.state().operation_polls = n;
    }

    /// The next `times` `POST /teams` or `POST /groups` create what they
    /// were asked, then answer 504.
    pub fn fail_after_create(&self, times: usize) {
        self.state().fail_after_create = times;
    }

    pub fn set_delay(&self, d: Duration) {
        self.state().delay = d;
    }

    /// A token for `tenant`, as its token endpoint would issue one (for a
    /// test that calls the stand-in itself).
    pub fn issue_token(&self, tenant: &str) -> String {
        applications::issue(&mut self.state(), tenant)
    }

    /// The application permissions granted in `tenant` from now on (what
    /// its next tokens carry in `roles`).
    pub fn set_roles(&self, tenant: &str, roles: &[&str]) {
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        t.roles = Some(roles.iter().map(|r| r.to_string()).collect());
    }

    /// The app registration `app_id`, held by `tenant`, with these client
    /// secrets (display name, the secret's text, end) and certificates
    /// (display name, end); ends as Graph writes them (RFC 3339, UTC).
    pub fn add_registration(
        &self,
        tenant: &str,
        app_id: &str,
        secrets: &[(&str, &str, &str)],
        certificates: &[(&str, &str)],
    ) {
        let mut st = self.state();
        let t = st.tenants.get_mut(tenant).expect("add_tenant first");
        let mut app = applications::registration(app_id);
        app["passwordCredentials"] = secrets
            .iter()
            .map(|(name, secret, end)| applications::password_credential(name, secret, end))
            .collect();
        app["keyCredentials"] = certificates
            .iter()
            .map(|(name, end)| applications::key_credential(name, end))
            .collect();
        t.applications.insert(app_id.to_ascii_lowercase(), app);
    }

    /// Forgets every token it issued (as after a secret rotation or a
    /// consent change): cached tokens are then answered 401.
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state().seen.clone()
    }

    pub fn count(&self) -> Counts {
        self.state().counts
    }

    pub fn reset_counts(&self) {
        let mut st = self.state();
        st.counts = Counts::default();
        st.seen.clear();
    }

    /// Every group of the tenant, teams and plain groups (`is_team`).
    pub fn teams(&self, tenant: &str) -> Vec<TeamSnapshot> {
        let st = self.state();
        let Some(t) = st.tenants.get(tenant) else {
            return Vec::new();
        };
        t.groups
            .iter()
            .map(|g| TeamSnapshot {
                group_id: g.id.clone(),
                display_name: g.display_name.clone(),
                mail_nickname: g.mail_nickname.clone(),
                description: g.description.clone(),
                visibility: g.visibility.clone(),
                is_team: g.team.is_some(),
                owners: g.owners.clone(),
                members: g.members.clone(),
                channels: g.team.as_ref().map_or_else(Vec::new, |team| {
                    team.channels
                        .iter()
                        .map(|c| ChannelSnapshot {
                            id: c.id.clone(),
                            display_name: c.display_name.clone(),
                            description: c.description.clone(),
                            membership_type: c.membership_type.clone(),
                            tabs: c
                                .tabs
                                .iter()
                                .map(|tab| {
                                    let url = if tab.website_url.is_empty() {
                                        &tab.content_url
                                    } else {
                                        &tab.website_url
                                    };
                                    (tab.display_name.clone(), url.clone(), tab.app_id.clone())
                                })
                                .collect(),
                        })
                        .collect()
                }),
                installed_apps: g.team.as_ref().map_or_else(Vec::new, |team| {
                    team.apps.iter().map(|(_, app)| app.clone()).collect()
                }),
                photo: g.photo.clone(),
                allow_guests: g
                    .guest_setting
                    .or(g.team.as_ref().and_then(|team| team.allow_guests)),
            })
            .collect()
    }
}

// ---------------------------------------------------------------- serving

async fn serve(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>) {
    super::http_serve::serve(listener, move |parts, body| {
        let state = state.clone();
        async move {
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            let target = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            // A create calls the app back before it answers: not under the
            // lock.
            if parts.method == hyper::Method::POST && target == "/v1.0/subscriptions" {
                return subscriptions::create(&state, &header("authorization"), &body)
                    .await
                    .into_response();
            }
            let (reply, delay) = {
                let mut st = state.lock().expect("the state is never poisoned");
                let reply = handle(
                    &mut st,
                    parts.method.as_str(),
                    &target,
                    &header("authorization"),
                    &header("content-type"),
                    &body,
                    Some(header("x-ms-throttle-priority")).filter(|p| !p.is_empty()),
                );
                (reply, st.delay)
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            reply.into_response()
        }
    })
    .await
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    /// A body that is not JSON: (content type, bytes).
    raw: Option<(&'static str, Vec<u8>)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
            raw: None,
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            raw: None,
        }
    }

    fn bytes(status: u16, content_type: &'static str, bytes: Vec<u8>) -> Reply {
        Reply {
            raw: Some((content_type, bytes)),
            ..Reply::empty(status)
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": {"code": code, "message": message,
                "innerError": {"request-id": uuid::Uuid::new_v4().to_string()}}}),
        )
    }

    fn not_found(what: &str) -> Reply {
        Reply::error(404, "NotFound", &format!("{what} not found."))
    }

    fn bad_request(message: &str) -> Reply {
        Reply::error(400, "BadRequest", message)
    }

    fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn into_response(self) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
        let (content_type, bytes) = match (self.raw, &self.body) {
            (Some((content_type, bytes)), _) => (Some(content_type), bytes),
            (None, Some(b)) => (
                Some("application/json"),
                serde_json::to_vec(b).expect("JSON serialises"),
            ),
            (None, None) => (None, Vec::new()),
        };
        let mut response = hyper::Response::new(http_body_util::Full::new(bytes.into()));
        *response.status_mut() = hyper::StatusCode::from_u16(self.status).expect("a valid status");
        let headers = response.headers_mut();
        if let Some(content_type) = content_type {
            headers.insert("content-type", content_type.parse().expect("a header"));
        }
        for (name, value) in self.headers {
            headers.insert(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                value.parse().expect("a header value"),
            );
        }
        response
    }
}

/// One Graph request, top-level or from a batch.
struct Req<'a> {
    method: String,
    /// Decoded segments, OData keys split out: `/teams('x')/operations('y')`
    /// gives `teams, x, operations, y`.
    segments: Vec<String>,
    path: String,
    query: Vec<(String, String)>,
    content_type: String,
    body: &'a [u8],
}

impl Req<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(self.body).ok()
    }

    fn query_string(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_req<'a>(method: &str, target: &str, content_type: &str, body: &'a [u8]) -> Req<'a> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path);
    let mut segments = Vec::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        match segment.split_once("('") {
            Some((name, key)) => {
                segments.push(name.to_owned());
                segments.push(key.trim_end_matches("')").to_owned());
            }
            None => segments.push(segment.to_owned()),
        }
    }
    Req {
        method: method.to_ascii_uppercase(),
        path: format!("/{}", path.trim_start_matches('/')),
        segments,
        query: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        content_type: content_type.to_owned(),
        body,
    }
}

fn handle(
    st: &mut State,
    method: &str,
    target: &str,
    authorization: &str,
    content_type: &str,
    body: &[u8],
    priority: Option<String>,
) -> Reply {
    st.priority = priority;
    let path = target.split('?').next().unwrap_or("");
    if path.ends_with("/oauth2/v2.0/token") && method == "POST" {
        return token(st, path, body);
    }
    if let Some(download) = path.strip_prefix("/data/download/")
        && method == "GET"
    {
        return reports::download(st, download, authorization);
    }
    let Some(graph_target) = target.strip_prefix("/v1.0") else {
        return Reply::error(404, "UnknownVersion", "Only /v1.0 is served here.");
    };
    let req = parse_req(method, graph_target, content_type, body);
    let tenant = authorization
        .strip_prefix("Bearer ")
        .and_then(|t| st.tokens.get(t))
        .cloned();
    let Some(tenant) = tenant else {
        st.counts.http += 1;
        record(st, "", &req, false, 401);
        return Reply::error(
            401,
            "InvalidAuthenticationToken",
            "Access token is empty or invalid.",
        );
    };
    graph_call(st, &tenant, &req, false)
}

fn record(st: &mut State, tenant: &str, req: &Req, batched: bool, status: u16) {
    let query = req.query_string();
    st.seen.push(Seen {
        method: req.method.clone(),
        path: req.path.clone(),
        query,
        batched,
        status,
        at: Instant::now(),
        tenant: tenant.to_owned(),
        priority: st.priority.clone(),
    });
}

/// Throttling, scripted faults and consent, then the route.
fn graph_call(st: &mut State, tenant: &str, req: &Req, batched: bool) -> Reply {
    if batched {
        st.counts.batched += 1;
    } else {
        st.counts.http += 1;
    }
    let reply = injected(st, tenant, req).unwrap_or_else(|| {
        if req.segments.first().map(String::as_str) == Some("$batch") && !batched {
            batch(st, tenant, req)
        } else {
            route(st, tenant, req)
        }
    });
    if reply.status == 429 {
        st.counts.throttled += 1;
    }
    record(st, tenant, req, batched, reply.status);
    reply
}

fn injected(st: &mut State, tenant: &str, req: &Req) -> Option<Reply> {
    if let Some(storm) = st.storms.get_mut(tenant)
        && storm.left > 0
    {
        storm.left -= 1;
        return Some(
            Reply::error(429, "TooManyRequests", "Too many requests; retry later.")
                .with_header("Retry-After", storm.retry_after.to_string()),
        );
    }
    if st.throttle_ratio > 0.0 && st.rng.gen_bool(st.throttle_ratio.min(1.0)) {
        return Some(
            Reply::error(429, "TooManyRequests", "Too many requests; retry later.")
                .with_header("Retry-After", st.throttle_retry_after.to_string()),
        );
    }
    if let Some(fault) = st
        .faults
        .iter_mut()
        .find(|f| f.times > 0 && f.method == req.method && req.path.contains(&f.path_contains))
    {
        fault.times -= 1;
        let status = fault.status;
        st.faults.retain(|f| f.times > 0);
        let code = match status {
            400 => "BadRequest",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            429 => "TooManyRequests",
            503 => "ServiceUnavailable",
            504 => "GatewayTimeout",
            _ => "InternalServerError",
        };
        let reply = Reply::error(status, code, "A failure the test asked for.");
        return Some(if matches!(status, 429 | 503) {
            reply.with_header("Retry-After", "0")
        } else {
            reply
        });
    }
    let consented = st.tenants.get(tenant).is_some_and(|t| t.consented);
    (!consented && req.segments.first().map(String::as_str) != Some("$batch")).then(|| {
        Reply::error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    })
}

fn token(st: &mut State, path: &str, body: &[u8]) -> Reply {
    st.counts.tokens += 1;
    if let Some(fault) = st
        .faults
        .iter_mut()
        .find(|f| f.times > 0 && f.method == "POST" && path.contains(&f.path_contains))
    {
        fault.times -= 1;
        let status = fault.status;
        st.faults.retain(|f| f.times > 0);
        return Reply::json(
            status,
            json!({"error": "temporarily_unavailable",
                "error_description": "AADSTS50196: A failure the test asked for."}),
        )
        .with_header("Retry-After", "0");
    }
    let tenant = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let aad = |status, error: &str, description: String| {
        Reply::json(
            status,
            json!({"error": error, "error_description": description,
            "error_codes": [], "timestamp": CREATED, "trace_id": uuid::Uuid::new_v4().to_string()}),
        )
    };
    if !st.tenants.contains_key(tenant) {
        return aad(
            400,
            "invalid_request",
            format!(
                "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if field("grant_type") != "client_credentials" {
        return aad(
            400,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.".into(),
        );
    }
    if field("client_id") != CLIENT_ID {
        return aad(
            400,
            "unauthorized_client",
            format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                field("client_id")
            ),
        );
    }
    if field("client_secret") != st.secret {
        return aad(401, "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.".into());
    }
    if !field("scope").ends_with("/.default") {
        return aad(
            400,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid.".into(),
        );
    }
    let access_token = applications::issue(st, tenant);
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access_token}),
    )
}

// ---------------------------------------------------------------- $batch

fn batch(st: &mut State, tenant: &str, req: &Req) -> Reply {
    if req.method != "POST" {
        return Reply::bad_request("$batch takes POST.");
    }
    let Some(requests) = req.json().and_then(|b| b["requests"].as_array().cloned()) else {
        return Reply::bad_request("Invalid batch payload format.");
    };
    if requests.len() > MAX_BATCH {
        return Reply::bad_request("Number of batch request steps exceeds the maximum of 20.");
    }
    let ids: Vec<String> = requests
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("").to_owned())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    if unique.len() != ids.len() || ids.iter().any(String::is_empty) {
        return Reply::bad_request("Batch request ids must be unique and present.");
    }
    let deps: Vec<Vec<String>> = requests
        .iter()
        .map(|r| {
            r["dependsOn"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    if deps.iter().flatten().any(|d| !unique.contains(d)) {
        return Reply::bad_request("dependsOn names a request not in the batch.");
    }
    // Sequential, in request order, a request after what it depends on.
    let mut order = Vec::new();
    let mut done: HashSet<&str> = HashSet::new();
    while order.len() < requests.len() {
        let before = order.len();
        for (i, id) in ids.iter().enumerate() {
            if !done.contains(id.as_str()) && deps[i].iter().all(|d| done.contains(d.as_str())) {
                done.insert(id);
                order.push(i);
            }
        }
        if order.len() == before {
            return Reply::bad_request("dependsOn forms a cycle.");
        }
    }
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut responses = Vec::new();
    for i in order {
        let r = &requests[i];
        let method = r["method"].as_str().unwrap_or("GET");
        let url = r["url"].as_str().unwrap_or("");
        let content_type = r["headers"]
            .as_object()
            .and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            })
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("");
        // A body of another type than JSON travels base64-encoded.
        let body = match r.get("body") {
            None => Vec::new(),
            Some(b) if content_type.starts_with("application/json") => {
                serde_json::to_vec(b).expect("JSON serialises")
            }
            Some(b) => match b
                .as_str()
                .map(|t| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, t))
            {
                Some(Ok(bytes)) => bytes,
                _ => return Reply::bad_request("A non-JSON body must be a base64 string."),
            },
        };
        let target = format!("/{}", url.trim_start_matches('/'));
        let sub = parse_req(method, &target, content_type, &body);
        let failed_dependency = deps[i]
            .iter()
            .any(|d| !(200..300).contains(&statuses.get(d).copied().unwrap_or(0)));
        let reply = if failed_dependency {
            st.counts.batched += 1;
            record(st, tenant, &sub, true, 424);
            Reply::error(
                424,
                "FailedDependency",
                "A request this one depends on failed.",
            )
        } else {
            graph_call(st, tenant, &sub, true)
        };
        statuses.insert(ids[i].clone(), reply.status);
        let mut headers = serde_json::Map::new();
        if reply.body.is_some() {
            headers.insert("Content-Type".into(), json!("application/json"));
        }
        for (k, v) in &reply.headers {
            headers.insert(k.clone(), json!(v));
        }
        let mut response = json!({"id": ids[i], "status": reply.status, "headers": headers});
        if let Some(body) = reply.body {
            response["body"] = body;
        }
        responses.push(response);
    }
    responses.shuffle(&mut st.rng);
    Reply::json(200, json!({"responses": responses}))
}

// ---------------------------------------------------------------- routes

fn route(st: &mut State, tenant: &str, req: &Req) -> Reply {
    let s: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    match (req.method.as_str(), s.as_slice()) {
        ("GET", ["groups" | "users", "delta" | "microsoft.graph.delta"]) => {
            delta::serve(st, tenant, req)
        }
        ("GET", ["reports", function]) if function.starts_with("getTeamsTeamActivityDetail(") => {
            reports::activity_detail(st, tenant, function)
        }
        ("GET", ["users", id]) => get_user(st, tenant, req, id),
        ("GET", ["users", id, "manager"]) => get_manager(st, tenant, req, id),
        ("GET", ["groups"]) => list_groups(st, tenant, req),
        ("POST", ["groups"]) => create_group(st, tenant, req),
        ("GET", ["groups", id]) => get_group(st, tenant, req, id),
        ("GET", ["groups", id, which @ ("owners" | "members")]) => {
            list_group_people(st, tenant, req, id, *which == "owners")
        }
        ("GET", ["groups", id, "members", "microsoft.graph.user"]) => {
            list_group_users(st, tenant, req, id)
        }
        ("PUT", ["groups", id, "photo", "$value"]) => put_photo(st, tenant, req, id),
        ("POST", ["groups", id, "settings"]) => group_setting(st, tenant, req, id),
        ("DELETE", ["groups", id]) => lifecycle::delete_group(st, tenant, id),
        ("POST", ["groups", id, "renew"]) => lifecycle::renew(st, tenant, id),
        ("POST", ["groups", id, relation @ ("owners" | "members"), "$ref"]) => {
            lifecycle::add_ref(st, tenant, req, id, relation)
        }
        ("DELETE", ["groups", id, "members", user, "$ref"]) => {
            lifecycle::remove_member(st, tenant, id, user)
        }
        (_, ["directory", "deletedItems", rest @ ..]) => {
            lifecycle::deleted_items(st, tenant, req, rest)
        }
        ("GET", ["groupLifecyclePolicies"]) => lifecycle::policies(st, tenant, req),
        ("GET", [segment]) if segment.starts_with("applications(") => {
            applications::get(st, tenant, req, segment)
                .unwrap_or_else(|| Reply::bad_request("Invalid object identifier."))
        }
        (_, ["subscriptions", id]) => subscriptions::route(st, tenant, req, id),
        ("GET", ["teams"]) => list_teams(st, tenant, req),
        ("POST", ["teams"]) => create_team(st, tenant, req),
        ("GET", ["teams", id, "operations", op]) => get_operation(st, tenant, id, op),
        (_, ["teams", id, rest @ ..]) => match ready_team(st, tenant, id) {
            Err(reply) => reply,
            Ok(g) => team_route(st, tenant, req, g, rest),
        },
        _ => Reply::error(
            400,
            "BadRequest",
            &format!("Resource not found for the segment '{}'.", req.path),
        ),
    }
}

/// The index of a team's group, when its creation has completed.
fn ready_team(st: &State, tenant: &str, id: &str) -> Result<usize, Reply> {
    let t = &st.tenants[tenant];
    t.groups
        .iter()
        .position(|g| g.id == id && g.team.as_ref().is_some_and(|team| team.succeeded))
        .ok_or_else(|| Reply::not_found(&format!("Team '{id}'")))
}

fn team_route(st: &mut State, tenant: &str, req: &Req, g: usize, rest: &[&str]) -> Reply {
    match (req.method.as_str(), rest) {
        ("GET", []) => {
            let group = &st.tenants[tenant].groups[g];
            Reply::json(200, select(team_json(group), req))
        }
        ("GET", ["members"]) => {
            let t = &st.tenants[tenant];
            let group = &t.groups[g];
            let items = group
                .members
                .iter()
                .map(|u| member_json(t, u, group.owners.contains(u)))
                .collect();
            page(st, req, items)
        }
        ("POST", ["members", "add"]) => add_members(st, tenant, req, g),
        ("POST", [verb @ ("archive" | "unarchive")]) => {
            lifecycle::set_archived(st, tenant, g, *verb == "archive")
        }
        ("GET", ["channels"]) => {
            let team = team_of(st, tenant, g);
            let items = team.channels.iter().map(channel_json).collect();
            page(st, req, items)
        }
        ("POST", ["channels"]) => create_channel(st, tenant, req, g),
        ("GET", ["channels", cid]) => match channel_index(st, tenant, g, cid) {
            Some(c) => Reply::json(
                200,
                select(channel_json(&team_of(st, tenant, g).channels[c]), req),
            ),
            None => Reply::not_found(&format!("Channel '{cid}'")),
        },
        ("GET", ["channels", cid, "tabs"]) => match channel_index(st, tenant, g, cid) {
            Some(c) => {
                let catalog = &st.tenants[tenant].catalog;
                let items = team_of(st, tenant, g).channels[c]
                    .tabs
                    .iter()
                    .map(|tab| tab_json(tab, catalog))
                    .collect();
                page(st, req, items)
            }
            None => Reply::not_found(&format!("Channel '{cid}'")),
        },
        ("POST", ["channels", cid, "tabs"]) => create_tab(st, tenant, req, g, cid),
        ("GET", ["installedApps"]) => {
            let catalog = &st.tenants[tenant].catalog;
            let items = team_of(st, tenant, g)
                .apps
                .iter()
                .map(|(id, app)| installed_json(id, app, catalog))
                .collect();
            page(st, req, items)
        }
        ("POST", ["installedApps"]) => install_app(st, tenant, req, g),
        _ => Reply::error(
            400,
            "BadRequest",
            &format!("Unsupported request: {} {}", req.method, req.path),
        ),
    }
}

fn team_of<'s>(st: &'s State, tenant: &str, g: usize) -> &'s Team {
    st.tenants[tenant].groups[g]
        .team
        .as_ref()
        .expect("a ready team")
}

fn team_of_mut<'s>(st: &'s mut State, tenant: &str, g: usize) -> &'s mut Team {
    st.tenants.get_mut(tenant).expect("a known tenant").groups[g]
        .team
        .as_mut()
        .expect("a ready team")
}

fn channel_index(st: &State, tenant: &str, g: usize, cid: &str) -> Option<usize> {
    team_of(st, tenant, g)
        .channels
        .iter()
        .position(|c| c.id == cid)
}

/// `$select` on one object: only the properties asked for (and
/// `@odata.type`).
fn select(mut value: Value, req: &Req) -> Value {
    let Some(fields) = req.param("$select") else {
        return value;
    };
    let keep: HashSet<&str> = fields.split(',').map(str::trim).collect();
    if let Some(object) = value.as_object_mut() {
        object.retain(|k, _| keep.contains(k.as_str()) || k.starts_with('@'));
    }
    value
}

/// A page of `items` from `$skiptoken` (an offset here), `$top` or the
/// page size long, with an absolute `@odata.nextLink` when more remain.
fn page(st: &State, req: &Req, items: Vec<Value>) -> Reply {
    let size = req
        .param("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .map_or(st.page_size, |top| top.min(st.page_size))
        .max(1);
    let skip = req
        .param("$skiptoken")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0)
        .min(items.len());
    let end = (skip + size).min(items.len());
    let value: Vec<Value> = items[skip..end]
        .iter()
        .map(|v| select(v.clone(), req))
        .collect();
    let mut body = json!({"value": value});
    if end < items.len() {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in req.query.iter().filter(|(k, _)| k != "$skiptoken") {
            query.append_pair(k, v);
        }
        query.append_pair("$skiptoken", &end.to_string());
        body["@odata.nextLink"] =
            json!(format!("{}/v1.0{}?{}", st.origin, req.path, query.finish()));
    }
    Reply::json(200, body)
}

fn user_json(u: &User) -> Value {
    json!({"id": u.id, "displayName": u.display_name, "department": u.department,
        "country": u.country, "userPrincipalName": u.user_principal_name,
        "userType": u.user_type})
}

fn group_json(g: &Group) -> Value {
    json!({"id": g.id, "displayName": g.display_name, "mailNickname": g.mail_nickname,
        "description": g.description, "visibility": g.visibility, "groupTypes": ["Unified"],
        "mailEnabled": true, "securityEnabled": false, "mail": format!("{}@stand-in.test", g.mail_nickname),
        "resourceProvisioningOptions": if g.team.is_some() { json!(["Team"]) } else { json!([]) },
        "createdDateTime": CREATED, "renewedDateTime": g.renewed.as_deref().unwrap_or(CREATED),
        "expirationDateTime": g.expires})
}

fn team_json(g: &Group) -> Value {
    json!({"id": g.id, "displayName": g.display_name, "description": g.description,
        "visibility": g.visibility.to_ascii_lowercase(),
        "isArchived": g.team.as_ref().is_some_and(|t| t.archived),
        "webUrl": format!("https://teams.stand-in.test/l/team/{}", g.id)})
}

fn member_json(t: &Tenant, user: &str, owner: bool) -> Value {
    json!({"@odata.type": "#microsoft.graph.aadUserConversationMember", "id": format!("mem-{user}"),
        "roles": if owner { json!(["owner"]) } else { json!([]) }, "userId": user,
        "displayName": t.users.get(user).map(|u| u.display_name.clone())})
}

fn channel_json(c: &Channel) -> Value {
    json!({"id": c.id, "displayName": c.display_name, "description": c.description,
        "membershipType": c.membership_type, "createdDateTime": CREATED})
}

fn tab_json(tab: &Tab, catalog: &BTreeMap<String, String>) -> Value {
    json!({"id": tab.id, "displayName": tab.display_name, "webUrl": tab.website_url,
        "configuration": {"contentUrl": tab.content_url, "websiteUrl": tab.website_url,
            "entityId": null, "removeUrl": null},
        "teamsApp": {"id": tab.app_id, "displayName": catalog.get(&tab.app_id)}})
}

fn installed_json(id: &str, app: &str, catalog: &BTreeMap<String, String>) -> Value {
    let name = if app == BUILT_IN_APP {
        Some("Wiki")
    } else {
        catalog.get(app).map(String::as_str)
    };
    json!({"id": id, "teamsApp": {"id": app, "displayName": name}})
}

fn get_user(st: &State, tenant: &str, req: &Req, id: &str) -> Reply {
    let users = &st.tenants[tenant].users;
    let found = users.get(id).or_else(|| {
        users
            .values()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(id))
    });
    match found {
        Some(u) => Reply::json(200, select(user_json(u), req)),
        None => user_not_found(id),
    }
}

fn user_not_found(id: &str) -> Reply {
    Reply::error(
        404,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn get_manager(st: &State, tenant: &str, req: &Req, id: &str) -> Reply {
    let users = &st.tenants[tenant].users;
    let Some(user) = users.get(id) else {
        return user_not_found(id);
    };
    match user.manager.as_deref().and_then(|m| users.get(m)) {
        Some(m) => Reply::json(200, select(user_json(m), req)),
        None => user_not_found("manager"),
    }
}

fn list_groups(st: &State, tenant: &str, req: &Req) -> Reply {
    let groups = &st.tenants[tenant].groups;
    let filtered: Vec<&Group> = match req.param("$filter").map(str::trim) {
        None => groups.iter().collect(),
        Some(f) if f.starts_with("startswith(mailNickname,'") && f.ends_with("')") => {
            let start = f["startswith(mailNickname,'".len()..f.len() - 2].to_lowercase();
            groups
                .iter()
                .filter(|g| g.mail_nickname.to_lowercase().starts_with(&start))
                .collect()
        }
        Some(f) if f.starts_with("mailNickname eq '") && f.ends_with('\'') => {
            let nick = &f["mailNickname eq '".len()..f.len() - 1];
            groups
                .iter()
                .filter(|g| g.mail_nickname.eq_ignore_ascii_case(nick))
                .collect()
        }
        Some("resourceProvisioningOptions/Any(x:x eq 'Team')") => {
            groups.iter().filter(|g| g.team.is_some()).collect()
        }
        Some(other) => {
            return Reply::error(
                400,
                "Request_UnsupportedQuery",
                &format!("Unsupported query: {other}"),
            );
        }
    };
    page(st, req, filtered.into_iter().map(group_json).collect())
}

fn get_group(st: &State, tenant: &str, req: &Req, id: &str) -> Reply {
    match st.tenants[tenant].groups.iter().find(|g| g.id == id) {
        Some(g) => Reply::json(200, select(group_json(g), req)),
        None => user_not_found(id),
    }
}

fn list_group_people(st: &State, tenant: &str, req: &Req, id: &str, owners: bool) -> Reply {
    let t = &st.tenants[tenant];
    let Some(g) = t.groups.iter().find(|g| g.id == id) else {
        return user_not_found(id);
    };
    let people = if owners { &g.owners } else { &g.members };
    let items = people
        .iter()
        .filter_map(|u| t.users.get(u))
        .map(|u| {
            let mut v = user_json(u);
            v["@odata.type"] = json!("#microsoft.graph.user");
            v
        })
        .collect();
    page(st, req, items)
}

/// `/groups/{id}/members/microsoft.graph.user`, with `$filter=userType eq
/// 'Guest'` (an advanced query: it needs `$count=true`; the
/// `ConsistencyLevel` header is not checked) or without a filter.
fn list_group_users(st: &State, tenant: &str, req: &Req, id: &str) -> Reply {
    let t = &st.tenants[tenant];
    let Some(g) = t.groups.iter().find(|g| g.id == id) else {
        return user_not_found(id);
    };
    let guests_only = match req.param("$filter").map(str::trim) {
        None => false,
        Some("userType eq 'Guest'") if req.param("$count") == Some("true") => true,
        Some(other) => {
            return Reply::error(
                400,
                "Request_UnsupportedQuery",
                &format!("Unsupported query: {other}"),
            );
        }
    };
    let items = g
        .members
        .iter()
        .filter_map(|u| t.users.get(u))
        .filter(|u| !guests_only || u.user_type == "Guest")
        .map(user_json)
        .collect();
    page(st, req, items)
}

fn list_teams(st: &State, tenant: &str, req: &Req) -> Reply {
    let items = st.tenants[tenant]
        .groups
        .iter()
        .filter(|g| g.team.as_ref().is_some_and(|t| t.succeeded))
        .map(team_json)
        .collect();
    page(st, req, items)
}

/// The user id out of a bind: `…/users('id')`, `…/users/id`,
/// `…/directoryObjects/id`.
fn bound_id(bind: &str, collection: &str) -> Option<String> {
    let rest = bind.split(&format!("{collection}('")).nth(1);
    if let Some(rest) = rest {
        return rest.split("')").next().map(str::to_owned);
    }
    bind.rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn binds(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn new_group(
    id: String,
    display_name: &str,
    nick: String,
    description: &str,
    visibility: &str,
) -> Group {
    Group {
        id,
        display_name: display_name.to_owned(),
        mail_nickname: nick,
        description: description.to_owned(),
        visibility: if visibility.eq_ignore_ascii_case("public") {
            "Public"
        } else {
            "Private"
        }
        .to_owned(),
        owners: Vec::new(),
        members: Vec::new(),
        photo: None,
        guest_setting: None,
        team: None,
        renewed: None,
        expires: None,
    }
}

fn nickname_taken(t: &Tenant, nick: &str) -> bool {
    t.groups
        .iter()
        .any(|g| g.mail_nickname.eq_ignore_ascii_case(nick))
}

fn create_group(st: &mut State, tenant: &str, req: &Req) -> Reply {
    let Some(body) = req.json() else {
        return Reply::error(400, "Request_BadRequest", "A JSON body is required.");
    };
    let text = |k: &str| body[k].as_str().unwrap_or("").to_owned();
    let (display_name, nick) = (text("displayName"), text("mailNickname"));
    if display_name.is_empty()
        || nick.is_empty()
        || !body["mailEnabled"].is_boolean()
        || !body["securityEnabled"].is_boolean()
    {
        return Reply::error(
            400,
            "Request_BadRequest",
            "A value is required for property 'displayName', 'mailNickname', 'mailEnabled' and 'securityEnabled' of resource 'Group'.",
        );
    }
    if nick.len() > 64
        || !nick
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Reply::error(
            400,
            "Request_BadRequest",
            "Invalid value specified for property 'mailNickname' of resource 'Group'.",
        );
    }
    let (owners, members) = (
        binds(&body, "owners@odata.bind"),
        binds(&body, "members@odata.bind"),
    );
    if owners.len() + members.len() > MAX_BINDS {
        return Reply::error(
            400,
            "Request_BadRequest",
            "The request contains more than 20 members and owners to add; add the others after creation.",
        );
    }
    let t = st.tenants.get_mut(tenant).expect("a known tenant");
    if nickname_taken(t, &nick) {
        return Reply::error(
            400,
            "Request_BadRequest",
            "Another object with the same value for property mailNickname already exists.",
        );
    }
    let mut ids = (Vec::new(), Vec::new());
    for (bind, owner) in owners
        .iter()
        .map(|b| (b, true))
        .chain(members.iter().map(|b| (b, false)))
    {
        let id = bound_id(bind, "users").unwrap_or_default();
        if !t.users.contains_key(&id) {
            return user_not_found(&id);
        }
        let list = if owner { &mut ids.0 } else { &mut ids.1 };
        if !list.contains(&id) {
            list.push(id);
        }
    }
    let mut group = new_group(
        uuid::Uuid::new_v4().to_string(),
        &display_name,
        nick,
        &text("description"),
        &text("visibility"),
    );
    (group.owners, group.members) = ids;
    let json = group_json(&group);
    t.journal.group_created(&group.id);
    t.groups.push(group);
    created_or_504(st, Reply::json(201, json))
}

/// The 504 that Graph sometimes answers for a create it carried out.
fn created_or_504(st: &mut State, reply: Reply) -> Reply {
    if st.fail_after_create > 0 {
        st.fail_after_create -= 1;
        return Reply::error(504, "GatewayTimeout", "The operation timed out.");
    }
    reply
}

fn new_team(st: &mut State, guest_settings: &Value) -> Team {
    Team {
        operation_id: uuid::Uuid::new_v4().to_string(),
        polls_left: st.operation_polls,
        succeeded: st.operation_polls == 0,
        channels: vec![Channel {
            id: channel_id(),
            display_name: "General".into(),
            description: String::new(),
            membership_type: "standard".into(),
            tabs: Vec::new(),
        }],
        apps: vec![(
            format!("inst-{}", uuid::Uuid::new_v4().simple()),
            BUILT_IN_APP.to_owned(),
        )],
        allow_guests: guest_settings["allowCreateUpdateChannels"].as_bool(),
        archived: false,
        lifecycle_ops: Vec::new(),
    }
}

fn channel_id() -> String {
    format!("19:{}@thread.tacv2", uuid::Uuid::new_v4().simple())
}

fn create_team(st: &mut State, tenant: &str, req: &Req) -> Reply {
    let Some(body) = req.json() else {
        return Reply::bad_request("A JSON body is required.");
    };
    if !body["template@odata.bind"]
        .as_str()
        .is_some_and(|t| t.contains("teamsTemplates"))
    {
        return Reply::bad_request("Team template binding 'template@odata.bind' is required.");
    }
    let team = new_team(st, &body["guestSettings"]);
    let (team_id, op_id) = if let Some(bind) = body["group@odata.bind"].as_str() {
        let id = bound_id(bind, "groups").unwrap_or_default();
        let t = st.tenants.get_mut(tenant).expect("a known tenant");
        let Some(group) = t.groups.iter_mut().find(|g| g.id == id) else {
            return Reply::not_found(&format!("Group '{id}'"));
        };
        if group.team.is_some() {
            return Reply::error(
                409,
                "Conflict",
                "The group is already provisioned as a team.",
            );
        }
        for owner in group.owners.clone() {
            if !group.members.contains(&owner) {
                t.journal.link(&id, "members", &owner, false);
                group.members.push(owner);
            }
        }
        t.journal
            .group_changed(&id, &["resourceProvisioningOptions"]);
        let op = team.operation_id.clone();
        group.team = Some(team);
        (id, op)
    } else {
        match create_team_directly(st, tenant, &body, team) {
            Ok(ids) => ids,
            Err(reply) => return reply,
        }
    };
    let reply = Reply::empty(202)
        .with_header(
            "Location",
            format!("/teams('{team_id}')/operations('{op_id}')"),
        )
        .with_header("Content-Location", format!("/teams('{team_id}')"));
    created_or_504(st, reply)
}

/// The direct form: a new group and team from `displayName`, `members`
/// (exactly one owner, as app-only requires), optional `channels` and
/// `installedApps`.
fn create_team_directly(
    st: &mut State,
    tenant: &str,
    body: &Value,
    mut team: Team,
) -> Result<(String, String), Reply> {
    let display_name = body["displayName"].as_str().unwrap_or("");
    if display_name.is_empty() {
        return Err(Reply::bad_request("displayName is required."));
    }
    let members = body["members"].as_array().cloned().unwrap_or_default();
    let is_owner = |m: &Value| {
        m["roles"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == "owner"))
    };
    if members.iter().filter(|m| is_owner(m)).count() != 1 {
        return Err(Reply::bad_request(
            "Exactly one owner in 'members' is required when creating a team with application permissions.",
        ));
    }
    let t = st.tenants.get_mut(tenant).expect("a known tenant");
    let mut owners = Vec::new();
    let mut people = Vec::new();
    for m in &members {
        let id = m["user@odata.bind"]
            .as_str()
            .and_then(|b| bound_id(b, "users"))
            .unwrap_or_default();
        if !t.users.contains_key(&id) {
            return Err(user_not_found(&id));
        }
        if is_owner(m) {
            owners.push(id.clone());
        }
        if !people.contains(&id) {
            people.push(id);
        }
    }
    for c in body["channels"].as_array().into_iter().flatten() {
        team.channels.push(Channel {
            id: channel_id(),
            display_name: c["displayName"].as_str().unwrap_or("").to_owned(),
            description: c["description"].as_str().unwrap_or("").to_owned(),
            membership_type: "standard".into(),
            tabs: Vec::new(),
        });
    }
    for app in body["installedApps"].as_array().into_iter().flatten() {
        let id = app["teamsApp@odata.bind"]
            .as_str()
            .and_then(|b| bound_id(b, "teamsApps"))
            .unwrap_or_default();
        if !t.catalog.contains_key(&id) {
            return Err(Reply::not_found(&format!("App '{id}'")));
        }
        team.apps
            .push((format!("inst-{}", uuid::Uuid::new_v4().simple()), id));
    }
    let base: String = display_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let base = if base.is_empty() {
        "team".to_owned()
    } else {
        base
    };
    let mut nick = base.clone();
    while nickname_taken(t, &nick) {
        nick = format!("{base}{}", st.rng.gen_range(100..1000));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut group = new_group(
        id.clone(),
        display_name,
        nick,
        body["description"].as_str().unwrap_or(""),
        body["visibility"].as_str().unwrap_or("private"),
    );
    group.owners = owners;
    group.members = people;
    let op = team.operation_id.clone();
    group.team = Some(team);
    t.journal.group_created(&id);
    t.groups.push(group);
    Ok((id, op))
}

fn get_operation(st: &mut State, tenant: &str, id: &str, op: &str) -> Reply {
    let t = st.tenants.get_mut(tenant).expect("a known tenant");
    let Some(team) = t
        .groups
        .iter_mut()
        .find(|g| g.id == id)
        .and_then(|g| g.team.as_mut())
        .filter(|team| team.operation_id == op)
    else {
        return lifecycle::get_operation(st, tenant, id, op);
    };
    let status = if team.polls_left > 0 {
        team.polls_left -= 1;
        "inProgress"
    } else {
        team.succeeded = true;
        "succeeded"
    };
    Reply::json(
        200,
        json!({"id": op, "operationType": "createTeam", "status": status,
        "targetResourceId": id, "targetResourceLocation": format!("/teams('{id}')"),
        "attemptsCount": 1, "error": null, "createdDateTime": CREATED, "lastActionDateTime": CREATED}),
    )
}

/// `POST /groups/{id}/settings` with the `Group.Unified.Guest` template:
/// the group's `AllowToAddGuests`. A second one conflicts, as in Entra.
fn group_setting(st: &mut State, tenant: &str, req: &Req, id: &str) -> Reply {
    let body: Value = serde_json::from_slice(req.body).unwrap_or(Value::Null);
    if body["templateId"] != "08d542b9-071f-4e16-94b0-74abb372e3d9" {
        return Reply::error(
            400,
            "Request_BadRequest",
            "Unknown directory setting template.",
        );
    }
    let allow = body["values"]
        .as_array()
        .and_then(|v| v.iter().find(|x| x["name"] == "AllowToAddGuests"))
        .and_then(|x| x["value"].as_str())
        .map(|v| v.eq_ignore_ascii_case("true"));
    let Some(allow) = allow else {
        return Reply::error(400, "Request_BadRequest", "AllowToAddGuests is missing.");
    };
    let Some(group) = st
        .tenants
        .get_mut(tenant)
        .and_then(|t| t.groups.iter_mut().find(|g| g.id == id))
    else {
        return Reply::not_found(&format!("Group '{id}'"));
    };
    if group.guest_setting.is_some() {
        return Reply::error(
            409,
            "Request_MultipleObjectsWithSameKeyValue",
            "A conflicting object with one or more of the specified property values is present in the directory.",
        );
    }
    group.guest_setting = Some(allow);
    Reply::json(
        201,
        json!({"id": uuid::Uuid::new_v4().to_string(), "templateId": body["templateId"], "values": body["values"]}),
    )
}

fn put_photo(st: &mut State, tenant: &str, req: &Req, id: &str) -> Reply {
    let content_type = req
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(content_type.as_str(), "image/png" | "image/jpeg") || req.body.is_empty() {
        return Reply::error(
            400,
            "ErrorInvalidImage",
            "The photo must be a PNG or JPEG image.",
        );
    }
    let t = st.tenants.get_mut(tenant).expect("a known tenant");
    match t.groups.iter_mut().find(|g| g.id == id) {
        Some(g) => {
            g.photo = Some((content_type, req.body.len()));
            Reply::empty(204)
        }
        None => user_not_found(id),
    }
}

fn add_members(st: &mut State, tenant: &str, req: &Req, g: usize) -> Reply {
    let Some(values) = req.json().and_then(|b| b["values"].as_array().cloned()) else {
        return Reply::bad_request("'values' is required.");
    };
    if values.len() > 200 {
        return Reply::bad_request("At most 200 members per request.");
    }
    let t = st.tenants.get_mut(tenant).expect("a known tenant");
    let mut results = Vec::new();
    for v in values {
        let id = v["user@odata.bind"]
            .as_str()
            .and_then(|b| bound_id(b, "users"))
            .unwrap_or_default();
        let owner = v["roles"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == "owner"));
        let error = if t.users.contains_key(&id) {
            let group = &mut t.groups[g];
            if !group.members.contains(&id) {
                group.members.push(id.clone());
                t.journal.link(&group.id, "members", &id, false);
            }
            let is_owner = group.owners.contains(&id);
            if owner && !is_owner {
                group.owners.push(id.clone());
                t.journal.link(&group.id, "owners", &id, false);
            } else if !owner && is_owner && group.owners.len() > 1 {
                group.owners.retain(|o| o != &id);
                t.journal.link(&group.id, "owners", &id, true);
            }
            Value::Null
        } else {
            json!({"code": "NotFound", "message": format!("User '{id}' not found.")})
        };
        results.push(
            json!({"@odata.type": "#microsoft.graph.aadUserConversationMemberResult",
            "userId": id, "error": error}),
        );
    }
    Reply::json(200, json!({"value": results}))
}

fn create_channel(st: &mut State, tenant: &str, req: &Req, g: usize) -> Reply {
    let Some(body) = req.json() else {
        return Reply::bad_request("A JSON body is required.");
    };
    let name = body["displayName"].as_str().unwrap_or("").trim().to_owned();
    if name.is_empty() || name.chars().count() > 50 {
        return Reply::bad_request("displayName is required, at most 50 characters.");
    }
    let kind = body["membershipType"]
        .as_str()
        .unwrap_or("standard")
        .to_owned();
    if !matches!(kind.as_str(), "standard" | "private" | "shared") {
        return Reply::bad_request("Unknown membershipType.");
    }
    if kind != "standard" {
        let owners = body["members"].as_array().map_or(0, |m| {
            m.iter()
                .filter(|x| {
                    x["roles"]
                        .as_array()
                        .is_some_and(|r| r.iter().any(|r| r == "owner"))
                })
                .count()
        });
        if owners != 1 {
            return Reply::bad_request(
                "A private or shared channel needs exactly one owner in 'members'.",
            );
        }
    }
    let team = team_of_mut(st, tenant, g);
    if team
        .channels
        .iter()
        .any(|c| c.display_name.eq_ignore_ascii_case(&name))
    {
        return Reply::error(
            400,
            "NameAlreadyExists",
            "Channel name already existed, please use other name.",
        );
    }
    let channel = Channel {
        id: channel_id(),
        display_name: name,
        description: body["description"].as_str().unwrap_or("").to_owned(),
        membership_type: kind,
        tabs: Vec::new(),
    };
    let json = channel_json(&channel);
    team.channels.push(channel);
    Reply::json(201, json)
}

fn create_tab(st: &mut State, tenant: &str, req: &Req, g: usize, cid: &str) -> Reply {
    let Some(c) = channel_index(st, tenant, g, cid) else {
        return Reply::not_found(&format!("Channel '{cid}'"));
    };
    let Some(body) = req.json() else {
        return Reply::bad_request("A JSON body is required.");
    };
    let name = body["displayName"].as_str().unwrap_or("").to_owned();
    let app = body["teamsApp@odata.bind"]
        .as_str()
        .and_then(|b| bound_id(b, "teamsApps"))
        .unwrap_or_default();
    let config = &body["configuration"];
    if name.is_empty() || !config.is_object() {
        return Reply::bad_request("displayName and configuration are required.");
    }
    let catalog = st.tenants[tenant].catalog.clone();
    if !catalog.contains_key(&app) {
        return Reply::not_found(&format!("App '{app}'"));
    }
    let tab = Tab {
        id: uuid::Uuid::new_v4().to_string(),
        display_name: name,
        app_id: app,
        content_url: config["contentUrl"].as_str().unwrap_or("").to_owned(),
        website_url: config["websiteUrl"].as_str().unwrap_or("").to_owned(),
    };
    let json = tab_json(&tab, &catalog);
    team_of_mut(st, tenant, g).channels[c].tabs.push(tab);
    Reply::json(201, json)
}

fn install_app(st: &mut State, tenant: &str, req: &Req, g: usize) -> Reply {
    let app = req
        .json()
        .and_then(|b| {
            b["teamsApp@odata.bind"]
                .as_str()
                .and_then(|b| bound_id(b, "teamsApps"))
        })
        .unwrap_or_default();
    if !st.tenants[tenant].catalog.contains_key(&app) {
        return Reply::not_found(&format!("App '{app}' in the tenant's catalog"));
    }
    let team = team_of_mut(st, tenant, g);
    if team.apps.iter().any(|(_, a)| a == &app) {
        return Reply::error(
            409,
            "Conflict",
            "The app is already installed in this team.",
        );
    }
    team.apps
        .push((format!("inst-{}", uuid::Uuid::new_v4().simple()), app));
    Reply::empty(201)
}
