//! An Entra ID stand-in on 127.0.0.1 for many tenants at once, as the tabs'
//! API sees Entra: each tenant's OpenID configuration
//! (`/{tid}/v2.0/.well-known/openid-configuration`) and keys
//! (`/{tid}/discovery/v2.0/keys`), counted per tenant, and the token
//! endpoint (`/{tid}/oauth2/v2.0/token`), which answers what the test
//! scripts and keeps the forms it was sent. Keys are generated at test time
//! ([`ChannelKey::entra`]); a tenant publishes only its own.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::watch;
use warp::Filter;

use super::botframework::ChannelKey;

type Forms = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

pub struct Entra {
    /// `ENTRA_AUTHORITY_HOST`: `http://127.0.0.1:<port>`, no trailing slash.
    pub authority: String,
    keys: Arc<Mutex<HashMap<String, Vec<Value>>>>,
    fetches: Arc<Mutex<HashMap<String, usize>>>,
    answers: Arc<Mutex<VecDeque<(u16, Value)>>>,
    forms: Forms,
    _stop: watch::Sender<bool>,
}

impl Entra {
    pub async fn start() -> Entra {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let authority = format!("http://127.0.0.1:{port}");
        let keys: Arc<Mutex<HashMap<String, Vec<Value>>>> = Arc::default();
        let fetches: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let answers: Arc<Mutex<VecDeque<(u16, Value)>>> = Arc::default();
        let forms: Forms = Arc::default();

        let (base, counted) = (authority.clone(), fetches.clone());
        let metadata = warp::get()
            .and(warp::path!(
                String / "v2.0" / ".well-known" / "openid-configuration"
            ))
            .map(move |tid: String| {
                *counted.lock().unwrap().entry(tid.clone()).or_default() += 1;
                warp::reply::json(&json!({
                    "issuer": format!("{base}/{tid}/v2.0"),
                    "jwks_uri": format!("{base}/{tid}/discovery/v2.0/keys"),
                    "token_endpoint": format!("{base}/{tid}/oauth2/v2.0/token"),
                    "id_token_signing_alg_values_supported": ["RS256"],
                }))
            });
        let (published, counted) = (keys.clone(), fetches.clone());
        let key_set = warp::get()
            .and(warp::path!(String / "discovery" / "v2.0" / "keys"))
            .map(move |tid: String| {
                *counted.lock().unwrap().entry(tid.clone()).or_default() += 1;
                let keys = published
                    .lock()
                    .unwrap()
                    .get(&tid)
                    .cloned()
                    .unwrap_or_default();
                warp::reply::json(&json!({ "keys": keys }))
            });
        let (scripted, sent) = (answers.clone(), forms.clone());
        let token = warp::post()
            .and(warp::path!(String / "oauth2" / "v2.0" / "token"))
            .and(warp::body::form())
            .map(move |tid: String, form: HashMap<String, String>| {
                sent.lock().unwrap().push((tid, form));
                let (status, body) = scripted.lock().unwrap().pop_front().unwrap_or_else(|| {
                    (200, json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "graph-token-as-the-user"}))
                });
                warp::reply::with_status(
                    warp::reply::json(&body),
                    warp::http::StatusCode::from_u16(status).unwrap(),
                )
            });
        let (stop, rx) = watch::channel(false);
        let (_, server) = salestim::server::serve_filter(
            metadata.or(key_set).or(token),
            format!("127.0.0.1:{port}").parse().unwrap(),
            rx,
        )
        .expect("binds");
        tokio::spawn(server);
        Entra {
            authority,
            keys,
            fetches,
            answers,
            forms,
            _stop: stop,
        }
    }

    /// Publishes `key` among `tenant`'s signing keys.
    pub fn publish(&self, tenant: &str, key: &ChannelKey) {
        self.keys
            .lock()
            .unwrap()
            .entry(tenant.to_owned())
            .or_default()
            .push(key.jwk());
    }

    /// The v2.0 issuer of `tenant`, as tokens carry it.
    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.authority)
    }

    /// Requests for `tenant`'s configuration and keys so far.
    pub fn fetches(&self, tenant: &str) -> usize {
        self.fetches
            .lock()
            .unwrap()
            .get(tenant)
            .copied()
            .unwrap_or(0)
    }

    /// Requests for any tenant's configuration and keys so far.
    pub fn all_fetches(&self) -> usize {
        self.fetches.lock().unwrap().values().sum()
    }

    /// The token endpoint's next answer (else a token).
    pub fn answer_token(&self, status: u16, body: Value) {
        self.answers.lock().unwrap().push_back((status, body));
    }

    /// The forms the token endpoint was sent, with their tenant.
    pub fn token_requests(&self) -> Vec<(String, HashMap<String, String>)> {
        self.forms.lock().unwrap().clone()
    }
}
