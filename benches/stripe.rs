//! What a forged Stripe webhook costs (a benchmark, not a test), with
//! `handler` under the host contract pinned to CPU 0 and the load generator
//! on CPU 1:
//! - CPU per request (the handler's user+system time over many requests,
//!   from `/proc/<pid>/stat`): refused forgeries (4,000 empty `v1=` with a
//!   500 KiB body; 15 well-formed wrong `v1` with a 500 KiB body) against
//!   accepted events (a 1 KiB event, a 500 KiB event);
//! - `/api/health` latency (p50/p99/max, 20 probes/s) alone, then while
//!   forged 500 KiB requests arrive at a fixed rate.
//!
//! Run with `cargo bench --bench stripe`. `SALESTIM_BENCH_FORGED_RATE`
//! (default 20/s) and `SALESTIM_BENCH_SECS` (default 10) change the load.
//! On a shared machine the figures are indicative.

use std::time::{Duration, Instant};

use tokio::process::Child;

#[path = "common/mod.rs"]
mod common;

use common::{
    cpu_time, data_dir, first_200, free_port, handler_command, pin_to_cpu, stripe_signature,
    unix_now,
};

const BIN: &str = env!("CARGO_BIN_EXE_handler");
const SECRET: &str = "whsec_bench_stripe_secret";
const BODY_KIB: usize = 500;
const CPU_SAMPLES: u64 = 100;
const CPU_BUDGET: Duration = Duration::from_secs(15);
const TIMEOUT: Duration = Duration::from_secs(10);

fn start(port: u16, dir: &std::path::Path) -> Child {
    handler_command(BIN, dir, None)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("STRIPE_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "error")
        .spawn()
        .expect("the handler binary starts")
}

fn event(i: u64, padding: usize) -> Vec<u8> {
    format!(
        r#"{{"id":"evt_stripe_bench_{i}","object":"event","api_version":"2024-06-20","created":{},"livemode":false,"type":"invoice.paid","data":{{"object":{{"id":"in_{i}","object":"invoice","customer":"cus_bench","padding":"{}"}}}}}}"#,
        unix_now(),
        "x".repeat(padding)
    )
    .into_bytes()
}

fn forged_empty_v1s() -> String {
    format!("t={}{}", unix_now(), ",v1=".repeat(4000))
}

fn forged_wrong_v1s() -> String {
    format!(
        "t={}{}",
        unix_now(),
        format!(",v1={}", "ab".repeat(32)).repeat(15)
    )
}

async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>, sig: String) -> Option<u16> {
    let res = client
        .post(url)
        .header("stripe-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .timeout(TIMEOUT)
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    let _ = res.bytes().await;
    Some(status)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// CPU of the handler per request of one kind, `CPU_SAMPLES` in a row.
async fn cpu_per_request(
    client: &reqwest::Client,
    url: &str,
    pid: u32,
    label: &str,
    expect: u16,
    make: impl Fn(u64) -> (Vec<u8>, String),
) -> Duration {
    let before = cpu_time(pid);
    let started = Instant::now();
    let mut unexpected = 0;
    let mut sent = 0u32;
    // At most CPU_SAMPLES requests or CPU_BUDGET, whichever comes first (a
    // slow verifier, e.g. the old one, would otherwise take minutes).
    while u64::from(sent) < CPU_SAMPLES && started.elapsed() < CPU_BUDGET {
        let (body, sig) = make(u64::from(sent));
        if post(client, url, body, sig).await != Some(expect) {
            unexpected += 1;
        }
        sent += 1;
    }
    let wall = started.elapsed();
    let per = (cpu_time(pid) - before) / sent;
    println!(
        "CPU per request, {label}: {} ({sent} requests one after another, {} wall each{})",
        ms(per),
        ms(wall / sent),
        if unexpected > 0 {
            format!(", {unexpected} not answered {expect}")
        } else {
            String::new()
        }
    );
    per
}

/// `/api/health` probed 20 times a second for `secs`, while `forged_rate`
/// forged 500 KiB requests a second arrive (open loop).
async fn health_under(client: &reqwest::Client, base: &str, forged_rate: u64, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let forger = {
        let client = client.clone();
        let url = format!("{base}/api/billing/stripe");
        tokio::spawn(async move {
            let mut sent = Vec::new();
            let started = Instant::now();
            let mut i = 0u64;
            while forged_rate > 0 && Instant::now() < deadline {
                let due = started + Duration::from_micros(i * 1_000_000 / forged_rate);
                tokio::time::sleep_until(due.into()).await;
                let client = client.clone();
                let url = url.clone();
                let body = event(i, BODY_KIB * 1024);
                let sig = if i.is_multiple_of(2) {
                    forged_empty_v1s()
                } else {
                    forged_wrong_v1s()
                };
                sent.push(tokio::spawn(
                    async move { post(&client, &url, body, sig).await },
                ));
                i += 1;
            }
            let mut refused = 0;
            let mut other = 0;
            for s in sent {
                match s.await.expect("the forger task") {
                    Some(400) => refused += 1,
                    _ => other += 1,
                }
            }
            (refused, other)
        })
    };
    let url = format!("{base}/api/health");
    let started = Instant::now();
    let mut probes = Vec::new();
    let mut i = 0u64;
    while Instant::now() < deadline {
        tokio::time::sleep_until((started + Duration::from_millis(i * 50)).into()).await;
        let client = client.clone();
        let url = url.clone();
        probes.push(tokio::spawn(async move {
            let t = Instant::now();
            let ok = client
                .get(&url)
                .timeout(TIMEOUT)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            (t.elapsed(), ok)
        }));
        i += 1;
    }
    let mut lat = Vec::new();
    let mut failed = 0;
    for p in probes {
        let (d, ok) = p.await.expect("the probe task");
        if !ok {
            failed += 1;
        }
        lat.push(d);
    }
    let (refused, other) = forger.await.expect("the forger");
    lat.sort();
    println!(
        "/api/health with {forged_rate} forged {BODY_KIB} KiB requests/s for {secs} s: p50 {}, p99 {}, max {} ({} probes, {failed} failed; forged: {refused} refused with 400, {other} other or timed out)",
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(*lat.last().expect("probes ran")),
        lat.len()
    );
}

#[tokio::main]
async fn main() {
    pin_to_cpu(1);
    let forged_rate: u64 = std::env::var("SALESTIM_BENCH_FORGED_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let secs: u64 = std::env::var("SALESTIM_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("a client");
    let dir = data_dir();
    let port = free_port();
    let child = start(port, dir.path());
    let pid = child.id().expect("the handler runs");
    let base = format!("http://127.0.0.1:{port}");
    first_200(&client, &format!("{base}/api/health"))
        .await
        .expect("a 200 within 30 s");
    println!(
        "salestim Stripe webhook figures (release build; handler on CPU 0, load on CPU 1; a shared machine: indicative)"
    );
    let url = format!("{base}/api/billing/stripe");
    let signed = |padding: usize| {
        move |i: u64| {
            let body = event(i, padding);
            let sig = stripe_signature(&body, SECRET);
            (body, sig)
        }
    };
    // Warm up the stores and the connection pool.
    for i in 0..20 {
        let (body, sig) = signed(1024)(900_000 + i);
        post(&client, &url, body, sig).await;
    }
    let small = cpu_per_request(
        &client,
        &url,
        pid,
        "accepted 1 KiB event",
        200,
        signed(1024),
    )
    .await;
    let large = cpu_per_request(
        &client,
        &url,
        pid,
        "accepted 500 KiB event (via a blob)",
        200,
        |i| signed(BODY_KIB * 1024)(100_000 + i),
    )
    .await;
    let empty = cpu_per_request(
        &client,
        &url,
        pid,
        "refused: 4,000 empty v1= and a 500 KiB body",
        400,
        |i| (event(200_000 + i, BODY_KIB * 1024), forged_empty_v1s()),
    )
    .await;
    let wrong = cpu_per_request(
        &client,
        &url,
        pid,
        "refused: 15 wrong v1 and a 500 KiB body",
        400,
        |i| (event(300_000 + i, BODY_KIB * 1024), forged_wrong_v1s()),
    )
    .await;
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "refused/accepted CPU: empty v1s {:.2}x, wrong v1s {:.2}x the accepted 500 KiB event; {:.2}x, {:.2}x the accepted 1 KiB event",
        ratio(empty, large),
        ratio(wrong, large),
        ratio(empty, small),
        ratio(wrong, small)
    );
    health_under(&client, &base, 0, secs.min(5)).await;
    health_under(&client, &base, forged_rate, secs).await;
    drop(child);
}
