//! The release `handler` set up as an operator would (`tenant add`,
//! `tenant set --consent granted`, `template put` with an icon), then
//! `handler local` pinned to CPU 0 with the bot's authentication off, Graph
//! pointing at the stand-in and the subscription made active by a signed
//! Stripe event.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::common::{
    self, BENCH_CUSTOMER, activate_subscription, cpu_time, data_dir, free_port, handler_command,
};
use crate::graph::{CLIENT_ID, GraphStandIn};

const BIN: &str = env!("CARGO_BIN_EXE_handler");
const STRIPE_SECRET: &str = "whsec_bench_provisioning_secret";
/// The PNG signature and a few bytes: what the template's icon check reads.
const ICON: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRbench-icon";

pub struct Handler {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Handler {
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// CPU time the handler used so far (user + system, all its threads).
    pub fn cpu(&self) -> Duration {
        cpu_time(self.pid())
    }
}

/// The last `lines` lines of the handler's log, without the notice every
/// unauthenticated activity logs.
pub fn log_tail(log: &Path, lines: usize) -> String {
    let notice = salestim::config::AUTH_DISABLED_WARNING;
    let tail = common::log_tail(log, lines * 4);
    let kept: Vec<&str> = tail.lines().filter(|l| !l.contains(notice)).collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

/// `handler <args>` on `dir`, pinned to CPU 0, its output appended to `log`.
fn command(dir: &Path, log: &Path) -> Command {
    let mut cmd = handler_command(BIN, dir, Some(log));
    cmd.env("RUST_LOG", "warn");
    cmd
}

async fn operator(dir: &Path, log: &Path, args: &[&str]) {
    common::operator(command(dir, log), args, log).await;
}

/// Sets the tenant up with `template` (saved as "project", with an icon)
/// and starts `handler local` on it.
pub async fn start(
    http: &reqwest::Client,
    graph: &GraphStandIn,
    tenant: &str,
    template: &Value,
    files: &Path,
) -> Handler {
    let dir = data_dir();
    let log = files.join("handler.log");
    let (template_file, icon_file) = (files.join("project.json"), files.join("icon.png"));
    std::fs::write(&template_file, template.to_string()).expect("writes");
    std::fs::write(&icon_file, ICON).expect("writes");
    let path = |p: &Path| p.display().to_string();
    operator(
        dir.path(),
        &log,
        &["tenant", "add", tenant, "--name", "Bench"],
    )
    .await;
    operator(
        dir.path(),
        &log,
        &["tenant", "set", tenant, "--consent", "granted"],
    )
    .await;
    operator(
        dir.path(),
        &log,
        &["billing", "bind", tenant, BENCH_CUSTOMER],
    )
    .await;
    operator(
        dir.path(),
        &log,
        &[
            "template",
            "put",
            tenant,
            "project",
            "--file",
            &path(&template_file),
            "--icon",
            &path(&icon_file),
        ],
    )
    .await;

    let mut cmd = command(dir.path(), &log);
    cmd.env("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
        .env("SALESTIM_BOT_AUTH_DISABLED", "true");
    common::on_graph(
        &mut cmd,
        graph.base_url.as_str(),
        graph.authority_host.as_str(),
        CLIENT_ID,
        &graph.client_secret(),
    );
    let (child, base) = common::spawn_local(http, cmd, free_port(), &log).await;
    let handler = Handler {
        child,
        base,
        log,
        _dir: dir,
    };
    activate_subscription(http, &handler.base, STRIPE_SECRET).await;
    handler
}
