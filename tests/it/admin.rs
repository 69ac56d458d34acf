//! The operator commands, run as an operator runs them: the `handler`
//! binary on a data directory of its own. A tenant is registered, given
//! consent and policies; templates are saved (checked and versioned, with
//! an icon), listed, shown, retired; bad input is refused with every
//! reason and changes nothing.

use std::path::Path;

use salestim::governance::templates::ICON_CONTAINER;
use salestim::platform::blobs::Blobs;
use salestim::platform::blobs::files::FileBlobs;
use serde_json::{Value, json};

pub(crate) const TENANT: &str = "3f1c2b7a-9d4e-4c5b-8a6f-0e1d2c3b4a59";
const ALICE: &str = "0b8e4c1a-7d2f-4a3e-9c61-5d4f3a2b1c0d";

pub(crate) struct Cli {
    dir: tempfile::TempDir,
    /// Settings given to every command, as app settings would be.
    settings: Vec<(&'static str, String)>,
}

impl Cli {
    pub(crate) fn new() -> Self {
        Cli {
            dir: tempfile::tempdir().unwrap(),
            settings: Vec::new(),
        }
    }

    /// Sets (or replaces) a setting for the commands run from now on.
    pub(crate) fn set(&mut self, name: &'static str, value: String) {
        self.settings.retain(|(n, _)| *n != name);
        self.settings.push((name, value));
    }

    /// Runs `handler <args>`; (success, stdout, stderr).
    pub(crate) async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let (code, out, err) = self.run_for_code(args).await;
        (code == Some(0), out, err)
    }

    /// Runs `handler <args>`; (exit code, stdout, stderr).
    pub(crate) async fn run_for_code(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"))
            .args(args)
            .args(["--settings", "no-such-file.json"])
            .current_dir(self.dir.path())
            .env_clear()
            .env("SALESTIM_DATA_DIR", self.dir.path().join("data"))
            .env("RUST_LOG", "warn")
            .envs(self.settings.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "handler {args:?} failed: {err}");
        out
    }

    /// The embedded blob store the commands wrote to.
    fn blobs(&self) -> FileBlobs {
        FileBlobs::new(self.dir.path().join("data/blobs"))
    }

    /// The bytes of a template icon.
    async fn icon(&self, name: &str) -> Vec<u8> {
        let blob = self.blobs().get(ICON_CONTAINER, name).await.unwrap();
        blob.map(|b| b.data.to_vec()).unwrap_or_default()
    }

    /// How many icons are stored, every tenant's.
    async fn icons(&self) -> usize {
        self.blobs().list(ICON_CONTAINER, "").await.unwrap().len()
    }

    /// Where the commands keep their embedded stores.
    pub(crate) fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub(crate) fn file(&self, name: &str, contents: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }
}

pub(crate) fn template() -> Value {
    json!({
        "name": "Project", "description": "Customer projects", "code": "PRJ",
        "visibility": "Private",
        "channels": [{"name": "Planning"}, {"name": "Leadership", "private": true}],
        "tabs": [{"channel": "Planning", "name": "Board", "url": "https://board.contoso.test/"}],
        "apps": ["com.contoso.crm"],
        "owners": [{"aadObjectId": ALICE, "name": "Alice"}],
        "naming": {"prefix": [{"attribute": "TemplateCode"}, {"text": "-"}]},
        "approval": {"kind": "stages", "stages": [[{"aadObjectId": ALICE, "name": "Alice"}]]},
        "lifecycle": {"expiryDays": 180},
        "crmLink": "opportunity"
    })
}

#[tokio::test]
async fn an_operator_sets_up_a_tenant_and_its_templates() {
    let cli = Cli::new();
    cli.ok(&["tenant", "add", TENANT, "--name", "Contoso"])
        .await;
    let naming = cli.file(
        "naming.json",
        br#"{"suffix": [{"text": " ("}, {"attribute": "Country"}, {"text": ")"}],
            "blockedWords": [{"word": "ceo", "wholeWord": true}], "maxLength": 80}"#,
    );
    let shown = cli
        .ok(&[
            "tenant",
            "set",
            TENANT,
            "--consent",
            "granted",
            "--naming",
            &naming,
            "--reminder-hours",
            "24",
            "--escalate-hours",
            "72",
            "--escalate-to",
            ALICE,
            "--escalate-name",
            "Alice",
        ])
        .await;
    let tenant: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(tenant["onboarding"]["adminConsent"], true);
    assert!(tenant["onboarding"]["consentedAt"].is_string());
    assert_eq!(tenant["settings"]["reminderAfterHours"], 24);
    assert_eq!(tenant["settings"]["escalateTo"]["name"], "Alice");
    assert_eq!(tenant["settings"]["naming"]["maxLength"], 80);

    let file = cli.file("project.json", template().to_string().as_bytes());
    let first_png = png(8);
    let icon = cli.file("icon.png", &first_png);
    let out = cli
        .ok(&[
            "template", "put", TENANT, "project", "--file", &file, "--icon", &icon,
        ])
        .await;
    assert!(out.contains("version 1"), "{out}");
    let out = cli
        .ok(&["template", "put", TENANT, "project", "--file", &file])
        .await;
    assert!(
        out.contains("version 2"),
        "a saved change bumps the version: {out}"
    );
    let listed = cli.ok(&["template", "list", TENANT]).await;
    assert!(listed.contains("project\tv2\tactive\tProject"), "{listed}");
    let shown: Value =
        serde_json::from_str(&cli.ok(&["template", "show", TENANT, "project"]).await).unwrap();
    let first_icon = shown["icon"].as_str().unwrap().to_owned();
    assert!(
        first_icon.starts_with(&format!("{TENANT}/project-")),
        "a saved change without --icon keeps the picture: {shown}"
    );
    assert_eq!(cli.icon(&first_icon).await, first_png);
    // A new picture is a new blob: version 1 and 2 keep showing theirs.
    let other = cli.file("other.png", &png(9));
    cli.ok(&[
        "template", "put", TENANT, "project", "--file", &file, "--icon", &other,
    ])
    .await;
    let v3: Value =
        serde_json::from_str(&cli.ok(&["template", "show", TENANT, "project"]).await).unwrap();
    let second_icon = v3["icon"].as_str().unwrap().to_owned();
    assert_ne!(second_icon, first_icon);
    assert_eq!(cli.icon(&first_icon).await, first_png);
    // A refused change stores no picture and changes nothing.
    let mut refused = template();
    refused["channels"] = json!([{"name": "a/b"}]);
    let refused = cli.file("refused.json", refused.to_string().as_bytes());
    let third = cli.file("third.png", &png(10));
    let (ok, _, err) = cli
        .run(&[
            "template", "put", TENANT, "project", "--file", &refused, "--icon", &third,
        ])
        .await;
    assert!(!ok && err.contains("character Teams refuses"), "{err}");
    assert_eq!(cli.icons().await, 2, "no blob for a refused save");
    cli.ok(&[
        "template",
        "put",
        TENANT,
        "project",
        "--file",
        &file,
        "--no-icon",
    ])
    .await;
    let v4: Value =
        serde_json::from_str(&cli.ok(&["template", "show", TENANT, "project"]).await).unwrap();
    assert!(v4.get("icon").is_none(), "{v4}");
    assert_eq!(v4["version"], 4);
    let shown = v3;
    assert_eq!(shown["channels"][1]["private"], true);
    assert_eq!(shown["approval"]["kind"], "stages");
    assert_eq!(shown["crmLink"], "opportunity");
    cli.ok(&["template", "retire", TENANT, "project"]).await;
    let listed = cli.ok(&["template", "list", TENANT]).await;
    assert!(listed.contains("project\tv5\tretired"), "{listed}");
    cli.ok(&["template", "activate", TENANT, "project"]).await;
}

#[tokio::test]
async fn bad_operator_input_is_refused_with_every_reason_and_changes_nothing() {
    let cli = Cli::new();
    cli.ok(&["tenant", "add", TENANT, "--name", "Contoso"])
        .await;
    let mut bad = template();
    bad["channels"] = json!([{"name": "General"}, {"name": "a/b"}]);
    bad["tabs"] = json!([{"channel": "Nowhere", "name": "X", "url": "http://plain.test"}]);
    bad["approval"] = json!({"kind": "named", "approvers": []});
    let file = cli.file("bad.json", bad.to_string().as_bytes());
    let (ok, _, err) = cli
        .run(&["template", "put", TENANT, "project", "--file", &file])
        .await;
    assert!(!ok);
    for reason in [
        "General channel",
        "character Teams refuses",
        "does not create",
        "https://",
        "at least one approver",
    ] {
        assert!(err.contains(reason), "{reason} in {err}");
    }
    let broken = cli.file("broken.json", b"{\"name\": ");
    let (ok, _, err) = cli
        .run(&["template", "put", TENANT, "project", "--file", &broken])
        .await;
    assert!(!ok && err.contains("broken.json"), "{err}");
    let good = cli.file("good.json", template().to_string().as_bytes());
    let not_image = cli.file("icon.gif", b"GIF89a....");
    let (ok, _, err) = cli
        .run(&[
            "template", "put", TENANT, "project", "--file", &good, "--icon", &not_image,
        ])
        .await;
    assert!(!ok && err.contains("PNG or JPEG"), "{err}");
    let (ok, _, err) = cli
        .run(&[
            "template",
            "put",
            "9a9a9a9a-0000-4000-8000-000000000000",
            "project",
            "--file",
            &good,
        ])
        .await;
    assert!(!ok && err.contains("no tenant"), "{err}");
    let (ok, _, err) = cli
        .run(&["template", "put", TENANT, "a/b", "--file", &good])
        .await;
    assert!(!ok && err.contains("template id"), "{err}");
    assert_eq!(
        cli.ok(&["template", "list", TENANT]).await.trim(),
        "",
        "nothing saved"
    );

    // Escalation needs both its hours and its person, after the reminder.
    let (ok, _, err) = cli
        .run(&["tenant", "set", TENANT, "--escalate-hours", "12"])
        .await;
    assert!(!ok && err.contains("someone to escalate to"), "{err}");
    let (ok, _, err) = cli
        .run(&[
            "tenant",
            "set",
            TENANT,
            "--escalate-hours",
            "12",
            "--escalate-to",
            ALICE,
        ])
        .await;
    assert!(!ok && err.contains("after the reminder"), "{err}");
    let (ok, _, err) = cli
        .run(&["tenant", "set", "not-a-guid", "--consent", "granted"])
        .await;
    assert!(!ok, "{err}");
    let shown = cli.ok(&["tenant", "show", TENANT]).await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        shown["tenant"]["onboarding"]["adminConsent"], false,
        "nothing changed"
    );
    assert!(
        shown["tenant"]["settings"]
            .get("escalateAfterHours")
            .is_none()
    );
    assert!(Path::new(&cli.dir.path().join("data")).exists());
}

#[tokio::test]
async fn a_tenant_added_with_a_trial_shows_it_and_a_trial_out_of_bounds_is_refused() {
    let cli = Cli::new();
    for days in ["0", "366"] {
        let (ok, _, err) = cli
            .run(&[
                "tenant",
                "add",
                TENANT,
                "--name",
                "Contoso",
                "--trial-days",
                days,
            ])
            .await;
        assert!(!ok, "--trial-days {days} is refused");
        assert!(err.contains("1 to 365 days"), "{err}");
    }
    let (ok, _, _) = cli.run(&["tenant", "show", TENANT]).await;
    assert!(!ok, "nothing was written");
    let added = cli
        .ok(&[
            "tenant",
            "add",
            TENANT,
            "--name",
            "Contoso",
            "--trial-days",
            "30",
        ])
        .await;
    assert!(added.contains("on a SalesTim trial until"), "{added}");
    let shown: Value = serde_json::from_str(&cli.ok(&["tenant", "show", TENANT]).await).unwrap();
    assert!(shown["tenant"]["trialUntil"].is_string(), "{shown}");
    assert_eq!(shown["entitlement"]["active"], true);
    assert_eq!(shown["entitlement"]["reason"], "trialing (SalesTim trial)");
}

/// A real PNG of `side` x `side` pixels (icons are decoded when saved).
fn png(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::new(side, side)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encodes");
    out
}

#[tokio::test]
async fn a_tenant_added_with_its_first_admin_has_them_as_its_admin() {
    use salestim::governance::roles::{self, Role};
    let cli = Cli::new();
    let (ok, _, err) = cli
        .run(&[
            "tenant",
            "add",
            TENANT,
            "--name",
            "Contoso",
            "--admin",
            "not-a-guid",
        ])
        .await;
    assert!(!ok && err.contains("--admin"), "{err}");
    let (ok, _, _) = cli.run(&["tenant", "show", TENANT]).await;
    assert!(!ok, "a refused --admin adds no tenant");
    let out = cli
        .ok(&[
            "tenant",
            "add",
            TENANT,
            "--name",
            "Contoso",
            "--admin",
            &ALICE.to_uppercase(),
        ])
        .await;
    assert!(out.contains("first admin"), "{out}");
    let docs = salestim::platform::documents::sqlite::SqliteDocuments::open(
        &cli.data_dir().join("documents.sqlite"),
        std::sync::Arc::new(salestim::platform::clock::SystemClock),
    )
    .unwrap();
    let tenant = salestim::ids::TenantId::parse(TENANT).unwrap();
    let (assigned, _) = roles::get(&docs, &tenant).await.unwrap();
    assert_eq!(assigned.roles_of(ALICE, &[]), [Role::Admin].into());
}
