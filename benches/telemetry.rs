//! Prints what telemetry costs an invocation (a benchmark, not a test):
//! the same invocations through the app in this process, with the
//! Application Insights exporter off (no setting: the plain log) and on
//! (sending to a local HTTPS ingestion stand-in), CPU time and heap
//! allocations per invocation, counted over every thread of the process
//! (the exporter's batching, serialising and gzip included: each run ends
//! with a flush).
//!
//! The stand-in answers without reading (its thread's CPU is left out; its
//! allocations, a few per upload of hundreds of spans, are not).
//!
//! Two invocations: `Health` (HTTP; its round of store pings runs once per
//! 5 s, the kept verdict answers the rest, so mostly one span) and a
//! `ProvisionTeam` queue message for a request that does not exist (a
//! queue lag metric, one document read, one log line). Both log to a sink,
//! as the handler logs to stdout.
//!
//! Run with `cargo bench --bench telemetry`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use salestim::app::{App, Services};
use salestim::config::{RunMode, Settings, TelemetrySettings};
use salestim::telemetry::Telemetry;
use serde_json::json;
use tracing::Dispatch;

#[path = "../tests/it/support/ingestion.rs"]
#[allow(dead_code, reason = "shared with the tests; the bench uses a part")]
mod ingestion;
#[path = "../tests/it/support/tls.rs"]
#[allow(dead_code, reason = "shared with the tests; the bench uses a part")]
mod tls;

/// Allocations and bytes asked for, by every thread.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// SAFETY: every call is forwarded unchanged to `System`; counting is two
// relaxed atomic adds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

const INVOCATIONS: usize = 2_000;
const WARM_UP: usize = 200;

/// CPU time of the process (user + system), in microseconds, less the
/// ingestion stand-in's thread (its work is the endpoint's, not ours).
fn cpu_micros() -> u64 {
    process_cpu_micros().saturating_sub(stand_in_cpu_micros())
}

fn process_cpu_micros() -> u64 {
    // SAFETY: `getrusage` writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

/// The stand-in thread's CPU time from `/proc/self/task/*/stat` (clock
/// ticks: coarse, but thousands of invocations make many).
fn stand_in_cpu_micros() -> u64 {
    // SAFETY: `sysconf` only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "ingestion")
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .map(|stat| {
            // Fields after the `(comm)`: utime and stime are the 12th and 13th.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            let cpu = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
            cpu * 1_000_000 / ticks
        })
        .sum()
}

/// The app on embedded stores in `dir`, served on a free port.
async fn start_app(dir: &std::path::Path) -> (App, url::Url, tokio::sync::watch::Sender<bool>) {
    let settings = Settings::from_lookup(RunMode::Local, |k| match k {
        "SALESTIM_DATA_DIR" => Some(dir.display().to_string()),
        _ => None,
    })
    .expect("settings");
    let services = Services::from_settings(&settings).await.expect("services");
    let app = App::with_services(settings, services);
    salestim::server::ensure_queues(&app).await.expect("queues");
    let (stop, rx) = tokio::sync::watch::channel(false);
    let (addr, server) =
        salestim::server::bind(app.clone(), "127.0.0.1:0".parse().unwrap(), rx).expect("binds");
    tokio::spawn(server);
    (
        app,
        url::Url::parse(&format!("http://{addr}/")).unwrap(),
        stop,
    )
}

struct Figures {
    cpu_us: f64,
    allocations: f64,
    kib: f64,
}

/// Runs `INVOCATIONS` of each kind (after a warm-up), then `flush`.
async fn measure(handler: &url::Url, flush: impl Fn()) -> Figures {
    let client = reqwest::Client::new();
    let tenant = uuid::Uuid::new_v4().to_string();
    let run = |n: usize| {
        let (client, handler, tenant) = (client.clone(), handler.clone(), tenant.clone());
        async move {
            for i in 0..n {
                let res = client
                    .get(handler.join("api/health").unwrap())
                    .header(
                        "traceparent",
                        format!("00-{:032x}-{:016x}-01", i + 1, i + 1),
                    )
                    .send()
                    .await
                    .expect("health answers");
                assert!(res.status().is_success());
                let message = json!({"tenantId": tenant, "requestId": format!("r{i}")}).to_string();
                let body = json!({"Data": {"msg": message},
                    "Metadata": {"DequeueCount": "1", "Id": "m", "InsertionTime": "2026-01-01T00:00:00Z"}});
                let res = client
                    .post(handler.join("ProvisionTeam").unwrap())
                    .header(
                        "traceparent",
                        format!("00-{:032x}-{:016x}-01", i + 1, i + 2),
                    )
                    .json(&body)
                    .send()
                    .await
                    .expect("the function answers");
                assert!(res.status().is_success());
            }
        }
    };
    run(WARM_UP).await;
    flush();
    let (cpu, allocations, bytes) = (
        cpu_micros(),
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    run(INVOCATIONS).await;
    flush();
    let per = |total: u64| total as f64 / (2 * INVOCATIONS) as f64;
    Figures {
        cpu_us: per(cpu_micros() - cpu),
        allocations: per(ALLOCATIONS.load(Ordering::Relaxed) - allocations),
        kib: per(BYTES.load(Ordering::Relaxed) - bytes) / 1024.0,
    }
}

fn sink() -> impl Fn() -> std::io::Sink + Send + Sync + 'static {
    std::io::sink
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        // Off: the handler's subscriber without the setting.
        let off = {
            let dir = tempfile::tempdir().unwrap();
            let _log = tracing::dispatcher::set_default(&Dispatch::new(
                salestim::server::host_log(sink()),
            ));
            let (_app, handler, _stop) = start_app(dir.path()).await;
            measure(&handler, || {}).await
        };
        // On: the same with the telemetry layers, sending to the stand-in.
        let stand_in = ingestion::IngestionStandIn::start(ingestion::Mode::Discard);
        let on = {
            let dir = tempfile::tempdir().unwrap();
            let settings = TelemetrySettings {
                connection_string: stand_in.connection_string().trim_end_matches(';').into(),
                sampling: 1.0,
                buffer: 2048, // the default
            };
            let telemetry = Arc::new(
                Telemetry::start_with(&settings, "bench", stand_in.client()).expect("telemetry"),
            );
            let _log = tracing::dispatcher::set_default(&Dispatch::new(
                salestim::server::host_log_with_telemetry(sink(), &telemetry),
            ));
            let (_app, handler, _stop) = start_app(dir.path()).await;
            let flushing = telemetry.clone();
            let figures = measure(&handler, move || flushing.flush()).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            (figures, telemetry.dropped(), stand_in.posts())
        };
        let (on, dropped, uploads) = on;
        println!(
            "telemetry per invocation ({} Health + {} ProvisionTeam, averaged over both kinds; process CPU and heap, all threads)",
            INVOCATIONS, INVOCATIONS
        );
        println!("  exporter   CPU µs   allocations   allocated KiB");
        for (name, f) in [("off", &off), ("on", &on)] {
            println!(
                "  {name:<8} {:>8.1} {:>13.1} {:>15.1}",
                f.cpu_us, f.allocations, f.kib
            );
        }
        println!(
            "  on - off: {:+.1} µs, {:+.1} allocations, {:+.1} KiB; {uploads} uploads, {dropped} dropped",
            on.cpu_us - off.cpu_us,
            on.allocations - off.allocations,
            on.kib - off.kib
        );
    });
}
