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

use serde_json::{Map, Value, json};

#[path = "dataverse/odata.rs"]
mod odata;
#[path = "dataverse/search.rs"]
mod search;
#[path = "dataverse/serve.rs"]
mod serve;
#[path = "dataverse/writes.rs"]
mod writes;

use serve::Reply;

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
    /// The application the token endpoint knows, and its secret.
    client_id: String,
    secret: String,
    /// Tenant → whether the environment has an application user for it.
    tenants: HashMap<String, bool>,
    /// Token → (tenant, expired).
    tokens: HashMap<String, (String, bool)>,
    revoked: bool,
    /// Every token is refused, fresh ones too (a tenant-wide block).
    refuse_tokens: bool,
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
            client_id: CLIENT_ID.to_owned(),
            secret,
            tenants: HashMap::new(),
            tokens: HashMap::new(),
            revoked: false,
            refuse_tokens: false,
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
        let task = tokio::spawn(serve::serve(listener, state.clone()));
        let url = url::Url::parse(&origin).expect("a URL");
        DataverseStandIn {
            org_url: url.clone(),
            authority_host: url,
            state,
            task,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("the stand-in never panics holding its state")
    }

    /// The client secret the token endpoint takes now.
    pub fn client_secret(&self) -> String {
        self.state().secret.clone()
    }

    /// The token endpoint knows this application instead (a deployment's
    /// own Entra app, the one it signs in to Graph with).
    pub fn accept_app(&self, client_id: &str, secret: &str) {
        let mut st = self.state();
        st.client_id = client_id.to_owned();
        st.secret = secret.to_owned();
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
    /// The Web API refuses every token, freshly issued ones too.
    pub fn refuse_tokens(&self) {
        self.state().refuse_tokens = true;
    }

    pub fn revoke_client(&self) {
        self.state().revoked = true;
    }

    /// The customer made a new client secret and deleted the old one (a
    /// rotation): the token endpoint takes only the new one from now on
    /// (`invalid_client` for the old), and nothing is revoked any more.
    /// Issued tokens stay valid until they expire.
    pub fn new_client_secret(&self) -> String {
        let secret = format!("dv-secret-{}", uuid::Uuid::new_v4());
        let mut st = self.state();
        st.secret = secret.clone();
        st.revoked = false;
        secret
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
