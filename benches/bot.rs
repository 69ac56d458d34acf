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
//! Both reply before they answer the HTTP request: botbuilder always,
//! SalesTim within its inline budget (`SALESTIM_BOT_REPLY_BUDGET_MS`),
//! falling back to the `bot-outbox` queue; compare end to end.
//!
//! Run with `cargo bench --bench bot`. `SALESTIM_BENCH_DIR=/dev/shm` keeps
//! the embedded stores in memory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

#[path = "../tests/it/support/botframework.rs"]
#[allow(dead_code, reason = "shared with the tests; the bench uses a part")]
mod botframework;
#[path = "bot/bots.rs"]
mod bots;
#[path = "common/mod.rs"]
mod common;
#[path = "bot/connector.rs"]
mod connector;
#[path = "../tests/it/support/tls.rs"]
#[allow(dead_code, reason = "shared with the tests; the bench uses a part")]
mod tls;

use botframework::{Channel, ChannelKey, ISSUER};
use bots::{Bot, log_tail, start_botbuilder, start_salestim};
use common::rss_kib;
use common::unix_now;
use connector::{APP_ID, ConnectorStandIn};

const BIN: &str = env!("CARGO_BIN_EXE_handler");
const STRIPE_SECRET: &str = "whsec_bench_bot_secret";
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
    common::run_on_cpu1(bench());
}
