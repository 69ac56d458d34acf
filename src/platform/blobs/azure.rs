//! Blobs in Azure Blob Storage, through `azure_storage_blob` 1.x.
//!
//! One [`BlobServiceClient`] is built from the [`StorageAccount`] and kept:
//! authorisation (a renewed SAS or Entra ID tokens) lives in its pipeline.
//! Containers are created on the first write that needs them, so callers
//! never provision anything by hand.

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, NoFormat, RequestContent};
use azure_storage_blob::BlobServiceClient;
use azure_storage_blob::models::BlobClientUploadOptions;
use bytes::Bytes;
use futures::StreamExt as _;

use super::{Blob, Blobs, validate_blob_name, validate_container, validate_put};
use crate::platform::storage_account::{StorageAccount, StorageConfigError, map_storage_error};
use crate::platform::{PlatformError, PlatformResult};

const SERVICE: &str = "blobs";
/// Listing stops (with an error) past this many names: our containers hold
/// per-tenant assets, far fewer than this.
const MAX_LISTED: usize = 100_000;
/// A container that `ping` asks about; it need not exist.
const PING_CONTAINER: &str = "salestim-ping";

pub struct AzureBlobs {
    service: BlobServiceClient,
}

impl std::fmt::Debug for AzureBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBlobs")
            .field("endpoint", &self.service.url().as_str())
            .finish()
    }
}

impl AzureBlobs {
    /// `options` carries retry and transport settings (tests make them short).
    pub fn new(
        account: &StorageAccount,
        options: ClientOptions,
    ) -> Result<Self, StorageConfigError> {
        Ok(AzureBlobs {
            service: account.blob_service_client(options)?,
        })
    }
}

fn error_code(err: &azure_core::Error) -> Option<&str> {
    match err.kind() {
        ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

fn content(data: Bytes) -> RequestContent<Bytes, NoFormat> {
    data.into()
}

fn map(err: azure_core::Error) -> PlatformError {
    map_storage_error(SERVICE, err)
}

#[async_trait]
impl Blobs for AzureBlobs {
    async fn put(
        &self,
        container: &str,
        name: &str,
        data: Bytes,
        content_type: &str,
    ) -> PlatformResult<()> {
        validate_put(container, name, content_type)?;
        let blob = self.service.blob_client(container, name);
        let options = BlobClientUploadOptions {
            blob_content_type: Some(content_type.to_owned()),
            ..Default::default()
        };
        let first = blob
            .upload(content(data.clone()), Some(options.clone()))
            .await;
        match first {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("ContainerNotFound") => {
                let created = self
                    .service
                    .blob_container_client(container)
                    .create(None)
                    .await;
                match created {
                    Ok(_) => {}
                    // Another writer created it in between: fine.
                    Err(e) if error_code(&e) == Some("ContainerAlreadyExists") => {}
                    Err(e) => return Err(map(e)),
                }
                blob.upload(content(data), Some(options))
                    .await
                    .map(|_| ())
                    .map_err(map)
            }
            Err(e) => Err(map(e)),
        }
    }

    async fn get(&self, container: &str, name: &str) -> PlatformResult<Option<Blob>> {
        validate_container(container)?;
        validate_blob_name(name)?;
        let blob = self.service.blob_client(container, name);
        let download = match blob.download(None).await {
            Ok(download) => download,
            Err(e) => {
                return match map(e) {
                    PlatformError::NotFound => Ok(None),
                    other => Err(other),
                };
            }
        };
        let content_type = download
            .properties
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let data = download.body.collect().await.map_err(map)?;
        Ok(Some(Blob { data, content_type }))
    }

    async fn delete(&self, container: &str, name: &str) -> PlatformResult<bool> {
        validate_container(container)?;
        validate_blob_name(name)?;
        match self.service.blob_client(container, name).delete(None).await {
            Ok(_) => Ok(true),
            Err(e) => match map(e) {
                PlatformError::NotFound => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn list(&self, container: &str, prefix: &str) -> PlatformResult<Vec<String>> {
        validate_container(container)?;
        let options = azure_storage_blob::models::BlobContainerClientListBlobsOptions {
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            ..Default::default()
        };
        let mut items = self
            .service
            .blob_container_client(container)
            .list_blobs(Some(options))
            .map_err(map)?;
        let mut names = Vec::new();
        while let Some(item) = items.next().await {
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    return match map(e) {
                        PlatformError::NotFound => Ok(Vec::new()),
                        other => Err(other),
                    };
                }
            };
            if names.len() >= MAX_LISTED {
                return Err(PlatformError::backend(
                    SERVICE,
                    format!("more than {MAX_LISTED} blobs under the prefix"),
                ));
            }
            if let Some(name) = item.name {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    async fn ping(&self) -> PlatformResult<()> {
        self.service
            .blob_container_client(PING_CONTAINER)
            .exists()
            .await
            .map(|_| ())
            .map_err(map)
    }
}
