//! Prints the tabs' API figures (a benchmark, not a test): the main calls
//! of each tab, every one carrying a bearer token that is validated in full
//! (RS256 signature, issuer from `tid`, audience, `access_as_user`, expiry)
//! and resolving the caller's roles, at 1 and 50 concurrent users, against
//! the release `handler local` pinned to one core, with the demo tenant of
//! the development sign-in (its tokens go through the same checks as Teams
//! SSO tokens). Per call: requests/s, p50 and p99; and peak RSS (VmHWM).
//!
//! Run with `cargo bench --bench tabs`. `SALESTIM_BENCH_DIR=/dev/shm`
//! keeps the embedded stores in memory.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "common/mod.rs"]
mod common;

use common::{data_dir, free_port, handler_command, log_tail, rss_kib};

const BIN: &str = env!("CARGO_BIN_EXE_handler");
const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
const CLIENTS: [usize; 2] = [1, 50];

/// The demo users whose calls are measured, and the calls each tab makes
/// when it opens (method, path, body).
fn calls() -> Vec<(&'static str, &'static str, &'static str, Option<Value>)> {
    const MEMBER: &str = "0a1d0000-0000-4000-8000-00000000e3b1";
    const APPROVER: &str = "0a1d0000-0000-4000-8000-00000000a991";
    const ADMIN: &str = "0a1d0000-0000-4000-8000-00000000ad01";
    vec![
        (MEMBER, "GET", "me", None),
        (MEMBER, "GET", "catalog", None),
        (
            MEMBER,
            "POST",
            "requests/preview",
            Some(json!({"templateId": "project", "displayName": "Bench"})),
        ),
        (MEMBER, "GET", "my", None),
        (APPROVER, "GET", "approvals", None),
        (ADMIN, "GET", "dashboard", None),
        (ADMIN, "GET", "audit", None),
        (ADMIN, "GET", "admin/templates", None),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let dir = data_dir();
    let port = free_port();
    let log = dir.path().join("handler.log");
    let mut child = handler_command(BIN, dir.path(), Some(&log))
        .args(["local", "--settings", "/nonexistent"])
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("the handler starts");
    let base = format!("http://127.0.0.1:{port}/api");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/dev/signin")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the handler did not start: {}",
            log_tail(&log, 30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut tokens = std::collections::HashMap::new();
    for (user, ..) in calls() {
        if tokens.contains_key(user) {
            continue;
        }
        let issued: Value = http
            .post(format!("{base}/dev/signin"))
            .json(&json!({ "userId": user }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.insert(user, issued["token"].as_str().unwrap().to_owned());
    }
    println!(
        "tabs API, release handler local on one core, demo tenant, token checked on every call"
    );
    println!(
        "{:<24} {:>8} {:>10} {:>10} {:>10}",
        "call", "users", "req/s", "p50", "p99"
    );
    let pid = child.id().unwrap_or(0);
    for clients in CLIENTS {
        let mut all = Vec::new();
        for (user, method, path, body) in calls() {
            let token = tokens[user].clone();
            let run = |until: Instant| {
                let (http, token, body) = (http.clone(), token.clone(), body.clone());
                let url = format!("{base}/tab/{path}");
                async move {
                    let mut times = Vec::new();
                    while Instant::now() < until {
                        let mut req = http
                            .request(method.parse().unwrap(), &url)
                            .bearer_auth(&token);
                        if let Some(b) = &body {
                            req = req.json(b);
                        }
                        let t = Instant::now();
                        let res = req.send().await.expect("an answer");
                        assert!(
                            res.status().is_success(),
                            "{method} {path}: {}",
                            res.status()
                        );
                        res.bytes().await.expect("a body");
                        times.push(t.elapsed());
                    }
                    times
                }
            };
            let warm = Instant::now() + WARM_UP;
            futures::future::join_all((0..clients).map(|_| run(warm))).await;
            let until = Instant::now() + MEASURE;
            let measured = Instant::now();
            let mut times: Vec<Duration> =
                futures::future::join_all((0..clients).map(|_| run(until)))
                    .await
                    .into_iter()
                    .flatten()
                    .collect();
            let secs = measured.elapsed().as_secs_f64();
            times.sort();
            println!(
                "{:<24} {:>8} {:>10.0} {:>8.2}ms {:>8.2}ms",
                format!("{method} {path}"),
                clients,
                times.len() as f64 / secs,
                percentile(&times, 0.5).as_secs_f64() * 1e3,
                percentile(&times, 0.99).as_secs_f64() * 1e3
            );
            all.extend(times);
        }
        all.sort();
        println!(
            "{:<24} {:>8} {:>10} {:>8.2}ms {:>8.2}ms",
            "all calls",
            clients,
            "",
            percentile(&all, 0.5).as_secs_f64() * 1e3,
            percentile(&all, 0.99).as_secs_f64() * 1e3
        );
    }
    println!(
        "peak RSS of the handler: {:.1} MiB",
        rss_kib(pid, "VmHWM") as f64 / 1024.0
    );
    let _ = child.kill().await;
}
