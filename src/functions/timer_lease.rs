//! Timers whose work must happen once per period across every region.
//!
//! Each region's Functions host fires every timer on its own. Before a
//! timer does its work it takes the timer's lease: one document in the
//! global store (`jobs`, the `_timers` partition, ETag-guarded through the
//! one update loop) naming the region and instance that holds it, until
//! when, and the last period done. So:
//!
//! - a scheduled firing runs for its *period*, the schedule's occurrence it
//!   was fired for, which every region computes alike from the schedule;
//!   the region that takes the lease does the work and marks the period
//!   done, and a region that comes later finds it done and does nothing;
//! - a region that fires while another holds the lease stands by: it looks
//!   again every [`poll`] until the holder marks the period done (then it
//!   does nothing) or the lease runs out unrenewed (the holder died: it
//!   takes the lease and does the work). The holder renews its lease every
//!   third of its life while it works, so a slow run is not mistaken for a
//!   dead one;
//! - a run that fails gives the lease back without marking the period, so
//!   a standing-by region (or the next firing) does it;
//! - a manual run (the admin endpoint: no `ScheduleStatus`) has no period:
//!   it runs unless another run holds the lease right now.
//!
//! The log says which region ran each period, took over, or stood aside.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::app::App;
use crate::error::AppError;
use crate::host::invoke::{InvokeResponse, TimerInfo};
use crate::host::ncrontab::Schedule;
use crate::ids::TenantId;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{Container, Document, Documents};
use crate::platform::{PlatformError, PlatformResult};

const TYPE: &str = "timerLease";
/// The longest a region stands by while another holds the lease and
/// renews it (alive and working) before it leaves the period to it.
const STANDBY: Duration = Duration::from_secs(15 * 60);

fn partition() -> TenantId {
    TenantId::system("timers")
}

fn doc_id(function: &str) -> String {
    format!("timer-{function}")
}

/// How often a standing-by region looks at the lease again.
pub fn poll(lease: Duration) -> Duration {
    (lease / 12).max(Duration::from_millis(250))
}

/// The lease document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Holder>,
    /// The last period whose work was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<Done>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// `<region>/<instance>`.
    pub id: String,
    pub region: String,
    /// The period it runs (`None` for a manual run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub taken: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Done {
    pub period: String,
    pub region: String,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Who this process is, as a lease holder.
struct Me<'a> {
    id: String,
    region: &'a str,
}

enum Claim {
    Run { took_over_from: Option<Holder> },
    Done(Done),
    Busy(Holder),
}

/// Reads a timer's lease (operators, tests).
pub async fn read(docs: &dyn Documents, function: &str) -> PlatformResult<LeaseState> {
    let doc = docs
        .get(Container::Jobs, &partition(), &doc_id(function))
        .await?;
    Ok(Document::parse_if_kind(doc.as_ref(), TYPE)?.unwrap_or_default())
}

fn document(function: &str, state: &LeaseState) -> PlatformResult<Document> {
    Document::new(&partition(), TYPE, doc_id(function), state)
}

/// The period a firing is for: the schedule's occurrence at or before now
/// for a scheduled firing, `None` for a manual run.
pub fn period_of(
    timer: &TimerInfo,
    schedule: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, AppError> {
    if timer.schedule_status.is_none() && !timer.is_past_due {
        return Ok(None);
    }
    let schedule: Schedule = schedule
        .parse()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
    let at = schedule.latest_at_or_before(now).unwrap_or(now);
    Ok(Some(at.format(&Rfc3339).map_err(|e| {
        AppError::Internal(anyhow::anyhow!("formatting a period: {e}"))
    })?))
}

/// Runs `work` for this firing of `function` unless another region did or
/// does it; the answer says which region ran it.
pub async fn once<F, Fut>(
    app: &App,
    function: &'static str,
    schedule: &'static str,
    timer: &TimerInfo,
    work: F,
) -> Result<InvokeResponse, AppError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, AppError>>,
{
    let period = period_of(timer, schedule, app.clock.now())?;
    let me = Me {
        id: format!("{}/{}", app.settings.region, app.settings.instance),
        region: &app.settings.region,
    };
    let lease = app.settings.timer_lease;
    let docs = app.docs.as_ref();
    let label = period.as_deref().unwrap_or("manual run");
    let started = Instant::now();
    let took_over_from = loop {
        let now = app.clock.now();
        match claim(docs, function, &me, period.as_deref(), now, lease).await? {
            Claim::Run { took_over_from } => break took_over_from,
            Claim::Done(done) => {
                tracing::info!(function, period = label, ran_in = %done.region, by = %done.by, region = %me.region, "timer already ran in a region for this period; nothing to do here");
                return Ok(InvokeResponse::done(format!(
                    "{function} {label}: already done in region {} ({}); nothing to do",
                    done.region, done.by
                )));
            }
            Claim::Busy(holder) if period.is_none() || started.elapsed() >= STANDBY => {
                tracing::info!(function, period = label, holder = %holder.id, until = %holder.until, region = %me.region, "timer lease held by another run; standing aside");
                return Ok(InvokeResponse::done(format!(
                    "{function} {label}: region {} ({}) is running it; standing aside",
                    holder.region, holder.id
                )));
            }
            Claim::Busy(holder) => {
                tracing::debug!(function, period = label, holder = %holder.id, until = %holder.until, "timer lease held; standing by");
                tokio::time::sleep(poll(lease)).await;
            }
        }
    };
    match &took_over_from {
        Some(dead) => {
            tracing::warn!(function, period = label, region = %me.region, holder = %me.id, from = %dead.id, expired = %dead.until, waited_ms = started.elapsed().as_millis() as u64, "timer lease taken over from a run that stopped renewing it; this region runs it")
        }
        None => {
            tracing::info!(function, period = label, region = %me.region, holder = %me.id, "timer lease taken; this region runs it")
        }
    }
    let result = {
        let work = std::pin::pin!(work());
        renewing(app, function, &me, lease, work).await
    };
    let finished = finish(
        docs,
        function,
        &me,
        period.as_deref().filter(|_| result.is_ok()),
        app.clock.now(),
    )
    .await;
    if let Err(e) = &finished {
        tracing::error!(function, period = label, error = %e, "recording the timer's run failed; its lease runs out by itself");
    }
    let summary = result?;
    let took_over = took_over_from
        .map(|d| format!(", taken over from {}", d.id))
        .unwrap_or_default();
    Ok(InvokeResponse::done(format!(
        "{function} {label}: ran in region {}{took_over}: {summary}",
        me.region
    )))
}

/// Drives `work`, renewing the lease every third of its life meanwhile.
async fn renewing<T>(
    app: &App,
    function: &str,
    me: &Me<'_>,
    lease: Duration,
    mut work: std::pin::Pin<&mut impl Future<Output = T>>,
) -> T {
    let mut beat = tokio::time::interval(lease / 3);
    beat.tick().await;
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = beat.tick() => {
                match renew(app.docs.as_ref(), function, me, app.clock.now(), lease).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(function, holder = %me.id, "timer lease lost while running (renewed too late); another region may run this period too"),
                    Err(e) => tracing::warn!(function, holder = %me.id, error = %e, "renewing the timer lease failed; trying again"),
                }
            }
        }
    }
}

/// Reads the lease, lets `change` change it (`true`: write it back), and
/// writes it under its ETag through the one update loop (`change` runs again
/// on a lost race, against the newer version).
async fn change_lease(
    docs: &dyn Documents,
    function: &str,
    mut change: impl FnMut(&mut LeaseState) -> bool,
) -> PlatformResult<()> {
    update(
        docs,
        Container::Jobs,
        &partition(),
        &doc_id(function),
        |doc| {
            let mut state: LeaseState = Document::parse_if_kind(doc, TYPE)?.unwrap_or_default();
            Ok::<_, PlatformError>(if change(&mut state) {
                Decision::Write(document(function, &state)?)
            } else {
                Decision::Keep
            })
        },
    )
    .await?;
    Ok(())
}

async fn claim(
    docs: &dyn Documents,
    function: &str,
    me: &Me<'_>,
    period: Option<&str>,
    now: OffsetDateTime,
    lease: Duration,
) -> PlatformResult<Claim> {
    let mut claim = None;
    change_lease(docs, function, |state| {
        if let (Some(p), Some(done)) = (period, &state.done)
            && done.period.as_str() >= p
        {
            claim = Some(Claim::Done(done.clone()));
            return false;
        }
        if let Some(h) = &state.holder
            && h.until > now
            && h.id != me.id
        {
            claim = Some(Claim::Busy(h.clone()));
            return false;
        }
        let previous = state.holder.replace(Holder {
            id: me.id.clone(),
            region: me.region.to_owned(),
            period: period.map(str::to_owned),
            taken: now,
            until: now + lease,
        });
        claim = Some(Claim::Run {
            took_over_from: previous.filter(|h| h.id != me.id),
        });
        true
    })
    .await?;
    Ok(claim.expect("a decision that did not fail made a claim"))
}

/// Extends our lease; `false` when it is no longer ours.
async fn renew(
    docs: &dyn Documents,
    function: &str,
    me: &Me<'_>,
    now: OffsetDateTime,
    lease: Duration,
) -> PlatformResult<bool> {
    let mut ours = false;
    change_lease(docs, function, |state| {
        ours = false;
        match &mut state.holder {
            Some(h) if h.id == me.id => {
                h.until = now + lease;
                ours = true;
                true
            }
            _ => false,
        }
    })
    .await?;
    Ok(ours)
}

/// Gives the lease back (if still ours) and marks `done` as done.
async fn finish(
    docs: &dyn Documents,
    function: &str,
    me: &Me<'_>,
    done: Option<&str>,
    now: OffsetDateTime,
) -> PlatformResult<()> {
    change_lease(docs, function, |state| {
        if let Some(period) = done
            && state
                .done
                .as_ref()
                .is_none_or(|d| d.period.as_str() < period)
        {
            state.done = Some(Done {
                period: period.to_owned(),
                region: me.region.to_owned(),
                by: me.id.clone(),
                at: now,
            });
        }
        if state.holder.as_ref().is_some_and(|h| h.id == me.id) {
            state.holder = None;
        }
        true
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_scheduled_firing_runs_for_its_occurrence_and_a_manual_one_for_none() {
        let scheduled = TimerInfo {
            schedule_status: Some(crate::host::invoke::ScheduleStatus {
                last: datetime!(2026-03-04 10:00:00 UTC),
                next: datetime!(2026-03-04 11:00:00 UTC),
                last_updated: datetime!(2026-03-04 10:30:00 UTC),
            }),
            ..TimerInfo::default()
        };
        let at = datetime!(2026-03-04 10:30:02.5 UTC);
        assert_eq!(
            period_of(&scheduled, "0 */30 * * * *", at)
                .unwrap()
                .as_deref(),
            Some("2026-03-04T10:30:00Z")
        );
        let past_due = TimerInfo {
            is_past_due: true,
            ..TimerInfo::default()
        };
        assert_eq!(
            period_of(&past_due, "0 30 2 * * *", at).unwrap().as_deref(),
            Some("2026-03-04T02:30:00Z")
        );
        assert_eq!(
            period_of(&TimerInfo::default(), "0 */30 * * * *", at).unwrap(),
            None
        );
    }

    #[test]
    fn periods_compare_in_time_order_as_strings() {
        // RFC 3339 in UTC with whole seconds: string order is time order.
        assert!("2026-03-04T02:30:00Z" < "2026-03-04T10:30:00Z");
        assert!("2026-03-04T23:30:00Z" < "2026-03-05T00:00:00Z");
    }
}
