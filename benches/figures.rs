//! Prints the foundation's figures (a benchmark, not a test):
//! - start-up: process start to the first 200 on `/api/health`, and idle RSS;
//! - Stripe webhook: signed events through the local host (`handler local`)
//!   with the handler pinned to one core: a fixed 1,000 requests/s for p50/p99,
//!   then closed-loop maximum throughput; peak RSS;
//! - the binary's size.
//!
//! Run with `cargo bench` (release build). Loopback only; bounded in time.
//! `SALESTIM_BENCH_DIR=/dev/shm cargo bench` keeps the embedded stores in
//! memory, which separates the app's own latency from the disk's.

use std::time::{Duration, Instant};

use tokio::process::Child;

const SECRET: &str = "whsec_bench_secret";
#[path = "common/mod.rs"]
mod common;

use common::{
    data_dir, first_200, free_port, handler_command, pin_to_cpu, rss_kib, stripe_signature,
    unix_now,
};

const BIN: &str = env!("CARGO_BIN_EXE_handler");

/// Starts the binary pinned to CPU 0 (so the load generator gets the other).
fn start(args: &[&str], port: u16, dir: &std::path::Path) -> Child {
    handler_command(BIN, dir, None)
        .args(args)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("STRIPE_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("the handler binary starts")
}

async fn first_200_on(client: &reqwest::Client, port: u16) -> Duration {
    let url = format!("http://127.0.0.1:{port}/api/health");
    first_200(client, &url).await.expect("a 200 within 30 s")
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn signed_event(i: u64) -> (String, String) {
    let body = format!(
        r#"{{"id":"evt_bench_{i}","object":"event","api_version":"2024-06-20","created":{},"livemode":false,"type":"invoice.paid","data":{{"object":{{"id":"in_{i}","object":"invoice","customer":"cus_bench"}}}}}}"#,
        unix_now()
    );
    let signature = stripe_signature(body.as_bytes(), SECRET);
    (body, signature)
}

async fn send(client: &reqwest::Client, url: &str, i: u64) -> Duration {
    let (body, sig) = signed_event(i);
    let started = Instant::now();
    let res = client
        .post(url)
        .header("stripe-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status(), 200);
    let _ = res.bytes().await;
    started.elapsed()
}

/// Sends `rate` signed events per second for `secs` seconds (open loop) and
/// prints the achieved rate and latency percentiles.
async fn fixed_rate(client: &reqwest::Client, url: &str, rate: u64, secs: u64, label: &str) {
    let total = rate * secs;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + Duration::from_micros(i * 1_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let client = client.clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move { send(&client, &url, i).await }));
    }
    let mut lat: Vec<Duration> = Vec::with_capacity(tasks.len());
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    lat.sort();
    println!(
        "{label} at a fixed {rate} req/s ({total} signed events, handler on 1 core): achieved {:.0} req/s, p50 {}, p99 {}, max {}",
        total as f64 / elapsed.as_secs_f64(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99)),
        ms(*lat.last().unwrap())
    );
}

#[tokio::main]
async fn main() {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // The load generator on CPU 1, away from the handler.
    pin_to_cpu(1);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    println!("salestim figures (release build, this machine: {cores} cores)");
    println!(
        "binary size: {:.1} MiB ({BIN})",
        std::fs::metadata(BIN).unwrap().len() as f64 / 1048576.0
    );

    // Start-up under the host contract: `handler` with FUNCTIONS_CUSTOMHANDLER_PORT.
    let mut startups = Vec::new();
    let mut idle_rss = 0;
    for _ in 0..15 {
        let dir = data_dir();
        let port = free_port();
        let mut child = start(&[], port, dir.path());
        startups.push(first_200_on(&client, port).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
        idle_rss = idle_rss.max(rss_kib(child.id().unwrap(), "VmRSS:"));
        let _ = child.kill().await;
    }
    startups.sort();
    println!(
        "start-up to first 200 on /api/health: median {}, p90 {}, max {} (15 starts, fresh data dir each)",
        ms(pct(&startups, 0.5)),
        ms(pct(&startups, 0.9)),
        ms(*startups.last().unwrap())
    );
    println!("idle RSS after start: {:.1} MiB", idle_rss as f64 / 1024.0);

    // The webhook alone, as in Azure (another instance consumes the queue):
    // `handler` under the host contract with local queues, nothing consuming.
    {
        let dir = data_dir();
        let port = free_port();
        let _child = start(&[], port, dir.path());
        first_200_on(&client, port).await;
        let url = format!("http://127.0.0.1:{port}/api/billing/stripe");
        for i in 0..200 {
            send(&client, &url, 2_000_000 + i).await;
        }
        fixed_rate(
            &client,
            &url,
            1000,
            10,
            "webhook direct (handler only, queue not consumed)",
        )
        .await;
    }

    // The webhook through the local host (`handler local`), pinned to one core.
    let dir = data_dir();
    let port = free_port();
    let child = start(&["local", "--settings", "/nonexistent"], port, dir.path());
    first_200_on(&client, port).await;
    let url = format!("http://127.0.0.1:{port}/api/billing/stripe");
    for i in 0..200 {
        send(&client, &url, 1_000_000 + i).await;
    }

    // Open loop: 1,000 requests/s for 10 s, each event also consumed by
    // BillingEvents on the same core.
    fixed_rate(
        &client,
        &url,
        1000,
        10,
        "webhook via the local host, queue consumed",
    )
    .await;

    // Closed loop: 64 clients as fast as they can for 5 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    let started = Instant::now();
    let workers: Vec<_> = (0..64u64)
        .map(|w| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0u64;
                while Instant::now() < deadline {
                    lat.push(send(&client, &url, 10_000_000 + w * 1_000_000 + i).await);
                    i += 1;
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    lat.sort();
    println!(
        "webhook max throughput (64 concurrent clients, handler on 1 core): {:.0} req/s, p50 {}, p99 {}",
        lat.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(&lat, 0.5)),
        ms(pct(&lat, 0.99))
    );
    println!(
        "peak RSS of `handler local` under load: {:.1} MiB",
        rss_kib(child.id().unwrap(), "VmHWM:") as f64 / 1024.0
    );
    drop(child);
}
