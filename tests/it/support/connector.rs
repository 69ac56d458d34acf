//! A Bot Connector and its token endpoint on 127.0.0.1 over HTTPS (as
//! `bot.test`): it issues tokens for the right secret, records every activity
//! the bot sends, and answers 429s and 500s on demand. Like the real one it
//! refuses a request without the bot's token, unless started as the local
//! connector of a test tool (Agents Playground, Emulator), which takes them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::tls::{DELAY_HEADER, SeenRequest, TestPki, serve_https};

pub const APP_ID: &str = "5f6d1e0a-1111-4d5b-9c55-0123456789ab";
pub const SECRET: &str = "test-bot-secret-made-at-test-time";
const HOST: &str = "bot.test";

#[derive(Debug, Clone)]
pub struct Sent {
    pub method: String,
    pub path: String,
    pub authorization: String,
    pub activity: Value,
}

#[derive(Default)]
struct State {
    /// Take activities sent without a token.
    anonymous: bool,
    token_requests: usize,
    /// The path of each token request (the authority it names).
    token_paths: Vec<String>,
    sent: Vec<Sent>,
    /// Status and Retry-After (seconds) to answer before succeeding again.
    failures: VecDeque<(u16, Option<u64>)>,
    /// Milliseconds to take over each of the next activities (taken anyway).
    delays: VecDeque<u64>,
}

pub struct ConnectorStandIn {
    pub service_url: String,
    pub login_url: url::Url,
    pub client: reqwest::Client,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConnectorStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn handle(state: &Mutex<State>, req: SeenRequest) -> (u16, Vec<(&'static str, String)>, String) {
    let mut state = state.lock().unwrap();
    if req.target.ends_with("/oauth2/v2.0/token") {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        state.token_requests += 1;
        state.token_paths.push(req.target.clone());
        if get("grant_type") != Some("client_credentials")
            || get("client_id") != Some(APP_ID)
            || get("client_secret") != Some(SECRET)
        {
            return (401, vec![], json!({"error": "invalid_client"}).to_string());
        }
        if get("scope") != Some("https://api.botframework.com/.default") {
            return (400, vec![], json!({"error": "invalid_scope"}).to_string());
        }
        let token = format!("tok-{}", state.token_requests);
        return (
            200,
            vec![],
            json!({"token_type": "Bearer", "access_token": token, "expires_in": 3599}).to_string(),
        );
    }
    let authorization = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let admitted =
        authorization.starts_with("Bearer tok-") || (state.anonymous && authorization.is_empty());
    if !admitted {
        return (
            401,
            vec![],
            json!({"error": {"code": "Unauthorized"}}).to_string(),
        );
    }
    if let Some((status, retry_after)) = state.failures.pop_front() {
        let headers = retry_after
            .map(|s| vec![("retry-after", s.to_string())])
            .unwrap_or_default();
        return (
            status,
            headers,
            json!({"error": {"code": "Throttled"}}).to_string(),
        );
    }
    let activity: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    state.sent.push(Sent {
        method: req.method,
        path: req.target,
        authorization,
        activity,
    });
    let delay = state
        .delays
        .pop_front()
        .map(|ms| vec![(DELAY_HEADER, ms.to_string())])
        .unwrap_or_default();
    (
        200,
        delay,
        json!({"id": format!("act-{}", state.sent.len())}).to_string(),
    )
}

impl ConnectorStandIn {
    pub async fn start() -> Self {
        Self::start_with(State::default()).await
    }

    /// A connector that also takes activities sent without a token, as the
    /// local test tools do for a bot whose authentication is disabled.
    pub async fn start_accepting_anonymous() -> Self {
        Self::start_with(State {
            anonymous: true,
            ..State::default()
        })
        .await
    }

    async fn start_with(state: State) -> Self {
        let pki = TestPki::new(&[HOST]);
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        let (addr, task) = serve_https(&pki, move |req| handle(&shared, req)).await;
        let client = pki.client_builder(HOST, addr).build().expect("a client");
        ConnectorStandIn {
            service_url: format!("https://{HOST}:{}/emea/", addr.port()),
            login_url: url::Url::parse(&format!("https://{HOST}:{}/botframework.com", addr.port()))
                .unwrap(),
            client,
            state,
            task,
        }
    }

    pub fn fail_next(&self, status: u16, retry_after: Option<u64>) {
        self.state
            .lock()
            .unwrap()
            .failures
            .push_back((status, retry_after));
    }

    /// Takes the next activity, but answers only after `ms` milliseconds.
    pub fn slow_next(&self, ms: u64) {
        self.state.lock().unwrap().delays.push_back(ms);
    }

    /// Everything the bot sent (and the Connector took), in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.state.lock().unwrap().sent.clone()
    }

    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests
    }

    pub fn token_paths(&self) -> Vec<String> {
        self.state.lock().unwrap().token_paths.clone()
    }

    /// `https://bot.test:<port>`: an authority host whose token endpoint is
    /// this stand-in's.
    pub fn authority_host(&self) -> url::Url {
        let mut host = self.login_url.clone();
        host.set_path("");
        host
    }
}
