//! Timer schedules as the Functions host reads them: six-field NCRONTAB
//! `{second} {minute} {hour} {day} {month} {day-of-week}` in UTC, where a
//! restricted day and day-of-week must both match (NCrontab's rule, unlike
//! Vixie cron's "either"), or a `hh:mm:ss` interval (App Service plans).

use std::fmt;
use std::str::FromStr;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use time::{Duration, OffsetDateTime};

#[derive(Clone)]
pub enum Schedule {
    Cron { expr: String, cron: Box<Cron> },
    Interval(Duration),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid schedule {expr:?}: {reason}")]
pub struct ScheduleError {
    pub expr: String,
    pub reason: String,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Cron { expr, .. } => write!(f, "Cron({expr:?})"),
            Schedule::Interval(d) => write!(f, "Interval({d})"),
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(expr: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ScheduleError {
            expr: expr.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = expr.trim();
        if let Some(interval) = parse_interval(trimmed) {
            return if interval > Duration::ZERO {
                Ok(Schedule::Interval(interval))
            } else {
                Err(err("an interval must be longer than zero"))
            };
        }
        if trimmed.split_whitespace().count() != 6 {
            return Err(err(
                "NCRONTAB needs six fields: {second} {minute} {hour} {day} {month} {day-of-week}",
            ));
        }
        if trimmed.contains('@') {
            return Err(err("NCRONTAB has no @nicknames"));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Disallowed)
            .dom_and_dow(true)
            .build();
        let cron = parser.parse(trimmed).map_err(|e| err(&e.to_string()))?;
        Ok(Schedule::Cron {
            expr: trimmed.to_owned(),
            cron: Box::new(cron),
        })
    }
}

/// The most days a .NET TimeSpan holds (`TimeSpan.MaxValue.Days`).
const MAX_TIMESPAN_DAYS: i64 = 10_675_199;

/// `hh:mm:ss` or `d.hh:mm:ss` (a .NET TimeSpan).
fn parse_interval(s: &str) -> Option<Duration> {
    let (days, rest) = match s.split_once('.') {
        Some((d, rest)) if !d.contains(':') => (d.parse::<i64>().ok()?, rest),
        _ => (0, s),
    };
    if !(-MAX_TIMESPAN_DAYS..=MAX_TIMESPAN_DAYS).contains(&days) {
        return None;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || p.len() > 2) {
        return None;
    }
    let nums: Vec<i64> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if nums[0] > 23 || nums[1] > 59 || nums[2] > 59 {
        return None;
    }
    Some(
        Duration::days(days)
            + Duration::hours(nums[0])
            + Duration::minutes(nums[1])
            + Duration::seconds(nums[2]),
    )
}

impl Schedule {
    /// The first occurrence strictly after `after`, or `None` if there is none
    /// (an impossible date such as 30 February).
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        match self {
            // Checked: a long interval from a late instant has no next one.
            Schedule::Interval(d) => after.checked_add(*d),
            Schedule::Cron { cron, .. } => {
                let start =
                    chrono::DateTime::from_timestamp(after.unix_timestamp(), after.nanosecond())?;
                let next = cron.find_next_occurrence(&start, false).ok()?;
                OffsetDateTime::from_unix_timestamp(next.timestamp()).ok()
            }
        }
    }

    /// The last occurrence at or before `at`: the one a timer firing at
    /// `at` was fired for, as every region's host computes it alike. An
    /// interval has no anchor shared between hosts, so its occurrences are
    /// counted from the Unix epoch.
    pub fn latest_at_or_before(&self, at: OffsetDateTime) -> Option<OffsetDateTime> {
        match self {
            Schedule::Interval(d) => {
                let step = d.whole_seconds().max(1);
                let start = at.unix_timestamp().div_euclid(step) * step;
                OffsetDateTime::from_unix_timestamp(start).ok()
            }
            Schedule::Cron { cron, .. } => {
                let start = chrono::DateTime::from_timestamp(at.unix_timestamp(), 0)?;
                let prev = cron.find_previous_occurrence(&start, true).ok()?;
                OffsetDateTime::from_unix_timestamp(prev.timestamp()).ok()
            }
        }
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_latest_occurrence_is_the_one_a_firing_at_that_time_is_for() {
        let every_30 = "0 */30 * * * *".parse::<Schedule>().unwrap();
        let at = |t| every_30.latest_at_or_before(t).unwrap();
        assert_eq!(
            at(datetime!(2026-03-04 10:30:00 UTC)),
            datetime!(2026-03-04 10:30:00 UTC)
        );
        assert_eq!(
            at(datetime!(2026-03-04 10:59:59.9 UTC)),
            datetime!(2026-03-04 10:30:00 UTC)
        );
        let daily = "0 30 2 * * *".parse::<Schedule>().unwrap();
        assert_eq!(
            daily
                .latest_at_or_before(datetime!(2026-03-04 02:29:59 UTC))
                .unwrap(),
            datetime!(2026-03-03 02:30:00 UTC)
        );
        let interval = "00:10:00".parse::<Schedule>().unwrap();
        assert_eq!(
            interval
                .latest_at_or_before(datetime!(2026-03-04 02:29:59 UTC))
                .unwrap(),
            datetime!(2026-03-04 02:20:00 UTC)
        );
    }

    fn next(expr: &str, after: OffsetDateTime) -> OffsetDateTime {
        expr.parse::<Schedule>().unwrap().next_after(after).unwrap()
    }

    #[test]
    fn six_fields_with_seconds_first() {
        let t = datetime!(2026-11-25 10:07:30 UTC);
        assert_eq!(next("0 */5 * * * *", t), datetime!(2026-11-25 10:10:00 UTC));
        assert_eq!(next("30 0 3 * * *", t), datetime!(2026-11-26 03:00:30 UTC));
        assert_eq!(
            next("*/10 * * * * *", t),
            datetime!(2026-11-25 10:07:40 UTC)
        );
    }

    #[test]
    fn day_of_week_is_zero_for_sunday_and_names_work() {
        // 2026-11-25 is a Wednesday.
        let t = datetime!(2026-11-25 10:00:00 UTC);
        assert_eq!(next("0 0 9 * * 0", t), datetime!(2026-11-29 09:00:00 UTC));
        assert_eq!(
            next("0 0 9 * * Mon-Fri", t),
            datetime!(2026-11-26 09:00:00 UTC)
        );
        assert_eq!(next("0 0 0 1 Jan *", t), datetime!(2027-01-01 00:00:00 UTC));
    }

    #[test]
    fn restricted_day_and_weekday_must_both_match() {
        // The 13th that is a Friday: 2027-08-13.
        let t = datetime!(2026-11-25 10:00:00 UTC);
        assert_eq!(next("0 0 0 13 * 5", t), datetime!(2027-08-13 00:00:00 UTC));
    }

    #[test]
    fn intervals_are_timespans() {
        let t = datetime!(2026-11-25 10:00:00 UTC);
        assert_eq!(next("00:05:00", t), datetime!(2026-11-25 10:05:00 UTC));
        assert_eq!(next("1.00:00:00", t), datetime!(2026-11-26 10:00:00 UTC));
    }

    #[test]
    fn malformed_schedules_are_rejected_with_a_reason() {
        for bad in [
            "",
            "* * * * *",
            "0 0 * * * * 2026",
            "61 * * * * *",
            "0 0 25 * * *",
            "@daily",
            "00:00:00",
            "xx:00:00",
        ] {
            let err = bad.parse::<Schedule>().unwrap_err();
            assert_eq!(err.expr, bad);
            assert!(!err.reason.is_empty());
        }
    }
}
