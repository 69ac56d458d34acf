//! A real `redis-server` for the cache tests, on a free loopback port, with
//! no persistence.
//!
//! [`shared_url`] starts one server per test process; [`RedisServer::start`]
//! starts a private one a test may kill. Every server is spawned from one
//! long-lived thread with `PR_SET_PDEATHSIG`, because Linux sends that
//! signal when the spawning *thread* exits: spawned from a test's own thread
//! the server would die with that test; spawned from the dedicated thread it
//! dies exactly when the test process does, even after a panic or a kill.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::tls::TestPki;

const INSTALL_HINT: &str = "redis-server is needed by the cache tests and was not found on PATH; \
     install it with `apt-get install -y redis-server` (Debian/Ubuntu)";

pub struct RedisServer {
    port: u16,
    child: Child,
    /// `rediss://` with this password (TLS servers only).
    tls_password: Option<String>,
    _files: Option<tempfile::TempDir>,
}

impl RedisServer {
    /// Starts a private server and waits until it accepts connections.
    pub fn start() -> Self {
        let port = free_port();
        Self::spawn(port, &["--port", &port.to_string()], None, None)
    }

    /// Like Azure Cache for Redis: TLS only (the leaf of `pki`), and an
    /// access key that clients send as the URL's password.
    pub fn start_tls(pki: &TestPki, password: &str) -> Self {
        let files = tempfile::tempdir().expect("temp dir for TLS files");
        let write = |name: &str, pem: &str| {
            let path = files.path().join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path.to_str().expect("utf-8 temp path").to_owned()
        };
        let (cert, key, ca) = (
            write("cert.pem", &pki.cert_pem),
            write("key.pem", &pki.key_pem),
            write("ca.pem", &pki.ca_pem),
        );
        let port = free_port();
        let port_arg = port.to_string();
        let args = [
            "--port",
            "0",
            "--tls-port",
            &port_arg,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
            "--requirepass",
            password,
        ];
        Self::spawn(port, &args, Some(password.to_owned()), Some(files))
    }

    fn spawn(
        port: u16,
        args: &[&str],
        tls_password: Option<String>,
        files: Option<tempfile::TempDir>,
    ) -> Self {
        let mut command = Command::new("redis-server");
        command
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = match spawn_from_keeper(command) {
            Ok(child) => child,
            Err(err) if err.kind() == io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
            Err(err) => panic!("could not start redis-server: {err}"),
        };
        let mut server = RedisServer {
            port,
            child,
            tls_password,
            _files: files,
        };
        server.wait_ready();
        server
    }

    /// `redis://` for a plain server; for a TLS one `rediss://` with the
    /// password and `#insecure`, since the redis crate only trusts the
    /// public roots (Azure's certificates chain to them; ours do not).
    pub fn url(&self) -> String {
        match &self.tls_password {
            None => format!("redis://127.0.0.1:{}/", self.port),
            Some(password) => format!("rediss://:{password}@127.0.0.1:{}/#insecure", self.port),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server now (as an outage would) and waits for it to go.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_ready(&mut self) {
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-server exited early ({status}) on port {}", self.port);
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "redis-server did not listen on port {} within 5 s",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The URL of the server shared by this test process, started on first use.
pub fn shared_url() -> String {
    static SHARED: OnceLock<RedisServer> = OnceLock::new();
    SHARED.get_or_init(RedisServer::start).url()
}

/// A loopback port nothing listens on (right now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

type SpawnRequest = (Command, Sender<io::Result<Child>>);

/// Spawns `command` from the keeper thread, which lives as long as the
/// process, with the death signal set in the child.
fn spawn_from_keeper(mut command: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<Mutex<Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("redis-keeper".into())
            .spawn(move || {
                // Never returns while the process runs: the sender is static.
                while let Ok((mut command, reply)) = rx.recv() {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("spawn the redis keeper thread");
        Mutex::new(tx)
    });
    // SAFETY: the closure runs in the forked child before exec and only
    // makes async-signal-safe calls (prctl, getppid).
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                return Err(io::Error::other("test process already gone"));
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((command, reply_tx))
        .map_err(|_| io::Error::other("redis keeper thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("redis keeper thread did not answer"))?
}
