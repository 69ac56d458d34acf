//! The Teams app package: built by the packaging script with ids and domains
//! filled from settings, valid against the official manifest schema
//! (bundled by npm `@microsoft/app-manifest`, checked offline), icons of the
//! sizes Teams requires.

use std::io::Read;
use std::process::Command;

use crate::support::app::repo_root;

const TEAMS_APP_ID: &str = "3f1d2c4b-5a6e-4f70-8a9b-0c1d2e3f4a5b";
const BOT_ID: &str = "5f6d1e0a-1111-4d5b-9c55-0123456789ab";

fn package(dir: &std::path::Path, envs: &[(&str, &str)]) -> std::process::Output {
    Command::new("python3")
        .arg(repo_root().join("scripts/teams_package.py"))
        .arg(dir.join("app.zip"))
        .arg("--manifest-only")
        .arg(dir.join("manifest.json"))
        .env_remove("TEAMS_APP_ID")
        .env_remove("MicrosoftAppId")
        .env_remove("SALESTIM_TAB_CLIENT_ID")
        .env_remove("SALESTIM_PUBLIC_HOSTNAME")
        .envs(envs.iter().copied())
        .output()
        .expect("python3 runs")
}

fn validate(manifest: &std::path::Path) -> std::process::Output {
    Command::new("node")
        .arg(repo_root().join("tests/tools/validate-manifest.js"))
        .arg(manifest)
        .output()
        .expect("node runs (npm ci --prefix tests/tools)")
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    )
}

#[test]
fn the_package_is_filled_from_settings_and_valid_against_the_manifest_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = package(
        dir.path(),
        &[
            ("TEAMS_APP_ID", TEAMS_APP_ID),
            ("MicrosoftAppId", BOT_ID),
            ("SALESTIM_PUBLIC_HOSTNAME", "salestim.example.com"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked = validate(&dir.path().join("manifest.json"));
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["id"], TEAMS_APP_ID);
    assert_eq!(manifest["bots"][0]["botId"], BOT_ID);
    assert_eq!(manifest["validDomains"][0], "salestim.example.com");
    assert_eq!(
        manifest["webApplicationInfo"]["resource"],
        format!("api://salestim.example.com/{BOT_ID}")
    );
    let commands: Vec<&str> = manifest["bots"][0]["commandLists"][0]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    let known: Vec<&str> = salestim::teams::cards::COMMANDS
        .iter()
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(
        commands, known,
        "the manifest lists the commands the bot understands"
    );

    let ids_of = |kind: &str| -> Vec<&str> {
        manifest["composeExtensions"][0]["commands"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["type"] == kind)
            .map(|c| c["id"].as_str().unwrap())
            .collect()
    };
    let (search, action) = salestim::bot::invokes::command_ids();
    assert_eq!(
        ids_of("query"),
        search,
        "the manifest's search commands are the ones routed"
    );
    assert_eq!(
        ids_of("action"),
        action,
        "the manifest's action commands are the ones routed"
    );
    // Record links of the CRMs the connectors accept unfurl (their
    // regional Dynamics hosts and Salesforce's Lightning hosts), and ours.
    let domains: Vec<&str> =
        manifest["composeExtensions"][0]["messageHandlers"][0]["value"]["domains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
    for host in [
        "salestim.example.com",
        "*.crm.dynamics.com",
        "*.crm4.dynamics.com",
        "*.lightning.force.com",
        "*.sandbox.lightning.force.com",
    ] {
        assert!(domains.contains(&host), "{host} unfurls: {domains:?}");
    }
    let tabs: Vec<&str> = manifest["staticTabs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["entityId"].as_str().unwrap())
        .collect();
    for linked in [
        salestim::teams::links::REQUESTS_TAB,
        salestim::teams::links::ADMIN_TAB,
    ] {
        assert!(
            tabs.contains(&linked),
            "cards link to the {linked} tab, so the manifest declares it"
        );
    }

    let mut zip = zip_entries(&dir.path().join("app.zip"));
    zip.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = zip.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["color.png", "manifest.json", "outline.png"]);
    assert_eq!(png_size(&zip[0].1), (192, 192));
    assert_eq!(png_size(&zip[2].1), (32, 32));
}

#[test]
fn missing_or_malformed_settings_stop_the_packaging_and_the_validator_catches_a_broken_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = package(
        dir.path(),
        &[
            ("MicrosoftAppId", BOT_ID),
            ("SALESTIM_PUBLIC_HOSTNAME", "salestim.example.com"),
        ],
    );
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("TEAMS_APP_ID"));
    let out = package(
        dir.path(),
        &[
            ("TEAMS_APP_ID", TEAMS_APP_ID),
            ("MicrosoftAppId", BOT_ID),
            ("SALESTIM_PUBLIC_HOSTNAME", "https://not a host"),
        ],
    );
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("SALESTIM_PUBLIC_HOSTNAME")
    );

    // A manifest that is valid but for one missing field.
    let out = package(
        dir.path(),
        &[
            ("TEAMS_APP_ID", TEAMS_APP_ID),
            ("MicrosoftAppId", BOT_ID),
            ("SALESTIM_PUBLIC_HOSTNAME", "salestim.example.com"),
        ],
    );
    assert!(out.status.success());
    assert!(validate(&dir.path().join("manifest.json")).status.success());
    let broken = dir.path().join("broken.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    manifest.as_object_mut().unwrap().remove("name");
    std::fs::write(&broken, manifest.to_string()).unwrap();
    assert!(!validate(&broken).status.success());
}

#[tokio::test]
async fn the_manifests_tabs_are_exactly_the_pages_the_tabs_function_serves() {
    let dir = tempfile::tempdir().unwrap();
    let tab_client = "0A1B2C3D-4E5F-4a6b-8c7d-9e0f1a2b3c4d";
    let out = package(
        dir.path(),
        &[
            ("TEAMS_APP_ID", TEAMS_APP_ID),
            ("MicrosoftAppId", BOT_ID),
            ("SALESTIM_TAB_CLIENT_ID", tab_client),
            ("SALESTIM_PUBLIC_HOSTNAME", "salestim.example.com"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(validate(&dir.path().join("manifest.json")).status.success());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    // SSO is for the tabs' registration, the bot keeps its own.
    let client = tab_client.to_ascii_lowercase();
    assert_eq!(manifest["webApplicationInfo"]["id"], client.as_str());
    assert_eq!(
        manifest["webApplicationInfo"]["resource"],
        format!("api://salestim.example.com/{client}")
    );
    assert_eq!(manifest["bots"][0]["botId"], BOT_ID);

    let tabs = manifest["staticTabs"].as_array().unwrap();
    let mut paths = Vec::new();
    for tab in tabs {
        assert_eq!(tab["scopes"], serde_json::json!(["personal"]));
        let url = url::Url::parse(tab["contentUrl"].as_str().unwrap()).unwrap();
        assert_eq!(url.scheme(), "https");
        assert_eq!(url.host_str(), Some("salestim.example.com"));
        assert!(url.query().is_none() && url.fragment().is_none());
        let page = url
            .path()
            .strip_prefix("/api/tabs/")
            .expect("under /api/tabs/");
        assert_eq!(tab["entityId"], page, "each tab is named after its page");
        paths.push(page.to_owned());
    }
    assert_eq!(paths, salestim::tabs::files::TAB_PAGES);

    // And each is served, under `handler local` as in Azure (the same
    // function.json route).
    let root = tempfile::tempdir().unwrap();
    let app = crate::tab_files::app_serving(&crate::tab_files::fake_build(root.path())).await;
    for page in &paths {
        let res = app.get(&format!("api/tabs/{page}")).await;
        assert_eq!(res.status(), 200, "{page}");
        let kind = res.headers()["content-type"].to_str().unwrap();
        assert!(kind.starts_with("text/html"), "{page}: {kind}");
    }
}

/// The entries of a zip file, read with Python's zipfile (no zip crate needed
/// for one test).
fn zip_entries(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let script = "import sys,zipfile,base64\nz=zipfile.ZipFile(sys.argv[1])\nfor n in z.namelist(): print(n, base64.b64encode(z.read(n)).decode())";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    let mut text = String::new();
    out.stdout.as_slice().read_to_string(&mut text).unwrap();
    text.lines()
        .map(|l| {
            let (name, data) = l.split_once(' ').unwrap();
            (
                name.to_owned(),
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).unwrap(),
            )
        })
        .collect()
}
