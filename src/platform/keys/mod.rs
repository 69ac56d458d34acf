//! Envelope encryption of tenant secrets (CRM tokens, per-tenant webhook
//! secrets): each tenant has a random data key that encrypts its secrets; the
//! data key is stored only wrapped by a key-encryption key that never leaves
//! Key Vault (or, locally, a key from a setting).
//!
//! Implementations of [`Keys`]: [`keyvault::KeyVaultKeys`] and
//! [`local::LocalKeys`]. [`envelope`] builds the tenant keyring on top.

pub mod envelope;
pub mod keyvault;
pub mod local;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PlatformResult;

/// A data key wrapped by a key-encryption key. `key_id` names the exact key
/// version that wrapped it, so unwrapping still works after a rotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrappedKey {
    pub key_id: String,
    pub algorithm: String,
    /// base64 (standard) of the wrapped bytes.
    pub value: String,
}

#[async_trait]
pub trait Keys: Send + Sync + 'static {
    /// Wraps a data key (32 random bytes) with the current key-encryption key.
    async fn wrap(&self, data_key: &[u8]) -> PlatformResult<WrappedKey>;

    /// Unwraps a data key wrapped by [`Keys::wrap`] (by any known key version).
    async fn unwrap(&self, wrapped: &WrappedKey) -> PlatformResult<Vec<u8>>;

    async fn ping(&self) -> PlatformResult<()>;
}
