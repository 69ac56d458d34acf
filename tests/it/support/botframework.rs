//! A Bot Framework channel stand-in on 127.0.0.1: OpenID metadata and a JWKS
//! (keys generated at test time, with `endorsements`), and a token minter
//! that signs like the channel does. It counts key-set fetches, and can hold
//! them on the wire until told to answer ([`Channel::hold_keys`]), to show
//! what happens while a refresh is in flight. The same
//! server stands in for Entra ID's OpenID configuration of one tenant
//! ([`Channel::start_entra`]), whose keys carry no `endorsements`.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use tokio::sync::watch;
use url::Url;
use warp::Filter;

pub const ISSUER: &str = "https://api.botframework.com";

/// Entra ID's v2.0 and v1.0 token issuers for `tenant`.
pub fn entra_issuers(tenant: &str) -> [String; 2] {
    [
        format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        format!("https://sts.windows.net/{tenant}/"),
    ]
}

pub struct ChannelKey {
    pub kid: String,
    pub private: RsaPrivateKey,
    /// `None`: an Entra ID key, published without `endorsements`.
    pub endorsements: Option<Vec<String>>,
}

impl ChannelKey {
    pub fn generate(kid: &str, endorsements: &[&str]) -> Self {
        let mut key = Self::entra(kid);
        key.endorsements = Some(endorsements.iter().map(|s| s.to_string()).collect());
        key
    }

    /// A key as Entra ID publishes it: no `endorsements`.
    pub fn entra(kid: &str) -> Self {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("an RSA key");
        ChannelKey {
            kid: kid.into(),
            private,
            endorsements: None,
        }
    }

    pub fn public(&self) -> RsaPublicKey {
        self.private.to_public_key()
    }

    /// The public key as a JWKS entry.
    pub fn jwk(&self) -> Value {
        let public = self.public();
        let mut jwk = json!({"kty": "RSA", "use": "sig", "kid": self.kid, "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
               "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be())});
        if let Some(endorsements) = &self.endorsements {
            jwk["endorsements"] = json!(endorsements);
        }
        jwk
    }

    /// Signs `claims` with this key (RS256), as the channel does.
    pub fn sign(&self, claims: &Value) -> String {
        let pem = self
            .private
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .expect("PEM");
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("an RSA signing key");
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &key).expect("signs")
    }
}

pub struct Channel {
    pub metadata_url: Url,
    pub keys: Arc<Mutex<Vec<Value>>>,
    pub key_fetches: Arc<AtomicUsize>,
    /// `true`: key-set requests wait (counted on arrival) until released.
    hold: watch::Sender<bool>,
    _stop: watch::Sender<bool>,
}

impl Channel {
    /// The Bot Framework channel's OpenID metadata and keys.
    pub async fn start(keys: &[&ChannelKey]) -> Channel {
        Self::serve(ISSUER.to_owned(), keys).await
    }

    /// Entra ID's OpenID configuration and keys for `tenant`.
    pub async fn start_entra(tenant: &str, keys: &[&ChannelKey]) -> Channel {
        let [v2, _] = entra_issuers(tenant);
        Self::serve(v2, keys).await
    }

    async fn serve(issuer: String, keys: &[&ChannelKey]) -> Channel {
        let jwks = Arc::new(Mutex::new(keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let jwks_uri = format!("{base}/keys");
        let metadata = warp::path("openid").map(move || warp::reply::json(&json!({"issuer": issuer, "jwks_uri": jwks_uri, "id_token_signing_alg_values_supported": ["RS256"]})));
        let served = jwks.clone();
        let counter = fetches.clone();
        let (hold, held) = watch::channel(false);
        let keys_route = warp::path("keys").then(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let served = served.clone();
            let mut held = held.clone();
            async move {
                // Answers with the keys published when it is let go.
                let _ = held.wait_for(|hold| !*hold).await;
                warp::reply::json(&json!({"keys": served.lock().unwrap().clone()}))
            }
        });
        let (stop, rx) = watch::channel(false);
        let (_, server) = salestim::server::serve_filter(
            metadata.or(keys_route),
            format!("127.0.0.1:{port}").parse().unwrap(),
            rx,
        )
        .expect("binds");
        tokio::spawn(server);
        Channel {
            metadata_url: Url::parse(&format!("{base}/openid")).unwrap(),
            keys: jwks,
            key_fetches: fetches,
            hold,
            _stop: stop,
        }
    }

    pub fn publish(&self, key: &ChannelKey) {
        self.keys.lock().unwrap().push(key.jwk());
    }

    /// Key-set requests from now on wait until [`Channel::release_keys`].
    pub fn hold_keys(&self) {
        self.hold.send_replace(true);
    }

    pub fn release_keys(&self) {
        self.hold.send_replace(false);
    }

    pub fn fetches(&self) -> usize {
        self.key_fetches.load(Ordering::SeqCst)
    }
}
