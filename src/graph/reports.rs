//! The Teams activity report (`getTeamsTeamActivityDetail`): a team's last
//! activity date, which nothing else in Graph gives.
//!
//! Its traps, from PROTOCOLS-2 §1: Graph answers `302` with a `Location`
//! to a pre-authenticated download that lives a few minutes and refuses a
//! request carrying our bearer token, so the redirect is followed here
//! (the shared client follows none), with nothing but the URL. The report
//! has its own throttle, 14 calls per 10 minutes per app and tenant: a 429
//! is not waited out (each attempt would spend one of the 14) but handed
//! back with its `Retry-After`, for the caller to try again after it. The
//! download is bounded like every answer
//! ([`MAX_ANSWER_BYTES`](crate::outbound::send::MAX_ANSWER_BYTES)).
//! Parsing the CSV is the caller's (by column name: columns move).

use std::time::Duration;

use bytes::Bytes;
use url::Url;

use super::{Auth, Graph, GraphError, Payload, Request, failed, resolve};
use crate::ids::TenantId;
use crate::outbound::send::Failure;
use crate::outbound::{RetryPolicy, Rules};

/// The periods the report covers, in days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    D7,
    D30,
    D90,
    D180,
}

impl Period {
    pub const ALL: [Period; 4] = [Period::D7, Period::D30, Period::D90, Period::D180];

    /// The shortest period that covers `days` (an inactivity threshold);
    /// the longest there is beyond it.
    pub fn covering(days: u32) -> Period {
        Period::ALL
            .into_iter()
            .find(|p| p.days() >= days)
            .unwrap_or(Period::D180)
    }

    pub fn days(self) -> u32 {
        match self {
            Period::D7 => 7,
            Period::D30 => 30,
            Period::D90 => 90,
            Period::D180 => 180,
        }
    }

    /// As Graph names it: `D30`.
    pub fn name(self) -> &'static str {
        match self {
            Period::D7 => "D7",
            Period::D30 => "D30",
            Period::D90 => "D90",
            Period::D180 => "D180",
        }
    }
}

/// What asking for the report gave.
#[derive(Debug)]
pub enum Report {
    /// The CSV, as downloaded.
    Csv(Bytes),
    /// The report's throttle said to wait (that long, when it said).
    Throttled { retry_after: Option<Duration> },
}

/// The tenant's Teams activity report for `period`.
pub async fn teams_activity(
    graph: &Graph,
    tenant: &TenantId,
    period: Period,
) -> Result<Report, GraphError> {
    let path = format!(
        "/reports/getTeamsTeamActivityDetail(period='{}')",
        period.name()
    );
    let url = resolve(&graph.inner.config.base_url, &path)?;
    // One attempt: a throttle is the caller's to wait out, not this call's.
    let rules = Rules {
        policy: RetryPolicy {
            max_attempts: 1,
            ..graph.inner.rules.policy
        },
        ..graph.inner.rules
    };
    let asked = Request {
        auth: Auth::Tenant(tenant),
        method: reqwest::Method::GET,
        url: &url,
        log_path: url.path(),
        payload: Payload::Empty,
        cost: 1,
        // The report's throttle is its own (a few calls per 10 minutes):
        // its 429 pauses none of the tenant's other requests.
        tenant_throttle: false,
    };
    let location = match graph.answer(asked, &rules, true).await {
        // Some proxies follow the redirect themselves.
        Ok(answer) => return Ok(Report::Csv(answer.body)),
        Err(Failure::Status {
            answer,
            throttled: true,
            ..
        }) => {
            return Ok(Report::Throttled {
                retry_after: answer.retry_after(),
            });
        }
        Err(Failure::Status { answer, .. }) if (300..400).contains(&answer.status) => answer
            .header("location")
            .map(str::to_owned)
            .ok_or_else(|| GraphError::Decode("the report's redirect has no Location".into()))?,
        Err(failure) => return Err(failed(failure)),
    };
    let download = download_url(&url, &location)?;
    let fetched = Request {
        auth: Auth::None,
        method: reqwest::Method::GET,
        url: &download,
        // The download's path is its credential: never logged.
        log_path: "(activity report download)",
        payload: Payload::Empty,
        cost: 0,
        tenant_throttle: false,
    };
    let answer = graph
        .answer(fetched, &graph.inner.rules, true)
        .await
        .map_err(failed)?;
    Ok(Report::Csv(answer.body))
}

/// Where the redirect points (relative to the report's URL if it is
/// relative); a URL that is not http(s) is refused.
fn download_url(report: &Url, location: &str) -> Result<Url, GraphError> {
    let url = report
        .join(location)
        .map_err(|e| GraphError::Decode(format!("the report's redirect: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(GraphError::Decode(format!(
            "the report's redirect goes to a {} URL",
            url.scheme()
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_period_covering_the_threshold_is_asked_for() {
        let cases = [
            (0, Period::D7),
            (7, Period::D7),
            (8, Period::D30),
            (30, Period::D30),
            (60, Period::D90),
            (90, Period::D90),
            (91, Period::D180),
            (180, Period::D180),
            (365, Period::D180),
        ];
        for (days, period) in cases {
            assert_eq!(Period::covering(days), period, "{days}");
        }
        assert_eq!(Period::D30.name(), "D30");
    }

    #[test]
    fn the_download_is_an_http_url_absolute_or_relative_to_the_report() {
        let report = Url::parse(
            "https://graph.microsoft.com/v1.0/reports/getTeamsTeamActivityDetail(period='D30')",
        )
        .unwrap();
        let abs = "https://reports.office.com/data/download/abc?x=1";
        assert_eq!(download_url(&report, abs).unwrap().as_str(), abs);
        assert_eq!(
            download_url(&report, "/data/download/abc")
                .unwrap()
                .as_str(),
            "https://graph.microsoft.com/data/download/abc"
        );
        assert!(download_url(&report, "file:///etc/passwd").is_err());
    }
}
