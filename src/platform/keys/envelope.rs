//! Envelope encryption of tenant secrets on top of [`Keys`].
//!
//! Each tenant has a random 256-bit data key, stored only wrapped
//! ([`WrappedKey`]) in the tenant's settings. Secrets are sealed with
//! AES-256-GCM under that data key, with the tenant id as associated data:
//! a sealed secret copied into another tenant's document does not open, even
//! if someone also copied the wrapped key.
//!
//! Unwrapping goes to Key Vault, so unwrapped data keys are kept in memory
//! for a few minutes (bounded, zeroised on drop): a sweep over one tenant's
//! secrets costs one Key Vault call, not one per secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::{Keys, WrappedKey};
use crate::ids::TenantId;
use crate::platform::clock::{Clock, SystemClock};
use crate::platform::{PlatformError, PlatformResult};

const DATA_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const AAD_PREFIX: &[u8] = b"salestim:sealed:v1:";
pub const DEFAULT_CACHE_TTL: Duration = Duration::minutes(5);
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// A secret sealed under a tenant's data key. Both fields are base64
/// (standard); `ciphertext` ends with the 16-byte GCM tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sealed {
    pub nonce: String,
    pub ciphertext: String,
}

type DataKey = Zeroizing<[u8; DATA_KEY_LEN]>;

struct Cached {
    key: DataKey,
    expires_at: OffsetDateTime,
}

pub struct Envelope {
    keys: Arc<dyn Keys>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    max_entries: usize,
    /// sha256(tenant, wrapped key) -> unwrapped data key.
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

impl Envelope {
    pub fn new(keys: Arc<dyn Keys>) -> Self {
        Self::with_cache(
            keys,
            Arc::new(SystemClock),
            DEFAULT_CACHE_TTL,
            DEFAULT_CACHE_ENTRIES,
        )
    }

    /// Keeps at most `max_entries` unwrapped data keys, each for `ttl`
    /// (a zero ttl disables the cache).
    pub fn with_cache(
        keys: Arc<dyn Keys>,
        clock: Arc<dyn Clock>,
        ttl: Duration,
        max_entries: usize,
    ) -> Self {
        Envelope {
            keys,
            clock,
            ttl,
            max_entries: max_entries.max(1),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh random data key for a new tenant, wrapped; store it with the
    /// tenant's settings.
    pub async fn new_tenant_key(&self) -> PlatformResult<WrappedKey> {
        let mut key: DataKey = Zeroizing::new([0u8; DATA_KEY_LEN]);
        OsRng.fill_bytes(key.as_mut_slice());
        self.keys.wrap(key.as_slice()).await
    }

    pub async fn seal(
        &self,
        tenant: &TenantId,
        tenant_key: &WrappedKey,
        plaintext: &[u8],
    ) -> PlatformResult<Sealed> {
        let cipher = self.cipher(tenant, tenant_key).await?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(tenant);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| PlatformError::backend("envelope", "sealing failed"))?;
        Ok(Sealed {
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        })
    }

    /// Fails with `Invalid` if the secret was sealed for another tenant,
    /// under another data key, or altered.
    pub async fn open(
        &self,
        tenant: &TenantId,
        tenant_key: &WrappedKey,
        sealed: &Sealed,
    ) -> PlatformResult<Vec<u8>> {
        let nonce = STANDARD
            .decode(&sealed.nonce)
            .ok()
            .filter(|n| n.len() == NONCE_LEN)
            .ok_or_else(|| PlatformError::Invalid("sealed nonce is malformed".into()))?;
        let ciphertext = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| PlatformError::Invalid("sealed ciphertext is not base64".into()))?;
        let cipher = self.cipher(tenant, tenant_key).await?;
        let aad = associated_data(tenant);
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                PlatformError::Invalid("sealed secret does not open for this tenant and key".into())
            })
    }

    async fn cipher(
        &self,
        tenant: &TenantId,
        tenant_key: &WrappedKey,
    ) -> PlatformResult<Aes256Gcm> {
        let slot = cache_slot(tenant, tenant_key);
        if let Some(key) = self.cached(&slot) {
            return Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_slice())));
        }
        let unwrapped = Zeroizing::new(self.keys.unwrap(tenant_key).await?);
        let key: DataKey = Zeroizing::new(unwrapped.as_slice().try_into().map_err(|_| {
            PlatformError::Invalid(format!(
                "tenant data key has {} bytes, expected {DATA_KEY_LEN}",
                unwrapped.len()
            ))
        })?);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_slice()));
        self.remember(slot, key);
        Ok(cipher)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached(&self, slot: &[u8; 32]) -> Option<DataKey> {
        let now = self.clock.now();
        let mut cache = self.lock();
        match cache.get(slot) {
            Some(entry) if entry.expires_at > now => Some(entry.key.clone()),
            Some(_) => {
                cache.remove(slot);
                None
            }
            None => None,
        }
    }

    fn remember(&self, slot: [u8; 32], key: DataKey) {
        if !self.ttl.is_positive() {
            return;
        }
        let now = self.clock.now();
        let mut cache = self.lock();
        if cache.len() >= self.max_entries {
            cache.retain(|_, entry| entry.expires_at > now);
        }
        // Still full of live keys: drop the one closest to expiry.
        while cache.len() >= self.max_entries {
            let Some(soonest) = cache
                .iter()
                .min_by_key(|(_, entry)| entry.expires_at)
                .map(|(slot, _)| *slot)
            else {
                break;
            };
            cache.remove(&soonest);
        }
        cache.insert(
            slot,
            Cached {
                key,
                expires_at: now + self.ttl,
            },
        );
    }
}

fn associated_data(tenant: &TenantId) -> Vec<u8> {
    let mut aad = AAD_PREFIX.to_vec();
    aad.extend_from_slice(tenant.as_str().as_bytes());
    aad
}

fn cache_slot(tenant: &TenantId, key: &WrappedKey) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in [tenant.as_str(), &key.key_id, &key.algorithm, &key.value] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}
