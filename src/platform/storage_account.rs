//! The storage account behind `AzureWebJobsStorage`, shared by blobs and
//! queues: where its endpoints are and how requests are authorised.
//!
//! The setting takes the forms the Functions host accepts, so one value
//! configures both the host and the app:
//! - a connection string: `UseDevelopmentStorage=true`, an account key
//!   (`AccountName=..;AccountKey=..`), explicit `BlobEndpoint=`/`QueueEndpoint=`,
//!   or a `SharedAccessSignature=`;
//! - identity-based settings: `AzureWebJobsStorage__accountName`, or
//!   `AzureWebJobsStorage__blobServiceUri` + `__queueServiceUri`, used with
//!   an Entra ID [`TokenCredential`] (managed identity in production).
//!
//! With an account key we sign short-lived account SAS tokens ([`sas`]) and a
//! pipeline policy puts the current one on each request, so the SDK clients
//! are built once and never see the key. Keys and tokens stay in
//! [`secrecy`] wrappers and are never logged.

mod connection_string;
mod errors;
pub mod sas;

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use azure_storage_blob::{BlobServiceClient, BlobServiceClientOptions};
use azure_storage_queue::{QueueServiceClient, QueueServiceClientOptions};
use url::Url;

use self::connection_string::ParsedAuth;
use self::sas::{AccountSasSigner, SasPolicy, SasSource};
use crate::platform::clock::{Clock, SystemClock};

pub use self::connection_string::DEV_ACCOUNT_NAME;
pub use self::errors::{map_storage_error, redact_sas};

/// The setting name, as the Functions host knows it.
pub const SETTING: &str = "AzureWebJobsStorage";

/// What is wrong with the storage settings. Messages name the setting or
/// key at fault, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum StorageConfigError {
    #[error("{SETTING} connection string: {0}")]
    ConnectionString(String),
    #[error("{SETTING}__{setting}: {reason}")]
    Setting {
        setting: &'static str,
        reason: String,
    },
    #[error("storage credential could not be created: {0}")]
    Credential(String),
    #[error("storage client could not be created: {0}")]
    Client(String),
}

enum Auth {
    /// A SAS (signed here from the key, or given) added by a policy.
    Sas(SasPolicy),
    /// Entra ID bearer tokens (the production path).
    Token(Arc<dyn TokenCredential>),
}

/// A storage account's blob and queue endpoints and its credentials.
pub struct StorageAccount {
    blob_endpoint: Url,
    queue_endpoint: Url,
    auth: Auth,
}

impl fmt::Debug for StorageAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageAccount")
            .field("blob_endpoint", &self.blob_endpoint.as_str())
            .field("queue_endpoint", &self.queue_endpoint.as_str())
            .field("auth", &self.auth_kind())
            .finish()
    }
}

impl StorageAccount {
    /// Parses a connection string. Account-key SAS tokens are timed by the
    /// system clock (see [`StorageAccount::parse_connection_string_with_clock`]).
    pub fn parse_connection_string(raw: &str) -> Result<Self, StorageConfigError> {
        Self::parse_connection_string_with_clock(raw, Arc::new(SystemClock))
    }

    pub fn parse_connection_string_with_clock(
        raw: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StorageConfigError> {
        let parsed = connection_string::parse(raw)?;
        let source = match parsed.auth {
            ParsedAuth::Key { account, key } => {
                let allow_http = parsed.blob_endpoint.scheme() == "http"
                    || parsed.queue_endpoint.scheme() == "http";
                SasSource::Signed(AccountSasSigner::new(account, key, allow_http, clock))
            }
            ParsedAuth::Sas(token) => SasSource::Fixed(token),
        };
        Ok(StorageAccount {
            blob_endpoint: parsed.blob_endpoint,
            queue_endpoint: parsed.queue_endpoint,
            auth: Auth::Sas(SasPolicy(Arc::new(source))),
        })
    }

    /// Identity-based access to explicit service URLs (which must be https:
    /// bearer tokens are never sent in clear).
    pub fn with_credential(
        blob_service_uri: &str,
        queue_service_uri: &str,
        credential: Arc<dyn TokenCredential>,
    ) -> Result<Self, StorageConfigError> {
        let endpoint = |setting: &'static str, raw: &str| {
            let url = connection_string::parse_endpoint(raw)
                .map_err(|reason| StorageConfigError::Setting { setting, reason })?;
            if url.scheme() != "https" {
                return Err(StorageConfigError::Setting {
                    setting,
                    reason: "must be an https URL for identity-based access".into(),
                });
            }
            Ok(url)
        };
        Ok(StorageAccount {
            blob_endpoint: endpoint("blobServiceUri", blob_service_uri)?,
            queue_endpoint: endpoint("queueServiceUri", queue_service_uri)?,
            auth: Auth::Token(credential),
        })
    }

    /// Identity-based access to an account in the public cloud by name.
    pub fn with_account_name(
        account_name: &str,
        credential: Arc<dyn TokenCredential>,
    ) -> Result<Self, StorageConfigError> {
        let valid = (3..=24).contains(&account_name.len())
            && account_name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid {
            return Err(StorageConfigError::Setting {
                setting: "accountName",
                reason: "must be 3-24 lower-case letters and digits".into(),
            });
        }
        Self::with_credential(
            &format!("https://{account_name}.blob.core.windows.net"),
            &format!("https://{account_name}.queue.core.windows.net"),
            credential,
        )
    }

    /// Reads `AzureWebJobsStorage` and its `__` identity settings through
    /// `get`. `Ok(None)` when none is set (the app then uses its embedded
    /// defaults). A connection string wins over identity settings, as in the
    /// Functions host. `credential` is called only for identity-based
    /// settings, with `AzureWebJobsStorage__clientId` when given (a
    /// user-assigned managed identity).
    pub fn from_settings<G, C>(get: G, credential: C) -> Result<Option<Self>, StorageConfigError>
    where
        G: Fn(&str) -> Option<String>,
        C: FnOnce(Option<&str>) -> azure_core::Result<Arc<dyn TokenCredential>>,
    {
        let setting =
            |name: &str| get(&format!("{SETTING}{name}")).filter(|value| !value.trim().is_empty());
        if let Some(raw) = setting("") {
            return Self::parse_connection_string(&raw).map(Some);
        }
        let account = setting("__accountName");
        let blob = setting("__blobServiceUri");
        let queue = setting("__queueServiceUri");
        if account.is_none() && blob.is_none() && queue.is_none() {
            return Ok(None);
        }
        let client_id = setting("__clientId");
        let make_credential = || {
            credential(client_id.as_deref())
                .map_err(|e| StorageConfigError::Credential(redact_sas(&e.to_string())))
        };
        match (blob, queue, account) {
            (Some(blob), Some(queue), _) => {
                Self::with_credential(&blob, &queue, make_credential()?).map(Some)
            }
            (None, None, Some(account)) => {
                Self::with_account_name(&account, make_credential()?).map(Some)
            }
            (Some(_), None, _) => Err(StorageConfigError::Setting {
                setting: "queueServiceUri",
                reason: "is required with blobServiceUri (the app uses queues too)".into(),
            }),
            (None, Some(_), _) | (None, None, None) => Err(StorageConfigError::Setting {
                setting: "blobServiceUri",
                reason: "is required with queueServiceUri (the app uses blobs too)".into(),
            }),
        }
    }

    pub fn blob_endpoint(&self) -> &Url {
        &self.blob_endpoint
    }

    pub fn queue_endpoint(&self) -> &Url {
        &self.queue_endpoint
    }

    /// `"sas"` or `"entra-id"`, for logs and health output.
    pub fn auth_kind(&self) -> &'static str {
        match self.auth {
            Auth::Sas(_) => "sas",
            Auth::Token(_) => "entra-id",
        }
    }

    /// Adds the SAS policy (if any) and returns the credential (if any).
    fn prepare(&self, options: &mut ClientOptions) -> Option<Arc<dyn TokenCredential>> {
        match &self.auth {
            Auth::Sas(policy) => {
                options.per_try_policies.push(Arc::new(policy.clone()));
                None
            }
            Auth::Token(credential) => Some(credential.clone()),
        }
    }

    /// A blob service client for this account. `options` carries retry and
    /// transport settings; a custom transport must not decompress
    /// responses (the blob client checks lengths and ranges).
    pub fn blob_service_client(
        &self,
        mut options: ClientOptions,
    ) -> Result<BlobServiceClient, StorageConfigError> {
        let credential = self.prepare(&mut options);
        BlobServiceClient::new(
            self.blob_endpoint.clone(),
            credential,
            Some(BlobServiceClientOptions {
                client_options: options,
                ..Default::default()
            }),
        )
        .map_err(|e| StorageConfigError::Client(redact_sas(&e.to_string())))
    }

    pub fn queue_service_client(
        &self,
        mut options: ClientOptions,
    ) -> Result<QueueServiceClient, StorageConfigError> {
        let credential = self.prepare(&mut options);
        QueueServiceClient::new(
            self.queue_endpoint.clone(),
            credential,
            Some(QueueServiceClientOptions {
                client_options: options,
                ..Default::default()
            }),
        )
        .map_err(|e| StorageConfigError::Client(redact_sas(&e.to_string())))
    }
}

#[cfg(test)]
mod tests;
