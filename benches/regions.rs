//! Prints the several-regions figures (a benchmark, not a test):
//! - the health probe under load: `GET /api/health` on the release
//!   `handler local` (pinned to one core), 1 and 50 probes at once (Traffic
//!   Manager probes every endpoint from many places), requests/s, p50, p99;
//!   and the first probe, which runs a round of checks;
//! - the timer lease's hand-over: a region takes a timer's lease and dies
//!   (its run stops, the lease neither renewed nor given back); another
//!   region's host fires the same period; the time from the death to the
//!   second region starting the work, at the default lease (60 s) and a
//!   short one (10 s). Two apps in this process share one document store
//!   (SQLite, as two regions share Cosmos DB), on the real clock.
//!
//! Run with `cargo bench --bench regions`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use salestim::app::{App, Services};
use salestim::config::{RunMode, Settings};
use salestim::functions::{request_reminders, timer_lease};
use salestim::host::invoke::{ScheduleStatus, TimerInfo};
use salestim::platform::blobs::files::FileBlobs;
use salestim::platform::cache::memory::MemoryCache;
use salestim::platform::clock::{Clock, SystemClock};
use salestim::platform::documents::Documents;
use salestim::platform::documents::sqlite::SqliteDocuments;
use salestim::platform::keys::local::LocalKeys;
use salestim::platform::queues::local::LocalQueues;

#[path = "common/mod.rs"]
mod common;

use common::{data_dir, free_port, handler_command, pin_child_to_cpu0};

const BIN: &str = env!("CARGO_BIN_EXE_handler");
const MEASURE: Duration = Duration::from_secs(5);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn health_under_load() {
    let dir = data_dir();
    let port = free_port();
    let mut cmd = handler_command(BIN, dir.path(), None);
    cmd.args(["local", "--settings", "/nonexistent"])
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("RUST_LOG", "warn");
    pin_child_to_cpu0(&mut cmd);
    let mut child = cmd.spawn().expect("the handler starts");
    let url = format!("http://127.0.0.1:{port}/api/health");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let started = Instant::now();
    let first = loop {
        let t = Instant::now();
        if let Ok(r) = http.get(&url).send().await
            && r.status() == 200
        {
            break t.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no 200");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "health probe: first probe (a round of checks) {}",
        ms(first)
    );
    for clients in [1usize, 50] {
        let deadline = Instant::now() + MEASURE;
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (http, url) = (http.clone(), url.clone());
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let res = http.get(&url).send().await.expect("an answer");
                        assert_eq!(res.status(), 200);
                        res.bytes().await.unwrap();
                        times.push(t.elapsed());
                    }
                    times
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        println!(
            "health probe, {clients:>2} at once: {:>7.0} probes/s, p50 {}, p99 {}",
            all.len() as f64 / MEASURE.as_secs_f64(),
            ms(percentile(&all, 0.5)),
            ms(percentile(&all, 0.99)),
        );
    }
    let _ = child.kill().await;
}

fn region(name: &str, dir: &std::path::Path, docs: Arc<dyn Documents>, lease: u64) -> App {
    let values = [
        ("SALESTIM_DATA_DIR", dir.display().to_string()),
        ("REGION_NAME", name.to_owned()),
        ("SALESTIM_TIMER_LEASE_SECS", lease.to_string()),
    ];
    let settings = Settings::from_lookup(RunMode::Local, |k| {
        values.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("settings");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    App::with_services(
        settings,
        Services {
            docs,
            blobs: Arc::new(FileBlobs::new(dir.join("blobs"))),
            queues: Arc::new(
                LocalQueues::open(&dir.join("queues.sqlite"), clock.clone()).expect("queues"),
            ),
            cache: Arc::new(MemoryCache::new(clock.clone())),
            keys: Arc::new(
                LocalKeys::from_base64(&base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    [7u8; 32],
                ))
                .unwrap(),
            ),
            clock,
            http: salestim::outbound::http_client().unwrap(),
        },
    )
}

fn scheduled() -> TimerInfo {
    let now = time::OffsetDateTime::now_utc();
    TimerInfo {
        schedule_status: Some(ScheduleStatus {
            last: now - time::Duration::minutes(30),
            next: now + time::Duration::minutes(30),
            last_updated: now,
        }),
        ..TimerInfo::default()
    }
}

async fn hand_over(lease: u64) -> Duration {
    let dir = data_dir();
    let (west_dir, north_dir) = (dir.path().join("west"), dir.path().join("north"));
    std::fs::create_dir_all(&west_dir).unwrap();
    std::fs::create_dir_all(&north_dir).unwrap();
    let shared = dir.path().join("global.sqlite");
    let open = || -> Arc<dyn Documents> {
        Arc::new(SqliteDocuments::open(&shared, Arc::new(SystemClock)).expect("sqlite"))
    };
    let docs = open();
    docs.ensure().await.unwrap();
    let west = region("westeurope", &west_dir, docs, lease);
    let north = region("northeurope", &north_dir, open(), lease);
    let function = "RequestReminders";

    // West takes the lease and its run hangs...
    let timer = scheduled();
    let dying = tokio::spawn({
        let (west, timer) = (west.clone(), timer.clone());
        async move {
            timer_lease::once(&west, function, request_reminders::SCHEDULE, &timer, || {
                std::future::pending::<Result<String, salestim::error::AppError>>()
            })
            .await
        }
    });
    while timer_lease::read(west.docs.as_ref(), function)
        .await
        .unwrap()
        .holder
        .is_none_or(|h| h.region != "westeurope")
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...and dies.
    dying.abort();
    let died = Instant::now();
    let started = Arc::new(std::sync::Mutex::new(None));
    let mark = started.clone();
    timer_lease::once(
        &north,
        function,
        request_reminders::SCHEDULE,
        &timer,
        || async move {
            *mark.lock().unwrap() = Some(Instant::now());
            Ok("done".to_owned())
        },
    )
    .await
    .expect("north runs it");
    let at = started.lock().unwrap().expect("north started the work");
    at - died
}

#[tokio::main]
async fn main() {
    health_under_load().await;
    for lease in [10, 60] {
        let took = hand_over(lease).await;
        println!(
            "timer lease hand-over after a region dies holding it: lease {lease} s (polled every {:.2} s): {:.2} s",
            timer_lease::poll(Duration::from_secs(lease)).as_secs_f64(),
            took.as_secs_f64()
        );
    }
}
