//! Prints the CRM search's figures (a benchmark, not a test): the
//! `searchCrm` messaging-extension search, an authenticated
//! `composeExtension/query` invoke until its answer (the result list with
//! its cards) is read, through the release `handler local` pinned to one
//! core, at 1 and 50 concurrent users: searches/s, p50/p99, and what each
//! search cost the CRM (API requests and token requests per search).
//!
//! The CRM is the tests' Dataverse stand-in (relevance search on, 900
//! records), connected the way an operator connects a tenant (`handler crm
//! dynamics`, with SalesTim's own Entra app). Two handlers run in turn:
//! one that caches nothing (`SALESTIM_CRM_CACHE_SECS=0`: every search asks
//! the CRM, its token warm) and one with the default 60 s cache, warmed by
//! one round of the same searches first. Each user pages too: one search
//! in four asks for the second page (`skip=25`).
//!
//! No peer ships a CRM search; beside the figures, the same load on the
//! bot's own catalog search (`searchTeams`, the local store only) shows
//! what the invoke path costs without a CRM behind it.
//!
//! The stand-in answers at once: a real Dataverse adds its own latency
//! (typically 100-300 ms per search) to the cold figures, not the warm.
//!
//! Run with `cargo bench --bench crm`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../tests/it/support/botframework.rs"]
#[allow(dead_code, reason = "shared with the tests; the bench uses a part")]
mod botframework;
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/it/support/dataverse.rs"]
mod dataverse;
#[path = "../tests/it/support/http_serve.rs"]
mod http_serve;

use botframework::{Channel, ChannelKey, ISSUER};
use common::{
    BENCH_CUSTOMER, activate_subscription, data_dir, free_port, handler_command, log_tail,
    operator, spawn_local, unix_now,
};
use dataverse::DataverseStandIn;

const BIN: &str = env!("CARGO_BIN_EXE_handler");
const STRIPE_SECRET: &str = "whsec_bench_crm_secret";
const APP_ID: &str = "6a7b8c9d-1111-4e2f-8a3b-0123456789cd";
const APP_SECRET: &str = "bench-crm-bot-secret";
const CATALOG: &str = "searchTeams";
const MEASURE: Duration = Duration::from_secs(5);
const CLIENTS: [usize; 2] = [1, 50];
/// What the users type: names the stand-in holds (each matches a few
/// dozen records across the three tables).
const TEXTS: [&str; 12] = [
    "Contoso",
    "Fabrikam",
    "Northwind",
    "Adventure",
    "Litware",
    "Tailspin",
    "Wingtip",
    "Proseware",
    "Woodgrove",
    "Alpine",
    "Coho",
    "Lucerne",
];

struct Setup {
    key: ChannelKey,
    _channel: Channel,
    metadata_url: String,
    crm: DataverseStandIn,
    tenant: String,
}

impl Setup {
    fn token(&self) -> String {
        let now = unix_now();
        self.key.sign(
            &json!({"iss": ISSUER, "aud": APP_ID, "exp": now + 3600, "nbf": now - 5,
            "serviceurl": "https://smba.trafficmanager.net/emea/"}),
        )
    }

    fn invoke(&self, command: &str, user: usize, text: &str, skip: usize) -> Vec<u8> {
        let tenant = &self.tenant;
        serde_json::to_vec(&json!({
            "type": "invoke", "name": "composeExtension/query", "id": uuid::Uuid::new_v4().to_string(),
            "channelId": "msteams", "serviceUrl": "https://smba.trafficmanager.net/emea/",
            "from": {"id": format!("29:bench-user-{user}"), "aadObjectId": format!("00000000-0000-4000-8000-{user:012}")},
            "recipient": {"id": format!("28:{APP_ID}")},
            "conversation": {"id": format!("a:1bench-chat-{user}"), "conversationType": "personal", "tenantId": tenant},
            "channelData": {"tenant": {"id": tenant}},
            "value": {"commandId": command, "parameters": [{"name": "q", "value": text}],
                "queryOptions": {"skip": skip, "count": 25}}
        }))
        .expect("JSON")
    }
}

/// One search: answered means HTTP 200 with a non-empty result list (the
/// catalog baseline: any list, or its "nothing matches" message).
async fn search(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: Vec<u8>,
    catalog: bool,
) -> (Duration, bool) {
    let at = Instant::now();
    let res = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let ok = match res {
        Ok(res) if res.status() == 200 => res.json::<Value>().await.is_ok_and(|v| {
            let answer = &v["composeExtension"];
            // The catalog holds one template: page 2 of it is empty.
            (catalog && (answer["type"] == "message" || answer["type"] == "result"))
                || (answer["type"] == "result"
                    && answer["attachments"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty()))
        }),
        _ => false,
    };
    (at.elapsed(), ok)
}

struct Row {
    label: String,
    clients: usize,
    times: Vec<Duration>,
    ok: usize,
    elapsed: Duration,
    crm_requests: usize,
    token_requests: usize,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// `clients` users, each searching again as soon as it has its answer, for
/// `duration`; every fourth search of a user asks for the second page.
async fn load(
    http: &reqwest::Client,
    url: &str,
    setup: &Setup,
    command: &str,
    clients: usize,
    duration: Duration,
) -> (Vec<Duration>, usize, Duration) {
    let token = setup.token();
    let started = Instant::now();
    let deadline = started + duration;
    let users = (0..clients).map(|user| {
        let token = token.as_str();
        async move {
            let mut times = Vec::new();
            let mut ok = 0;
            let mut n = 0usize;
            while Instant::now() < deadline {
                let text = TEXTS[(user + n / 2) % TEXTS.len()];
                let skip = if n % 4 == 3 { 25 } else { 0 };
                let (took, answered) = search(
                    http,
                    url,
                    token,
                    setup.invoke(command, user, text, skip),
                    command == CATALOG,
                )
                .await;
                times.push(took);
                ok += usize::from(answered);
                n += 1;
            }
            (times, ok)
        }
    });
    let mut times = Vec::new();
    let mut ok = 0;
    for (t, o) in futures::future::join_all(users).await {
        times.extend(t);
        ok += o;
    }
    times.sort();
    (times, ok, started.elapsed())
}

/// A handler on its own data directory, the tenant registered, connected
/// to the CRM and subscribed; `cache_secs` for its CRM cache.
async fn start(
    http: &reqwest::Client,
    setup: &Setup,
    cache_secs: u64,
    log: &Path,
) -> (tokio::process::Child, String, tempfile::TempDir) {
    let dir = data_dir();
    let crm_env = |cmd: &mut tokio::process::Command| {
        cmd.env("GRAPH_CLIENT_ID", dataverse::CLIENT_ID)
            .env("GRAPH_CLIENT_SECRET", setup.crm.client_secret())
            .env("CRM_AUTHORITY_HOST", setup.crm.authority_host.as_str())
            .env("CRM_EXTRA_HOSTS", "127.0.0.1")
            .env("SALESTIM_CRM_CACHE_SECS", cache_secs.to_string());
    };
    let handler = || {
        let mut cmd = handler_command(BIN, dir.path(), Some(log));
        cmd.env("RUST_LOG", "warn");
        crm_env(&mut cmd);
        cmd
    };
    operator(
        handler(),
        &["tenant", "add", &setup.tenant, "--name", "Bench"],
        log,
    )
    .await;
    operator(
        handler(),
        &["billing", "bind", &setup.tenant, BENCH_CUSTOMER],
        log,
    )
    .await;
    operator(
        handler(),
        &[
            "crm",
            "dynamics",
            &setup.tenant,
            "--org-url",
            setup.crm.org_url.as_str(),
        ],
        log,
    )
    .await;
    let template = dir.path().join("deals.json");
    std::fs::write(
        &template,
        json!({"name": "Deal team", "active": true, "crmLink": "opportunity", "approval": {"kind": "none"}})
            .to_string(),
    )
    .expect("writes the template");
    let path = template.to_string_lossy().into_owned();
    operator(
        handler(),
        &["template", "put", &setup.tenant, "deals", "--file", &path],
        log,
    )
    .await;

    let mut cmd = handler();
    cmd.env("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
        .env("MicrosoftAppId", APP_ID)
        .env("MicrosoftAppPassword", APP_SECRET)
        .env("ToBotFromChannelOpenIdMetadataUrl", &setup.metadata_url);
    let (child, base) = spawn_local(http, cmd, free_port(), log).await;
    activate_subscription(http, &base, STRIPE_SECRET).await;
    (child, base, dir)
}

async fn measure(
    http: &reqwest::Client,
    setup: &Setup,
    label: &str,
    cache_secs: u64,
    command: &str,
    log: &Path,
) -> Vec<Row> {
    let (_child, base, _dir) = start(http, setup, cache_secs, log).await;
    let url = format!("{base}/api/messages");
    // Until the subscription is applied and the token is warm.
    let started = Instant::now();
    loop {
        let (_, ok) = search(
            http,
            &url,
            &setup.token(),
            setup.invoke(command, 0, TEXTS[0], 0),
            command == CATALOG,
        )
        .await;
        if ok {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no search answered within 30 s; the log ends:\n{}",
            log_tail(log, 20)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One round of every search the users make (the warm cache's fill; a
    // cold handler keeps nothing of it).
    for text in TEXTS {
        for skip in [0, 25] {
            search(
                http,
                &url,
                &setup.token(),
                setup.invoke(command, 0, text, skip),
                command == CATALOG,
            )
            .await;
        }
    }
    let mut rows = Vec::new();
    for clients in CLIENTS {
        let (api_before, tokens_before) = (setup.crm.requests().len(), setup.crm.token_requests());
        let (times, ok, elapsed) = load(http, &url, setup, command, clients, MEASURE).await;
        rows.push(Row {
            label: label.to_owned(),
            clients,
            ok,
            elapsed,
            crm_requests: setup.crm.requests().len() - api_before,
            token_requests: setup.crm.token_requests() - tokens_before,
            times,
        });
    }
    rows
}

fn print(rows: &[Row]) {
    println!(
        "{:<34} {:>7} {:>9} {:>9} {:>9} {:>9} {:>13} {:>13}",
        "", "users", "searches", "per s", "p50 ms", "p99 ms", "CRM req/search", "tokens/search"
    );
    for r in rows {
        let n = r.times.len().max(1) as f64;
        println!(
            "{:<34} {:>7} {:>9} {:>9.0} {:>9.2} {:>9.2} {:>13.3} {:>13.4}",
            r.label,
            r.clients,
            format!("{}/{}", r.ok, r.times.len()),
            r.times.len() as f64 / r.elapsed.as_secs_f64(),
            pct(&r.times, 0.5).as_secs_f64() * 1000.0,
            pct(&r.times, 0.99).as_secs_f64() * 1000.0,
            r.crm_requests as f64 / n,
            r.token_requests as f64 / n,
        );
    }
}

async fn bench() {
    let crm = DataverseStandIn::start().await;
    let tenant = uuid::Uuid::new_v4().to_string();
    crm.add_tenant(&tenant, true);
    for (n, name) in TEXTS.iter().cycle().take(300).enumerate() {
        let account = crm.add_account(&format!("{name} {n:03}"), "Seattle");
        crm.add_contact(&format!("{name} Contact {n:03}"), "Buyer", &account);
        crm.add_opportunity(
            &format!("{name} Deal {n:03}"),
            &account,
            10_000.0 + n as f64,
        );
    }
    let key = ChannelKey::generate("bench-key", &["msteams"]);
    let channel = Channel::start(&[&key]).await;
    let setup = Setup {
        metadata_url: channel.metadata_url.to_string(),
        _channel: channel,
        key,
        crm,
        tenant,
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    let files = tempfile::tempdir().expect("a temp dir");
    let log = files.path().join("handler.log");
    // SAFETY: sysconf has no preconditions.
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    println!(
        "CRM search figures: authenticated composeExtension/query -> result list read (release build, {cores} cores)"
    );
    println!(
        "each row: {} s closed loop, one search in four for page 2; the handler pinned to CPU 0, load and stand-ins on CPU 1",
        MEASURE.as_secs()
    );
    let mut rows = Vec::new();
    rows.extend(
        measure(
            &http,
            &setup,
            "searchCrm, cache off (cold)",
            0,
            "searchCrm",
            &log,
        )
        .await,
    );
    rows.extend(
        measure(
            &http,
            &setup,
            "searchCrm, cache 60 s (warm)",
            60,
            "searchCrm",
            &log,
        )
        .await,
    );
    rows.extend(
        measure(
            &http,
            &setup,
            "searchTeams (no CRM; baseline)",
            60,
            "searchTeams",
            &log,
        )
        .await,
    );
    print(&rows);
    let problems: Vec<String> = rows
        .iter()
        .filter(|r| r.ok != r.times.len())
        .map(|r| {
            format!(
                "{} at {} users: {} of {} searches answered",
                r.label,
                r.clients,
                r.ok,
                r.times.len()
            )
        })
        .collect();
    common::report_problems("crm", &problems, 5);
}

fn main() {
    common::run_on_cpu1(bench());
}
