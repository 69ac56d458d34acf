//! A sweep's activity step: the Teams activity report read into the
//! inventory (each team's [`ActivityFacts`]), so the inactivity policy has
//! facts to judge.
//!
//! The report is computed once a day and has its own throttle (a few calls
//! per 10 minutes per tenant): it is read at most once a day per tenant (a
//! sweep that finds it read today skips it), and only when the tenant's
//! current policies have inactivity on, for the shortest period covering
//! the longest threshold. A 429 is kept in the sync state with its
//! `Retry-After` and the sweep carries on with the facts it has; so does
//! any other failure to read it (said in the sweep's line, tried again at
//! the next sweep): the report adds facts, the sweep never fails for it.
//!
//! The CSV is read by column name (columns move between versions, a UTF-8
//! BOM may lead) and joined on Team Id: with concealed names (the tenant's
//! report privacy setting) the names are hashes, the ids are not. Rows
//! without a usable Team Id or date are skipped and counted. Only the
//! teams whose facts changed are written.

use std::collections::HashMap;
use std::time::Duration;

use futures::TryStreamExt;
use time::{Date, OffsetDateTime};

use super::policy::Policies;
use super::state::{self, ActivityNote, ActivityRead};
use super::store;
use crate::governance::teams::{self, ActivityFacts};
use crate::graph::Graph;
use crate::graph::reports::{self, Period, Report};
use crate::ids::TenantId;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{Container, Documents};
use crate::platform::{PlatformError, PlatformResult};

/// How long to wait after a 429 that gave no `Retry-After`: the report's
/// throttle window.
const THROTTLE_WINDOW: Duration = Duration::from_secs(600);

const TEAM_ID: &str = "Team Id";
const LAST_ACTIVITY: &str = "Last Activity Date";
const REFRESH_DATE: &str = "Report Refresh Date";
const REPORT_PERIOD: &str = "Report Period";

const DATE: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// The report's period the tenant's policies need: the shortest covering
/// the longest inactivity threshold of any template; `None` when no
/// inactivity policy is on.
pub fn period_for(policies: &Policies) -> Option<Period> {
    std::iter::once(&policies.defaults)
        .chain(policies.templates.values())
        .filter_map(|set| set.inactivity.as_ref().filter(|p| p.enabled))
        .map(|p| p.inactive_days)
        .max()
        .map(Period::covering)
}

/// The report's lines by team id (lower case), and the rows skipped.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub teams: HashMap<String, ActivityFacts>,
    pub skipped: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CsvError {
    #[error("the activity report has no `{0}` column")]
    MissingColumn(&'static str),
    #[error("the activity report's header is unreadable: {0}")]
    Header(String),
}

/// The report's CSV, by column name. `period` is the one asked for, used
/// when a row does not say its own.
pub fn parse(csv: &[u8], period: Period) -> Result<Parsed, CsvError> {
    let csv = csv.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(csv);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv);
    let header = reader
        .headers()
        .map_err(|e| CsvError::Header(e.to_string()))?
        .clone();
    let column = |name: &'static str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let required = |name| column(name).ok_or(CsvError::MissingColumn(name));
    let (id_at, last_at, date_at) = (
        required(TEAM_ID)?,
        required(LAST_ACTIVITY)?,
        required(REFRESH_DATE)?,
    );
    let period_at = column(REPORT_PERIOD);
    let mut parsed = Parsed::default();
    for record in reader.records() {
        let line = record.ok().and_then(|r| {
            let team_id = uuid::Uuid::parse_str(r.get(id_at)?).ok()?.to_string();
            let last_activity = match r.get(last_at).unwrap_or_default() {
                "" => None,
                day => Some(Date::parse(day, DATE).ok()?),
            };
            let report_date = Date::parse(r.get(date_at)?, DATE).ok()?;
            let period_days = period_at
                .and_then(|at| r.get(at)?.parse().ok())
                .unwrap_or(period.days());
            let facts = ActivityFacts {
                last_activity,
                report_date,
                period_days,
            };
            Some((team_id, facts))
        });
        match line {
            Some((id, facts)) => {
                parsed.teams.insert(id, facts);
            }
            None => parsed.skipped += 1,
        }
    }
    Ok(parsed)
}

/// What the activity step did.
#[derive(Debug, PartialEq)]
pub enum Refreshed {
    /// No inactivity policy on: the report is not needed.
    NotNeeded,
    /// Read already today (for the same period).
    ReadToday,
    /// The report's throttle asked to wait until then.
    Waiting(OffsetDateTime),
    /// Throttled now; tried again after then.
    Throttled(OffsetDateTime),
    /// Not read (Graph's error, an unreadable report); the next sweep
    /// tries again.
    Unavailable(String),
    Read(Joined),
}

/// A report read into the inventory.
#[derive(Debug, Default, PartialEq)]
pub struct Joined {
    pub period: u32,
    pub report_date: Option<Date>,
    /// The report's rows joined to a team of the inventory.
    pub joined: u64,
    /// Teams whose facts changed (written).
    pub changed: u64,
    /// Rows without a usable Team Id or date.
    pub skipped: u64,
}

impl Refreshed {
    /// A few words for the sweep's log line.
    pub fn summary(&self) -> String {
        match self {
            Refreshed::NotNeeded => "activity report not needed (no inactivity policy)".into(),
            Refreshed::ReadToday => "activity report read today already".into(),
            Refreshed::Waiting(until) => {
                format!("activity report throttled until {until}; not asked")
            }
            Refreshed::Throttled(until) => {
                format!("activity report throttled (429); asked again after {until}")
            }
            Refreshed::Unavailable(why) => format!("activity report unavailable: {why}"),
            Refreshed::Read(j) => format!(
                "activity report (D{}) of {}: {} teams joined, {} changed, {} rows skipped",
                j.period,
                j.report_date
                    .map_or_else(|| "(no rows)".to_owned(), |d| d.to_string()),
                j.joined,
                j.changed,
                j.skipped
            ),
        }
    }
}

/// The activity step of `tenant`'s sweep, after its inventory sync. Only
/// the document store's failures are errors.
pub async fn refresh(
    docs: &dyn Documents,
    graph: &Graph,
    tenant: &TenantId,
    now: OffsetDateTime,
) -> PlatformResult<Refreshed> {
    let policies = store::current(docs, tenant).await?;
    let Some(period) = policies.as_ref().and_then(|p| period_for(&p.policies)) else {
        return Ok(Refreshed::NotNeeded);
    };
    let sync = state::get(docs, tenant).await?.unwrap_or_default();
    if let Some(until) = sync.activity_not_before.filter(|until| *until > now) {
        return Ok(Refreshed::Waiting(until));
    }
    if sync
        .activity_read
        .as_ref()
        .is_some_and(|r| r.read_at.date() == now.date() && r.period_days == period.days())
    {
        return Ok(Refreshed::ReadToday);
    }
    let csv = match reports::teams_activity(graph, tenant, period).await {
        Ok(Report::Csv(csv)) => csv,
        Ok(Report::Throttled { retry_after }) => {
            let until = now + retry_after.unwrap_or(THROTTLE_WINDOW);
            tracing::info!(%tenant, %until, "the activity report is throttled; the sweep carries on without it");
            state::note_activity(docs, tenant, &ActivityNote::Throttled(until)).await?;
            return Ok(Refreshed::Throttled(until));
        }
        Err(e) => return Ok(unavailable(tenant, &e)),
    };
    let parsed = match parse(&csv, period) {
        Ok(parsed) => parsed,
        Err(e) => return Ok(unavailable(tenant, &e)),
    };
    let (joined, changed) = join(docs, tenant, &parsed.teams).await?;
    let report_date = parsed.teams.values().map(|f| f.report_date).max();
    let reading = ActivityRead {
        read_at: now,
        report_date,
        period_days: period.days(),
    };
    state::note_activity(docs, tenant, &ActivityNote::Read(reading)).await?;
    if parsed.skipped > 0 {
        tracing::warn!(%tenant, skipped = parsed.skipped, "activity report rows without a usable Team Id or date were skipped");
    }
    Ok(Refreshed::Read(Joined {
        period: period.days(),
        report_date,
        joined,
        changed,
        skipped: parsed.skipped,
    }))
}

fn unavailable(tenant: &TenantId, e: &dyn std::fmt::Display) -> Refreshed {
    tracing::warn!(%tenant, error = %e, "the activity report could not be read; the sweep carries on without it");
    Refreshed::Unavailable(e.to_string())
}

/// Writes each team's line where it differs from the one kept; returns
/// (teams joined, teams written).
async fn join(
    docs: &dyn Documents,
    tenant: &TenantId,
    lines: &HashMap<String, ActivityFacts>,
) -> PlatformResult<(u64, u64)> {
    let mut joined = 0;
    let mut stale = Vec::new();
    let mut all = std::pin::pin!(teams::all(docs, tenant));
    while let Some(team) = all.try_next().await? {
        let Some(line) = lines.get(&team.group_id.to_ascii_lowercase()) else {
            continue;
        };
        joined += 1;
        if team.activity.as_ref() != Some(line) {
            stale.push((team.group_id, line));
        }
    }
    let mut written = 0;
    for (id, line) in stale {
        let done = update::<PlatformError>(docs, Container::Teams, tenant, &id, |doc| {
            let Some(mut team) = doc.map(teams::parse).transpose()?.flatten() else {
                return Ok(Decision::Keep);
            };
            if team.activity.as_ref() == Some(line) {
                return Ok(Decision::Keep);
            }
            team.activity = Some(line.clone());
            Ok(Decision::Write(teams::to_document(tenant, &team)?))
        })
        .await?;
        written += u64::from(done.is_some());
    }
    Ok((joined, written))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;

    use super::*;

    const A: &str = "1d9c2b6e-3f4a-4b5c-8d7e-0f1a2b3c4d5e";
    const B: &str = "2e8d3c7f-4a5b-4c6d-9e8f-1a2b3c4d5e6f";

    fn facts(last: Option<Date>, period_days: u32) -> ActivityFacts {
        ActivityFacts {
            last_activity: last,
            report_date: date!(2026 - 11 - 30),
            period_days,
        }
    }

    #[test]
    fn the_report_is_read_by_column_name_after_a_bom() {
        let csv = format!(
            "\u{feff}Report Refresh Date,Team Name,Team Id,Team Type,Last Activity Date,Report Period,Active Users\n\
             2026-11-30,Sales,{A},Private,2026-11-02,30,4\n\
             2026-11-30,9F2A0C7B1E,{},Public,,30,0\n",
            B.to_uppercase()
        );
        let parsed = parse(csv.as_bytes(), Period::D30).unwrap();
        assert_eq!(parsed.skipped, 0);
        assert_eq!(parsed.teams[A], facts(Some(date!(2026 - 11 - 02)), 30));
        assert_eq!(
            parsed.teams[B],
            facts(None, 30),
            "an empty date: no activity in the period; ids joined in lower case"
        );
    }

    #[test]
    fn columns_in_another_order_and_without_a_period_read_the_same() {
        let csv = format!(
            "Last Activity Date,Team Id,Team Name,Report Refresh Date\n\
             2026-10-01,{A},Sales,2026-11-30\n"
        );
        let parsed = parse(csv.as_bytes(), Period::D90).unwrap();
        assert_eq!(parsed.teams[A], facts(Some(date!(2026 - 10 - 01)), 90));
    }

    #[test]
    fn junk_rows_are_skipped_and_counted() {
        let csv = format!(
            "Report Refresh Date,Team Name,Team Id,Last Activity Date,Report Period\n\
             2026-11-30,No id,,2026-11-01,30\n\
             2026-11-30,Bad id,not-a-guid,2026-11-01,30\n\
             2026-11-30,Bad date,{B},yesterday,30\n\
             not a date,Bad refresh,{B},2026-11-01,30\n\
             2026-11-30\n\
             2026-11-30,Good,{A},2026-11-01,30\n"
        );
        let parsed = parse(csv.as_bytes(), Period::D30).unwrap();
        assert_eq!(parsed.skipped, 5);
        assert_eq!(parsed.teams.len(), 1);
        assert_eq!(parsed.teams[A], facts(Some(date!(2026 - 11 - 01)), 30));
    }

    #[test]
    fn a_report_without_the_columns_to_join_is_refused() {
        let csv = b"Report Refresh Date,Team Name,Last Activity Date\n2026-11-30,Sales,\n";
        assert_eq!(
            parse(csv, Period::D30),
            Err(CsvError::MissingColumn(TEAM_ID))
        );
        assert_eq!(
            parse(b"", Period::D30),
            Err(CsvError::MissingColumn(TEAM_ID))
        );
    }

    #[test]
    fn the_period_covers_the_longest_enabled_threshold() {
        let policies = |v| serde_json::from_value::<Policies>(v).unwrap();
        assert_eq!(period_for(&policies(json!({}))), None);
        assert_eq!(
            period_for(&policies(
                json!({"defaults": {"inactivity": {"enabled": false}}})
            )),
            None
        );
        assert_eq!(
            period_for(&policies(
                json!({"defaults": {"inactivity": {"inactiveDays": 20}}})
            )),
            Some(Period::D30)
        );
        assert_eq!(
            period_for(&policies(json!({
                "defaults": {"inactivity": {"inactiveDays": 20}},
                "templates": {"p": {"inactivity": {"inactiveDays": 120}}}
            }))),
            Some(Period::D180)
        );
        assert_eq!(
            period_for(&policies(json!({"defaults": {"inactivity": {}}}))),
            Some(Period::D90),
            "the default threshold is 90 days"
        );
    }
}
