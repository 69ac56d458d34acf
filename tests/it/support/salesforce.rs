//! A stateful Salesforce org on 127.0.0.1 (plain HTTP): the OAuth token
//! endpoint of its login host (the web-server flow's code exchange and the
//! refresh grant), and the slice of the REST API the connector uses:
//! SOSL search, SOQL query with `nextRecordsUrl` batches, `/limits`, the
//! userinfo endpoint, classic Notes and record updates. What is written is
//! kept for the test to read ([`SalesforceStandIn::notes`],
//! [`SalesforceStandIn::field`]).
//!
//! It answers as Salesforce does where a client must care (PROTOCOLS-2 §5):
//! errors as `[{"message","errorCode","fields"}]`; a session that ended
//! (on demand: [`SalesforceStandIn::expire_sessions`]) is 401
//! `INVALID_SESSION_ID`; a spent daily allocation (on demand) is 403
//! `REQUEST_LIMIT_EXCEEDED`; a revoked refresh token is 400
//! `invalid_grant`; the token answer has no `expires_in` and carries the
//! `instance_url` to use, which a test can move to a second port
//! ([`SalesforceStandIn::move_instance`]) to prove it is followed.
//! SOSL and SOQL are parsed as `salesforce/queries.rs` says.
//!
//! Ids carry their object's key prefix (001 Account, 003 Contact, 006
//! Opportunity, 002 Note, 005 User).

#![allow(dead_code, reason = "each test uses part of the stand-in")]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

#[path = "salesforce/queries.rs"]
mod queries;
#[path = "salesforce/serve.rs"]
mod serve;
#[path = "salesforce/token.rs"]
mod token;

pub const CLIENT_ID: &str = "3MVG9standin.client";
pub const CLIENT_SECRET: &str = "standin-secret";
pub const REDIRECT_URI: &str = "https://salestim.test/api/crm/salesforce/callback";
pub const API_VERSION: &str = "v62.0";
const ORG_ID: &str = "00D5g000000STANDIN";
const ADMIN_ID: &str = "0055g00000ADMIN0AA";
pub const ADMIN_NAME: &str = "Dana Admin";
pub const ADMIN_USERNAME: &str = "dana@acme.test";

/// One API request as the stand-in saw it (token requests apart).
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The port it arrived on (the first instance's or the moved one's).
    pub port: u16,
    pub path: String,
    /// `q`, decoded, when there was one.
    pub q: Option<String>,
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NoteSnapshot {
    pub id: String,
    pub parent_id: String,
    pub title: String,
    pub body: String,
}

#[derive(Default)]
struct State {
    /// The instance the token endpoint answers with.
    instance_url: String,
    /// The connected app's callback URL (the code exchange must name it).
    redirect_uri: String,
    codes: HashSet<String>,
    refresh_tokens: HashSet<String>,
    revoked: HashSet<String>,
    sessions: HashSet<String>,
    /// Every session is refused, even a fresh one.
    refuse_all_sessions: bool,
    limit_exceeded: bool,
    /// The next API requests answered with this status, whatever they ask.
    failures: Vec<u16>,
    daily_max: u64,
    daily_used: u64,
    /// Rows by id, as Salesforce stores them (`attributes`, fields, and
    /// the ids of related records).
    rows: HashMap<String, Value>,
    /// Object -> fields it has (custom ones added by the test).
    schema: HashMap<String, HashSet<String>>,
    modified: u64,
    next_id: u64,
    batch_size: usize,
    /// Query locator -> rows still to send.
    cursors: HashMap<String, Vec<Value>>,
    notes: Vec<NoteSnapshot>,
    seen: Vec<Seen>,
    /// grant_type -> token requests.
    grants: HashMap<String, usize>,
}

pub struct SalesforceStandIn {
    /// The login host (token endpoint) and first instance.
    pub origin: String,
    /// Where [`SalesforceStandIn::move_instance`] moves the org.
    pub moved_origin: String,
    state: Arc<Mutex<State>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for SalesforceStandIn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn schema() -> HashMap<String, HashSet<String>> {
    let of = |fields: &[&str]| fields.iter().map(|f| (*f).to_owned()).collect();
    HashMap::from([
        (
            "Account".to_owned(),
            of(&[
                "Id",
                "Name",
                "BillingCity",
                "Phone",
                "Website",
                "Industry",
                "OwnerId",
            ]),
        ),
        (
            "Contact".to_owned(),
            of(&[
                "Id",
                "Name",
                "Title",
                "AccountId",
                "Email",
                "Phone",
                "OwnerId",
            ]),
        ),
        (
            "Opportunity".to_owned(),
            of(&[
                "Id",
                "Name",
                "AccountId",
                "StageName",
                "Amount",
                "CloseDate",
                "Probability",
                "OwnerId",
            ]),
        ),
        ("User".to_owned(), of(&["Id", "Name", "Username"])),
    ])
}

impl SalesforceStandIn {
    pub async fn start() -> SalesforceStandIn {
        let first = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a loopback port");
        let moved = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds a loopback port");
        let origin = format!("http://127.0.0.1:{}", first.local_addr().unwrap().port());
        let moved_origin = format!("http://127.0.0.1:{}", moved.local_addr().unwrap().port());
        let mut st = State {
            instance_url: origin.clone(),
            redirect_uri: REDIRECT_URI.to_owned(),
            daily_max: 15_000,
            batch_size: 2_000,
            schema: schema(),
            ..State::default()
        };
        st.rows.insert(
            ADMIN_ID.to_owned(),
            json!({"attributes": attributes("User", ADMIN_ID), "Id": ADMIN_ID,
                   "Name": ADMIN_NAME, "Username": ADMIN_USERNAME}),
        );
        let state = Arc::new(Mutex::new(st));
        let tasks = vec![
            tokio::spawn(serve::serve(first, state.clone())),
            tokio::spawn(serve::serve(moved, state.clone())),
        ];
        SalesforceStandIn {
            origin,
            moved_origin,
            state,
            tasks,
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("the state is never poisoned")
    }

    pub fn login_url(&self) -> url::Url {
        url::Url::parse(&self.origin).unwrap()
    }

    /// The connected app's callback URL is this one (a deployment's own
    /// public host).
    pub fn set_redirect_uri(&self, uri: &str) {
        self.st().redirect_uri = uri.to_owned();
    }

    /// A code as Salesforce sends back to the redirect URI (single use).
    pub fn mint_code(&self) -> String {
        let code = format!("aPrx{}", uuid::Uuid::new_v4().simple());
        self.st().codes.insert(code.clone());
        code
    }

    /// The admin revoked the app's access (or the token expired).
    pub fn revoke_refresh_tokens(&self) {
        let mut st = self.st();
        let all: Vec<String> = st.refresh_tokens.drain().collect();
        st.revoked.extend(all);
    }

    /// Every session ends now (a timeout, a logout).
    pub fn expire_sessions(&self) {
        self.st().sessions.clear();
    }

    /// Every session is refused from now on, fresh ones included.
    pub fn refuse_all_sessions(&self) {
        let mut st = self.st();
        st.refuse_all_sessions = true;
        st.sessions.clear();
    }

    /// The org's 24-hour API allocation is spent.
    pub fn exhaust_daily_limit(&self) {
        self.st().limit_exceeded = true;
    }

    /// The next `n` API requests fail with `status` (a 503 from an instance
    /// in maintenance, say).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.st().failures.extend(std::iter::repeat_n(status, n));
    }

    /// The token endpoint answers with the second port from now on (the
    /// org moved); returns it.
    pub fn move_instance(&self) -> String {
        let mut st = self.st();
        st.instance_url = self.moved_origin.clone();
        st.instance_url.clone()
    }

    /// Query answers come in batches of `n` rows (as Salesforce cuts them
    /// for large rows).
    pub fn set_batch_size(&self, n: usize) {
        self.st().batch_size = n.max(1);
    }

    /// A custom field the org has (`Teams_Link__c`).
    pub fn add_custom_field(&self, object: &str, field: &str) {
        self.st()
            .schema
            .entry(object.to_owned())
            .or_default()
            .insert(field.to_owned());
    }

    fn insert(&self, object: &str, prefix: &str, fields: Value) -> String {
        let mut st = self.st();
        st.next_id += 1;
        st.modified += 1;
        let id = format!("{prefix}5g{:010}AAA", st.next_id);
        let mut row = json!({"attributes": attributes(object, &id), "Id": id,
            "OwnerId": ADMIN_ID, "LastModified": st.modified});
        for (k, v) in fields.as_object().expect("fields are an object") {
            row[k] = v.clone();
        }
        st.rows.insert(id.clone(), row);
        id
    }

    pub fn add_account(&self, name: &str, city: &str) -> String {
        self.insert(
            "Account",
            "001",
            json!({"Name": name, "BillingCity": city, "Phone": "+1 555 0100",
                   "Website": "https://acme.test", "Industry": "Manufacturing"}),
        )
    }

    pub fn add_contact(&self, name: &str, title: &str, account_id: &str) -> String {
        self.insert(
            "Contact",
            "003",
            json!({"Name": name, "Title": title, "AccountId": account_id,
                   "Email": "someone@acme.test", "Phone": null}),
        )
    }

    pub fn add_opportunity(&self, name: &str, account_id: &str, stage: &str) -> String {
        self.insert(
            "Opportunity",
            "006",
            json!({"Name": name, "AccountId": account_id, "StageName": stage,
                   "Amount": 50000.0, "CloseDate": "2026-06-30", "Probability": 20}),
        )
    }

    pub fn add_user(&self, name: &str) -> String {
        self.insert(
            "User",
            "005",
            json!({"Name": name, "Username": format!("{}@acme.test", name.replace(' ', "."))}),
        )
    }

    pub fn notes(&self) -> Vec<NoteSnapshot> {
        self.st().notes.clone()
    }

    /// A field of a record, as stored.
    pub fn field(&self, id: &str, field: &str) -> Value {
        self.st()
            .rows
            .get(id)
            .map(|r| r[field].clone())
            .unwrap_or(Value::Null)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.st().seen.clone()
    }

    /// API requests so far (token requests apart).
    pub fn api_requests(&self) -> usize {
        self.st().seen.len()
    }

    /// API requests to `path` (e.g. `/services/data/v62.0/search/`).
    pub fn requests_to(&self, path: &str) -> usize {
        self.st().seen.iter().filter(|s| s.path == path).count()
    }

    /// The refresh tokens issued and not revoked (what a client must keep
    /// secret).
    pub fn refresh_tokens(&self) -> Vec<String> {
        self.st().refresh_tokens.iter().cloned().collect()
    }

    /// Token requests of one grant type.
    pub fn token_requests(&self, grant_type: &str) -> usize {
        self.st().grants.get(grant_type).copied().unwrap_or(0)
    }
}

fn attributes(object: &str, id: &str) -> Value {
    json!({"type": object, "url": format!("/services/data/{API_VERSION}/sobjects/{object}/{id}")})
}

/// Salesforce's error shape.
fn errors(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!([{"message": message, "errorCode": code, "fields": []}]),
    )
}
