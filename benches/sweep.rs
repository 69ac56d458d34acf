//! Prints governance sweep figures (a benchmark, not a test): 10,000 teams
//! across 10 tenants on the Graph stand-in (each tenant: 1,000 teams of 2
//! owners and 8 members, 500 plain groups, 2,000 users of whom 200 are
//! guests; Graph's page size of 100), 10% of Graph requests answered 429
//! with `Retry-After: 1`. The release `handler local` runs pinned to CPU 0
//! with Graph pointing at the stand-in (which runs in this process on CPU
//! 1). Two sweeps:
//!
//! - (a) the first full sweep of every tenant: the `GovernanceSweep` timer
//!   run by hand (the host's admin call), fanning out one `SweepTenant` per
//!   tenant;
//! - (b) an incremental sweep after 1% of the teams changed (renamed,
//!   members added and removed, a new guest, a new team), one `SweepTenant`
//!   per tenant.
//!
//! For each: Graph requests and `$batch` sub-requests per team (retries
//! and 429s included, tokens excluded), 429s served, wall time (first
//! admin call to the last tenant's log line), the handler's CPU time per
//! team and its peak RSS (VmHWM, reset between the sweeps). Then the naive
//! baseline against the same stand-in: list the teams, then each team's
//! owners, members and guests, one request each, actually made (throttled
//! the same, `Retry-After: 0` to keep the bench short).
//!
//! It checks each tenant's round said what the directory holds and exits
//! non-zero if not: figures of a wrong result are worthless.
//!
//! Run with `cargo bench --bench sweep`; `SALESTIM_BENCH_DIR=/dev/shm`
//! keeps the embedded stores in memory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/it/support/graph.rs"]
mod graph;
#[path = "../tests/it/support/http_serve.rs"]
mod http_serve;

use common::{cpu_time, data_dir, free_port, handler_command, rss_kib};
use graph::{CLIENT_ID, Counts, GraphStandIn};

const BIN: &str = env!("CARGO_BIN_EXE_handler");
const TENANTS: usize = 10;
const TEAMS: usize = 1_000;
const PLAIN_GROUPS: usize = 500;
const USERS: usize = 2_000;
const GUESTS: usize = 200;
const MEMBERS: usize = 8;
const THROTTLE: f64 = 0.10;
const RETRY_AFTER_SECS: u64 = 1;
/// Teams changed per tenant before the incremental sweep (1%).
const CHANGED: usize = TEAMS / 100;
const WAIT: Duration = Duration::from_secs(150);

fn tenant_id(i: usize) -> String {
    format!("7e000000-0000-4000-8000-{i:012}")
}

fn user_id(j: usize) -> String {
    format!("0c000000-0000-4000-8000-{j:012}")
}

/// The `m`th person of team `k` (the first two own it).
fn pick(k: usize, m: usize) -> usize {
    (k * 13 + m * 101 + 7) % USERS
}

/// Each tenant's directory; the teams' group ids, per tenant.
fn directory(graph: &GraphStandIn) -> Vec<Vec<String>> {
    let users: Vec<String> = (0..USERS).map(user_id).collect();
    let mut teams = Vec::new();
    for i in 0..TENANTS {
        let t = tenant_id(i);
        graph.add_tenant(&t, true);
        for (j, u) in users.iter().enumerate() {
            if j < GUESTS {
                graph.add_guest(&t, u, &format!("Guest {j}"));
            } else {
                graph.add_user(&t, u, &format!("User {j}"), None, None, None);
            }
        }
        let person = |k: usize, m: usize| users[pick(k, m)].as_str();
        let mut ids = Vec::new();
        for k in 0..TEAMS {
            let owners = [person(k, 0), person(k, 1)];
            let members: Vec<&str> = (2..2 + MEMBERS).map(|m| person(k, m)).collect();
            ids.push(graph.add_team(&t, &format!("Team {k:04}"), &owners, &members));
        }
        for k in 0..PLAIN_GROUPS {
            let members: Vec<&str> = (0..5).map(|m| person(k + 5_000, m)).collect();
            graph.add_plain_group(&t, &format!("List {k:04}"), &members[..1], &members);
        }
        teams.push(ids);
    }
    teams
}

/// 1% of each tenant's teams changed: 4 renamed, 3 with a member added, 1
/// with a member removed, 1 with a new guest, and 1 new team.
fn change(graph: &GraphStandIn, teams: &[Vec<String>]) {
    for (i, ids) in teams.iter().enumerate() {
        let t = tenant_id(i);
        for (n, id) in ids.iter().step_by(TEAMS / CHANGED).enumerate() {
            let k = n * (TEAMS / CHANGED);
            match n {
                0..=3 => graph.rename_group(&t, id, &format!("Renamed {n}")),
                4..=6 => graph.add_member(&t, id, &user_id(USERS - 1 - n)),
                7 => graph.remove_member(&t, id, &user_id(pick(k, 5))),
                8 => {
                    let guest = "0d000000-0000-4000-8000-000000000001";
                    graph.add_guest(&t, guest, "New guest");
                    graph.add_member(&t, id, guest);
                }
                _ => {
                    graph.add_team(&t, "New team", &[&user_id(300)], &[&user_id(301)]);
                }
            }
        }
    }
}

struct Handler {
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Handler {
    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}

async fn operator(dir: &Path, log: &Path, args: &[&str]) {
    common::operator(handler_command(BIN, dir, Some(log)), args, log).await;
}

/// The tenants added with consent, then `handler local` on the stand-in.
async fn start(http: &reqwest::Client, graph: &GraphStandIn, files: &Path) -> Handler {
    let dir = data_dir();
    let log = files.join("handler.log");
    for i in 0..TENANTS {
        let t = tenant_id(i);
        let name = format!("Tenant {i}");
        operator(dir.path(), &log, &["tenant", "add", &t, "--name", &name]).await;
        operator(
            dir.path(),
            &log,
            &["tenant", "set", &t, "--consent", "granted"],
        )
        .await;
    }
    let mut cmd = handler_command(BIN, dir.path(), Some(&log));
    cmd.env("RUST_LOG", "warn,salestim::host::invoke=info");
    common::on_graph(
        &mut cmd,
        graph.base_url.as_str(),
        graph.authority_host.as_str(),
        CLIENT_ID,
        &graph.client_secret(),
    );
    let (child, base) = common::spawn_local(http, cmd, free_port(), &log).await;
    Handler {
        child,
        base,
        log,
        _dir: dir,
    }
}

async fn admin(http: &reqwest::Client, h: &Handler, function: &str, input: &str) {
    let res = http
        .post(format!("{}/admin/functions/{function}", h.base))
        .json(&serde_json::json!({ "input": input }))
        .send()
        .await
        .expect("the local host answers");
    assert_eq!(res.status(), 202, "admin call to {function}");
}

/// Each tenant's `SweepTenant` line written to the log after byte `from`,
/// waited for (bounded).
async fn lines(h: &Handler, from: usize) -> Vec<Option<String>> {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&h.log).unwrap_or_default();
        let new = text.get(from..).unwrap_or_default();
        let found: Vec<Option<String>> = (0..TENANTS)
            .map(|i| {
                let prefix = format!("inventory of {}: ", tenant_id(i));
                new.lines()
                    .find(|l| l.contains(&prefix) && l.contains(" round ("))
                    .map(str::to_owned)
            })
            .collect();
        if found.iter().all(Option::is_some) || started.elapsed() > WAIT {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The number before `label` in a round line (`1000 teams seen`).
fn number_before(line: &str, label: &str) -> Option<u64> {
    let before = &line[..line.find(label)?];
    before.split_whitespace().last()?.parse().ok()
}

struct Figures {
    label: &'static str,
    wall: Duration,
    counts: Counts,
    cpu: Duration,
    peak_rss_kib: u64,
    /// VmRSS when the sweep began (what the peak was reset to).
    rss_before_kib: u64,
    /// The first tenant's round line.
    sample: String,
    problems: Vec<String>,
}

async fn measure(
    label: &'static str,
    h: &Handler,
    graph: &GraphStandIn,
    trigger: impl std::future::Future<Output = ()>,
    expect: impl Fn(&str) -> Option<String>,
) -> Figures {
    // Peak RSS of this sweep alone (Linux: writing 5 resets VmHWM).
    let _ = std::fs::write(format!("/proc/{}/clear_refs", h.pid()), "5");
    let rss_before_kib = rss_kib(h.pid(), "VmRSS:");
    let from = std::fs::metadata(&h.log).map_or(0, |m| m.len() as usize);
    graph.reset_counts();
    let cpu_before = cpu_time(h.pid());
    let started = Instant::now();
    trigger.await;
    let found = lines(h, from).await;
    let wall = started.elapsed();
    let cpu = cpu_time(h.pid()).saturating_sub(cpu_before);
    let mut problems = Vec::new();
    for (i, line) in found.iter().enumerate() {
        match line {
            None => problems.push(format!("{}: no round line", tenant_id(i))),
            Some(line) => {
                if let Some(p) = expect(line) {
                    problems.push(format!("{}: {p}: {line}", tenant_id(i)));
                }
            }
        }
    }
    Figures {
        label,
        wall,
        counts: graph.count(),
        cpu,
        peak_rss_kib: rss_kib(h.pid(), "VmHWM:"),
        rss_before_kib,
        sample: found.first().cloned().flatten().unwrap_or_default(),
        problems,
    }
}

/// The naive inventory: list the teams, then each team's owners, members
/// and guests, one request each (tenants side by side, each one request at
/// a time); 429s waited out.
async fn naive(http: &reqwest::Client, graph: &GraphStandIn) -> (Duration, Counts) {
    graph.set_throttle(THROTTLE, 0);
    graph.reset_counts();
    let started = Instant::now();
    let tenants = (0..TENANTS).map(|i| async move {
        let t = tenant_id(i);
        let token: serde_json::Value = http
            .post(format!("{}{t}/oauth2/v2.0/token", graph.authority_host))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", &graph.client_secret()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("a token")
            .json()
            .await
            .expect("JSON");
        let token = token["access_token"].as_str().expect("a token").to_owned();
        let get = |url: String| {
            let token = token.clone();
            async move {
                for _ in 0..50 {
                    let res = http
                        .get(&url)
                        .bearer_auth(&token)
                        .header("ConsistencyLevel", "eventual")
                        .send()
                        .await
                        .expect("the stand-in answers");
                    if res.status() == 429 {
                        continue;
                    }
                    assert!(res.status().is_success(), "{url}: {}", res.status());
                    return res.json::<serde_json::Value>().await.expect("JSON");
                }
                panic!("{url}: throttled 50 times");
            }
        };
        let base = graph.base_url.as_str().trim_end_matches('/').to_owned();
        let mut next = Some(format!(
            "{base}/groups?$filter=resourceProvisioningOptions/Any(x:x eq 'Team')&$select=id"
        ));
        let mut teams = Vec::new();
        while let Some(url) = next.take() {
            let page = get(url).await;
            for team in page["value"].as_array().into_iter().flatten() {
                teams.push(team["id"].as_str().unwrap_or_default().to_owned());
            }
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        for id in teams {
            get(format!("{base}/groups/{id}/owners?$select=id")).await;
            get(format!("{base}/groups/{id}/members?$select=id")).await;
            get(format!(
                "{base}/groups/{id}/members/microsoft.graph.user?$filter=userType eq 'Guest'&$count=true&$select=id"
            ))
            .await;
        }
    });
    futures::future::join_all(tenants).await;
    (started.elapsed(), graph.count())
}

fn print_table(rows: &[Figures], teams: f64) {
    println!(
        "{:<34} {:>8} {:>9} {:>12} {:>6} {:>10} {:>12} {:>9} {:>6}",
        "sweep",
        "requests",
        "req/team",
        "sub-req/team",
        "429s",
        "wall",
        "CPU/team",
        "peak RSS",
        "check"
    );
    for f in rows {
        println!(
            "{:<34} {:>8} {:>9.4} {:>12.4} {:>6} {:>8.2} s {:>9.1} µs {:>5.1} MiB {:>6}",
            f.label,
            f.counts.http,
            f.counts.http as f64 / teams,
            f.counts.batched as f64 / teams,
            f.counts.throttled,
            f.wall.as_secs_f64(),
            f.cpu.as_secs_f64() * 1e6 / teams,
            f.peak_rss_kib as f64 / 1024.0,
            if f.problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            }
        );
    }
}

async fn bench() {
    let http = reqwest::Client::new();
    let graph = GraphStandIn::start().await;
    let files = tempfile::tempdir().expect("a temp dir");
    let setup = Instant::now();
    let teams = directory(&graph);
    let handler = start(&http, &graph, files.path()).await;
    println!(
        "sweep figures: {} teams across {TENANTS} tenants ({TEAMS} teams, {PLAIN_GROUPS} plain groups, {USERS} users of whom {GUESTS} guests each), pages of 100, {:.0}% 429 with Retry-After {RETRY_AFTER_SECS}s; set up in {:.1} s",
        TENANTS * TEAMS,
        THROTTLE * 100.0,
        setup.elapsed().as_secs_f64()
    );
    println!(
        "the release handler local pinned to CPU 0; the Graph stand-in and this bench on CPU 1"
    );
    // What the handler costs doing nothing (timers, queue polling), for
    // scale: the sweeps' CPU figures include it.
    let idle_before = cpu_time(handler.pid());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = cpu_time(handler.pid()).saturating_sub(idle_before) / 3;
    println!(
        "the handler idle (timers, queue polling): {:.1} ms CPU per second",
        idle.as_secs_f64() * 1e3
    );
    graph.set_throttle(THROTTLE, RETRY_AFTER_SECS);

    let full = measure(
        "(a) first full sweep",
        &handler,
        &graph,
        admin(&http, &handler, "GovernanceSweep", ""),
        |line| {
            let seen = number_before(line, "teams seen")?;
            let added = number_before(line, "added")?;
            (!(line.contains("Full round") && seen == TEAMS as u64 && added == TEAMS as u64))
                .then(|| format!("expected a full round adding {TEAMS} teams"))
        },
    )
    .await;

    change(&graph, &teams);
    let incremental = measure(
        "(b) incremental after 1% changed",
        &handler,
        &graph,
        async {
            let calls = (0..TENANTS).map(|i| {
                let input = serde_json::json!({ "tenantId": tenant_id(i) }).to_string();
                let (http, handler) = (&http, &handler);
                async move { admin(http, handler, "SweepTenant", &input).await }
            });
            futures::future::join_all(calls).await;
        },
        |line| {
            let added = number_before(line, "added")?;
            let changed = number_before(line, "changed")?;
            let ok = line.contains("Incremental round") && added == 1 && changed >= 8;
            (!ok).then(|| "expected an incremental round: 1 added, at least 8 changed".into())
        },
    )
    .await;
    let rows = [full, incremental];
    print_table(&rows, (TENANTS * TEAMS) as f64);
    for f in &rows {
        println!(
            "{}: RSS {:.1} MiB when it began; first tenant's line: {}",
            f.label,
            f.rss_before_kib as f64 / 1024.0,
            f.sample.split("inventory of").nth(1).unwrap_or_default()
        );
    }

    let (naive_wall, naive_counts) = naive(&http, &graph).await;
    println!(
        "naive baseline (list teams, then owners, members and guests per team; 10% 429, Retry-After 0): {} requests = {:.2} req/team, {} 429s, {:.2} s",
        naive_counts.http,
        naive_counts.http as f64 / (TENANTS * TEAMS) as f64,
        naive_counts.throttled,
        naive_wall.as_secs_f64()
    );
    println!(
        "aims: full <= 0.5 req/team, incremental <= 0.02 req/team, CPU <= 50 µs/team, RSS < 64 MiB"
    );
    println!(
        "requests = top-level Graph requests (a $batch counts 1, retries and 429s included, tokens excluded); wall = first admin call to the last tenant's round line; CPU = the handler's user + system time; peak RSS = VmHWM, reset before each sweep"
    );
    let mut failed = false;
    for f in &rows {
        if common::report_problems(f.label, &f.problems, 20) {
            failed = true;
            println!(
                "!! the handler's log ends:\n{}",
                common::log_tail(&handler.log, 20)
            );
        }
    }
    if failed {
        std::process::exit(1);
    }
}

fn main() {
    common::run_on_cpu1(bench());
}
