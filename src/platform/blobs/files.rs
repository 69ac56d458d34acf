//! Blobs as files under the data directory: the embedded default for
//! `handler local`.
//!
//! Layout: `<dir>/<container>/<seg>.d/…/<last>.blob`. Every `/`-separated
//! name segment is percent-encoded (so any valid blob name is a portable
//! file name), directories get `.d` and blob files `.blob`, so blobs `a` and
//! `a/b` can both exist, as they can in Azure. Each file starts with the
//! content type and a newline, then the data: type and data change together.
//! Writes go to a temporary file in the container directory, then a rename,
//! so a reader sees the old blob or the new one, never half of one. Names are
//! checked with [`validate_container`]/[`validate_blob_name`] first, so no
//! path can leave the directory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Blob, Blobs, validate_blob_name, validate_container, validate_put};
use crate::platform::{PlatformError, PlatformResult};

const SERVICE: &str = "blobs";
const BLOB_SUFFIX: &str = ".blob";
const DIR_SUFFIX: &str = ".d";
const TEMP_SUFFIX: &str = ".tmp";
/// A blob name has at most 1024 characters, so at most 512 segments.
const MAX_DEPTH: usize = 512;

#[derive(Debug, Clone)]
pub struct FileBlobs {
    dir: PathBuf,
}

impl FileBlobs {
    /// Blobs under `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        FileBlobs { dir }
    }
}

fn io_error(err: io::Error) -> PlatformError {
    PlatformError::backend(SERVICE, err)
}

fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn decode_segment(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = encoded.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file that holds blob `name` in `container` (names already validated).
fn blob_path(root: &Path, container: &str, name: &str) -> PathBuf {
    let mut path = root.join(container);
    let mut segments = name.split('/').peekable();
    while let Some(segment) = segments.next() {
        let suffix = if segments.peek().is_some() {
            DIR_SUFFIX
        } else {
            BLOB_SUFFIX
        };
        path.push(format!("{}{suffix}", encode_segment(segment)));
    }
    path
}

fn read_blob(path: &Path) -> PlatformResult<Option<Blob>> {
    let raw = match fs::read(path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(e)),
    };
    let Some(newline) = raw.iter().position(|b| *b == b'\n') else {
        return Err(PlatformError::backend(SERVICE, "blob file has no header"));
    };
    let content_type = std::str::from_utf8(&raw[..newline])
        .map_err(|_| PlatformError::backend(SERVICE, "blob file header is not UTF-8"))?
        .to_owned();
    let data = Bytes::from(raw).slice(newline + 1..);
    Ok(Some(Blob { data, content_type }))
}

fn write_blob(
    container_dir: &Path,
    path: &Path,
    data: &[u8],
    content_type: &str,
) -> io::Result<()> {
    let parent = path.parent().unwrap_or(container_dir);
    fs::create_dir_all(parent)?;
    let temp = container_dir.join(format!(".{}{TEMP_SUFFIX}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(content_type.as_bytes())?;
        file.write_all(b"\n")?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Every blob name in a container directory, depth-first, unsorted.
fn list_names(container_dir: &Path, prefix: &str) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pending = vec![(container_dir.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, name_prefix, depth)) = pending.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            let file_type = entry.file_type()?;
            if let Some(stem) = file_name.strip_suffix(DIR_SUFFIX)
                && file_type.is_dir()
                && depth < MAX_DEPTH
                && let Some(segment) = decode_segment(stem)
            {
                pending.push((entry.path(), format!("{name_prefix}{segment}/"), depth + 1));
            } else if let Some(stem) = file_name.strip_suffix(BLOB_SUFFIX)
                && file_type.is_file()
                && let Some(segment) = decode_segment(stem)
            {
                let name = format!("{name_prefix}{segment}");
                if name.starts_with(prefix) {
                    names.push(name);
                }
            }
        }
    }
    Ok(names)
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> PlatformResult<T> + Send + 'static,
) -> PlatformResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| PlatformError::backend(SERVICE, e))?
}

#[async_trait]
impl Blobs for FileBlobs {
    async fn put(
        &self,
        container: &str,
        name: &str,
        data: Bytes,
        content_type: &str,
    ) -> PlatformResult<()> {
        validate_put(container, name, content_type)?;
        let container_dir = self.dir.join(container);
        let path = blob_path(&self.dir, container, name);
        let content_type = content_type.to_owned();
        blocking(move || {
            write_blob(&container_dir, &path, &data, &content_type).map_err(|e| {
                if e.kind() == io::ErrorKind::InvalidFilename {
                    // A segment longer than the file system takes.
                    PlatformError::Invalid("blob name segment too long for local files".into())
                } else {
                    io_error(e)
                }
            })
        })
        .await
    }

    async fn get(&self, container: &str, name: &str) -> PlatformResult<Option<Blob>> {
        validate_container(container)?;
        validate_blob_name(name)?;
        let path = blob_path(&self.dir, container, name);
        blocking(move || read_blob(&path)).await
    }

    async fn delete(&self, container: &str, name: &str) -> PlatformResult<bool> {
        validate_container(container)?;
        validate_blob_name(name)?;
        let path = blob_path(&self.dir, container, name);
        blocking(move || match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error(e)),
        })
        .await
    }

    async fn list(&self, container: &str, prefix: &str) -> PlatformResult<Vec<String>> {
        validate_container(container)?;
        let container_dir = self.dir.join(container);
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut names = list_names(&container_dir, &prefix).map_err(io_error)?;
            names.sort();
            Ok(names)
        })
        .await
    }

    async fn ping(&self) -> PlatformResult<()> {
        let dir = self.dir.clone();
        blocking(move || fs::create_dir_all(&dir).map_err(io_error)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_through_file_names() {
        for segment in ["plain", "a.b", "x.d", "sp ace", "été", "%41", "?*:<>|\""] {
            let encoded = encode_segment(segment);
            assert!(
                encoded
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_%".contains(c)),
                "{encoded}"
            );
            assert_eq!(decode_segment(&encoded).as_deref(), Some(segment));
        }
    }

    #[test]
    fn nested_names_map_to_distinct_paths() {
        let root = Path::new("/data");
        assert_eq!(blob_path(root, "c1", "a"), Path::new("/data/c1/a.blob"));
        assert_eq!(
            blob_path(root, "c1", "a/b.png"),
            Path::new("/data/c1/a.d/b%2Epng.blob")
        );
    }
}
