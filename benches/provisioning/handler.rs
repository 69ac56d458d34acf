//! The release `handler` set up as an operator would (`tenant add`,
//! `tenant set --consent granted`, `template put` with an icon), then
//! `handler local` pinned to CPU 0 with the bot's authentication off, Graph
//! pointing at the stand-in and the subscription made active by a signed
//! Stripe event.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::common::{
    BENCH_CUSTOMER, activate_subscription, data_dir, free_port, pin_child_to_cpu0,
};
use crate::graph::{CLIENT_ID, GraphStandIn};

const BIN: &str = env!("CARGO_BIN_EXE_handler");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const STRIPE_SECRET: &str = "whsec_bench_provisioning_secret";
const KEK: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
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
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // The fields after the command name (which may hold spaces): utime is 14th, stime 15th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
            .sum();
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Duration::from_secs_f64(ticks as f64 / per_second)
    }
}

/// The last `lines` lines of the handler's log, without the notice every
/// unauthenticated activity logs.
pub fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let notice = salestim::config::AUTH_DISABLED_WARNING;
    let all: Vec<&str> = text.lines().filter(|l| !l.contains(notice)).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `handler <args>` on `dir`, pinned to CPU 0, its output appended to `log`.
fn command(dir: &Path, log: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("a log file");
    cmd.current_dir(ROOT)
        .env_clear()
        .env("SALESTIM_DATA_DIR", dir)
        .env("SALESTIM_LOCAL_KEK", KEK)
        .env("RUST_LOG", "warn")
        // `handler local` logs to stdout; clap and panics go to stderr.
        .stdout(Stdio::from(log.try_clone().expect("the log file again")))
        .stderr(log)
        .kill_on_drop(true);
    pin_child_to_cpu0(&mut cmd);
    cmd
}

async fn operator(dir: &Path, log: &Path, args: &[&str]) {
    let status = command(dir, log)
        .args(args)
        .args(["--settings", "/nonexistent"])
        .status()
        .await
        .expect("the handler runs");
    assert!(
        status.success(),
        "handler {args:?} failed; its log ends:\n{}",
        log_tail(log, 20)
    );
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

    let port = free_port();
    let mut cmd = command(dir.path(), &log);
    cmd.args(["local", "--settings", "/nonexistent"])
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
        .env("SALESTIM_BOT_AUTH_DISABLED", "true")
        .env("GRAPH_BASE_URL", graph.base_url.as_str())
        .env("ENTRA_AUTHORITY_HOST", graph.authority_host.as_str())
        .env("GRAPH_CLIENT_ID", CLIENT_ID)
        .env("GRAPH_CLIENT_SECRET", graph.client_secret());
    let handler = Handler {
        child: cmd.spawn().expect("the handler starts"),
        base: format!("http://127.0.0.1:{port}"),
        log,
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        if let Ok(res) = http
            .get(format!("{}/api/health", handler.base))
            .send()
            .await
            && res.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "handler local gave no 200 on /api/health within 30 s; its log ends:\n{}",
            log_tail(&handler.log, 20)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    activate_subscription(http, &handler.base, STRIPE_SECRET).await;
    handler
}
