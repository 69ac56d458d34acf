//! Starting the bots under load, each pinned to CPU 0: SalesTim's release
//! `handler local` (tenant registered, subscription made active) and the
//! botbuilder comparison bot in `benches/botbuilder/`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::process::Child;

use crate::botframework::ISSUER;
use crate::common::{
    self, BENCH_CUSTOMER, ROOT, activate_subscription, data_dir, first_200, free_port,
    handler_command, pinned_command,
};
use crate::connector::{APP_ID, APP_SECRET};
use crate::{BIN, OAUTH_SCOPE, STRIPE_SECRET, Stands};

/// A bot under load: its process and its messaging endpoint.
pub(crate) struct Bot {
    pub(crate) label: String,
    pub(crate) child: Child,
    pub(crate) url: String,
    pub(crate) log: PathBuf,
    /// SalesTim's data directory.
    _dir: Option<tempfile::TempDir>,
}

pub(crate) fn log_tail(log: &Path) -> String {
    common::log_tail(log, 20)
}

async fn wait_for_200(http: &reqwest::Client, url: &str, bot: &Bot) {
    assert!(
        first_200(http, url).await.is_some(),
        "{} gave no 200 on {url} within 30 s; its log ends:\n{}",
        bot.label,
        log_tail(&bot.log)
    );
}

/// Starts `handler local` with the tenant registered, its Stripe customer
/// bound, and its subscription made active by a signed Stripe event.
pub(crate) async fn start_salestim(http: &reqwest::Client, stands: &Stands) -> Bot {
    let dir = data_dir();
    let port = free_port();
    let log = stands.files.path().join("handler.log");
    let handler = || {
        let mut cmd = handler_command(BIN, dir.path(), Some(&log));
        cmd.env("RUST_LOG", "warn");
        cmd
    };
    let added = handler()
        .args(["tenant", "add", &stands.tenant, "--name", "Bench"])
        .args(["--settings", "/nonexistent"])
        .status()
        .await
        .expect("handler tenant add runs");
    assert!(added.success(), "tenant add: {}", log_tail(&log));
    let bound = handler()
        .args(["billing", "bind", &stands.tenant, BENCH_CUSTOMER])
        .args(["--settings", "/nonexistent"])
        .status()
        .await
        .expect("handler billing bind runs");
    assert!(bound.success(), "billing bind: {}", log_tail(&log));

    let mut cmd = handler();
    cmd.args(["local", "--settings", "/nonexistent"])
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
        .env("MicrosoftAppId", APP_ID)
        .env("MicrosoftAppPassword", APP_SECRET)
        .env(
            "ToBotFromChannelOpenIdMetadataUrl",
            stands.channel.metadata_url.as_str(),
        )
        .env("ToChannelFromBotLoginUrl", &stands.connector.login_url)
        .env("SSL_CERT_FILE", stands.ca_file());
    // `SALESTIM_BOT_REPLY_BUDGET_MS=0 cargo bench --bench bot`: every reply
    // through the outbox, as before replies were sent inline.
    let mut label = "salestim (handler local)".to_owned();
    if let Ok(budget) = std::env::var("SALESTIM_BOT_REPLY_BUDGET_MS") {
        cmd.env("SALESTIM_BOT_REPLY_BUDGET_MS", &budget);
        label = format!("salestim (budget {budget} ms)");
    }
    let bot = Bot {
        label,
        child: cmd.spawn().expect("the handler starts"),
        url: format!("http://127.0.0.1:{port}/api/messages"),
        log,
        _dir: Some(dir),
    };
    wait_for_200(http, &format!("http://127.0.0.1:{port}/api/health"), &bot).await;

    let base = format!("http://127.0.0.1:{port}");
    activate_subscription(http, &base, STRIPE_SECRET).await;
    bot
}

/// Starts the botbuilder bot, or says why it cannot.
pub(crate) async fn start_botbuilder(
    http: &reqwest::Client,
    stands: &Stands,
) -> Result<Bot, String> {
    let dir = PathBuf::from(ROOT).join("benches/botbuilder");
    let manifest = dir.join("node_modules/botbuilder/package.json");
    let version = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .ok_or("benches/botbuilder/node_modules is missing")?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let node = std::env::split_paths(&path)
        .map(|p| p.join("node"))
        .find(|p| p.is_file())
        .ok_or("`node` is not on PATH")?;
    let port = free_port();
    let log = stands.files.path().join("botbuilder.log");
    let mut cmd = pinned_command(&node, Some(&log));
    cmd.arg(dir.join("bot.js"))
        .env("PORT", port.to_string())
        .env("NODE_ENV", "production")
        .env("NODE_EXTRA_CA_CERTS", stands.ca_file())
        .env("BENCH_CARD_FILE", stands.files.path().join("card.json"))
        .env("MicrosoftAppId", APP_ID)
        .env("MicrosoftAppPassword", APP_SECRET)
        .env(
            "ToBotFromChannelOpenIdMetadataUrl",
            stands.channel.metadata_url.as_str(),
        )
        .env("ToBotFromChannelTokenIssuer", ISSUER)
        .env("ToChannelFromBotLoginUrl", &stands.connector.login_url)
        .env("ToChannelFromBotOAuthScope", OAUTH_SCOPE);
    let bot = Bot {
        label: format!("botbuilder {version} (Node {})", node_version(&node)),
        child: cmd.spawn().map_err(|e| format!("node: {e}"))?,
        url: format!("http://127.0.0.1:{port}/api/messages"),
        log,
        _dir: None,
    };
    wait_for_200(http, &format!("http://127.0.0.1:{port}/health"), &bot).await;
    Ok(bot)
}

fn node_version(node: &Path) -> String {
    std::process::Command::new(node)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
