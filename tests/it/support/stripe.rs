//! Stripe's Checkout Sessions API on 127.0.0.1, as far as SalesTim uses it:
//! `POST /v1/checkout/sessions`, form-encoded (nested fields as
//! `line_items[0][price]`), authenticated by a secret key as a bearer token
//! (made at test time), with Stripe's error shape
//! (`{"error": {"type", "code", "message", "param"}}`) and its idempotency
//! rule: the same `Idempotency-Key` with the same parameters answers the same
//! session, with other parameters a 400 `idempotency_error`. Also
//! `POST /v1/billing_portal/sessions` (Customer Portal), for customers the
//! test declares ([`StripeStandIn::add_customer`]); another customer gets
//! Stripe's 400 `resource_missing`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use serde_json::{Value, json};

/// One Checkout Session the stand-in made, with what it was asked.
#[derive(Clone, Debug)]
pub struct SeenSession {
    pub id: String,
    pub form: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
}

impl SeenSession {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    sessions: Vec<SeenSession>,
    /// Idempotency-Key -> (form, answer).
    replays: HashMap<String, (Vec<(String, String)>, Value)>,
    requests: usize,
    customers: Vec<String>,
    portals: Vec<SeenSession>,
}

pub struct StripeStandIn {
    /// What `STRIPE_API_BASE` is set to.
    pub base_url: url::Url,
    /// The secret key it takes (`sk_test_...`, random per test).
    pub api_key: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StripeStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn error(status: u16, kind: &str, code: &str, param: Option<&str>, message: &str) -> (u16, String) {
    (
        status,
        json!({"error": {"type": kind, "code": code, "param": param, "message": message}})
            .to_string(),
    )
}

/// Stripe's answer to a body that is not form-encoded, if it is not.
fn not_form_encoded(headers: &hyper::HeaderMap) -> Option<(u16, String)> {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    (!form).then(|| {
        error(
            400,
            "invalid_request_error",
            "parameter_invalid",
            None,
            "Stripe takes form-encoded bodies",
        )
    })
}

fn handle(
    state: &Mutex<State>,
    key: &str,
    prices: &[String],
    method: &str,
    path: &str,
    headers: &hyper::HeaderMap,
    body: &[u8],
) -> (u16, String) {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let mut state = state.lock().unwrap();
    state.requests += 1;
    if header("authorization") != Some(&format!("Bearer {key}")) {
        return error(
            401,
            "invalid_request_error",
            "api_key_invalid",
            None,
            "Invalid API Key provided",
        );
    }
    if (method, path) == ("POST", "/v1/billing_portal/sessions") {
        return portal(&mut state, headers, body);
    }
    if (method, path) != ("POST", "/v1/checkout/sessions") {
        return error(
            404,
            "invalid_request_error",
            "resource_missing",
            None,
            "Unrecognized request URL",
        );
    }
    if let Some(refused) = not_form_encoded(headers) {
        return refused;
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let idempotency_key = header("idempotency-key").map(str::to_owned);
    if let Some(k) = &idempotency_key
        && let Some((earlier, answer)) = state.replays.get(k)
    {
        if earlier == &form {
            return (200, answer.to_string());
        }
        return error(
            400,
            "idempotency_error",
            "idempotency_key_in_use",
            None,
            "Keys for idempotent requests can only be used with the same parameters they were first used with",
        );
    }
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("mode") != Some("subscription") {
        return error(
            400,
            "invalid_request_error",
            "parameter_missing",
            Some("mode"),
            "Missing required param: mode.",
        );
    }
    for required in ["success_url", "line_items[0][price]"] {
        if get(required).is_none_or(str::is_empty) {
            return error(
                400,
                "invalid_request_error",
                "parameter_missing",
                Some(required),
                &format!("Missing required param: {required}."),
            );
        }
    }
    let price = get("line_items[0][price]").unwrap_or_default();
    if !prices.iter().any(|p| p == price) {
        return error(
            400,
            "invalid_request_error",
            "resource_missing",
            Some("line_items[0][price]"),
            &format!("No such price: '{price}'"),
        );
    }
    let quantity = get("line_items[0][quantity]").and_then(|q| q.parse::<u64>().ok());
    if quantity.is_none_or(|q| q < 1) {
        return error(
            400,
            "invalid_request_error",
            "parameter_invalid_integer",
            Some("line_items[0][quantity]"),
            "Invalid integer",
        );
    }
    for url in ["success_url", "cancel_url"] {
        if let Some(u) = get(url)
            && url::Url::parse(u).is_err()
        {
            return error(
                400,
                "invalid_request_error",
                "url_invalid",
                Some(url),
                "Not a valid URL",
            );
        }
    }
    let id = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_owned(), Value::String(v.clone())))
        })
        .collect();
    let answer = json!({
        "id": id, "object": "checkout.session", "mode": "subscription", "status": "open",
        "payment_status": "unpaid", "livemode": false, "customer": null, "subscription": null,
        "client_reference_id": get("client_reference_id"), "metadata": metadata,
        "success_url": get("success_url"), "cancel_url": get("cancel_url"),
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
    });
    state.sessions.push(SeenSession {
        id,
        form: form.clone(),
        idempotency_key: idempotency_key.clone(),
    });
    if let Some(k) = idempotency_key {
        state.replays.insert(k, (form, answer.clone()));
    }
    (200, answer.to_string())
}

/// A Customer Portal session for a known customer.
fn portal(state: &mut State, headers: &hyper::HeaderMap, body: &[u8]) -> (u16, String) {
    let form_encoded = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return error(
            400,
            "invalid_request_error",
            "parameter_invalid",
            None,
            "Stripe takes form-encoded bodies",
        );
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let Some(customer) = get("customer").filter(|c| !c.is_empty()) else {
        return error(
            400,
            "invalid_request_error",
            "parameter_missing",
            Some("customer"),
            "Missing required param: customer.",
        );
    };
    if !state.customers.contains(&customer) {
        return error(
            400,
            "invalid_request_error",
            "resource_missing",
            Some("customer"),
            &format!("No such customer: '{customer}'"),
        );
    }
    if let Some(u) = get("return_url")
        && url::Url::parse(&u).is_err()
    {
        return error(
            400,
            "invalid_request_error",
            "url_invalid",
            Some("return_url"),
            "Not a valid URL",
        );
    }
    let id = format!("bps_{}", uuid::Uuid::new_v4().simple());
    let answer = json!({
        "id": id, "object": "billing_portal.session", "customer": customer, "livemode": false,
        "return_url": get("return_url"), "url": format!("https://billing.stripe.com/p/session/test_{id}"),
    });
    state.portals.push(SeenSession {
        id,
        form,
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    (200, answer.to_string())
}

impl StripeStandIn {
    /// Starts the stand-in knowing these Price ids.
    pub async fn start(prices: &[&str]) -> StripeStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr: SocketAddr = listener.local_addr().expect("an address");
        let api_key = format!("sk_test_{}", uuid::Uuid::new_v4().simple());
        let prices: Vec<String> = prices.iter().map(|p| p.to_string()).collect();
        let state = Arc::new(Mutex::new(State::default()));
        let (key, known, shared) = (api_key.clone(), prices.clone(), state.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                let (key, known, shared) = (key.clone(), known.clone(), shared.clone());
                connections.spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (key, known, shared) = (key.clone(), known.clone(), shared.clone());
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|c| c.to_bytes())
                                    .unwrap_or_default();
                                let (status, text) = handle(
                                    &shared,
                                    &key,
                                    &known,
                                    parts.method.as_str(),
                                    parts.uri.path(),
                                    &parts.headers,
                                    &body,
                                );
                                let mut response = hyper::Response::new(http_body_util::Full::new(
                                    bytes::Bytes::from(text),
                                ));
                                *response.status_mut() =
                                    hyper::StatusCode::from_u16(status).expect("a valid status");
                                response.headers_mut().insert(
                                    "content-type",
                                    "application/json".parse().expect("a header value"),
                                );
                                Ok::<_, hyper::Error>(response)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        StripeStandIn {
            base_url: url::Url::parse(&format!("http://{addr}/")).expect("a URL"),
            api_key,
            state,
            task,
        }
    }

    /// Every session made so far, oldest first.
    pub fn sessions(&self) -> Vec<SeenSession> {
        self.state.lock().unwrap().sessions.clone()
    }

    /// Lets `customer` open Customer Portal sessions.
    pub fn add_customer(&self, customer: &str) {
        self.state
            .lock()
            .unwrap()
            .customers
            .push(customer.to_owned());
    }

    /// Every Customer Portal session made so far, oldest first.
    pub fn portals(&self) -> Vec<SeenSession> {
        self.state.lock().unwrap().portals.clone()
    }

    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }
}
