//! [`Keys`] with a key-encryption key taken from the `SALESTIM_LOCAL_KEK`
//! setting (base64 of 32 bytes), for `handler local` and single-machine runs
//! without Key Vault.
//!
//! Wrapping is AES-256-GCM with a random 96-bit nonce; the stored value is
//! `nonce || ciphertext || tag`. The key id (`local:` and 8 hex digits of the
//! key's SHA-256) is bound as associated data, so a value wrapped under one
//! local key is refused by another instead of decrypting to garbage.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroizing;
use sha2::{Digest, Sha256};

use super::{Keys, WrappedKey};
use crate::platform::{PlatformError, PlatformResult};

pub const ALGORITHM: &str = "A256GCM";
const SETTING: &str = "SALESTIM_LOCAL_KEK";
const NONCE_LEN: usize = 12;

pub struct LocalKeys {
    cipher: Aes256Gcm,
    key_id: String,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeys")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl LocalKeys {
    /// `kek` is the base64 (standard) of exactly 32 bytes.
    pub fn from_base64(kek: &str) -> PlatformResult<Self> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(kek.trim())
                .map_err(|_| PlatformError::Invalid(format!("{SETTING} is not valid base64")))?,
        );
        if bytes.len() != 32 {
            return Err(PlatformError::Invalid(format!(
                "{SETTING} must be 32 bytes (base64), got {}",
                bytes.len()
            )));
        }
        let digest = Sha256::digest(bytes.as_slice());
        let key_id = format!("local:{}", hex::encode(&digest[..4]));
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes));
        Ok(LocalKeys { cipher, key_id })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[async_trait]
impl Keys for LocalKeys {
    async fn wrap(&self, data_key: &[u8]) -> PlatformResult<WrappedKey> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: data_key,
                    aad: self.key_id.as_bytes(),
                },
            )
            .map_err(|_| PlatformError::backend("local keys", "wrapping failed"))?;
        let mut value = nonce.to_vec();
        value.extend_from_slice(&sealed);
        Ok(WrappedKey {
            key_id: self.key_id.clone(),
            algorithm: ALGORITHM.to_owned(),
            value: STANDARD.encode(value),
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> PlatformResult<Vec<u8>> {
        if wrapped.key_id != self.key_id {
            // Another key (or a rotated-away local key) wrapped it: not here.
            tracing::warn!(wrapped_by = %wrapped.key_id, local = %self.key_id, "unknown key id");
            return Err(PlatformError::NotFound);
        }
        if wrapped.algorithm != ALGORITHM {
            return Err(PlatformError::Invalid(format!(
                "unsupported wrapping algorithm {:?}",
                wrapped.algorithm
            )));
        }
        let raw = STANDARD
            .decode(&wrapped.value)
            .map_err(|_| PlatformError::Invalid("wrapped key is not valid base64".into()))?;
        if raw.len() <= NONCE_LEN {
            return Err(PlatformError::Invalid("wrapped key is too short".into()));
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: self.key_id.as_bytes(),
                },
            )
            .map_err(|_| PlatformError::Invalid("wrapped key failed authentication".into()))
    }

    async fn ping(&self) -> PlatformResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_must_be_base64_of_32_bytes() {
        for bad in ["not base64!", "AAAA", &STANDARD.encode([0u8; 31])] {
            match LocalKeys::from_base64(bad) {
                Err(PlatformError::Invalid(msg)) => assert!(msg.contains(SETTING), "{msg}"),
                other => panic!("expected Invalid for {bad:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_key_id_names_the_key_by_its_digest() {
        let keys = LocalKeys::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let digest = Sha256::digest([7u8; 32]);
        assert_eq!(
            keys.key_id(),
            format!("local:{}", hex::encode(&digest[..4]))
        );
        assert_eq!(keys.key_id().len(), "local:".len() + 8);
    }
}
