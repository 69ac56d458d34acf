//! Images and other binary content (template icons, team pictures, large
//! webhook payloads). Implementations: [`azure::AzureBlobs`] (Blob Storage)
//! and [`files::FileBlobs`] (files under the data directory).

pub mod azure;
pub mod files;

use async_trait::async_trait;
use bytes::Bytes;

use super::{PlatformError, PlatformResult};

#[derive(Clone, Debug, PartialEq)]
pub struct Blob {
    pub data: Bytes,
    pub content_type: String,
}

/// Checks a container name against Azure's rules (3-63 characters, lower-case
/// letters, digits and single hyphens, starting and ending with a letter or digit).
pub fn validate_container(name: &str) -> PlatformResult<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(PlatformError::Invalid(format!(
            "invalid container name {name:?}"
        )))
    }
}

/// Checks a blob name: 1-1024 characters, '/'-separated segments that are
/// neither empty nor `.`/`..`, no backslash or control character (so the
/// file implementation can never escape its directory).
pub fn validate_blob_name(name: &str) -> PlatformResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 1024
        && !name.chars().any(|c| c.is_control() || c == '\\')
        && name
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if ok {
        Ok(())
    } else {
        Err(PlatformError::Invalid(format!(
            "invalid blob name {name:?}"
        )))
    }
}

/// What every implementation checks before a put, so that both refuse the
/// same input and write nothing.
pub fn validate_put(container: &str, name: &str, content_type: &str) -> PlatformResult<()> {
    validate_container(container)?;
    validate_blob_name(name)?;
    if content_type.chars().any(char::is_control) {
        return Err(PlatformError::Invalid(format!(
            "invalid content type {content_type:?}"
        )));
    }
    Ok(())
}

#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    /// Writes (or overwrites) a blob, creating the container if needed.
    async fn put(
        &self,
        container: &str,
        name: &str,
        data: Bytes,
        content_type: &str,
    ) -> PlatformResult<()>;

    async fn get(&self, container: &str, name: &str) -> PlatformResult<Option<Blob>>;

    /// `false` when there was nothing to delete.
    async fn delete(&self, container: &str, name: &str) -> PlatformResult<bool>;

    /// Blob names under a prefix, sorted.
    async fn list(&self, container: &str, prefix: &str) -> PlatformResult<Vec<String>>;

    async fn ping(&self) -> PlatformResult<()>;
}
