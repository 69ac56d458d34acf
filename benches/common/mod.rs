//! What both benchmarks need from the machine: a data directory, a free
//! port, a process's memory figures.

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
