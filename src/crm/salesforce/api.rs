//! Calls to an org's REST API (`{instance_url}/services/data/{version}/…`)
//! through the shared send loop, and what Salesforce's errors mean.
//!
//! Salesforce answers errors as `[{"message","errorCode","fields"}]`:
//! `INVALID_SESSION_ID` (401) ends the session: the loop refreshes it once
//! and sends again once (a second refusal is [`CrmError::Revoked`], never a
//! loop); `REQUEST_LIMIT_EXCEEDED` (403) means the org's 24-hour API
//! allocation is spent, which no retry within the day helps, so it is
//! [`CrmError::Limited`] at once; `NOT_FOUND` (404) is no such record.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::Salesforce;
use crate::crm::CrmError;
use crate::outbound::RetryPolicy;
use crate::outbound::send::{self, Answer, Call, Failure, Rules};

/// Per HTTP request to Salesforce.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Salesforce's statuses: gateway failures are worth another try within
/// the call (for idempotent requests); a 403 limit is not.
pub(super) fn rules(policy: RetryPolicy) -> Rules {
    Rules {
        service: "Salesforce",
        policy,
        timeout: REQUEST_TIMEOUT,
        retryable: |status| matches!(status, 429 | 500 | 502 | 503 | 504),
        throttle: |status| status == 429,
    }
}

/// Where a request goes, resolved against the session's instance (which a
/// refresh may change between two attempts).
pub(super) enum Target<'a> {
    /// Segments under `/services/data/{version}/`, and query pairs.
    Rest {
        segments: &'a [&'a str],
        query: &'a [(&'a str, &'a str)],
    },
    /// A path on the instance itself (`/services/oauth2/userinfo`), or a
    /// `nextRecordsUrl` Salesforce gave (checked before use).
    Instance(&'a str),
}

/// A Salesforce error: the first of the list it answered.
pub(super) struct SfError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl SfError {
    fn of(answer: &Answer) -> SfError {
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let first = body.get(0).unwrap_or(&body);
        SfError {
            status: answer.status,
            code: first["errorCode"].as_str().unwrap_or_default().to_owned(),
            message: first["message"]
                .as_str()
                .map(|m| m.chars().take(500).collect())
                .unwrap_or_else(|| format!("HTTP {}", answer.status)),
        }
    }

    fn into_crm(self) -> CrmError {
        match (self.status, self.code.as_str()) {
            (401, _) => CrmError::Revoked(format!(
                "Salesforce refused a fresh session: {}",
                self.message
            )),
            (403, "REQUEST_LIMIT_EXCEEDED") => CrmError::Limited {
                message: format!(
                    "Salesforce's daily API limit for your org is used up ({})",
                    self.message
                ),
                retry_after: None,
            },
            (403, "API_DISABLED_FOR_ORG" | "API_CURRENTLY_DISABLED") => CrmError::NotSetUp(
                format!("Salesforce's API is off for the org: {}", self.message),
            ),
            (status, _) if status >= 500 || status == 429 => {
                CrmError::Unavailable(format!("Salesforce: {}", self.message))
            }
            _ => CrmError::Refused(format!("{}: {}", self.code, self.message)),
        }
    }
}

/// Why a call failed: what Salesforce said, or already an error.
pub(super) enum Refusal {
    Said(SfError),
    Error(CrmError),
}

impl From<Refusal> for CrmError {
    fn from(r: Refusal) -> CrmError {
        match r {
            Refusal::Said(e) => e.into_crm(),
            Refusal::Error(e) => e,
        }
    }
}

/// A `nextRecordsUrl` of this API version's query resource: a path and a
/// cursor, nothing that could lead elsewhere.
pub(super) fn is_next_records_url(version: &str, path: &str) -> bool {
    path.strip_prefix("/services/data/")
        .and_then(|rest| rest.strip_prefix(version))
        .and_then(|rest| rest.strip_prefix("/query/"))
        .is_some_and(|cursor| {
            !cursor.is_empty()
                && cursor.len() <= 64
                && cursor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl Salesforce {
    fn url(&self, instance: &Url, target: &Target<'_>) -> Result<Url, CrmError> {
        let mut url = instance.clone();
        url.set_query(None);
        url.set_fragment(None);
        match target {
            Target::Rest { segments, query } => {
                url.set_path("");
                url.path_segments_mut()
                    .map_err(|()| CrmError::Unavailable("an unusable instance URL".into()))?
                    .extend(["services", "data", self.config.api_version.as_str()])
                    .extend(segments.iter());
                if !query.is_empty() {
                    url.query_pairs_mut().extend_pairs(query.iter());
                }
            }
            Target::Instance(path) => url.set_path(path),
        }
        Ok(url)
    }

    /// One request with the org's session: the 2xx answer, or why not.
    pub(super) async fn call(
        &self,
        method: Method,
        target: Target<'_>,
        body: Option<&Value>,
        log_path: &str,
    ) -> Result<Answer, Refusal> {
        // Writes are sent twice only when they never arrived; a PATCH of
        // the same value is harmless twice.
        let idempotent = method != Method::POST;
        let call = Call {
            rules: &self.rules,
            idempotent,
            path: log_path,
        };
        let build = || async {
            let session = self.session().await?;
            let url = self.url(&session.instance_url, &target)?;
            let request = self
                .shared
                .http
                .request(method.clone(), url)
                .bearer_auth(&session.access_token)
                .header(reqwest::header::ACCEPT, "application/json");
            Ok(match body {
                Some(body) => request.json(body),
                None => request,
            })
        };
        let refuse_token = || async {
            self.forget_session().await;
            true
        };
        match send::send(call, build, refuse_token, &*self.shared.counters).await {
            Ok(answer) => Ok(answer),
            Err(Failure::Prepare(e)) => Err(Refusal::Error(e)),
            Err(Failure::Transport { error, .. }) => Err(Refusal::Error(CrmError::Unavailable(
                format!("Salesforce: {error}"),
            ))),
            Err(Failure::Status { answer, .. }) => Err(Refusal::Said(SfError::of(&answer))),
        }
    }

    /// A GET whose JSON answer is wanted.
    pub(super) async fn get_json(
        &self,
        target: Target<'_>,
        log_path: &str,
    ) -> Result<Value, Refusal> {
        let answer = self.call(Method::GET, target, None, log_path).await?;
        serde_json::from_slice(&answer.body).map_err(|e| {
            Refusal::Error(CrmError::Unavailable(format!(
                "Salesforce: an unreadable answer to {log_path}: {e}"
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_query_cursor_of_our_version_is_followed() {
        assert!(is_next_records_url(
            "v62.0",
            "/services/data/v62.0/query/01gD0000002HU6KIAW-2000"
        ));
        for bad in [
            "/services/data/v61.0/query/01gD0000002HU6KIAW-2000",
            "https://evil.test/services/data/v62.0/query/01g-2000",
            "/services/data/v62.0/query/../sobjects/User",
            "/services/data/v62.0/query/01g?q=x",
            "/services/data/v62.0/query/",
            "//evil.test/services/data/v62.0/query/01g-1",
        ] {
            assert!(!is_next_records_url("v62.0", bad), "{bad}");
        }
    }

    #[test]
    fn salesforce_errors_say_what_the_admin_or_user_needs() {
        let answer = |status: u16, body: &str| Answer {
            status,
            headers: Default::default(),
            body: body.as_bytes().to_vec().into(),
        };
        let limited = SfError::of(&answer(
            403,
            r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#,
        ))
        .into_crm();
        assert!(
            matches!(&limited, CrmError::Limited { message, retry_after: None } if message.contains("daily API limit")),
            "{limited:?}"
        );
        let refused = SfError::of(&answer(
            400,
            r#"[{"message":"No such column 'Team__c'","errorCode":"INVALID_FIELD","fields":[]}]"#,
        ))
        .into_crm();
        assert!(matches!(&refused, CrmError::Refused(m) if m.contains("Team__c")));
        assert!(matches!(
            SfError::of(&answer(503, "<html>")).into_crm(),
            CrmError::Unavailable(_)
        ));
        assert!(SfError::of(&answer(401, "[]")).into_crm().needs_admin());
    }
}
