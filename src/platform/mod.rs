//! Every Azure service the app uses, each behind one small trait with two
//! implementations: the Azure one (official Azure SDK for Rust crates) and an
//! embedded default that `handler local` uses. Nothing above this module
//! knows which one it holds. This module never imports the domain.

pub mod blobs;
pub mod cache;
pub mod clock;
pub mod documents;
pub mod health;
pub mod keys;
pub mod queues;
pub(crate) mod sqlite_cached;
pub mod storage_account;

use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};

/// What any platform call can fail with, in terms the layers above act on.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("not found")]
    NotFound,
    /// The item already exists (create of an existing id).
    #[error("conflict: the item already exists")]
    Conflict,
    /// Optimistic concurrency: the ETag given is no longer current.
    #[error("precondition failed: the item changed since it was read")]
    PreconditionFailed,
    #[error("throttled by {service}")]
    Throttled {
        service: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The service could not be reached or answered with a server error.
    #[error("{service} unavailable: {message}")]
    Unavailable {
        service: &'static str,
        message: String,
    },
    /// Anything else the service said, kept for the operator's log.
    #[error("{service} failed: {message}")]
    Backend {
        service: &'static str,
        message: String,
    },
}

pub type PlatformResult<T> = Result<T, PlatformError>;

impl PlatformError {
    pub fn backend(service: &'static str, err: impl std::fmt::Display) -> Self {
        PlatformError::Backend {
            service,
            message: err.to_string(),
        }
    }

    pub fn unavailable(service: &'static str, err: impl std::fmt::Display) -> Self {
        PlatformError::Unavailable {
            service,
            message: err.to_string(),
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PlatformError::Throttled { .. } | PlatformError::Unavailable { .. }
        )
    }
}

/// The credential the Azure implementations use in production: the function
/// app's managed identity (a user-assigned one when its client id is given).
pub fn azure_credential(client_id: Option<&str>) -> azure_core::Result<Arc<dyn TokenCredential>> {
    let options = ManagedIdentityCredentialOptions {
        user_assigned_id: client_id.map(|id| UserAssignedId::ClientId(id.to_owned())),
        ..Default::default()
    };
    let credential: Arc<dyn TokenCredential> = ManagedIdentityCredential::new(Some(options))?;
    Ok(credential)
}
