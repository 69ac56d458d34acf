//! Prints the bot's figures (a benchmark, not a test): an authenticated
//! `help` message activity until the reply reaches the Bot Connector, with
//! the release `handler local` pinned to one core, at 1 and 50 concurrent
//! clients: requests/s, HTTP p50/p99, end to end p50/p99 (sent until the
//! reply arrives at the Connector, matched by `replyToId`), replies/s and
//! peak RSS (VmHWM).
//!
//! Everything is local: the channel's OpenID metadata and keys (an RSA key
//! made at run time, endorsed for `msteams`), the token endpoint and the
//! Connector over HTTPS with a test CA made at run time (the handler trusts
//! it through `SSL_CERT_FILE`). The tenant is registered with `handler
//! tenant add` and made active by a signed Stripe event, so messages take
//! the real path, not the "not set up" notice.
//!
//! The same load runs against the Bot Framework SDK for JavaScript
//! (`benches/botbuilder/`, npm `botbuilder`) validating the same tokens
//! against the same stand-ins and sending the same card, when `node` and
//! its `node_modules` are there (`npm ci --prefix benches/botbuilder`).
//! botbuilder replies before it answers the HTTP request; SalesTim answers,
//! then replies through the `bot-outbox` queue: compare end to end.
//!
//! Run with `cargo bench --bench bot`. `SALESTIM_BENCH_DIR=/dev/shm` keeps
//! the embedded stores in memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::process::{Child, Command};

#[path = "../tests/it/support/botframework.rs"]
#[allow(dead_code, reason = "shared with the tests; the bench uses a part")]
mod botframework;
#[path = "bot/connector.rs"]
mod connector;
#[path = "../tests/it/support/tls.rs"]
#[allow(dead_code, reason = "shared with the tests; the bench uses a part")]
mod tls;

use botframework::{Channel, ChannelKey, ISSUER};
use connector::{APP_ID, APP_SECRET, ConnectorStandIn};

const BIN: &str = env!("CARGO_BIN_EXE_handler");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const STRIPE_SECRET: &str = "whsec_bench_bot_secret";
const KEK: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const OAUTH_SCOPE: &str = "https://api.botframework.com";
const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);
/// How long replies may trail the last request before they count as lost.
const REPLY_BUDGET: Duration = Duration::from_secs(30);
const CLIENTS: [usize; 2] = [1, 50];

/// The stand-ins both bots talk to, and the files they are given.
struct Stands {
    channel: Channel,
    key: ChannelKey,
    connector: ConnectorStandIn,
    tenant: String,
    /// `ca.pem` (the test CA) and `card.json` (the expected help card).
    files: tempfile::TempDir,
}

impl Stands {
    fn ca_file(&self) -> PathBuf {
        self.files.path().join("ca.pem")
    }

    /// A channel token for this bot and serviceUrl, valid for an hour; Teams
    /// reuses a token across activities the same way.
    fn token(&self) -> String {
        let now = unix_now();
        self.key.sign(
            &json!({"iss": ISSUER, "aud": APP_ID, "exp": now + 3600, "nbf": now - 5,
            "serviceurl": self.connector.service_url}),
        )
    }

    fn activity(&self, id: &str, user: usize) -> Vec<u8> {
        let tenant = &self.tenant;
        serde_json::to_vec(&json!({
            "type": "message", "id": id, "channelId": "msteams", "serviceUrl": self.connector.service_url,
            "from": {"id": format!("29:bench-user-{user}"), "aadObjectId": format!("00000000-0000-0000-0000-{user:012}")},
            "recipient": {"id": format!("28:{APP_ID}")},
            "conversation": {"id": format!("a:1bench-chat-{user}"), "conversationType": "personal", "tenantId": tenant},
            "channelData": {"tenant": {"id": tenant}}, "text": "help", "locale": "en-US"
        }))
        .expect("JSON")
    }
}

/// A bot under load: its process and its messaging endpoint.
struct Bot {
    label: String,
    child: Child,
    url: String,
    log: PathBuf,
    /// SalesTim's data directory.
    _dir: Option<tempfile::TempDir>,
}

struct Sent {
    id: String,
    at: Instant,
    http: Duration,
    ok: bool,
}

struct Figures {
    label: String,
    clients: usize,
    sent: usize,
    ok: usize,
    requests_per_s: f64,
    http: Vec<Duration>,
    e2e: Vec<Duration>,
    expected_cards: usize,
    replies_per_s: f64,
    peak_rss_kib: u64,
}

fn data_dir() -> tempfile::TempDir {
    match std::env::var_os("SALESTIM_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("SALESTIM_BENCH_DIR is writable"),
        None => tempfile::tempdir().expect("a temp dir"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: sched_setaffinity on the calling thread with a zeroed, filled set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The bot gets CPU 0 to itself (all its threads), the load and stand-ins CPU 1.
fn pinned_command(program: &Path, log: &Path) -> Command {
    let mut cmd = Command::new(program);
    let log = std::fs::File::create(log).expect("a log file");
    cmd.current_dir(ROOT)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    // SAFETY: sched_setaffinity on the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            pin_to_cpu(0);
            Ok(())
        });
    }
    cmd
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

async fn wait_for_200(http: &reqwest::Client, url: &str, bot: &Bot) {
    let started = Instant::now();
    loop {
        if let Ok(res) = http.get(url).send().await
            && res.status() == 200
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} gave no 200 on {url} within 30 s; its log ends:\n{}",
            bot.label,
            log_tail(&bot.log)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts `handler local` with the tenant registered and its subscription
/// made active by a signed Stripe event.
async fn start_salestim(http: &reqwest::Client, stands: &Stands) -> Bot {
    let dir = data_dir();
    let port = free_port();
    let log = stands.files.path().join("handler.log");
    let common = |cmd: &mut Command| {
        cmd.env("SALESTIM_DATA_DIR", dir.path())
            .env("SALESTIM_LOCAL_KEK", KEK)
            .env("RUST_LOG", "warn");
    };
    let mut add = pinned_command(Path::new(BIN), &log);
    common(&mut add);
    let added = add
        .args(["tenant", "add", &stands.tenant, "--name", "Bench"])
        .args(["--settings", "/nonexistent"])
        .status()
        .await
        .expect("handler tenant add runs");
    assert!(added.success(), "tenant add: {}", log_tail(&log));

    let mut cmd = pinned_command(Path::new(BIN), &log);
    common(&mut cmd);
    cmd.args(["local", "--settings", "/nonexistent"])
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
        .env("MicrosoftAppId", APP_ID)
        .env("MicrosoftAppPassword", APP_SECRET)
        .env(
            "ToBotFromChannelOpenIdMetadataUrl",
            stands.channel.metadata_url.as_str(),
        )
        .env("ToChannelFromBotLoginUrl", &stands.connector.login_url)
        .env("SSL_CERT_FILE", stands.ca_file());
    let bot = Bot {
        label: "salestim (handler local)".into(),
        child: cmd.spawn().expect("the handler starts"),
        url: format!("http://127.0.0.1:{port}/api/messages"),
        log,
        _dir: Some(dir),
    };
    wait_for_200(http, &format!("http://127.0.0.1:{port}/api/health"), &bot).await;

    let event = json!({"id": format!("evt_bench_{}", uuid::Uuid::new_v4().simple()), "object": "event",
        "type": "customer.subscription.updated", "created": unix_now(),
        "data": {"object": {"id": "sub_bench", "customer": "cus_bench", "status": "active",
            "metadata": {"tenantId": stands.tenant}, "items": {"data": [{"quantity": 50, "price": {"id": "price_bench"}}]}}}});
    let body = serde_json::to_vec(&event).expect("JSON");
    let t = unix_now();
    let mut mac = Hmac::<Sha256>::new_from_slice(STRIPE_SECRET.as_bytes()).expect("any key size");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    let signature = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
    let res = http
        .post(format!("http://127.0.0.1:{port}/api/billing/stripe"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(res.status(), 200, "the Stripe event is accepted");
    bot
}

/// Starts the botbuilder bot, or says why it cannot.
async fn start_botbuilder(http: &reqwest::Client, stands: &Stands) -> Result<Bot, String> {
    let dir = PathBuf::from(ROOT).join("benches/botbuilder");
    let manifest = dir.join("node_modules/botbuilder/package.json");
    let version = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .ok_or("benches/botbuilder/node_modules is missing")?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let node = std::env::split_paths(&path)
        .map(|p| p.join("node"))
        .find(|p| p.is_file())
        .ok_or("`node` is not on PATH")?;
    let port = free_port();
    let log = stands.files.path().join("botbuilder.log");
    let mut cmd = pinned_command(&node, &log);
    cmd.arg(dir.join("bot.js"))
        .env("PORT", port.to_string())
        .env("NODE_ENV", "production")
        .env("NODE_EXTRA_CA_CERTS", stands.ca_file())
        .env("BENCH_CARD_FILE", stands.files.path().join("card.json"))
        .env("MicrosoftAppId", APP_ID)
        .env("MicrosoftAppPassword", APP_SECRET)
        .env(
            "ToBotFromChannelOpenIdMetadataUrl",
            stands.channel.metadata_url.as_str(),
        )
        .env("ToBotFromChannelTokenIssuer", ISSUER)
        .env("ToChannelFromBotLoginUrl", &stands.connector.login_url)
        .env("ToChannelFromBotOAuthScope", OAUTH_SCOPE);
    let bot = Bot {
        label: format!("botbuilder {version} (Node {})", node_version(&node)),
        child: cmd.spawn().map_err(|e| format!("node: {e}"))?,
        url: format!("http://127.0.0.1:{port}/api/messages"),
        log,
        _dir: None,
    };
    wait_for_200(http, &format!("http://127.0.0.1:{port}/health"), &bot).await;
    Ok(bot)
}

fn node_version(node: &Path) -> String {
    std::process::Command::new(node)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Sends one activity; answered means HTTP 200 with its body read.
async fn send_one(
    http: &reqwest::Client,
    bot: &Bot,
    stands: &Stands,
    token: &str,
    id: String,
    user: usize,
) -> Sent {
    let body = stands.activity(&id, user);
    let at = Instant::now();
    let res = http
        .post(&bot.url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let ok = match res {
        Ok(res) => res.status() == 200 && res.bytes().await.is_ok(),
        Err(_) => false,
    };
    Sent {
        id,
        at,
        http: at.elapsed(),
        ok,
    }
}

/// `clients` closed-loop clients, each sending the next activity when the
/// last is answered, for `duration`.
async fn load(
    http: &reqwest::Client,
    bot: &Bot,
    stands: &Stands,
    clients: usize,
    duration: Duration,
) -> (Vec<Sent>, Duration) {
    let token = stands.token();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..clients).map(|client| {
        let (token, run) = (token.as_str(), run.as_str());
        async move {
            let mut sent = Vec::new();
            while Instant::now() < deadline {
                let id = format!("{run}-{client}-{}", sent.len());
                sent.push(send_one(http, bot, stands, token, id, client).await);
            }
            sent
        }
    });
    let sent: Vec<Sent> = futures::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect();
    (sent, started.elapsed())
}

/// Waits (bounded) until every answered activity has its reply.
async fn wait_for_replies(stands: &Stands, sent: &[Sent]) {
    let started = Instant::now();
    let mut pending: Vec<&str> = sent
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.id.as_str())
        .collect();
    while !pending.is_empty() && started.elapsed() < REPLY_BUDGET {
        pending.retain(|id| stands.connector.reply_to(id).is_none());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Until one reply carries the expected card (SalesTim: the subscription
/// event has been applied; botbuilder: its token is fetched).
async fn warm_until_ready(http: &reqwest::Client, bot: &Bot, stands: &Stands) {
    let started = Instant::now();
    let token = stands.token();
    loop {
        let id = format!("ready-{}", uuid::Uuid::new_v4().simple());
        let sent = send_one(http, bot, stands, &token, id, 0).await;
        let probe = Instant::now();
        while probe.elapsed() < Duration::from_secs(5) {
            if let Some(reply) = stands.connector.reply_to(&sent.id)
                && reply.expected_card
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} never replied with the help card; its log ends:\n{}",
            bot.label,
            log_tail(&bot.log)
        );
    }
}

fn pct(sorted: &[Duration], p: f64) -> Option<Duration> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[(last as f64 * p).round() as usize])
}

async fn measure(http: &reqwest::Client, bot: &Bot, stands: &Stands, clients: usize) -> Figures {
    let (warm, _) = load(http, bot, stands, clients, WARM_UP).await;
    wait_for_replies(stands, &warm).await;
    let (sent, elapsed) = load(http, bot, stands, clients, MEASURE).await;
    wait_for_replies(stands, &sent).await;
    let replies = stands.connector.replies();
    let mut http_lat: Vec<Duration> = sent.iter().filter(|s| s.ok).map(|s| s.http).collect();
    let matched: Vec<(Duration, Instant, bool)> = sent
        .iter()
        .filter_map(|s| {
            let reply = replies.get(&s.id)?;
            Some((reply.at - s.at, reply.at, reply.expected_card))
        })
        .collect();
    let mut e2e: Vec<Duration> = matched.iter().map(|m| m.0).collect();
    http_lat.sort();
    e2e.sort();
    let first = sent.iter().map(|s| s.at).min().expect("something was sent");
    let last_reply = matched.iter().map(|m| m.1).max().unwrap_or(first);
    Figures {
        label: bot.label.clone(),
        clients,
        sent: sent.len(),
        ok: http_lat.len(),
        requests_per_s: http_lat.len() as f64 / elapsed.as_secs_f64(),
        http: http_lat,
        expected_cards: matched.iter().filter(|m| m.2).count(),
        replies_per_s: matched.len() as f64 / (last_reply - first).as_secs_f64().max(1e-9),
        e2e,
        peak_rss_kib: rss_kib(bot.child.id().unwrap_or(0), "VmHWM:"),
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "-".into())
}

fn print_table(rows: &[Figures]) {
    println!(
        "{:<34} {:>7} {:>11} {:>9} {:>10} {:>10} {:>13} {:>10} {:>10} {:>10} {:>10}",
        "bot",
        "clients",
        "200s/sent",
        "req/s",
        "HTTP p50",
        "HTTP p99",
        "replies",
        "e2e p50",
        "e2e p99",
        "replies/s",
        "peak RSS"
    );
    for f in rows {
        println!(
            "{:<34} {:>7} {:>11} {:>9.0} {:>10} {:>10} {:>13} {:>10} {:>10} {:>10.0} {:>6.1} MiB",
            f.label,
            f.clients,
            format!("{}/{}", f.ok, f.sent),
            f.requests_per_s,
            ms(pct(&f.http, 0.5)),
            ms(pct(&f.http, 0.99)),
            format!("{}/{}", f.expected_cards, f.ok),
            ms(pct(&f.e2e, 0.5)),
            ms(pct(&f.e2e, 0.99)),
            f.replies_per_s,
            f.peak_rss_kib as f64 / 1024.0
        );
    }
}

async fn bench() {
    let card = salestim::teams::cards::help(None);
    let files = tempfile::tempdir().expect("a temp dir");
    std::fs::write(files.path().join("card.json"), card.to_string()).expect("writes");
    let key = ChannelKey::generate("bench-key", &["msteams"]);
    let channel = Channel::start(&[&key]).await;
    let connector = ConnectorStandIn::start(card).await;
    std::fs::write(files.path().join("ca.pem"), &connector.pki.ca_pem).expect("writes");
    let stands = Stands {
        channel,
        key,
        connector,
        tenant: uuid::Uuid::new_v4().to_string(),
        files,
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");

    // SAFETY: sysconf has no preconditions. (This process is pinned to one
    // CPU, so available_parallelism would say 1.)
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    println!(
        "bot figures: authenticated `help` message -> reply at the local Connector (release build, {cores} cores)"
    );
    println!(
        "each row: {} s warm-up then {} s closed loop; the bot pinned to CPU 0, load generator and stand-ins on CPU 1",
        WARM_UP.as_secs(),
        MEASURE.as_secs()
    );
    let mut rows = Vec::new();
    let salestim = start_salestim(&http, &stands).await;
    warm_until_ready(&http, &salestim, &stands).await;
    for clients in CLIENTS {
        rows.push(measure(&http, &salestim, &stands, clients).await);
    }
    drop(salestim);
    match start_botbuilder(&http, &stands).await {
        Ok(node) => {
            warm_until_ready(&http, &node, &stands).await;
            for clients in CLIENTS {
                rows.push(measure(&http, &node, &stands, clients).await);
            }
        }
        Err(why) => println!(
            "botbuilder comparison skipped ({why}); install with `npm ci --prefix benches/botbuilder`"
        ),
    }
    print_table(&rows);
    let (tokens, refused) = stands.connector.counters();
    println!(
        "connector stand-in: {tokens} token requests, {refused} refused requests; channel key set fetched {} times",
        stands.channel.fetches()
    );
    println!(
        "e2e = request sent until the reply reached the Connector; replies = replies with the help card / 200s; peak RSS = VmHWM so far"
    );
    let by = |label: &str, clients| {
        rows.iter()
            .find(|f| f.label.starts_with(label) && f.clients == clients)
    };
    for clients in CLIENTS {
        if let (Some(ours), Some(theirs)) = (by("salestim", clients), by("botbuilder", clients)) {
            println!(
                "salestim / botbuilder at {clients} client(s): {:.1}x requests/s, {:.1}x replies/s",
                ours.requests_per_s / theirs.requests_per_s,
                ours.replies_per_s / theirs.replies_per_s
            );
        }
    }
}

fn main() {
    // Before the runtime exists, so every thread it starts inherits CPU 1.
    pin_to_cpu(1);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(bench());
}
