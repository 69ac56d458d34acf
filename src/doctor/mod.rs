//! `handler doctor`: one preflight for operators. Against the settings the
//! handler would start with, it checks what the handler needs before
//! traffic reaches it: every setting well-formed, and the local fallbacks taken where a setting is
//! absent ([`setting_checks`]); every store reachable with the configured
//! identity, and the key-encryption key able to wrap and unwrap
//! ([`stores`]); for each onboarded tenant a Graph token whose `roles`
//! hold what the enabled features need ([`permissions`], [`identity`]);
//! the bot's Connector token; and the app registrations' secrets and
//! certificates not about to expire ([`credentials`]).
//!
//! Each check is a row: a name, a verdict and a reason. Network checks run
//! at once, each under the same timeout, so a dead service costs one
//! timeout, not a hang. No row ever holds a secret or a token: reasons name
//! settings, hosts and what a service answered.

pub mod credentials;
pub mod identity;
pub mod permissions;
pub mod setting_checks;
pub mod stores;

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::{RunMode, Settings};
pub use stores::Stores;

/// A network check gives up after this long unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// A secret or certificate expiring within this many days is a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub verdict: Verdict,
    pub reason: String,
}

impl Check {
    pub fn new(check: impl Into<String>, verdict: Verdict, reason: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            verdict,
            reason: reason.into(),
        }
    }

    pub fn ok(check: impl Into<String>, reason: impl Into<String>) -> Check {
        Check::new(check, Verdict::Ok, reason)
    }

    pub fn warn(check: impl Into<String>, reason: impl Into<String>) -> Check {
        Check::new(check, Verdict::Warn, reason)
    }

    pub fn fail(check: impl Into<String>, reason: impl Into<String>) -> Check {
        Check::new(check, Verdict::Fail, reason)
    }
}

/// What the doctor is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Judge the settings as the Functions host in Azure runs them: local
    /// fallbacks are failures or warnings. The command line sets it for
    /// `--azure`, and when the environment has the host's
    /// `FUNCTIONS_CUSTOMHANDLER_PORT` (only the environment: under
    /// `handler local` that setting may name the local port).
    pub azure: bool,
    /// The tenant that holds the app registrations (to read their secrets'
    /// and certificates' expiry); `MicrosoftAppTenantId` when absent.
    pub home_tenant: Option<String>,
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            azure: false,
            home_tenant: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// `azure` or `local`: how the settings were judged.
    pub mode: &'static str,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.count(Verdict::Fail)
    }

    fn count(&self, verdict: Verdict) -> usize {
        self.checks.iter().filter(|c| c.verdict == verdict).count()
    }

    /// The rows as an aligned table, with a closing count.
    pub fn table(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.check.chars().count())
            .chain([5])
            .max()
            .unwrap_or(5);
        let mut out = format!("{:<width$}  {:<7}  REASON\n", "CHECK", "VERDICT");
        for c in &self.checks {
            let _ = writeln!(
                out,
                "{:<width$}  {:<7}  {}",
                c.check,
                c.verdict.as_str(),
                c.reason
            );
        }
        let _ = write!(
            out,
            "{} ok, {} warn, {} fail ({} settings)",
            self.count(Verdict::Ok),
            self.count(Verdict::Warn),
            self.count(Verdict::Fail),
            self.mode
        );
        out
    }

    /// The same rows as JSON: `{"mode","ok","counts":{"ok","warn","fail"},"checks":[{"check","verdict","reason"}]}`.
    pub fn json(&self) -> String {
        let body = serde_json::json!({
            "mode": self.mode,
            "ok": self.failures() == 0,
            "counts": {
                "ok": self.count(Verdict::Ok),
                "warn": self.count(Verdict::Warn),
                "fail": self.count(Verdict::Fail),
            },
            "checks": self.checks,
        });
        serde_json::to_string_pretty(&body).expect("a report serialises")
    }
}

/// Reads the settings through `lookup` (as the handler does at start),
/// builds each store on its own, and runs every check.
pub async fn run(lookup: impl Fn(&str) -> Option<String>, options: &Options) -> Report {
    let azure = options.azure;
    let mode = if azure { "azure" } else { "local" };
    let settings = match setting_checks::read(azure, &lookup) {
        Ok(settings) => settings,
        Err(check) => {
            return Report {
                mode,
                checks: vec![check],
            };
        }
    };
    let stores = Stores::from_settings(&settings, options.timeout).await;
    let http = match crate::outbound::http_client() {
        Ok(http) => http,
        Err(e) => {
            return Report {
                mode,
                checks: vec![Check::fail("http client", e.to_string())],
            };
        }
    };
    run_with(
        &settings,
        azure,
        stores,
        http,
        options,
        OffsetDateTime::now_utc(),
    )
    .await
}

/// Every check against settings already read and stores already built
/// (tests hand in stores on their emulators). `now` dates the expiry checks.
pub async fn run_with(
    settings: &Settings,
    azure: bool,
    stores: Stores,
    http: reqwest::Client,
    options: &Options,
    now: OffsetDateTime,
) -> Report {
    let mut checks = vec![Check::ok(
        "settings",
        if settings.mode == RunMode::Host || azure {
            "read and well-formed, judged as the Functions host in Azure runs them"
        } else {
            "read and well-formed, judged for `handler local`"
        },
    )];
    checks.extend(setting_checks::fallbacks(settings, azure));
    let timeout = options.timeout;
    let home_tenant = options
        .home_tenant
        .clone()
        .or_else(|| settings.bot.app_tenant_id.clone());
    let (store_rows, tenant_rows, bot_row, credential_rows) = tokio::join!(
        stores.check(timeout),
        identity::tenants(settings, &stores, &http, timeout),
        identity::bot_connector(settings, azure, &http, timeout),
        credentials::app_credentials(settings, home_tenant.as_deref(), &http, timeout, now),
    );
    checks.extend(store_rows);
    checks.extend(tenant_rows);
    checks.push(bot_row);
    checks.extend(credential_rows);
    Report {
        mode: if azure { "azure" } else { "local" },
        checks,
    }
}

/// `fut` under `timeout`, its error (or the timeout) as a reason.
pub(crate) async fn bounded<T, E: std::fmt::Display>(
    timeout: Duration,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(without_queries(&e.to_string())),
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f32())),
    }
}

/// An error's text with the query of every URL in it left out: a storage
/// client's error quotes its request URL, SAS token included.
fn without_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_query = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_query {
            in_query = !(c.is_whitespace() || c == ')' || c == '"' || c == '\'');
        } else if c == '?' && url_before(&out) {
            in_query = true;
        }
        if !in_query {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Whether `text` ends inside a URL.
fn url_before(text: &str) -> bool {
    let word = text
        .rsplit(|c: char| c.is_whitespace() || c == '(' || c == '"' || c == '\'')
        .next()
        .unwrap_or_default();
    word.starts_with("http://") || word.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_query_and_nothing_else_does() {
        let error = "error sending request for url (http://127.0.0.1:1/acct/q?comp=metadata&sv=1&sig=abc): refused? yes";
        assert_eq!(
            without_queries(error),
            "error sending request for url (http://127.0.0.1:1/acct/q): refused? yes"
        );
        assert_eq!(
            without_queries("see https://x.test/a?b=c and https://y.test/?d"),
            "see https://x.test/a and https://y.test/"
        );
    }

    #[test]
    fn the_table_aligns_rows_and_counts_verdicts() {
        let report = Report {
            mode: "local",
            checks: vec![
                Check::ok("settings", "fine"),
                Check::fail("cache", "Redis at 127.0.0.1:1: refused"),
                Check::warn("a longer check name", "soon"),
            ],
        };
        let table = report.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "CHECK                VERDICT  REASON");
        assert_eq!(
            lines[2],
            "cache                fail     Redis at 127.0.0.1:1: refused"
        );
        assert_eq!(lines[4], "1 ok, 1 warn, 1 fail (local settings)");
        assert_eq!(report.failures(), 1);
        let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["counts"]["warn"], 1);
        assert_eq!(json["checks"][1]["verdict"], "fail");
        assert_eq!(json["checks"][1]["check"], "cache");
    }
}
