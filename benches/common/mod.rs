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
