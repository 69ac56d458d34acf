//! A local stand-in for the Azure Key Vault keys REST API, enough for
//! `azure_security_keyvault_keys` 1.x to wrap, unwrap and read an RSA key
//! exactly as it does against Azure:
//!
//! - HTTPS only (the leaf from [`TestPki`]), HTTP/1.1, on 127.0.0.1. The
//!   vault is addressed as `https://salestim-test.vault.azure.net:<port>`,
//!   which the client resolves to loopback: the SDK checks that the
//!   challenge's resource (`https://vault.azure.net`) is a parent domain of
//!   the vault host, so an IP address would fail that check.
//! - The challenge handshake: the SDK's first request carries no token and
//!   no body; it gets `401` with `WWW-Authenticate: Bearer authorization=...,
//!   resource="https://vault.azure.net"`, asks its credential for
//!   `https://vault.azure.net/.default` and resends with the body.
//! - `POST /keys/{name}/{version}/wrapkey` (version may be empty: latest),
//!   `POST /keys/{name}/{version}/unwrapkey`, `GET /keys/{name}[/{version}]`;
//!   `api-version` required; JSON bodies with base64url (no padding) values;
//!   RSA-OAEP-256 only; errors as `{"error":{"code","message"}}`.
//!
//! RSA keys are generated at test time (once per process: slow in debug).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_security_keyvault_keys::KeyClientOptions;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::tls::TestPki;

pub const VAULT_HOST: &str = "salestim-test.vault.azure.net";
pub const KEY_NAME: &str = "tenant-kek";
pub const TOKEN: &str = "stand-in-bearer-token";
pub const RESOURCE: &str = "https://vault.azure.net";
const CHALLENGE: &str = r#"Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net""#;

/// What the stand-in saw, for assertions about how the SDK talks to it.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Requests answered with the auth challenge, and whether each had a body.
    pub challenged: Vec<bool>,
    pub wraps: usize,
    pub unwraps: usize,
    pub gets: usize,
}

#[derive(Default)]
struct State {
    /// key name -> versions, oldest first.
    keys: HashMap<String, Vec<(String, RsaPrivateKey)>>,
    /// An operator disabled the key (every version).
    disabled: bool,
    seen: Seen,
}

pub struct KeyVaultStandIn {
    addr: SocketAddr,
    pki: Arc<TestPki>,
    state: Arc<Mutex<State>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for KeyVaultStandIn {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

impl KeyVaultStandIn {
    /// Serves one key, [`KEY_NAME`], with one version.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let pki = pki();
        let acceptor = TlsAcceptor::from(pki.server_config());
        let state = Arc::new(Mutex::new(State::default()));
        let vault_url = format!("https://{VAULT_HOST}:{}", addr.port());
        let server = tokio::spawn(serve(listener, acceptor, state.clone(), vault_url));
        let stand_in = KeyVaultStandIn {
            addr,
            pki,
            state,
            server: Some(server),
        };
        stand_in.rotate();
        stand_in
    }

    /// Closes the port and every open connection, as an outage would.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    pub fn vault_url(&self) -> String {
        format!("https://{VAULT_HOST}:{}", self.addr.port())
    }

    /// The versionless key id, as `KEYVAULT_KEY_ID` would usually be set.
    pub fn key_id(&self) -> String {
        format!("{}/keys/{KEY_NAME}", self.vault_url())
    }

    /// Adds a new version of [`KEY_NAME`] (a different RSA key), which
    /// becomes the latest; returns the versioned key id.
    pub fn rotate(&self) -> String {
        let mut state = self.state.lock().expect("stand-in lock");
        let versions = state.keys.entry(KEY_NAME.to_owned()).or_default();
        let version = uuid::Uuid::new_v4().simple().to_string();
        let key = rsa_key(versions.len()).clone();
        versions.push((version.clone(), key));
        format!("{}/keys/{KEY_NAME}/{version}", self.vault_url())
    }

    /// Disables the key, as `az keyvault key set-attributes --enabled
    /// false` does: it still reads (saying so), but refuses to wrap or
    /// unwrap.
    pub fn disable(&self) {
        self.state.lock().expect("stand-in lock").disabled = true;
    }

    pub fn seen(&self) -> Seen {
        self.state.lock().expect("stand-in lock").seen.clone()
    }

    /// Client options that reach this stand-in over TLS it trusts, with no
    /// retries so a failure shows at once.
    pub fn client_options(&self) -> KeyClientOptions {
        let http = self
            .pki
            .client_builder(VAULT_HOST, self.addr)
            .build()
            .expect("reqwest client");
        KeyClientOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(http))),
                retry: RetryOptions::none(),
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

/// The certificate and RSA keys are made once per test process.
fn pki() -> Arc<TestPki> {
    static PKI: OnceLock<Arc<TestPki>> = OnceLock::new();
    PKI.get_or_init(|| Arc::new(TestPki::new(&[VAULT_HOST])))
        .clone()
}

fn rsa_key(index: usize) -> &'static RsaPrivateKey {
    static KEYS: [OnceLock<RsaPrivateKey>; 2] = [OnceLock::new(), OnceLock::new()];
    KEYS[index % KEYS.len()].get_or_init(|| {
        RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("generate RSA key")
    })
}

/// A credential that hands out the stand-in's token and records the scopes
/// it was asked for.
#[derive(Debug, Default)]
pub struct FakeCredential {
    pub scopes: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl TokenCredential for FakeCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.scopes
            .lock()
            .expect("scopes lock")
            .extend(scopes.iter().map(|s| s.to_string()));
        Ok(AccessToken::new(
            Secret::new(TOKEN),
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}

async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<Mutex<State>>,
    vault_url: String,
) {
    let vault_url: Arc<str> = vault_url.into();
    // Connections live in this set, so aborting the server closes them too.
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((tcp, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let (acceptor, state, vault_url) = (acceptor.clone(), state.clone(), vault_url.clone());
        connections.spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let (state, vault_url) = (state.clone(), vault_url.clone());
                async move { Ok::<_, hyper::Error>(handle(req, &state, &vault_url).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    state: &Mutex<State>,
    vault_url: &str,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "BadParameter", "unreadable body"),
    };
    let authorized = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {TOKEN}").as_str());
    if !authorized {
        state
            .lock()
            .expect("stand-in lock")
            .seen
            .challenged
            .push(!body.is_empty());
        let mut rsp = error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
        );
        rsp.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            CHALLENGE.parse().expect("header value"),
        );
        return rsp;
    }
    if !parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|p| p.starts_with("api-version=") && p.len() > 12)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The 'api-version' query parameter is required.",
        );
    }
    // "/keys/{name}", "/keys/{name}/{version}", "/keys/{name}/{version}/{op}";
    // the version is empty ("//") when the SDK means the latest.
    let segments: Vec<&str> = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .collect();
    let (name, version, op) = match segments.as_slice() {
        ["keys", name] => (*name, "", None),
        ["keys", name, version] => (*name, *version, None),
        ["keys", name, version, op] => (*name, *version, Some(*op)),
        _ => return error(StatusCode::NOT_FOUND, "NotFound", "no such path"),
    };
    let mut state = state.lock().expect("stand-in lock");
    let found = state.keys.get(name).and_then(|versions| {
        if version.is_empty() {
            versions.last()
        } else {
            versions.iter().find(|(v, _)| v == version)
        }
    });
    let Some((version, key)) = found.cloned() else {
        let msg = format!("A key with (name/id) {name}/{version} was not found in this key vault.");
        return error(StatusCode::NOT_FOUND, "KeyNotFound", &msg);
    };
    let kid = format!("{vault_url}/keys/{name}/{version}");
    match (&parts.method, op) {
        (&Method::GET, None) => {
            state.seen.gets += 1;
            let public = key.to_public_key();
            ok(json!({
                "key": {
                    "kid": kid,
                    "kty": "RSA",
                    "key_ops": ["wrapKey", "unwrapKey"],
                    "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                    "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
                },
                "attributes": { "enabled": !state.disabled, "recoveryLevel": "Recoverable+Purgeable" },
            }))
        }
        (&Method::POST, Some(op @ ("wrapkey" | "unwrapkey"))) if state.disabled => {
            let msg = format!("Operation {op} is not allowed on a disabled key.");
            error(StatusCode::FORBIDDEN, "Forbidden", &msg)
        }
        (&Method::POST, Some(op @ ("wrapkey" | "unwrapkey"))) => {
            let Some(value) = operation_value(&body) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    "expected {\"alg\":\"RSA-OAEP-256\",\"value\":...}",
                );
            };
            let result = if op == "wrapkey" {
                state.seen.wraps += 1;
                key.to_public_key()
                    .encrypt(&mut rand::thread_rng(), Oaep::new::<sha2::Sha256>(), &value)
                    .map_err(|e| e.to_string())
            } else {
                state.seen.unwraps += 1;
                key.decrypt(Oaep::new::<sha2::Sha256>(), &value)
                    .map_err(|e| e.to_string())
            };
            match result {
                Ok(out) => ok(json!({ "kid": kid, "value": URL_SAFE_NO_PAD.encode(out) })),
                Err(e) => error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    &format!("Bad Request: {e}"),
                ),
            }
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "BadParameter",
            "unsupported operation",
        ),
    }
}

/// The `value` of an RSA-OAEP-256 key operation body.
fn operation_value(body: &[u8]) -> Option<Vec<u8>> {
    let json: Value = serde_json::from_slice(body).ok()?;
    if json.get("alg")?.as_str()? != "RSA-OAEP-256" {
        return None;
    }
    URL_SAFE_NO_PAD
        .decode(json.get("value")?.as_str()?.trim_end_matches('='))
        .ok()
}

fn ok(body: Value) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, body)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        json!({ "error": { "code": code, "message": message } }),
    )
}

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(
            hyper::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .header("x-ms-keyvault-service-version", "1.9.0.0")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}
