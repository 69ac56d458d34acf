//! [`Keys`] on an Azure Key Vault RSA key (`KEYVAULT_KEY_ID`), with the
//! official `azure_security_keyvault_keys` client: the key-encryption key
//! never leaves the vault; we only send data keys to wrap and unwrap with
//! RSA-OAEP-256.
//!
//! Wrapping uses the configured key version, or the latest one when the key
//! id has none; the vault answers with the exact versioned key id, which is
//! recorded in [`WrappedKey::key_id`]. Unwrapping always uses that recorded
//! version, so data keys wrapped before a rotation still open. A recorded id
//! pointing at another vault is refused, so stored data cannot make us send
//! tokens or key material elsewhere.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_security_keyvault_keys::models::{
    EncryptionAlgorithm, Key, KeyClientGetKeyOptions, KeyClientWrapKeyOptions,
    KeyOperationParameters, KeyOperationResult,
};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions, ResourceId};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{Keys, WrappedKey};
use crate::platform::{PlatformError, PlatformResult};

const SERVICE: &str = "key vault";
pub const ALGORITHM: &str = "RSA-OAEP-256";

pub struct KeyVaultKeys {
    client: KeyClient,
    vault_url: String,
    key_name: String,
    key_version: Option<String>,
}

impl std::fmt::Debug for KeyVaultKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVaultKeys")
            .field("vault_url", &self.vault_url)
            .field("key_name", &self.key_name)
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

/// The parts of a key id we use, checked to be plain names so they can go
/// into a request path as they are.
struct KeyRef {
    vault_url: String,
    name: String,
    version: Option<String>,
}

fn parse_key_id(key_id: &str) -> Option<KeyRef> {
    let id: ResourceId = key_id.trim().parse().ok()?;
    let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !id.vault_url.starts_with("https://") || !plain(&id.name) {
        return None;
    }
    if id.version.as_deref().is_some_and(|v| !plain(v)) {
        return None;
    }
    Some(KeyRef {
        vault_url: id.vault_url,
        name: id.name,
        version: id.version,
    })
}

impl KeyVaultKeys {
    /// `key_id` is `https://<vault>/keys/<name>[/<version>]`. Without a
    /// version, new data keys are wrapped with the latest one. `options`
    /// carries the transport and retry policy (tests point them at a local
    /// stand-in).
    pub fn new(
        key_id: &str,
        credential: Arc<dyn TokenCredential>,
        options: Option<KeyClientOptions>,
    ) -> PlatformResult<Self> {
        let key = parse_key_id(key_id).ok_or_else(|| {
            PlatformError::Invalid(
                "KEYVAULT_KEY_ID must look like https://<vault>/keys/<name>[/<version>]".into(),
            )
        })?;
        let client = KeyClient::new(&key.vault_url, credential, options)
            .map_err(|e| PlatformError::Invalid(format!("KEYVAULT_KEY_ID: {e}")))?;
        Ok(KeyVaultKeys {
            client,
            vault_url: key.vault_url,
            key_name: key.name,
            key_version: key.version,
        })
    }

    fn params(
        value: Vec<u8>,
    ) -> PlatformResult<azure_core::http::RequestContent<KeyOperationParameters>> {
        KeyOperationParameters {
            algorithm: Some(EncryptionAlgorithm::RsaOaep256),
            value: Some(value),
            ..Default::default()
        }
        .try_into()
        .map_err(|e| PlatformError::backend(SERVICE, e))
    }
}

fn result_bytes(result: KeyOperationResult) -> PlatformResult<(Option<String>, Vec<u8>)> {
    let value = result
        .result
        .ok_or_else(|| PlatformError::backend(SERVICE, "the answer has no value"))?;
    Ok((result.kid, value))
}

#[async_trait]
impl Keys for KeyVaultKeys {
    async fn wrap(&self, data_key: &[u8]) -> PlatformResult<WrappedKey> {
        let options = KeyClientWrapKeyOptions {
            key_version: self.key_version.clone(),
            ..Default::default()
        };
        let result = self
            .client
            .wrap_key(
                &self.key_name,
                Self::params(data_key.to_vec())?,
                Some(options),
            )
            .await
            .map_err(map_error)?
            .into_model()
            .map_err(|e| PlatformError::backend(SERVICE, e))?;
        let (kid, value) = result_bytes(result)?;
        // Without the exact version we could not unwrap after a rotation.
        let kid = kid
            .filter(|kid| {
                parse_key_id(kid)
                    .is_some_and(|k| k.vault_url == self.vault_url && k.version.is_some())
            })
            .ok_or_else(|| {
                PlatformError::backend(
                    SERVICE,
                    "wrap answer lacks a versioned key id of this vault",
                )
            })?;
        Ok(WrappedKey {
            key_id: kid,
            algorithm: ALGORITHM.to_owned(),
            value: STANDARD.encode(value),
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> PlatformResult<Vec<u8>> {
        let key = parse_key_id(&wrapped.key_id).ok_or_else(|| {
            PlatformError::Invalid(format!("not a Key Vault key id: {:?}", wrapped.key_id))
        })?;
        if key.vault_url != self.vault_url {
            return Err(PlatformError::Invalid(format!(
                "data key was wrapped in another vault ({})",
                key.vault_url
            )));
        }
        let Some(version) = key.version else {
            return Err(PlatformError::Invalid(
                "wrapped key id has no key version".into(),
            ));
        };
        if wrapped.algorithm != ALGORITHM {
            return Err(PlatformError::Invalid(format!(
                "unsupported wrapping algorithm {:?}",
                wrapped.algorithm
            )));
        }
        let value = STANDARD
            .decode(&wrapped.value)
            .map_err(|_| PlatformError::Invalid("wrapped key is not valid base64".into()))?;
        let result = self
            .client
            .unwrap_key(&key.name, &version, Self::params(value)?, None)
            .await
            .map_err(map_error)?
            .into_model()
            .map_err(|e| PlatformError::backend(SERVICE, e))?;
        Ok(result_bytes(result)?.1)
    }

    /// Reads the key's public part: proves the vault answers, the token is
    /// accepted and the key exists (needs the `keys/get` permission, which
    /// the "Key Vault Crypto User" role has), and that the key can still
    /// wrap and unwrap ([`usable`]): a disabled or expired key answers a
    /// read but refuses every unwrap, so every tenant's secrets stay shut.
    async fn ping(&self) -> PlatformResult<()> {
        let options = KeyClientGetKeyOptions {
            key_version: self.key_version.clone(),
            ..Default::default()
        };
        let key: Key = self
            .client
            .get_key(&self.key_name, Some(options))
            .await
            .map_err(map_error)?
            .into_model()
            .map_err(|e| PlatformError::backend(SERVICE, e))?;
        usable(&key, time::OffsetDateTime::now_utc())
            .map_err(|why| PlatformError::backend(SERVICE, format!("the key {why}")))
    }
}

/// Whether the vault would let this key wrap and unwrap at `now`: enabled,
/// inside its activation and expiry dates, and (when it lists its
/// operations) allowed both.
fn usable(key: &Key, now: time::OffsetDateTime) -> Result<(), &'static str> {
    if let Some(a) = &key.attributes {
        if a.enabled == Some(false) {
            return Err("is disabled");
        }
        if a.not_before.is_some_and(|t| t > now) {
            return Err("is not active yet");
        }
        if a.expires.is_some_and(|t| t <= now) {
            return Err("has expired");
        }
    }
    if let Some(ops) = key.key.as_ref().and_then(|k| k.key_ops.as_ref())
        && !(ops.iter().any(|o| o == "wrapKey") && ops.iter().any(|o| o == "unwrapKey"))
    {
        return Err("may not wrap and unwrap (key_ops)");
    }
    Ok(())
}

fn map_error(err: azure_core::Error) -> PlatformError {
    match err.kind() {
        ErrorKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } => {
            let status = u16::from(*status);
            let code = error_code.as_deref().unwrap_or("unknown");
            let retry_after = raw_response
                .as_ref()
                .and_then(|r| {
                    r.headers()
                        .get_optional_str(&azure_core::http::headers::RETRY_AFTER)
                })
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            match status {
                404 => PlatformError::NotFound,
                400 => PlatformError::Invalid(format!("Key Vault rejected the request ({code})")),
                429 | 503 if retry_after.is_some() => PlatformError::Throttled {
                    service: SERVICE,
                    retry_after,
                },
                500..=599 => PlatformError::unavailable(SERVICE, format!("HTTP {status} ({code})")),
                _ => PlatformError::backend(SERVICE, format!("HTTP {status} ({code})")),
            }
        }
        ErrorKind::Connection | ErrorKind::Io => PlatformError::unavailable(SERVICE, err),
        _ => PlatformError::backend(SERVICE, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_usable_only_enabled_in_its_dates_and_allowed_to_wrap() {
        let now = time::macros::datetime!(2026-12-02 12:00 UTC);
        let key = |json: serde_json::Value| -> Key { serde_json::from_value(json).unwrap() };
        let ok = key(
            serde_json::json!({"attributes": {"enabled": true, "exp": now.unix_timestamp() + 60},
            "key": {"kty": "RSA", "key_ops": ["wrapKey", "unwrapKey", "encrypt"]}}),
        );
        assert_eq!(usable(&ok, now), Ok(()));
        assert_eq!(usable(&key(serde_json::json!({})), now), Ok(()));
        for (json, why) in [
            (
                serde_json::json!({"attributes": {"enabled": false}}),
                "is disabled",
            ),
            (
                serde_json::json!({"attributes": {"exp": now.unix_timestamp()}}),
                "has expired",
            ),
            (
                serde_json::json!({"attributes": {"nbf": now.unix_timestamp() + 1}}),
                "is not active yet",
            ),
            (
                serde_json::json!({"key": {"kty": "RSA", "key_ops": ["encrypt", "decrypt"]}}),
                "may not wrap and unwrap (key_ops)",
            ),
        ] {
            assert_eq!(usable(&key(json), now), Err(why));
        }
    }

    #[test]
    fn key_ids_are_https_urls_of_plain_names() {
        let k = parse_key_id("https://v.vault.azure.net/keys/kek/0123abcd").unwrap();
        assert_eq!(k.vault_url, "https://v.vault.azure.net");
        assert_eq!(k.name, "kek");
        assert_eq!(k.version.as_deref(), Some("0123abcd"));
        assert!(
            parse_key_id("https://v.vault.azure.net/keys/kek").is_some_and(|k| k.version.is_none())
        );
        for bad in [
            "http://v.vault.azure.net/keys/kek",
            "https://v.vault.azure.net/secrets/kek",
            "https://v.vault.azure.net/keys/",
            "https://v.vault.azure.net/keys/k%2Fek",
            "local:0123abcd",
        ] {
            assert!(parse_key_id(bad).is_none(), "{bad}");
        }
    }
}
