//! A tenant's inventory sync state: one document beside its teams (in the
//! `teams` container, type `inventorySync`) holding the delta links to read
//! the next changes from, what the last full and incremental rounds did,
//! the lease of the sync running now, and when the Teams activity report
//! was last read (it is read once a day: see [`super::activity`]).
//!
//! A round that spent its Graph budget stops between two pages and keeps
//! where it was ([`Resume`]: the nextLink of the page to read next, and
//! in a full round the teams it has seen so far); the next run continues
//! from there instead of starting again.
//!
//! Every region's timer fires and a sync can be asked for twice (a replayed
//! message, later a change notification): the lease lets one sync of a
//! tenant run at a time, and a scheduled sync names its period, so the
//! second message of a period finds it done and changes nothing. A sync
//! that dies leaves its lease to expire ([`LEASE`]).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::governance::teams::iso_date;
use crate::ids::TenantId;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{self, Container, Document, Documents};
use crate::platform::{PlatformError, PlatformResult};

const TYPE: &str = "inventorySync";
/// Not a group id (those are GUIDs), so it cannot meet a team.
pub const DOC_ID: &str = "inventory-sync";
/// How long a sync may hold its tenant before another may start.
pub const LEASE: time::Duration = time::Duration::minutes(30);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// Where the next round of `/groups/delta` starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full: Option<Round>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_incremental: Option<Round>,
    /// The last scheduled period synced (`GovernanceSweep`'s window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// The last Teams activity report read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_read: Option<ActivityRead>,
    /// The report's throttle answered 429: not asked again before then.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub activity_not_before: Option<OffsetDateTime>,
    /// A round stopped at its Graph budget: the next run continues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

/// One reading of the Teams activity report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityRead {
    #[serde(with = "time::serde::rfc3339")]
    pub read_at: OffsetDateTime,
    /// Its "Report Refresh Date"; `None` when it listed no team.
    #[serde(default, with = "iso_date::option")]
    pub report_date: Option<Date>,
    /// The period asked for, in days.
    pub period_days: u32,
}

/// The most team ids a stopped full round keeps (tens of bytes each, in
/// one document); a round that saw more keeps none and then marks no team
/// missing at its end ([`Resume::seen_overflow`]).
pub const MAX_SEEN_KEPT: usize = 20_000;

/// Where a round stopped at its Graph budget continues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resume {
    pub kind: RoundKind,
    pub why: String,
    /// When the round's first run started (a full round marks missing only
    /// teams held before then).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Runs the round has had so far.
    pub runs: u32,
    pub phase: Phase,
    /// A full round: the teams (group ids) it has listed so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// A full round saw more than [`MAX_SEEN_KEPT`] teams before it
    /// stopped: it will mark no team missing.
    #[serde(default)]
    pub seen_overflow: bool,
}

/// Which part of a round comes next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "part")]
pub enum Phase {
    /// The users round, from `next`; then the groups round from `groups`.
    Users { next: String, groups: String },
    /// The users round is over (its deltaLink `users_link`); the groups
    /// round goes on from `next`.
    #[serde(rename_all = "camelCase")]
    Groups { users_link: String, next: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub holder: String,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RoundKind {
    Full,
    Incremental,
}

/// What one round read, changed and cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Round {
    pub kind: RoundKind,
    /// Why this kind: "first sync", "the groups token expired (410
    /// resyncRequired)", "kept delta links".
    pub why: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// Group objects read (every group of the tenant in a full round).
    pub groups_read: u64,
    pub users_read: u64,
    /// Teams the round found in the tenant (a full round: all of them).
    pub teams_seen: u64,
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    /// Teams read whose record needed no write.
    pub unchanged: u64,
    /// People looked up by id (not seen in the users round).
    pub looked_up: u64,
    /// Graph requests (a `$batch` counts 1), retries and 429s included.
    pub graph_requests: u64,
    /// Requests sent inside `$batch`es.
    #[serde(default)]
    pub batched: u64,
    pub throttled: u64,
    /// Which run of the round this was (1: its first).
    #[serde(default = "first_run")]
    pub run: u32,
    /// `false`: the run stopped at its Graph budget ([`Round::budget`]);
    /// the next run continues the round.
    #[serde(default = "complete")]
    pub complete: bool,
    /// The Graph requests the run could spend.
    #[serde(default)]
    pub budget: u64,
}

fn first_run() -> u32 {
    1
}

fn complete() -> bool {
    true
}

/// What a sync may do now.
#[derive(Debug)]
pub enum Claim {
    /// The lease is ours; the state as it was.
    Run(Box<SyncState>),
    /// Another sync holds the tenant until then.
    Busy(OffsetDateTime),
    /// The period was synced already.
    Done(String),
}

impl Round {
    /// One line for the log: the round, what it read and changed, what it
    /// cost.
    pub fn summary(&self, tenant: &TenantId) -> String {
        let r = self;
        let run = match (r.run, r.complete) {
            (1, true) => String::new(),
            (n, true) => format!(", run {n}, done"),
            (n, false) => format!(
                ", run {n}, stopped at its Graph budget of {}; continues at the next run",
                r.budget
            ),
        };
        format!(
            "inventory of {tenant}: {:?} round ({}{run}): {} users and {} groups read, {} teams seen: \
             {} added, {} changed, {} removed, {} unchanged, {} people looked up; \
             {} Graph requests, {} sub-requests ({} throttled)",
            r.kind,
            r.why,
            r.users_read,
            r.groups_read,
            r.teams_seen,
            r.added,
            r.changed,
            r.removed,
            r.unchanged,
            r.looked_up,
            r.graph_requests,
            r.batched,
            r.throttled,
        )
    }
}

pub async fn get(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<Option<SyncState>> {
    documents::get_kind(docs, Container::Teams, tenant, DOC_ID, TYPE).await
}

fn document(tenant: &TenantId, state: &SyncState) -> PlatformResult<Document> {
    Document::new(tenant, TYPE, DOC_ID, state)
}

fn read(doc: Option<&Document>) -> PlatformResult<SyncState> {
    Ok(Document::parse_if_kind(doc, TYPE)?.unwrap_or_default())
}

/// Takes the tenant's lease for `holder` unless another sync holds it or
/// `period` was synced already.
pub async fn claim(
    docs: &dyn Documents,
    tenant: &TenantId,
    holder: &str,
    period: Option<&str>,
    now: OffsetDateTime,
) -> PlatformResult<Claim> {
    let mut claim = None;
    update(docs, Container::Teams, tenant, DOC_ID, |doc| {
        let mut state = read(doc)?;
        if let Some(lease) = &state.lease
            && lease.until > now
            && lease.holder != holder
        {
            claim = Some(Claim::Busy(lease.until));
            return Ok(Decision::Keep);
        }
        if let Some(p) = period
            && state.last_period.as_deref() == Some(p)
        {
            claim = Some(Claim::Done(p.to_owned()));
            return Ok(Decision::Keep);
        }
        state.lease = Some(Lease {
            holder: holder.to_owned(),
            until: now + LEASE,
        });
        let next = document(tenant, &state)?;
        claim = Some(Claim::Run(Box::new(state)));
        Ok::<_, PlatformError>(Decision::Write(next))
    })
    .await?;
    Ok(claim.expect("a decision that did not fail made a claim"))
}

/// What a finished sync keeps.
pub struct Finished {
    pub end: End,
    pub round: Round,
    pub period: Option<String>,
}

/// How a sync's run ended.
pub enum End {
    /// The round is over: the delta links to read the next changes from.
    Links {
        groups_link: String,
        users_link: String,
    },
    /// The run spent its Graph budget: where the round continues.
    Stopped(Resume),
}

/// Keeps the links (or where the round continues) and the round, and gives
/// the lease back (if still ours).
pub async fn finish(
    docs: &dyn Documents,
    tenant: &TenantId,
    holder: &str,
    done: Finished,
) -> PlatformResult<()> {
    update(docs, Container::Teams, tenant, DOC_ID, |doc| {
        let mut state = read(doc)?;
        match &done.end {
            End::Links {
                groups_link,
                users_link,
            } => {
                state.groups_link = Some(groups_link.clone());
                state.users_link = Some(users_link.clone());
                state.resume = None;
            }
            End::Stopped(resume) => state.resume = Some(resume.clone()),
        }
        match done.round.kind {
            RoundKind::Full => state.last_full = Some(done.round.clone()),
            RoundKind::Incremental => state.last_incremental = Some(done.round.clone()),
        }
        if done.period.is_some() {
            state.last_period.clone_from(&done.period);
        }
        if state.lease.as_ref().is_some_and(|l| l.holder == holder) {
            state.lease = None;
        }
        Ok::<_, PlatformError>(Decision::Write(document(tenant, &state)?))
    })
    .await?;
    Ok(())
}

/// Gives the lease back after a failed sync, so the retry need not wait.
pub async fn release(docs: &dyn Documents, tenant: &TenantId, holder: &str) -> PlatformResult<()> {
    update(docs, Container::Teams, tenant, DOC_ID, |doc| {
        let mut state = read(doc)?;
        if state.lease.as_ref().is_none_or(|l| l.holder != holder) {
            return Ok(Decision::Keep);
        }
        state.lease = None;
        Ok::<_, PlatformError>(Decision::Write(document(tenant, &state)?))
    })
    .await?;
    Ok(())
}

/// What the activity step learnt about the report.
pub enum ActivityNote {
    /// Read: kept (and a throttle's wait forgotten).
    Read(ActivityRead),
    /// Its throttle said to wait: not asked before then.
    Throttled(OffsetDateTime),
}

/// Keeps what the activity step learnt.
pub async fn note_activity(
    docs: &dyn Documents,
    tenant: &TenantId,
    note: &ActivityNote,
) -> PlatformResult<()> {
    update(docs, Container::Teams, tenant, DOC_ID, |doc| {
        let mut state = read(doc)?;
        match note {
            ActivityNote::Read(reading) => {
                state.activity_read = Some(reading.clone());
                state.activity_not_before = None;
            }
            ActivityNote::Throttled(until) => state.activity_not_before = Some(*until),
        }
        Ok::<_, PlatformError>(Decision::Write(document(tenant, &state)?))
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::platform::clock::SystemClock;
    use crate::platform::documents::sqlite::SqliteDocuments;

    fn round() -> Round {
        Round {
            kind: RoundKind::Full,
            why: "first sync".into(),
            started_at: OffsetDateTime::UNIX_EPOCH,
            finished_at: OffsetDateTime::UNIX_EPOCH,
            groups_read: 0,
            users_read: 0,
            teams_seen: 0,
            added: 0,
            changed: 0,
            removed: 0,
            unchanged: 0,
            looked_up: 0,
            graph_requests: 0,
            batched: 0,
            throttled: 0,
            run: 1,
            complete: true,
            budget: 100,
        }
    }

    #[tokio::test]
    async fn one_sync_holds_a_tenant_and_a_period_is_synced_once() {
        let docs = SqliteDocuments::in_memory(Arc::new(SystemClock)).unwrap();
        let tenant = TenantId::system("t");
        let now = OffsetDateTime::now_utc();
        let period = Some("2026-01-01T06:00:00Z");
        assert!(matches!(
            claim(&docs, &tenant, "a", period, now).await.unwrap(),
            Claim::Run(s) if s.groups_link.is_none()
        ));
        assert!(matches!(
            claim(&docs, &tenant, "b", period, now).await.unwrap(),
            Claim::Busy(_)
        ));
        let done = Finished {
            end: End::Links {
                groups_link: "g".into(),
                users_link: "u".into(),
            },
            round: round(),
            period: period.map(str::to_owned),
        };
        finish(&docs, &tenant, "a", done).await.unwrap();
        assert!(matches!(
            claim(&docs, &tenant, "b", period, now).await.unwrap(),
            Claim::Done(p) if p == "2026-01-01T06:00:00Z"
        ));
        let Claim::Run(state) = claim(&docs, &tenant, "b", None, now).await.unwrap() else {
            panic!("an unscheduled sync runs");
        };
        assert_eq!(state.groups_link.as_deref(), Some("g"));
        assert!(state.last_full.is_some());
        release(&docs, &tenant, "b").await.unwrap();
        let later = now + LEASE + time::Duration::seconds(1);
        claim(&docs, &tenant, "c", None, now).await.unwrap();
        assert!(
            matches!(
                claim(&docs, &tenant, "d", None, later).await.unwrap(),
                Claim::Run(_)
            ),
            "a dead sync's lease expires"
        );
    }
}
