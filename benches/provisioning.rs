//! Prints team provisioning figures (a benchmark, not a test): 100 team
//! requests submitted through the bot until every team is created on
//! Microsoft Graph and its requester is told, with the release `handler
//! local` pinned to CPU 0: total time, teams/min, Graph requests and batch
//! sub-requests per team, 429s served, token requests, per-team time
//! submit→done p50/p99, handler CPU time and peak RSS (VmHWM). Once without
//! throttling, once with 10% of Graph requests (batch sub-requests
//! included) answered 429 with `Retry-After: 1`. It checks every team is
//! complete on Graph and exits non-zero if one is not: figures of a wrong
//! result are worthless.
//!
//! How: the Graph stand-in of the tests (`tests/it/support/graph.rs`, a
//! create operation answering `inProgress` once before `succeeded`) and a
//! plain-HTTP Bot Connector sink run in this process on CPU 1. The tenant
//! is set up as an operator does (`handler tenant add`, `tenant set
//! --consent granted`, `template put` of a "project" template: two
//! channels, one private; two website tabs, one in General; one app; a
//! default owner and member; guests off; a naming prefix; an expiry; an
//! icon; no approval), then `handler local` runs with
//! `SALESTIM_BOT_AUTH_DISABLED=true` and is made active by a signed Stripe
//! event. The requester says `help` (so the bot knows their chat), then
//! the bench sends N requests, 8 at a time, each as a requester does: a
//! `task/submit` that checks the final name (a draft), then one that
//! submits that draft, approved at once and queued for `ProvisionTeam`. A team is done when the
//! requester's status card saying "Created" (or "Failed") reaches the sink.
//! Each run has a fresh handler, data directory and stand-in. A first run
//! of a single team lists the Graph requests one team costs. Each run also
//! says how long the submits took, how many teams were in provisioning at
//! once, and what the handler's log says went wrong.
//!
//! `provisioning/world.rs` sets a run up and sends the requester's
//! activities, `handler.rs` starts the handler, `sink.rs` is the Connector,
//! `check.rs` says what is wrong with the teams on Graph.
//!
//! Run with `cargo bench --bench provisioning`; `SALESTIM_BENCH_DIR=/dev/shm`
//! keeps the embedded stores in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt;

#[path = "provisioning/check.rs"]
mod check;
#[path = "common/mod.rs"]
mod common;
#[path = "../tests/it/support/graph.rs"]
mod graph;
#[path = "provisioning/handler.rs"]
mod handler;
#[path = "../tests/it/support/http_serve.rs"]
mod http_serve;
#[path = "provisioning/sink.rs"]
mod sink;
#[path = "provisioning/world.rs"]
mod world;

use graph::{Counts, Seen};
use handler::log_tail;
use world::{Submitted, World};

const N: usize = 100;
const CONCURRENCY: usize = 8;
const BUDGET: Duration = Duration::from_secs(600);
const THROTTLE: f64 = 0.10;
const RETRY_AFTER_SECS: u64 = 1;
pub const REQUESTER: &str = "0b0b0b0b-0000-4000-8000-000000000b0b";
pub const OWNER: &str = "da7eda7e-0000-4000-8000-00000000da7e";
pub const MEMBER: &str = "ca01ca01-0000-4000-8000-00000000ca01";
/// Typed in the form by address (looked up in the directory at submit).
pub const TYPED_MEMBER: &str = "e1e1e1e1-0000-4000-8000-00000000e1e1";
pub const TYPED_MEMBER_UPN: &str = "erin@contoso.test";
pub const CRM_APP: &str = "com.contoso.crm";
pub const DESCRIPTION: &str = "Launch of a customer project";

/// What one run measured.
struct Figures {
    label: String,
    teams: usize,
    total: Duration,
    counts: Counts,
    per_team: Vec<Duration>,
    /// First submit sent to last submit answered, and each invoke's answer time.
    submit_span: Duration,
    invokes: Vec<Duration>,
    peak_rss_kib: u64,
    /// Handler CPU time (user + system) from the first submit to the end.
    cpu: Duration,
    /// Most teams being worked on at once (see [`peak_in_flight`]).
    in_flight: usize,
    problems: Vec<String>,
    log_notes: String,
}

pub fn final_name(name: &str) -> String {
    format!("PRJ-{name}")
}

/// Waits (bounded) until every accepted request's requester got a final
/// status card and Graph has a team for each "Created"; (name -> (status, when,
/// failure reason)).
async fn wait_done(
    w: &World,
    accepted: &BTreeSet<String>,
) -> BTreeMap<String, (String, Instant, Option<String>)> {
    let started = Instant::now();
    let mut done = BTreeMap::new();
    let mut read = 0;
    loop {
        let new = w.sink.since(read);
        read += new.len();
        for p in new {
            if let Some((name, status)) = sink::status_of(&p.body)
                && matches!(status.as_str(), "Created" | "Failed")
                && accepted.contains(&name)
            {
                let reason = sink::failure_of(&p.body);
                done.entry(name).or_insert((status, p.at, reason));
            }
        }
        let teams = w
            .graph
            .teams(&w.tenant)
            .iter()
            .filter(|t| t.is_team)
            .count();
        let created = done.values().filter(|d| d.0 == "Created").count();
        if done.len() == accepted.len() && teams >= created {
            return done;
        }
        if started.elapsed() > BUDGET {
            println!(
                "!! gave up waiting after {} s: {} of {} requests finished, {teams} teams on Graph",
                BUDGET.as_secs(),
                done.len(),
                accepted.len()
            );
            return done;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Most teams at once between the first and the last Graph request whose
/// path names the team (`/teams/{id}…`, `/groups/{id}…`): from its first
/// operation poll to its last read-back.
fn peak_in_flight(seen: &[Seen]) -> usize {
    let mut spans: BTreeMap<&str, (Instant, Instant)> = BTreeMap::new();
    for s in seen {
        let mut parts = s.path.split('/').skip(1);
        if let (Some("teams" | "groups"), Some(id)) = (parts.next(), parts.next()) {
            let span = spans.entry(id).or_insert((s.at, s.at));
            span.1 = span.1.max(s.at);
        }
    }
    let mut edges: Vec<(Instant, i32)> = spans
        .values()
        .flat_map(|&(from, to)| [(from, 1), (to, -1)])
        .collect();
    edges.sort();
    let mut now = 0;
    let mut peak = 0;
    for (_, step) in edges {
        now += step;
        peak = peak.max(now);
    }
    peak as usize
}

/// What the handler's log says went wrong along the way.
fn log_notes(w: &World) -> String {
    let log = std::fs::read_to_string(&w.handler.log).unwrap_or_default();
    let count = |s: &str| log.lines().filter(|l| l.contains(s)).count();
    format!(
        "{} Graph calls gave up retrying, {} provisioning runs stopped for the queue to retry, {} failed for good, {} poisoned; {} WARN lines besides the {} auth-disabled notices, {} ERROR lines",
        count("giving up"),
        count("provisioning run stopped"),
        count("provisioning failed for good"),
        count("provisioning poisoned"),
        count("WARN") - count(salestim::config::AUTH_DISABLED_WARNING),
        count(salestim::config::AUTH_DISABLED_WARNING),
        count("ERROR"),
    )
}

/// One run on a fresh world: `n` requests, the given throttling.
async fn run(label: &str, n: usize, throttle: f64) -> (Figures, Vec<Seen>) {
    let w = World::start().await;
    w.say_hello().await;
    w.graph.reset_counts();
    let cpu_before = w.handler.cpu();
    w.graph.set_throttle(throttle, RETRY_AFTER_SECS);
    let names: Vec<String> = (1..=n).map(|i| format!("Bench {i:03}")).collect();
    let submitted: Vec<Submitted> = futures::stream::iter(names.iter().enumerate())
        .map(|(i, name)| w.submit(i, name))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut problems: Vec<String> = submitted
        .iter()
        .filter_map(|s| {
            s.ok.as_ref()
                .err()
                .map(|e| format!("{:?}: not accepted: {e}", s.name))
        })
        .collect();
    let accepted: BTreeSet<String> = submitted
        .iter()
        .filter(|s| s.ok.is_ok())
        .map(|s| s.name.clone())
        .collect();
    let done = wait_done(&w, &accepted).await;
    let peak_rss_kib = common::rss_kib(w.handler.pid(), "VmHWM:");
    let cpu = w.handler.cpu().saturating_sub(cpu_before);
    let counts = w.graph.count();
    let teams = w.graph.teams(&w.tenant);
    for (name, (status, _, reason)) in &done {
        if status != "Created" {
            problems.push(format!(
                "{name:?}: the requester was told {status}: {reason:?}"
            ));
        }
    }
    for name in accepted.iter().filter(|n| !done.contains_key(*n)) {
        problems.push(format!("{name:?}: the requester was never told it is done"));
    }
    let wanted: BTreeSet<String> = names.iter().map(|n| final_name(n)).collect();
    problems.extend(check::problems(&teams, &wanted));
    let first = submitted
        .iter()
        .map(|s| s.at)
        .min()
        .expect("something was sent");
    let last = done.values().map(|d| d.1).max().unwrap_or(first);
    let mut per_team: Vec<Duration> = submitted
        .iter()
        .filter_map(|s| done.get(&s.name).map(|d| d.1 - s.at))
        .collect();
    per_team.sort();
    let mut invokes: Vec<Duration> = submitted.iter().map(|s| s.answered).collect();
    invokes.sort();
    let answered = submitted
        .iter()
        .map(|s| s.at + s.answered)
        .max()
        .unwrap_or(first);
    if !problems.is_empty() {
        println!(
            "!! {label}: the handler's log ends:\n{}",
            log_tail(&w.handler.log, 30)
        );
    }
    let seen = w.graph.requests();
    let figures = Figures {
        label: label.to_owned(),
        teams: teams.iter().filter(|t| t.is_team).count(),
        total: last - first,
        counts,
        per_team,
        submit_span: answered - first,
        invokes,
        peak_rss_kib,
        cpu,
        in_flight: peak_in_flight(&seen),
        problems,
        log_notes: log_notes(&w),
    };
    (figures, seen)
}

fn pct(sorted: &[Duration], p: f64) -> String {
    match sorted.len().checked_sub(1) {
        Some(last) => match sorted[(last as f64 * p).round() as usize].as_secs_f64() {
            s if s < 1.0 => format!("{:.0} ms", s * 1000.0),
            s => format!("{s:.2} s"),
        },
        None => "-".into(),
    }
}

fn print_table(rows: &[Figures]) {
    println!(
        "{:<24} {:>5} {:>9} {:>9} {:>9} {:>12} {:>5} {:>6} {:>8} {:>8} {:>9} {:>9} {:>6}",
        "run",
        "teams",
        "total",
        "teams/min",
        "HTTP/team",
        "sub-req/team",
        "429s",
        "tokens",
        "p50",
        "p99",
        "peak RSS",
        "CPU",
        "check"
    );
    for f in rows {
        let n = f.teams.max(1) as f64;
        println!(
            "{:<24} {:>5} {:>7.1} s {:>9.1} {:>9.1} {:>12.1} {:>5} {:>6} {:>8} {:>8} {:>5.1} MiB {:>7.2} s {:>6}",
            f.label,
            f.teams,
            f.total.as_secs_f64(),
            f.teams as f64 / (f.total.as_secs_f64() / 60.0).max(1e-9),
            f.counts.http as f64 / n,
            f.counts.batched as f64 / n,
            f.counts.throttled,
            f.counts.tokens,
            pct(&f.per_team, 0.5),
            pct(&f.per_team, 0.99),
            f.peak_rss_kib as f64 / 1024.0,
            f.cpu.as_secs_f64(),
            if f.problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            }
        );
    }
}

fn print_requests(seen: &[Seen]) {
    let batched = seen.iter().filter(|s| s.batched).count();
    println!(
        "one team (0% throttling) cost {} Graph HTTP requests and {batched} batch sub-requests (tokens not listed):",
        seen.len() - batched
    );
    for s in seen {
        let query = if s.query.is_empty() {
            String::new()
        } else {
            format!("?{}", s.query)
        };
        let how = if s.batched { "  in $batch" } else { "" };
        println!("  {:>3} {:<6} {}{query}{how}", s.status, s.method, s.path);
    }
}

async fn bench() {
    // SAFETY: sysconf has no preconditions (this process is pinned to one CPU).
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    println!(
        "provisioning figures: {N} team requests through the bot until each team is on Graph and its requester told (release build, {cores} cores)"
    );
    println!(
        "the handler pinned to CPU 0; Graph stand-in, Connector sink and the {CONCURRENCY} concurrent submitters on CPU 1"
    );
    let (one, seen) = run("1 team", 1, 0.0).await;
    print_requests(&seen);
    let mut rows = vec![one];
    rows.push(run("0% throttled", N, 0.0).await.0);
    let throttled = format!(
        "{:.0}% 429, Retry-After {RETRY_AFTER_SECS}s",
        THROTTLE * 100.0
    );
    rows.push(run(&throttled, N, THROTTLE).await.0);
    print_table(&rows);
    println!(
        "total = first submit to last team done; done = the requester's \"Created\" card reached the Connector; p50/p99 = per team, submit to done"
    );
    println!(
        "HTTP/team = top-level Graph requests (a $batch counts 1, tokens excluded) / teams; sub-req/team = requests inside batches / teams; 429s include sub-responses; peak RSS = VmHWM; CPU = the handler's user + system time from the first submit"
    );
    let mut failed = false;
    for f in &rows {
        println!(
            "{}: {} submits answered within {:.1} s of the first (preview + submit p50 {}, p99 {}); teams in provisioning at once: at most {}; handler log: {}",
            f.label,
            f.invokes.len(),
            f.submit_span.as_secs_f64(),
            pct(&f.invokes, 0.5),
            pct(&f.invokes, 0.99),
            f.in_flight,
            f.log_notes
        );
        failed |= common::report_problems(&f.label, &f.problems, 40);
    }
    if failed {
        std::process::exit(1);
    }
}

fn main() {
    common::run_on_cpu1(bench());
}
