//! The tabs' web app, served from its build folder (`web/dist`, or
//! `SALESTIM_TABS_DIR`) by the `Tabs` function, `GET /api/tabs/{*path}`.
//!
//! The folder is read once, on the first request that finds it, into an
//! index of its regular files (no symbolic link is followed; bounded in
//! count and size). A request is answered from that index only, so no path,
//! however it is spelt (`..`, `%2e%2e`, a backslash, an absolute path), can
//! reach a file outside the folder, and there is no directory listing: a
//! folder is not in the index. The tab pages (`/api/tabs/request` …, the
//! paths the Teams manifest's `contentUrl`s name) are the app's
//! `index.html`, which the client-side router reads.
//!
//! Caching: the hashed files under `assets/` never change and are cached for
//! a year (`immutable`); `index.html` is revalidated every time (`no-cache`,
//! with an ETag), so a new deployment is picked up at once. Text files are
//! gzipped once, when the index is built, and sent compressed to clients
//! that accept it.
//!
//! Every answer carries a Content-Security-Policy whose `frame-ancestors`
//! allows the Teams and Microsoft 365 hosts only (Microsoft's list for tab
//! hosts), scripts and connections from this origin, and Intercom's hosts
//! only when the Messenger is configured.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use warp::http::{HeaderMap, HeaderValue, StatusCode};

use crate::http::HttpResponse;

/// The tab pages: each a static tab of the manifest (`/api/tabs/<page>`),
/// and the home page (`""`).
pub const TAB_PAGES: [&str; 5] = ["request", "my", "approvals", "dashboard", "admin"];
/// A build holds a few dozen files; anything far beyond is not a build.
const MAX_FILES: usize = 2_000;
const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
const MAX_DEPTH: usize = 8;
const INDEX: &str = "index.html";

/// Microsoft's tab hosts (learn.microsoft.com, "Tab requirements").
const FRAME_ANCESTORS: &str = "https://teams.microsoft.com https://*.teams.microsoft.com \
https://*.cloud.microsoft https://*.microsoft365.com https://*.office.com \
https://outlook.office.com https://outlook.office365.com https://outlook-sdf.office.com \
https://outlook-sdf.office365.com";
/// Intercom's hosts for the Messenger (intercom.com/help, "Using Intercom
/// with Content Security Policy", source allowlisting).
const INTERCOM_SCRIPTS: &str =
    "https://app.intercom.io https://widget.intercom.io https://js.intercomcdn.com";
const INTERCOM_CONNECT: &str = "https://via.intercom.io https://api.intercom.io \
https://api.au.intercom.io https://api.eu.intercom.io https://api-iam.intercom.io \
https://api-iam.eu.intercom.io https://api-iam.au.intercom.io https://api-ping.intercom.io \
https://*.intercom-messenger.com wss://*.intercom-messenger.com \
https://nexus-websocket-a.intercom.io wss://nexus-websocket-a.intercom.io \
https://nexus-websocket-b.intercom.io wss://nexus-websocket-b.intercom.io \
https://nexus-europe-websocket.intercom.io wss://nexus-europe-websocket.intercom.io \
https://nexus-australia-websocket.intercom.io wss://nexus-australia-websocket.intercom.io \
https://uploads.intercomcdn.com https://uploads.intercomusercontent.com";
const INTERCOM_IMAGES: &str = "https://js.intercomcdn.com https://static.intercomassets.com \
https://downloads.intercomcdn.com https://uploads.intercomusercontent.com \
https://gifs.intercomcdn.com https://video-messages.intercomcdn.com \
https://messenger-apps.intercom.io https://*.intercom-attachments-5.com \
https://*.intercom-attachments-7.com https://*.intercom-attachments-9.com";
const INTERCOM_FONTS: &str = "https://js.intercomcdn.com https://fonts.intercomcdn.com";
const INTERCOM_FRAMES: &str = "https://intercom-sheets.com https://www.intercom-reporting.com \
https://www.youtube.com https://player.vimeo.com https://fast.wistia.net";
const INTERCOM_MEDIA: &str = "https://js.intercomcdn.com https://downloads.intercomcdn.com";

/// The policy for every answer of the `Tabs` function.
pub fn content_security_policy(intercom: bool) -> String {
    let (scripts, connect, images, fonts, frames, media) = if intercom {
        (
            format!(" {INTERCOM_SCRIPTS}"),
            format!(" {INTERCOM_CONNECT}"),
            format!(" {INTERCOM_IMAGES}"),
            format!(" {INTERCOM_FONTS}"),
            format!("frame-src {INTERCOM_FRAMES}; "),
            format!(" {INTERCOM_MEDIA}"),
        )
    } else {
        Default::default()
    };
    // Fluent UI (Griffel) inserts its style rules at run time: styles need
    // 'unsafe-inline'; scripts do not.
    format!(
        "default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:{images}; font-src 'self' data:{fonts}; \
         connect-src 'self'{connect}; media-src 'self'{media}; {frames}object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors {FRAME_ANCESTORS}"
    )
}

struct File {
    content_type: &'static str,
    body: Bytes,
    gzipped: Option<Bytes>,
    etag: String,
}

/// The build folder's files by their path relative to it (`/`-separated).
struct Index {
    files: HashMap<String, File>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "the tabs are not built: {0} has no index.html (run `npm ci && npm run build` in web/)"
    )]
    NotBuilt(String),
    #[error("{0}")]
    Io(String),
    #[error("{0} holds more than a build: over {MAX_FILES} files or {MAX_TOTAL_BYTES} bytes")]
    TooBig(String),
}

/// The web app's files, read on first use.
pub struct TabFiles {
    dir: PathBuf,
    intercom: bool,
    index: Mutex<Option<Arc<Index>>>,
}

impl TabFiles {
    pub fn new(dir: PathBuf, intercom: bool) -> Self {
        TabFiles {
            dir,
            intercom,
            index: Mutex::new(None),
        }
    }

    /// The index, read now if it was not yet (a folder not built yet is
    /// looked for again on the next request).
    fn index(&self) -> Result<Arc<Index>, LoadError> {
        let mut slot = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = slot.as_ref() {
            return Ok(index.clone());
        }
        let index = Arc::new(load(&self.dir)?);
        *slot = Some(index.clone());
        Ok(index)
    }

    /// The answer to `GET /api/tabs/<path>` (`path` as the route captured
    /// it, already percent-decoded), given the request's headers.
    pub fn answer(&self, path: &str, headers: &HeaderMap) -> Result<HttpResponse, LoadError> {
        let index = self.index()?;
        let csp = content_security_policy(self.intercom);
        let page = path.trim_end_matches('/');
        let (name, long_cache) = if page.is_empty() || TAB_PAGES.contains(&page) || page == INDEX {
            (INDEX, false)
        } else {
            (page, page.starts_with("assets/"))
        };
        let Some(file) = index.files.get(name) else {
            let mut res = HttpResponse::text(StatusCode::NOT_FOUND, "not found");
            res.headers.insert("content-security-policy", header(&csp));
            return Ok(res);
        };
        let mut res = HttpResponse::empty(StatusCode::OK);
        let h = &mut res.headers;
        h.insert("content-security-policy", header(&csp));
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            "referrer-policy",
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
        h.insert("etag", header(&file.etag));
        h.insert("vary", HeaderValue::from_static("accept-encoding"));
        h.insert(
            "cache-control",
            HeaderValue::from_static(if long_cache {
                "public, max-age=31536000, immutable"
            } else if name == INDEX {
                "no-cache"
            } else {
                "public, max-age=3600"
            }),
        );
        let fresh = headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim() == file.etag || t.trim() == "*")
            });
        if fresh {
            res.status = StatusCode::NOT_MODIFIED;
            return Ok(res);
        }
        res.headers
            .insert("content-type", HeaderValue::from_static(file.content_type));
        match &file.gzipped {
            Some(gz) if accepts_gzip(headers) => {
                res.headers
                    .insert("content-encoding", HeaderValue::from_static("gzip"));
                res.body = gz.clone();
            }
            _ => res.body = file.body.clone(),
        }
        Ok(res)
    }
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("our own header values are visible ASCII")
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all("accept-encoding")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

fn content_type(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .as_deref()
    {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("image/svg")
}

fn gzip(bytes: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    let out = encoder.finish().ok()?;
    (out.len() < bytes.len()).then(|| Bytes::from(out))
}

fn load(dir: &Path) -> Result<Index, LoadError> {
    if !dir.join(INDEX).is_file() {
        return Err(LoadError::NotBuilt(dir.display().to_string()));
    }
    let mut files = HashMap::new();
    let mut total = 0u64;
    let mut pending = vec![(dir.to_path_buf(), String::new(), 0usize)];
    while let Some((folder, prefix, depth)) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| LoadError::Io(format!("{}: {e}", folder.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| LoadError::Io(format!("{}: {e}", folder.display())))?;
            // `file_type` does not follow a symbolic link: a link is neither
            // a file nor a folder here, and is skipped.
            let kind = entry
                .file_type()
                .map_err(|e| LoadError::Io(format!("{}: {e}", entry.path().display())))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let relative = format!("{prefix}{name}");
            if kind.is_dir() && depth < MAX_DEPTH {
                pending.push((entry.path(), format!("{relative}/"), depth + 1));
            } else if kind.is_file() {
                let body = std::fs::read(entry.path())
                    .map_err(|e| LoadError::Io(format!("{}: {e}", entry.path().display())))?;
                total += body.len() as u64;
                if files.len() >= MAX_FILES || total > MAX_TOTAL_BYTES {
                    return Err(LoadError::TooBig(dir.display().to_string()));
                }
                let content_type = content_type(&relative);
                let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
                let gzipped = compressible(content_type).then(|| gzip(&body)).flatten();
                files.insert(
                    relative,
                    File {
                        content_type,
                        body: Bytes::from(body),
                        gzipped,
                        etag,
                    },
                );
            }
        }
    }
    Ok(Index { files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> (tempfile::TempDir, TabFiles) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            "<!doctype html><title>t</title>".repeat(20),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(
            dir.path().join("assets/app-1a2b.js"),
            "console.log(1);".repeat(50),
        )
        .unwrap();
        let files = TabFiles::new(dir.path().to_path_buf(), false);
        (dir, files)
    }

    fn get(files: &TabFiles, path: &str, headers: &[(&'static str, &str)]) -> HttpResponse {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        files.answer(path, &map).unwrap()
    }

    #[test]
    fn tab_pages_are_the_app_not_cached_and_assets_are_cached_for_a_year() {
        let (_dir, files) = site();
        for page in ["", "request", "admin/", "index.html"] {
            let res = get(&files, page, &[]);
            assert_eq!(res.status, StatusCode::OK, "{page}");
            assert_eq!(res.headers["cache-control"], "no-cache");
            assert!(
                res.headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
        }
        let res = get(
            &files,
            "assets/app-1a2b.js",
            &[("accept-encoding", "br, gzip")],
        );
        assert_eq!(
            res.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(res.headers["content-encoding"], "gzip");
        let etag = res.headers["etag"].to_str().unwrap().to_owned();
        let again = get(&files, "assets/app-1a2b.js", &[("if-none-match", &etag)]);
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.body.is_empty());
        let plain = get(
            &files,
            "assets/app-1a2b.js",
            &[("accept-encoding", "gzip;q=0")],
        );
        assert!(plain.headers.get("content-encoding").is_none());
    }

    #[test]
    fn nothing_outside_the_folder_and_no_folder_is_served() {
        let (dir, files) = site();
        std::fs::write(dir.path().parent().unwrap().join("secret.txt"), "no").ok();
        for path in [
            "../secret.txt",
            "assets/../../secret.txt",
            "/etc/passwd",
            "assets",
            "assets/",
            "..\\index.html",
            "nope",
        ] {
            assert_eq!(
                get(&files, path, &[]).status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }

    #[test]
    fn the_policy_lets_only_teams_and_microsoft_365_frame_the_tabs() {
        let csp = content_security_policy(false);
        let ancestors = csp
            .split("; ")
            .find(|d| d.starts_with("frame-ancestors"))
            .unwrap();
        assert!(ancestors.contains("https://teams.microsoft.com"));
        assert!(ancestors.contains("https://*.cloud.microsoft"));
        assert!(!ancestors.contains("'self'") && !ancestors.contains(" * "));
        assert!(!csp.contains("intercom"));
        assert!(content_security_policy(true).contains("https://widget.intercom.io"));
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"));
    }

    #[test]
    fn an_unbuilt_folder_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let files = TabFiles::new(dir.path().join("dist"), false);
        let err = files.answer("", &HeaderMap::new()).err().unwrap();
        assert!(err.to_string().contains("npm run build"));
    }
}
