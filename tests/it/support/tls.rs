//! A throw-away PKI made at test time for HTTPS stand-ins: a CA and one leaf
//! signed by it. rustls refuses a self-signed certificate used as its own CA
//! (`CaUsedAsEndEntity`), so the leaf says `CA:FALSE` and names the stand-in
//! by `IP:127.0.0.1` plus any DNS names the test routes to loopback.
//!
//! Clients trust the CA through [`TestPki::client_builder`], a reqwest
//! builder that tests hand to the Azure SDK as its transport.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TestPki {
    pub ca_pem: String,
    /// The leaf and its key as PEM, for servers that read files (such as
    /// Azurite's `--cert`/`--key`).
    #[allow(dead_code, reason = "not every test binary serves PEM files")]
    pub cert_pem: String,
    #[allow(dead_code, reason = "not every test binary serves PEM files")]
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl TestPki {
    /// A CA and a leaf for `127.0.0.1` and `dns_names`, valid from a day
    /// ago to a day ahead.
    pub fn new(dns_names: &[&str]) -> Self {
        let (yesterday, tomorrow) = validity();

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "salestim test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = yesterday;
        ca_params.not_after = tomorrow;
        let ca_key = KeyPair::generate().expect("generate CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let mut names = vec!["127.0.0.1".to_owned()];
        names.extend(dns_names.iter().map(|n| n.to_string()));
        let mut leaf_params = CertificateParams::new(names).expect("valid names");
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "salestim test server");
        leaf_params.use_authority_key_identifier_extension = true;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.not_before = yesterday;
        leaf_params.not_after = tomorrow;
        let leaf_key = KeyPair::generate().expect("generate leaf key");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("sign leaf");

        TestPki {
            ca_pem: ca_cert.pem(),
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
            cert_der: leaf.der().clone(),
            key_der: leaf_key.serialize_der(),
        }
    }

    /// Server side: the leaf and its key, HTTP/1.1 only.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("default TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .expect("leaf and key match");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Client side: trusts this CA, sends `host` to `addr` (so a real-looking
    /// host name stays on loopback; no proxy from the environment either),
    /// and gives up fast: a TLS mistake must
    /// fail the test, not look like a hang.
    pub fn client_builder(&self, host: &str, addr: SocketAddr) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("CA PEM");
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .resolve(host, addr)
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
    }
}

fn validity() -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    (now - time::Duration::days(1), now + time::Duration::days(1))
}

/// One request as an HTTPS stand-in sees it.
pub struct SeenRequest {
    pub method: String,
    /// Path and query, as sent (still percent-encoded).
    pub target: String,
    pub headers: hyper::HeaderMap,
    pub body: bytes::Bytes,
}

/// A pseudo-header a handler returns to answer only after that many
/// milliseconds (a slow service); it is not sent.
pub const DELAY_HEADER: &str = "x-test-delay-ms";

/// Serves `handler` over HTTPS with this PKI's leaf on a free loopback port,
/// until the returned task is aborted. The handler answers (status, extra
/// headers, body).
pub async fn serve_https<F>(pki: &TestPki, handler: F) -> (SocketAddr, tokio::task::JoinHandle<()>)
where
    F: Fn(SeenRequest) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync + 'static,
{
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("an address");
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config());
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            while connections.try_join_next().is_some() {}
            let (acceptor, handler) = (acceptor.clone(), handler.clone());
            connections.spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let target = parts
                                .uri
                                .path_and_query()
                                .map(|p| p.as_str().to_owned())
                                .unwrap_or_default();
                            let (status, headers, text) = handler(SeenRequest {
                                method: parts.method.to_string(),
                                target,
                                headers: parts.headers,
                                body,
                            });
                            let mut response = hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from(text),
                            ));
                            *response.status_mut() =
                                hyper::StatusCode::from_u16(status).expect("a valid status");
                            response.headers_mut().insert(
                                "content-type",
                                "application/json".parse().expect("a header value"),
                            );
                            for (name, value) in headers {
                                if name == DELAY_HEADER {
                                    // Not sent: how long to take answering.
                                    let ms = value.parse().expect("milliseconds");
                                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                                    continue;
                                }
                                response
                                    .headers_mut()
                                    .insert(name, value.parse().expect("a header value"));
                            }
                            Ok::<_, hyper::Error>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, task)
}
