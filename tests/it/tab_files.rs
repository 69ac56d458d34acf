//! The `Tabs` function through the local host: the web app's pages and
//! assets from its build folder (`SALESTIM_TABS_DIR`), cached as they
//! should be, framed by Teams and Microsoft 365 only, and nothing outside
//! the folder whatever the path says; `handler local`'s front door sends a
//! browser to the app.

use std::path::Path;

use reqwest::StatusCode;
use salestim::tabs::files::TAB_PAGES;

use crate::support::app::{Options, TestApp, spawn_app_with};
use crate::support::raw_http::{ANSWER_WAIT, RawConnection, RawResponse};

const INDEX: &str = "<!doctype html><html><head><title>SalesTim</title>\
<script type=\"module\" src=\"/api/tabs/assets/index-Ab12Cd34.js\"></script></head>\
<body><div id=\"root\"></div></body></html>";
const SCRIPT: &str = "console.log('the tabs');";

/// A build folder as `npm run build` makes it, inside a folder that also
/// holds a file no request may reach.
pub fn fake_build(root: &Path) -> std::path::PathBuf {
    std::fs::write(root.join("secret.txt"), "not to be served").unwrap();
    let dist = root.join("dist");
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), INDEX).unwrap();
    std::fs::write(dist.join("assets/index-Ab12Cd34.js"), SCRIPT.repeat(50)).unwrap();
    dist
}

pub async fn app_serving(dir: &Path) -> TestApp {
    spawn_app_with(Options {
        settings: vec![("SALESTIM_TABS_DIR", dir.display().to_string())],
        ..Options::default()
    })
    .await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn raw_get(base: &url::Url, path: &str) -> RawResponse {
    let mut conn = RawConnection::open(base).await;
    conn.send_head("GET", path, &[("connection", "close".into())])
        .await;
    conn.response_within(ANSWER_WAIT)
        .await
        .unwrap_or_else(|| panic!("no answer to GET {path}"))
}

#[tokio::test]
async fn the_tabs_are_served_from_the_build_cached_right_and_framed_by_teams_only() {
    let root = tempfile::tempdir().unwrap();
    let app = app_serving(&fake_build(root.path())).await;

    for page in std::iter::once("").chain(TAB_PAGES) {
        let res = app.get(&format!("api/tabs/{page}")).await;
        assert_eq!(res.status(), StatusCode::OK, "/api/tabs/{page}");
        let h = res.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(h["cache-control"], "no-cache", "/api/tabs/{page}");
        assert!(h.contains_key("etag"));
        let csp = h["content-security-policy"].to_str().unwrap().to_owned();
        let ancestors = csp
            .split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix("frame-ancestors "))
            .expect("a frame-ancestors directive");
        assert!(ancestors.contains("https://teams.microsoft.com"), "{csp}");
        assert!(
            !ancestors.contains('\'') && !ancestors.contains("http:"),
            "{csp}"
        );
        assert!(!csp.contains("intercom"), "no Messenger configured: {csp}");
        assert_eq!(res.text().await.unwrap(), INDEX);
    }

    // Read raw: the test's HTTP client would decode gzip on its own.
    let mut conn = RawConnection::open(&app.base).await;
    conn.send_head(
        "GET",
        "/api/tabs/assets/index-Ab12Cd34.js",
        &[("accept-encoding", "gzip, br".into())],
    )
    .await;
    let res = conn.response_within(ANSWER_WAIT).await.expect("an answer");
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        res.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(res.header("content-security-policy").is_some());
    assert_eq!(
        res.header("content-encoding"),
        Some("gzip"),
        "gzip through the local host"
    );
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&res.body[..]), &mut plain)
        .unwrap();
    assert_eq!(plain, SCRIPT.repeat(50));

    // Revalidation of the page: 304 with the same ETag.
    let etag = app.get("api/tabs/").await.headers()["etag"].clone();
    let res = app
        .http
        .get(app.url("api/tabs/my"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

    // No directory listing, no unknown file.
    for path in [
        "api/tabs/assets",
        "api/tabs/assets/",
        "api/tabs/assets/missing.js",
        "api/tabs/requests",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // Nothing outside the folder, however the path is spelt, through the
    // local host and straight at the handler (which no client normalised).
    for base in [&app.base, &app.handler] {
        for path in [
            "/api/tabs/../secret.txt",
            "/api/tabs/../../Cargo.toml",
            "/api/tabs/%2e%2e/secret.txt",
            "/api/tabs/%2E%2E%2Fsecret.txt",
            "/api/tabs/assets/..%2f..%2fsecret.txt",
            "/api/tabs/..%5csecret.txt",
            "/api/tabs/%2fetc%2fpasswd",
            "/api/tabs//etc/passwd",
        ] {
            let res = raw_get(base, path).await;
            assert_eq!(res.status, 404, "{base}{path}: {}", res.text());
            assert!(!res.text().contains("not to be served"), "{path}");
        }
    }
}

#[tokio::test]
async fn the_front_door_sends_a_browser_to_the_tabs() {
    let root = tempfile::tempdir().unwrap();
    let app = app_serving(&fake_build(root.path())).await;
    let http = no_redirects();
    for (path, location) in [
        ("", "/api/tabs/"),
        ("api/tabs", "/api/tabs/"),
        ("?user=x", "/api/tabs/?user=x"),
    ] {
        let res = http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "/{path}");
        assert_eq!(res.headers()["location"], location, "/{path}");
    }
    // Followed, it is the app.
    let res = app.get("").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), INDEX);
    // Only GET is redirected.
    let res = http.post(app.url("")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_folder_not_built_yet_answers_503_until_it_is_built() {
    let root = tempfile::tempdir().unwrap();
    let dist = root.path().join("dist");
    let app = app_serving(&dist).await;
    let res = app.get("api/tabs/request").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let reason = res.text().await.unwrap();
    assert!(
        reason.contains("not built") && reason.contains("npm run build"),
        "{reason}"
    );
    assert!(
        !reason.contains(&root.path().display().to_string()),
        "{reason}"
    );
    // Built afterwards, it is served without a restart.
    fake_build(root.path());
    assert_eq!(app.get("api/tabs/request").await.status(), StatusCode::OK);
}
