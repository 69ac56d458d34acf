//! One Web API request: the org's token (client credentials, cached per
//! app, tenant and org), Dataverse's OData headers, the shared send loop,
//! and Dataverse's refusals turned into what the user's card and the
//! admin's finding need.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::Dataverse;
use crate::crm::CrmError;
use crate::outbound::send::{self, Answer, Call, Failure};
use crate::outbound::{ClientCredentials, RetryPolicy, Rules, client_credentials};

/// Per HTTP request to the Web API.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// What of Dataverse's message goes into an error (its messages can quote
/// the request back).
const MAX_MESSAGE_CHARS: usize = 300;
/// Labels for option sets, lookups, money and dates, as the org shows them.
const FORMATTED_VALUES: &str =
    "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"";
/// Dataverse's answer to an app that is not an application user of the
/// environment ("The user is not a member of the organization.").
const NOT_A_MEMBER: &str = "0x80072560";
/// Dataverse's "principal user is missing a privilege on this record".
const ACCESS_DENIED: &str = "0x80040220";

/// Dataverse's statuses on top of the shared policy: 429 is its service
/// protection limit (with `Retry-After`); a 5xx is worth another try when
/// the request is idempotent.
pub(super) fn rules(policy: RetryPolicy) -> Rules {
    Rules {
        service: "Dataverse",
        policy,
        timeout: REQUEST_TIMEOUT,
        retryable: |status| matches!(status, 429 | 500 | 502 | 503 | 504),
        throttle: |status| status == 429,
    }
}

/// Why a request gave no answer, before it becomes a [`CrmError`]: some
/// refusals are answers to the caller (no such record, search not enabled).
#[derive(Debug)]
pub(super) enum Failed {
    NotFound,
    /// The environment has no Dataverse search (with Dataverse's message).
    SearchOff(String),
    Crm(CrmError),
}

impl From<CrmError> for Failed {
    fn from(e: CrmError) -> Failed {
        Failed::Crm(e)
    }
}

impl From<Failed> for CrmError {
    fn from(f: Failed) -> CrmError {
        match f {
            Failed::NotFound => {
                CrmError::Refused("Dataverse has no such record (or it is not visible)".into())
            }
            Failed::SearchOff(message) => CrmError::NotSetUp(message),
            Failed::Crm(e) => e,
        }
    }
}

/// One request's particulars.
pub(super) struct Request<'a> {
    pub method: reqwest::Method,
    pub url: &'a Url,
    /// For the logs: a template, never an id or a query.
    pub log_path: &'a str,
    /// `CallerObjectId`: the Entra object id to act as.
    pub caller: Option<&'a str>,
    /// `odata.maxpagesize`, for a page of a table.
    pub page_size: Option<usize>,
    pub body: Option<&'a Value>,
    /// Sending it twice is harmless (reads, and `searchquery`, which
    /// changes nothing).
    pub idempotent: bool,
    /// A `searchquery`: "search is not enabled" is an answer
    /// ([`Failed::SearchOff`]).
    pub searching: bool,
}

impl Dataverse {
    fn token_key(&self) -> String {
        format!(
            "dataverse-token:{}:{}:{}",
            self.client_id, self.tenant, self.scope
        )
    }

    async fn token(&self) -> Result<String, CrmError> {
        self.shared
            .tokens
            .get_or_fetch(&self.token_key(), || async {
                self.shared.counters.token_fetched();
                let request = ClientCredentials {
                    token_url: &self.token_url,
                    client_id: &self.client_id,
                    client_secret: &self.client_secret,
                    scope: &self.scope,
                };
                client_credentials(&self.shared.http, request)
                    .await
                    .map_err(|e| {
                        tracing::warn!(tenant = %self.tenant, org = self.org_host(), status = e.status, error = %e, "no Dataverse token");
                        CrmError::from_token(e)
                    })
            })
            .await
    }

    /// A GET's JSON body.
    pub(super) async fn get(
        &self,
        url: &Url,
        log_path: &str,
        caller: Option<&str>,
        page_size: Option<usize>,
    ) -> Result<Value, Failed> {
        let answer = self
            .request(Request {
                method: reqwest::Method::GET,
                url,
                log_path,
                caller,
                page_size,
                body: None,
                idempotent: true,
                searching: false,
            })
            .await?;
        json_of(&answer)
    }

    /// A create or an update: sent again only when the send loop's rules
    /// say it never arrived or was throttled (a note written twice is two
    /// notes).
    pub(super) async fn write(
        &self,
        method: reqwest::Method,
        url: &Url,
        log_path: &str,
        body: &Value,
    ) -> Result<(), CrmError> {
        self.request(Request {
            method,
            url,
            log_path,
            caller: None,
            page_size: None,
            body: Some(body),
            idempotent: false,
            searching: false,
        })
        .await
        .map(drop)
        .map_err(CrmError::from)
    }

    /// Any request; a refusal as [`Failed`].
    pub(super) async fn request(&self, request: Request<'_>) -> Result<Answer, Failed> {
        let call = Call {
            rules: &self.rules,
            idempotent: request.idempotent,
            path: request.log_path,
        };
        let prefer = match request.page_size {
            Some(n) => format!("odata.maxpagesize={n},{FORMATTED_VALUES}"),
            None => FORMATTED_VALUES.to_owned(),
        };
        let build = || async {
            let mut builder = self
                .shared
                .http
                .request(request.method.clone(), request.url.clone())
                .bearer_auth(self.token().await?)
                .header(reqwest::header::ACCEPT, "application/json")
                .header("OData-MaxVersion", "4.0")
                .header("OData-Version", "4.0")
                .header("Prefer", &prefer);
            if let Some(caller) = request.caller {
                builder = builder.header("CallerObjectId", caller);
            }
            if let Some(body) = request.body {
                builder = builder.json(body);
            }
            if request.method == reqwest::Method::PATCH {
                // A PATCH is an upsert: never create the record it meant
                // to update.
                builder = builder.header("If-Match", "*");
            }
            Ok::<_, CrmError>(builder)
        };
        let refuse_token = || async {
            self.shared.tokens.forget(&self.token_key()).await;
            true
        };
        match send::send(call, build, refuse_token, self.shared.counters.as_ref()).await {
            Ok(answer) => Ok(answer),
            Err(Failure::Prepare(e)) => Err(Failed::Crm(e)),
            Err(Failure::Transport { error, attempts }) => Err(Failed::Crm(CrmError::Unavailable(
                format!("no answer after {attempts} attempt(s): {error}"),
            ))),
            Err(Failure::Status { answer, .. })
                if request.searching && search_not_enabled(&answer) =>
            {
                Err(Failed::SearchOff(error_of(&answer).1))
            }
            Err(Failure::Status {
                answer, throttled, ..
            }) => Err(self.refusal(&answer, throttled, request.log_path)),
        }
    }

    /// What a non-2xx answer means for the caller.
    fn refusal(&self, answer: &Answer, throttled: bool, log_path: &str) -> Failed {
        let (code, message) = error_of(answer);
        let status = answer.status;
        tracing::info!(
            org = self.org_host(),
            path = log_path,
            status,
            code,
            "Dataverse refused a request"
        );
        let not_member = code.eq_ignore_ascii_case(NOT_A_MEMBER)
            || message
                .to_ascii_lowercase()
                .contains("not a member of the organization");
        match status {
            401 | 403 if not_member => Failed::Crm(CrmError::NotSetUp(format!(
                "{} does not know the SalesTim app (\"{message}\"): an admin of the environment \
                 must add SalesTim as an application user with a security role that can read \
                 accounts, contacts and opportunities (Power Platform admin center → the \
                 environment → Settings → Users + permissions → Application users)",
                self.org_host()
            ))),
            401 => Failed::Crm(CrmError::Revoked(format!(
                "{} refused a freshly issued token: {message}",
                self.org_host()
            ))),
            404 => Failed::NotFound,
            // The record is there, but not for this viewer (impersonated):
            // to them, there is no such record.
            403 if code.eq_ignore_ascii_case(ACCESS_DENIED) => Failed::NotFound,
            _ if throttled || status == 429 => Failed::Crm(CrmError::Limited {
                message: format!("{} asks to slow down: {message}", self.org_host()),
                retry_after: answer.retry_after(),
            }),
            500.. => Failed::Crm(CrmError::Unavailable(format!(
                "{} answered {status} {code}: {message}",
                self.org_host()
            ))),
            _ => Failed::Crm(CrmError::Refused(format!("{status} {code}: {message}"))),
        }
    }
}

/// An environment without Dataverse search: the `searchquery` action is
/// missing (404), or Dataverse says the feature is off. Its exact answer is
/// not documented; clients in the wild match `0x80048d0b` and messages
/// saying search is disabled, not enabled or not provisioned.
fn search_not_enabled(answer: &Answer) -> bool {
    let (code, message) = error_of(answer);
    let message = message.to_ascii_lowercase();
    answer.status == 404
        || code.eq_ignore_ascii_case("0x80048d0b")
        || (message.contains("search")
            && ["not enabled", "disabled", "not provisioned"]
                .iter()
                .any(|m| message.contains(m)))
}

/// Dataverse's `{"error":{"code":"0x…","message":"…"}}`, bounded.
pub(super) fn error_of(answer: &Answer) -> (String, String) {
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or_default();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    (
        code.chars().take(32).collect(),
        message.chars().take(MAX_MESSAGE_CHARS).collect(),
    )
}

pub(super) fn json_of(answer: &Answer) -> Result<Value, Failed> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        Failed::Crm(CrmError::Unavailable(format!(
            "Dataverse answered something that is not JSON: {e}"
        )))
    })
}
