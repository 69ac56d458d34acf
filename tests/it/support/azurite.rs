//! Azurite, the storage emulator, started once per test process.
//!
//! It listens on free loopback ports with an account whose key is made up
//! at start, holds data in memory only, and dies with the test process:
//! the child gets `PR_SET_PDEATHSIG`, and since that signal follows the
//! *thread* that spawned it, a dedicated thread spawns it and stays alive
//! (waiting on the child) for the life of the process.
//!
//! Install it with `npm ci --prefix tests/tools`.

use std::ffi::OsStr;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use azure_core::http::{ClientOptions, FixedRetryOptions, RetryOptions, Transport};
use base64::Engine as _;
use rand::RngCore as _;

/// The account Azurite serves in tests (its key is random per process).
pub const ACCOUNT: &str = "salestimtest";
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Azurite {
    pub blob_port: u16,
    pub queue_port: u16,
    /// The account key, base64, as a connection string carries it.
    pub key: String,
}

impl Azurite {
    pub fn blob_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.blob_port)
    }

    pub fn queue_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.queue_port)
    }

    /// An account-key connection string (the app signs SAS tokens from it).
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={};BlobEndpoint={};QueueEndpoint={};",
            self.key,
            self.blob_endpoint(),
            self.queue_endpoint()
        )
    }

    /// A connection string with a given SAS token instead of the key.
    pub fn sas_connection_string(&self, sas: &str) -> String {
        format!(
            "BlobEndpoint={};QueueEndpoint={};SharedAccessSignature={sas}",
            self.blob_endpoint(),
            self.queue_endpoint()
        )
    }
}

/// The one Azurite of this test process, started on first use.
/// A failed start is remembered, so the other tests fail at once with the
/// same message instead of each starting another Azurite.
pub fn azurite() -> &'static Azurite {
    static AZURITE: OnceLock<Result<Azurite, String>> = OnceLock::new();
    match AZURITE.get_or_init(start) {
        Ok(azurite) => azurite,
        Err(message) => panic!("{message}"),
    }
}

/// Client options for tests: few, quick retries and short timeouts, so a
/// misconfiguration fails in seconds instead of hanging. The client is
/// built per call because a reqwest client must not outlive the tokio
/// runtime (one per test) it first ran on.
pub fn test_client_options() -> ClientOptions {
    client_options_for(reqwest::Client::builder())
}

/// [`test_client_options`] on a given HTTP client builder (to trust a test CA).
pub fn client_options_for(builder: reqwest::ClientBuilder) -> ClientOptions {
    let http = builder
        .no_gzip()
        .no_deflate()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(15))
        // Azurite closes idle connections after 5 s; never reuse one that old.
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .expect("a test reqwest client builds");
    ClientOptions {
        retry: RetryOptions::fixed(FixedRetryOptions {
            delay: azure_core::time::Duration::milliseconds(100),
            max_retries: 2,
            max_total_elapsed: azure_core::time::Duration::seconds(10),
        }),
        transport: Some(Transport::new(std::sync::Arc::new(http))),
        ..Default::default()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

fn binary() -> Result<PathBuf, String> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tools/node_modules/.bin/azurite");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "Azurite is not installed at {}: run `npm ci --prefix tests/tools` (needs Node.js and npm)",
            path.display()
        ))
    }
}

fn start() -> Result<Azurite, String> {
    let mut key = [0u8; 64];
    rand::thread_rng().fill_bytes(&mut key);
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    let workspace = workspace()?;
    let (blob_port, queue_port) = launch(&workspace, &[], Some(&key))?;
    Ok(Azurite {
        blob_port,
        queue_port,
        key,
    })
}

/// A directory for one Azurite's log (and certificates), kept after the
/// run so a failure can be looked into.
pub(super) fn workspace() -> Result<PathBuf, String> {
    Ok(tempfile::Builder::new()
        .prefix("azurite-")
        .tempdir()
        .map_err(|e| format!("no temporary directory for Azurite: {e}"))?
        .keep())
}

/// Starts an Azurite with `extra` arguments (and `key` for [`ACCOUNT`] if
/// given) and waits until it listens. Returns the blob and queue ports.
pub(super) fn launch(
    workspace: &Path,
    extra: &[&OsStr],
    key: Option<&str>,
) -> Result<(u16, u16), String> {
    let binary = binary()?;
    let (blob_port, queue_port, table_port) = (free_port(), free_port(), free_port());
    let log_path = workspace.join("azurite.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("no Azurite log file: {e}"))?;

    let mut command = Command::new(&binary);
    command
        .args([
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ])
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &blob_port.to_string(),
        ])
        .args([
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            &queue_port.to_string(),
        ])
        .args([
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            &table_port.to_string(),
        ])
        .args(extra)
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| format!("no Azurite log handle: {e}"))?,
        )
        .stderr(log);
    if let Some(key) = key {
        command.env("AZURITE_ACCOUNTS", format!("{ACCOUNT}:{key}"));
    }
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The test process may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("test process already gone"));
            }
            Ok(())
        });
    }

    let (started_tx, started_rx) = mpsc::channel();
    let (exited_tx, exited_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("azurite".into())
        .spawn(move || match command.spawn() {
            Err(e) => {
                let _ = started_tx.send(Err(e));
            }
            Ok(mut child) => {
                let _ = started_tx.send(Ok(()));
                // Keep this thread (the child's death-signal parent) alive.
                let status = child.wait();
                let _ = exited_tx.send(status);
            }
        })
        .map_err(|e| format!("no thread to own Azurite: {e}"))?;
    match started_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("could not start {}: {e}", binary.display())),
        Err(_) => return Err("the Azurite thread died".into()),
    }

    let deadline = Instant::now() + START_TIMEOUT;
    for port in [blob_port, queue_port] {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(status) = exited_rx.try_recv() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "Azurite exited ({status:?}) before listening:\n{log}"
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "Azurite did not listen on port {port} in time; see {}",
                    log_path.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok((blob_port, queue_port))
}
