//! The Governance dashboard tab (admins and auditors): teams by lifecycle
//! state and findings by policy, read live; the sweeps of the last days
//! with the Graph requests each spent against its budget; the history day
//! by day for the charts; and the audit trail, filtered, as JSON or as a
//! CSV download.

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use warp::http::{HeaderValue, StatusCode};

use super::access::Caller;
use super::input::{invalid, ok, query, rfc3339};
use crate::app::App;
use crate::error::AppError;
use crate::governance::audit::{self, Filter, MAX_RESULTS};
use crate::governance::lifecycle::history;
use crate::http::{HttpRequest, HttpResponse};

/// Days of history the charts show.
const CHART_DAYS: usize = 90;
/// Sweeps listed, newest first.
const SWEEPS_LISTED: usize = 30;
const DEFAULT_AUDIT_ROWS: usize = 100;
const MAX_FILTER_CHARS: usize = 200;

/// `GET dashboard`.
pub async fn get(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let docs = app.docs.as_ref();
    let now = history::tally(docs, &caller.tenant).await?;
    let days = history::recent(docs, &caller.tenant, CHART_DAYS).await?;
    let mut sweeps: Vec<&history::SweepLine> = days.iter().flat_map(|d| &d.sweeps).collect();
    sweeps.sort_by_key(|s| std::cmp::Reverse(s.at));
    sweeps.truncate(SWEEPS_LISTED);
    let sweeps: Vec<Value> = sweeps
        .iter()
        .map(|s| {
            json!({"at": rfc3339(s.at), "full": s.full, "teams": s.teams,
                   "graphRequests": s.graph_requests, "throttled": s.throttled, "budget": s.budget,
                   "complete": s.complete, "actions": s.actions})
        })
        .collect();
    let series: Vec<Value> = days
        .iter()
        .map(|d| {
            json!({"day": d.day, "teams": d.tally.teams, "findings": d.tally.findings,
                   "actions": d.sweeps.iter().map(|s| s.actions).sum::<u32>(),
                   "teamsByState": d.tally.teams_by_state, "findingsByPolicy": d.tally.findings_by_policy})
        })
        .collect();
    Ok(ok(&json!({
        "teams": now.teams, "findings": now.findings,
        "teamsByState": now.teams_by_state, "findingsByPolicy": now.findings_by_policy,
        "sweeps": sweeps, "series": series,
    })))
}

fn moment(
    req: &HttpRequest,
    field: &str,
    end_of_day: bool,
) -> Result<Option<OffsetDateTime>, AppError> {
    let Some(text) = query(req, field) else {
        return Ok(None);
    };
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(Some(t));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = Date::parse(text, &format)
        .map_err(|_| invalid(field, "a date (YYYY-MM-DD) or an RFC 3339 time"))?;
    let day = if end_of_day {
        day.next_day().unwrap_or(day)
    } else {
        day
    };
    Ok(Some(day.midnight().assume_utc()))
}

fn filter(req: &HttpRequest) -> Result<(Filter, usize), AppError> {
    let text = |field: &str| -> Result<Option<String>, AppError> {
        match query(req, field) {
            Some(t) if t.chars().count() > MAX_FILTER_CHARS => Err(invalid(
                field,
                format!("at most {MAX_FILTER_CHARS} characters"),
            )),
            t => Ok(t.map(str::to_owned)),
        }
    };
    let mut to = moment(req, "to", true)?;
    // `before` is the paging cursor: the time of the last entry shown.
    if let Some(before) = moment(req, "before", false)? {
        to = Some(to.map_or(before, |t| t.min(before)));
    }
    let limit = match query(req, "limit") {
        None => DEFAULT_AUDIT_ROWS,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_RESULTS).contains(n))
            .ok_or_else(|| invalid("limit", format!("a number from 1 to {MAX_RESULTS}")))?,
    };
    Ok((
        Filter {
            actor: text("actor")?,
            action: text("action")?,
            from: moment(req, "from", false)?,
            to,
        },
        limit,
    ))
}

/// What an entry is about, for the table's "target" column.
fn target(details: &Value) -> String {
    ["teamId", "requestId", "templateId", "session", "groupId"]
        .iter()
        .find_map(|k| details.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// `GET audit`.
pub async fn audit_json(
    app: App,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let (filter, limit) = filter(&req)?;
    let found = audit::search(app.docs.as_ref(), &caller.tenant, &filter, limit).await?;
    let entries: Vec<Value> = found
        .entries
        .iter()
        .map(|e| {
            json!({"at": rfc3339(e.at), "actor": e.actor, "action": e.action,
                   "target": target(&e.details), "details": e.details})
        })
        .collect();
    let next = if found.more {
        found.entries.last().map(|e| rfc3339(e.at))
    } else {
        None
    };
    Ok(ok(
        &json!({"entries": entries, "next": next, "truncated": found.truncated}),
    ))
}

/// `GET audit.csv`: the same rows as a download.
pub async fn audit_csv(
    app: App,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let (filter, _) = filter(&req)?;
    let found = audit::search(app.docs.as_ref(), &caller.tenant, &filter, MAX_RESULTS).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, row: [&str; 5]| {
        out.write_record(row)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("writing the audit CSV: {e}")))
    };
    write(&mut out, ["at", "actor", "action", "target", "details"])?;
    for e in &found.entries {
        let at = rfc3339(e.at);
        let details = e.details.to_string();
        // A cell a spreadsheet would run as a formula is quoted as text.
        let cells = [
            at,
            e.actor.clone(),
            e.action.clone(),
            target(&e.details),
            details,
        ]
        .map(|c| {
            if c.starts_with(['=', '+', '-', '@']) {
                format!("'{c}")
            } else {
                c
            }
        });
        write(
            &mut out,
            [&cells[0], &cells[1], &cells[2], &cells[3], &cells[4]],
        )?;
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("writing the audit CSV: {e}")))?;
    let mut res = HttpResponse::empty(StatusCode::OK);
    res.body = body.into();
    let h = &mut res.headers;
    h.insert(
        "content-type",
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    let name = format!(
        "attachment; filename=\"audit-{}.csv\"",
        app.clock.now().date()
    );
    h.insert(
        "content-disposition",
        HeaderValue::from_str(&name).expect("ASCII"),
    );
    Ok(res)
}
