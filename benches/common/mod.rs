//! What every benchmark needs: a data directory, a free port, a process's
//! memory figures, CPU pinning, and a signed Stripe event to make a tenant
//! active.

#![allow(dead_code, reason = "each bench uses part of it")]

/// A fresh data directory under `SALESTIM_BENCH_DIR` (e.g. /dev/shm, to take
/// the disk out of the figures) or the system temp dir.
pub fn data_dir() -> tempfile::TempDir {
    match std::env::var_os("SALESTIM_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("SALESTIM_BENCH_DIR is writable"),
        None => tempfile::tempdir().expect("a temp dir"),
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}

/// A `/proc/<pid>/status` memory field (`VmRSS`, `VmHWM`) in KiB; 0 if gone.
pub fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Pins the calling thread (and the threads it starts later) to `cpu`.
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: sched_setaffinity on the calling thread with a zeroed, filled set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The child `cmd` starts runs on CPU 0 only, all its threads.
pub fn pin_child_to_cpu0(cmd: &mut tokio::process::Command) {
    // SAFETY: sched_setaffinity on the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            pin_to_cpu(0);
            Ok(())
        });
    }
}

/// A `Stripe-Signature` header for `body` signed now with `secret`.
pub fn stripe_signature(body: &[u8], secret: &str) -> String {
    use hmac::{Hmac, Mac};
    let t = unix_now();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The Stripe customer of the bench tenant, which the bench binds to it
/// (`handler billing bind <tenant> cus_bench`) before [`activate_subscription`].
pub const BENCH_CUSTOMER: &str = "cus_bench";

/// Makes the bench tenant active on the handler at `base` with a signed
/// `customer.subscription.updated` for 50 seats of [`BENCH_CUSTOMER`],
/// which must be bound to it already.
pub async fn activate_subscription(http: &reqwest::Client, base: &str, secret: &str) {
    let event = serde_json::json!({"id": format!("evt_bench_{}", uuid::Uuid::new_v4().simple()), "object": "event",
        "type": "customer.subscription.updated", "created": unix_now(),
        "data": {"object": {"id": "sub_bench", "customer": BENCH_CUSTOMER, "status": "active",
            "items": {"data": [{"quantity": 50, "price": {"id": "price_bench"}}]}}}});
    let body = serde_json::to_vec(&event).expect("JSON");
    let res = http
        .post(format!("{base}/api/billing/stripe"))
        .header("stripe-signature", stripe_signature(&body, secret))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(res.status(), 200, "the Stripe event is accepted");
}

/// The repository root: where the handler finds `functions/` and `host.json`.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The local key-encryption key every bench's handler runs with (a bench
/// value, not a secret).
pub const KEK: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// `program` from the repository root with an empty environment, on CPU 0
/// (all its threads; the load gets the other CPU), its output appended to
/// `log` (or dropped), ended when dropped.
pub fn pinned_command(
    program: &std::path::Path,
    log: Option<&std::path::Path>,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.current_dir(ROOT).env_clear().kill_on_drop(true);
    match log {
        Some(log) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("a log file");
            // `handler local` logs to stdout; clap, panics and Node to stderr.
            cmd.stdout(file.try_clone().expect("the log file again"))
                .stderr(file);
        }
        None => {
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
        }
    }
    pin_child_to_cpu0(&mut cmd);
    cmd
}

/// The handler binary on its own data directory and the bench key.
pub fn handler_command(
    bin: &str,
    dir: &std::path::Path,
    log: Option<&std::path::Path>,
) -> tokio::process::Command {
    let mut cmd = pinned_command(std::path::Path::new(bin), log);
    cmd.env("SALESTIM_DATA_DIR", dir)
        .env("SALESTIM_LOCAL_KEK", KEK);
    cmd
}

/// The last `lines` lines of a log file.
pub fn log_tail(log: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Waits for the first 200 from `url`; how long it took, or `None` after
/// 30 s.
pub async fn first_200(http: &reqwest::Client, url: &str) -> Option<std::time::Duration> {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(30) {
        if let Ok(res) = http.get(url).send().await
            && res.status() == 200
        {
            return Some(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    None
}

/// The CPU time (user + system, all threads) process `pid` used so far.
pub fn cpu_time(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    std::time::Duration::from_micros(ticks * 1_000_000 / hz)
}

/// Runs `bench` to its end on a single-threaded runtime on CPU 1 (the
/// handler gets CPU 0).
pub fn run_on_cpu1(bench: impl std::future::Future<Output = ()>) {
    // Before the runtime exists, so every thread it starts inherits CPU 1.
    pin_to_cpu(1);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(bench);
}

/// An operator's command (`handler tenant add …`), `cmd` with `args`
/// and no settings file; fails the bench with the log's end if it fails.
pub async fn operator(mut cmd: tokio::process::Command, args: &[&str], log: &std::path::Path) {
    let status = cmd
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

/// The handler's Graph: a stand-in's base URL and authority, and the
/// credentials it accepts.
pub fn on_graph(
    cmd: &mut tokio::process::Command,
    base_url: &str,
    authority_host: &str,
    client_id: &str,
    secret: &str,
) {
    cmd.env("GRAPH_BASE_URL", base_url)
        .env("ENTRA_AUTHORITY_HOST", authority_host)
        .env("GRAPH_CLIENT_ID", client_id)
        .env("GRAPH_CLIENT_SECRET", secret);
}

/// `handler local`, `cmd` on `port`, once it answers its health endpoint:
/// the child and its base URL (`http://127.0.0.1:<port>`). Fails the bench
/// with the log's end when no 200 comes within 30 s.
pub async fn spawn_local(
    http: &reqwest::Client,
    mut cmd: tokio::process::Command,
    port: u16,
    log: &std::path::Path,
) -> (tokio::process::Child, String) {
    cmd.args(["local", "--settings", "/nonexistent"])
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string());
    let child = cmd.spawn().expect("the handler starts");
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        first_200(http, &format!("{base}/api/health"))
            .await
            .is_some(),
        "handler local gave no 200 on /api/health within 30 s; its log ends:\n{}",
        log_tail(log, 20)
    );
    (child, base)
}

/// Says what made a run's figures invalid; `true` when something did.
pub fn report_problems(label: &str, problems: &[String], most: usize) -> bool {
    if problems.is_empty() {
        return false;
    }
    println!(
        "!! {label}: {} PROBLEMS, the figures are not valid:",
        problems.len()
    );
    for p in problems.iter().take(most) {
        println!("!!   {p}");
    }
    true
}
