//! The Teams activity report on the stand-in, as Graph serves it:
//! `GET /reports/getTeamsTeamActivityDetail(period='D7|D30|D90|D180')`
//! answers `302` with a `Location` to a pre-authenticated download on the
//! stand-in (`/data/download/{token}`), which answers the CSV to a request
//! without `Authorization` and refuses one that carries it (403, as the
//! real storage does). The CSV (UTF-8 BOM, Graph's columns) lists the
//! tenant's teams with the last-activity dates a test set (none: an empty
//! date, no activity in the period) and, when the tenant conceals names
//! in reports, a hash instead of each name.
//!
//! Counted: report calls (the 302s, and the 429s of its own throttle a
//! test asks for), downloads served and downloads refused.

use std::collections::HashMap;

use super::{GraphStandIn, Reply, State};

const HEADER: &str = "Report Refresh Date,Team Name,Team Id,Team Type,Last Activity Date,\
Report Period,Active Users,Active Channels,Guests,Reactions,Meetings Organized,Post Messages,\
Reply Messages,Channel Messages,Urgent Messages,Mentions,Active Shared Channels,Active External Users";
const DEFAULT_REFRESH_DATE: &str = "2026-01-01";

#[derive(Default)]
pub struct Reports {
    tenants: HashMap<String, TenantReport>,
    /// Download token -> (tenant, period in days).
    downloads: HashMap<String, (String, u32)>,
    /// The next report calls answered 429 with this `Retry-After`.
    throttle: Option<(usize, u64)>,
    pub counts: ReportCounts,
}

#[derive(Default)]
struct TenantReport {
    refresh_date: Option<String>,
    concealed: bool,
    /// Group id -> last activity date (`2026-11-02`).
    last_activity: HashMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportCounts {
    /// Calls to the report endpoint (redirected or throttled).
    pub calls: u64,
    pub downloads: u64,
    /// Downloads refused for carrying `Authorization`.
    pub refused: u64,
}

impl GraphStandIn {
    /// The report's "Report Refresh Date" for the tenant (`2026-11-30`).
    pub fn set_report_date(&self, tenant: &str, date: &str) {
        self.state().reports.tenant(tenant).refresh_date = Some(date.to_owned());
    }

    /// The team's "Last Activity Date" (`None`: no activity in the period).
    pub fn set_last_activity(&self, tenant: &str, group_id: &str, date: Option<&str>) {
        let mut st = self.state();
        let t = st.reports.tenant(tenant);
        match date {
            Some(d) => t.last_activity.insert(group_id.to_owned(), d.to_owned()),
            None => t.last_activity.remove(group_id),
        };
    }

    /// The tenant's report privacy setting: concealed names are hashes.
    pub fn conceal_report_names(&self, tenant: &str, concealed: bool) {
        self.state().reports.tenant(tenant).concealed = concealed;
    }

    /// The next `times` report calls are answered 429 with `Retry-After`.
    pub fn throttle_report(&self, times: usize, retry_after_secs: u64) {
        self.state().reports.throttle = Some((times, retry_after_secs));
    }

    pub fn report_counts(&self) -> ReportCounts {
        self.state().reports.counts
    }
}

impl Reports {
    fn tenant(&mut self, tenant: &str) -> &mut TenantReport {
        self.tenants.entry(tenant.to_owned()).or_default()
    }
}

/// `GET /reports/getTeamsTeamActivityDetail(period='D30')` (`function` is
/// that last segment), after the token, consent and injected faults were
/// checked.
pub(super) fn activity_detail(st: &mut State, tenant: &str, function: &str) -> Reply {
    st.reports.counts.calls += 1;
    if let Some((times, retry_after)) = st.reports.throttle.as_mut() {
        let retry_after = *retry_after;
        *times -= 1;
        if *times == 0 {
            st.reports.throttle = None;
        }
        return Reply::error(429, "TooManyRequests", "Too many requests; retry later.")
            .with_header("Retry-After", retry_after.to_string());
    }
    let period = function
        .strip_prefix("getTeamsTeamActivityDetail(period='")
        .and_then(|rest| rest.strip_suffix("')"))
        .unwrap_or(function);
    let days = match period {
        "D7" => 7,
        "D30" => 30,
        "D90" => 90,
        "D180" => 180,
        _ => {
            return Reply::bad_request(&format!(
                "Invalid value '{period}' for the period parameter."
            ));
        }
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    st.reports
        .downloads
        .insert(token.clone(), (tenant.to_owned(), days));
    let location = format!("{}/data/download/{token}", st.origin);
    Reply::empty(302).with_header("Location", location)
}

/// `GET /data/download/{token}`: the CSV, to a request without a token.
pub(super) fn download(st: &mut State, token: &str, authorization: &str) -> Reply {
    if !authorization.is_empty() {
        st.reports.counts.refused += 1;
        return Reply::error(
            403,
            "AuthenticationFailed",
            "A pre-authenticated download takes no Authorization header.",
        );
    }
    let Some((tenant, days)) = st.reports.downloads.get(token).cloned() else {
        return Reply::not_found("Download");
    };
    st.reports.counts.downloads += 1;
    let report = st.reports.tenant(&tenant);
    let refresh = report
        .refresh_date
        .clone()
        .unwrap_or_else(|| DEFAULT_REFRESH_DATE.to_owned());
    let concealed = report.concealed;
    let activity = report.last_activity.clone();
    let mut csv = format!("\u{feff}{HEADER}\n");
    for g in st.tenants[&tenant]
        .groups
        .iter()
        .filter(|g| g.team.is_some())
    {
        let name = if concealed {
            concealed_name(&g.display_name)
        } else {
            g.display_name.replace(',', " ")
        };
        let last = activity.get(&g.id).map_or("", String::as_str);
        csv.push_str(&format!(
            "{refresh},{name},{},{},{last},{days},0,0,0,0,0,0,0,0,0,0,0,0\n",
            g.id, g.visibility
        ));
    }
    Reply::bytes(200, "application/octet-stream", csv.into_bytes())
}

/// What a concealed name looks like: a hash in upper-case hex.
fn concealed_name(name: &str) -> String {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{hash:016X}")
}
