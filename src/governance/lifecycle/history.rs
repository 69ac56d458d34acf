//! The tenant's governance over time, for the dashboard: how many teams
//! were in each lifecycle state and how many findings each policy held, day
//! by day, and the sweeps of each day with what they cost in Graph requests
//! against their budget.
//!
//! One document per tenant and day (`history-YYYY-MM-DD` in the teams
//! container), rewritten by each sweep of that day with the tally it left
//! behind; it expires after [`KEPT_DAYS`], so the history is bounded
//! whatever the tenant's age. The current tally ([`tally`]) is read live
//! from the inventory and the findings.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::recorded;
use super::state::{Round, RoundKind};
use crate::governance::teams;
use crate::ids::TenantId;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{self, Container, Document, Documents, Query, Scope};
use crate::platform::{PlatformError, PlatformResult};

const TYPE: &str = "governanceDay";
/// How long a day is kept.
pub const KEPT_DAYS: u32 = 400;
/// Most sweeps kept for one day (timers and notifications together).
const MAX_SWEEPS_A_DAY: usize = 96;

/// Teams by lifecycle state and findings by policy, at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    pub teams: u32,
    pub teams_by_state: BTreeMap<String, u32>,
    pub findings: u32,
    pub findings_by_policy: BTreeMap<String, u32>,
}

/// One sweep, as the dashboard lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepLine {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub full: bool,
    pub teams: u64,
    pub graph_requests: u64,
    pub throttled: u64,
    pub budget: u64,
    pub complete: bool,
    /// Governance actions the sweep's enforcement queued.
    pub actions: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    pub day: String,
    pub tally: Tally,
    #[serde(default)]
    pub sweeps: Vec<SweepLine>,
}

fn doc_id(day: Date) -> String {
    format!("history-{day}")
}

/// Counts the tenant's teams by state and its open findings by policy,
/// page by page (memory holds one page).
pub async fn tally(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<Tally> {
    let mut t = Tally::default();
    let mut teams = std::pin::pin!(teams::all(docs, tenant));
    while let Some(team) = teams.try_next().await? {
        let state = serde_json::to_value(team.lifecycle)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        t.teams += 1;
        *t.teams_by_state.entry(state).or_default() += 1;
    }
    let mut findings = std::pin::pin!(recorded::all(docs, tenant));
    while let Some(f) = findings.try_next().await? {
        t.findings += 1;
        *t.findings_by_policy
            .entry(f.policy.name().to_owned())
            .or_default() += 1;
    }
    Ok(t)
}

/// Records a sweep that ended at `now` with `round`, leaving `tally`.
pub async fn record_sweep(
    docs: &dyn Documents,
    tenant: &TenantId,
    now: OffsetDateTime,
    round: &Round,
    actions: u32,
    tally: Tally,
) -> PlatformResult<()> {
    let line = SweepLine {
        at: now,
        full: round.kind == RoundKind::Full,
        teams: round.teams_seen,
        graph_requests: round.graph_requests,
        throttled: round.throttled,
        budget: round.budget,
        complete: round.complete,
        actions,
    };
    let id = doc_id(now.date());
    update::<PlatformError>(docs, Container::Teams, tenant, &id, |doc| {
        let mut day: Day = Document::parse_if_kind(doc, TYPE)?.unwrap_or(Day {
            day: now.date().to_string(),
            tally: Tally::default(),
            sweeps: Vec::new(),
        });
        day.tally = tally.clone();
        day.sweeps.push(line.clone());
        let over = day.sweeps.len().saturating_sub(MAX_SWEEPS_A_DAY);
        day.sweeps.drain(..over);
        let doc = Document::new(tenant, TYPE, id.clone(), &day)?.with_ttl(KEPT_DAYS * 86_400);
        Ok(Decision::Write(doc))
    })
    .await?;
    Ok(())
}

/// The tenant's last `days` days that had a sweep, oldest first.
pub async fn recent(
    docs: &dyn Documents,
    tenant: &TenantId,
    days: usize,
) -> PlatformResult<Vec<Day>> {
    let mut all: Vec<Day> = documents::stream(
        docs,
        Container::Teams,
        Scope::Tenant(tenant),
        Query::of_type(TYPE).limit(KEPT_DAYS as usize + 10),
    )
    .and_then(|doc| async move { doc.parse::<Day>() })
    .try_collect()
    .await?;
    all.sort_by(|a, b| a.day.cmp(&b.day));
    let skip = all.len().saturating_sub(days);
    Ok(all.split_off(skip))
}
