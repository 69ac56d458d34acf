//! A second Azurite that takes Entra ID bearer tokens over HTTPS (`--oauth
//! basic`): the production authorisation path, which the SDK only allows
//! over https.
//!
//! Certificates are made at start: a CA, and a leaf for `127.0.0.1` signed
//! by it (rustls refuses a self-signed certificate used as its own CA).
//! Azurite checks a token's issuer, audience and lifetime, not its
//! signature, so [`TestTokenCredential`] mints unsigned JWTs.

use std::ffi::OsStr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::ClientOptions;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use salestim::platform::storage_account::{DEV_ACCOUNT_NAME, StorageAccount};
use time::OffsetDateTime;

use super::azurite::{client_options_for, launch, workspace};

pub struct AzuriteOauth {
    pub blob_port: u16,
    pub queue_port: u16,
    ca_pem: String,
}

/// The one OAuth Azurite of this test process, started on first use.
pub fn azurite_oauth() -> &'static AzuriteOauth {
    static AZURITE: OnceLock<Result<AzuriteOauth, String>> = OnceLock::new();
    match AZURITE.get_or_init(start) {
        Ok(azurite) => azurite,
        Err(message) => panic!("{message}"),
    }
}

impl AzuriteOauth {
    /// The default emulator account, reached with bearer tokens only.
    pub fn account(&self, credential: TestTokenCredential) -> StorageAccount {
        StorageAccount::with_credential(
            &format!("https://127.0.0.1:{}/{DEV_ACCOUNT_NAME}", self.blob_port),
            &format!("https://127.0.0.1:{}/{DEV_ACCOUNT_NAME}", self.queue_port),
            Arc::new(credential),
        )
        .expect("https service URIs")
    }

    /// Test client options whose transport trusts the test CA.
    pub fn client_options(&self) -> ClientOptions {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("the test CA");
        client_options_for(reqwest::Client::builder().tls_certs_merge([ca]))
    }
}

fn start() -> Result<AzuriteOauth, String> {
    let dir = workspace()?;
    let failed = |e: rcgen::Error| format!("test certificate: {e}");

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "salestim test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(failed)?)
        .map_err(failed)?;

    let mut leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).map_err(failed)?;
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let leaf_key = KeyPair::generate().map_err(failed)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(failed)?;

    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, leaf.pem()).map_err(|e| format!("writing cert.pem: {e}"))?;
    std::fs::write(&key_path, leaf_key.serialize_pem())
        .map_err(|e| format!("writing key.pem: {e}"))?;

    let extra = [
        OsStr::new("--oauth"),
        OsStr::new("basic"),
        OsStr::new("--cert"),
        cert_path.as_os_str(),
        OsStr::new("--key"),
        key_path.as_os_str(),
    ];
    let (blob_port, queue_port) = launch(&dir, &extra, None)?;
    Ok(AzuriteOauth {
        blob_port,
        queue_port,
        ca_pem: ca.pem(),
    })
}

/// Mints an unsigned JWT for `https://storage.azure.com`, as Entra ID would
/// for a managed identity; `expired` makes one whose lifetime has passed
/// (while claiming otherwise to the SDK, so it is sent).
#[derive(Debug, Clone, Copy, Default)]
pub struct TestTokenCredential {
    pub expired: bool,
}

#[async_trait]
impl TokenCredential for TestTokenCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        assert_eq!(scopes, ["https://storage.azure.com/.default"]);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let (nbf, exp) = if self.expired {
            (now - 7200, now - 3600)
        } else {
            (now - 60, now + 3600)
        };
        let claims = serde_json::json!({
            "aud": "https://storage.azure.com",
            "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
            "iat": nbf,
            "nbf": nbf,
            "exp": exp,
            "oid": "11059fcc-5514-4800-b5f8-49808b9cfab6",
            "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        });
        let part = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let token = format!(
            "{}.{}.{}",
            part(&serde_json::json!({"alg": "RS256", "typ": "JWT"})),
            part(&claims),
            URL_SAFE_NO_PAD.encode(b"not-a-signature")
        );
        Ok(AccessToken::new(
            Secret::new(token),
            OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}
