//! The bench's Bot Connector and Entra token endpoint, over HTTPS on
//! 127.0.0.1 with the tests' throw-away PKI. Unlike the tests' stand-in it
//! records when each reply arrives (by the `replyToId` in its path) and
//! whether it carries the expected card, and it also serves the OpenID
//! configuration MSAL (botbuilder's token client) reads from its authority.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde_json::{Value, json};

use crate::tls::{SeenRequest, TestPki, serve_https};

pub const APP_ID: &str = "5f6d1e0a-2222-4d5b-9c55-0123456789ab";
pub const APP_SECRET: &str = "bench-bot-secret-made-at-run-time";
const TENANT_PATH: &str = "/botframework.com";

/// One reply as it reached the Connector.
#[derive(Clone, Copy)]
pub struct Reply {
    pub at: Instant,
    /// The reply's card is the expected one.
    pub expected_card: bool,
}

#[derive(Default)]
struct State {
    replies: HashMap<String, Reply>,
    token_requests: usize,
    refused: usize,
}

pub struct ConnectorStandIn {
    pub pki: TestPki,
    /// `https://127.0.0.1:<port>/emea/`: what activities carry as serviceUrl.
    pub service_url: String,
    /// The authority (`ToChannelFromBotLoginUrl`).
    pub login_url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConnectorStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Answer = (u16, Vec<(&'static str, String)>, String);

fn handle(state: &Mutex<State>, card: &Value, base: &str, req: SeenRequest) -> Answer {
    let path = req.target.split('?').next().unwrap_or_default();
    if path == format!("{TENANT_PATH}/v2.0/.well-known/openid-configuration") {
        let authority = format!("{base}{TENANT_PATH}");
        let config = json!({
            "issuer": format!("{authority}/v2.0"),
            "authorization_endpoint": format!("{authority}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{authority}/oauth2/v2.0/token"),
            "end_session_endpoint": format!("{authority}/oauth2/v2.0/logout"),
            "jwks_uri": format!("{authority}/discovery/v2.0/keys"),
        });
        return (200, vec![], config.to_string());
    }
    if path == format!("{TENANT_PATH}/oauth2/v2.0/token") {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let get = |k: &str| form.get(k).map(String::as_str);
        let mut state = state.lock().expect("not poisoned");
        state.token_requests += 1;
        if get("grant_type") != Some("client_credentials")
            || get("client_id") != Some(APP_ID)
            || get("client_secret") != Some(APP_SECRET)
            || get("scope") != Some("https://api.botframework.com/.default")
        {
            return (400, vec![], json!({"error": "invalid_client"}).to_string());
        }
        let token = format!("bench-token-{}", state.token_requests);
        let body = json!({"token_type": "Bearer", "access_token": token, "expires_in": 3599, "ext_expires_in": 3599});
        return (200, vec![], body.to_string());
    }
    let authorized = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer bench-token-"));
    let reply_to = path
        .strip_prefix("/emea/v3/conversations/")
        .and_then(|rest| rest.split_once("/activities/"))
        .map(|(_, id)| id.to_owned());
    let (Some(reply_to), true, "POST") = (reply_to, authorized, req.method.as_str()) else {
        state.lock().expect("not poisoned").refused += 1;
        return (
            401,
            vec![],
            json!({"error": {"code": "Refused"}}).to_string(),
        );
    };
    let activity: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let reply = Reply {
        at: Instant::now(),
        expected_card: activity["attachments"][0]["content"] == *card,
    };
    let mut state = state.lock().expect("not poisoned");
    state.replies.insert(reply_to, reply);
    let id = format!("sent-{}", state.replies.len());
    (200, vec![], json!({"id": id}).to_string())
}

impl ConnectorStandIn {
    /// Serves on a free port; `card` is the Adaptive Card replies should carry.
    pub async fn start(card: Value) -> Self {
        let pki = TestPki::new(&[]);
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let base = Arc::new(OnceLock::new());
        let known = base.clone();
        let (addr, task) = serve_https(&pki, move |req| {
            let base: &String = known.get().expect("set once bound");
            handle(&shared, &card, base, req)
        })
        .await;
        base.set(format!("https://{addr}")).expect("set once");
        ConnectorStandIn {
            pki,
            service_url: format!("https://{addr}/emea/"),
            login_url: format!("https://{addr}{TENANT_PATH}"),
            state,
            task,
        }
    }

    /// Replies recorded so far, by the activity they answer.
    pub fn replies(&self) -> HashMap<String, Reply> {
        self.state.lock().expect("not poisoned").replies.clone()
    }

    pub fn reply_to(&self, id: &str) -> Option<Reply> {
        self.state
            .lock()
            .expect("not poisoned")
            .replies
            .get(id)
            .copied()
    }

    /// Token requests and refused requests since the start.
    pub fn counters(&self) -> (usize, usize) {
        let state = self.state.lock().expect("not poisoned");
        (state.token_requests, state.refused)
    }
}
