//! Salesforce's REST API, one org per connection: the org's admin connects
//! it once through our connected app (the web-server flow, [`oauth`]), and
//! every call after runs as that admin with a session refreshed from the
//! sealed refresh token.
//!
//! Searches are SOSL ([`query`]), the empty search box lists recently
//! changed opportunities by SOQL, records are read by SOQL by id, and a
//! team is recorded on the record as a classic Note or in a URL field the
//! admin names.

mod api;
pub mod oauth;
mod query;
mod records;

use async_trait::async_trait;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use url::Url;

pub use oauth::{Grant, authorize_url, exchange_code};

use self::api::{Refusal, Target};
use crate::crm::{
    Connector, CrmError, CrmKind, MAX_PAGE, Page, PageRequest, RecordId, RecordRef, RecordType,
    SearchText, Shared, TeamLink, Viewer, WriteBack,
};
use crate::ids::TenantId;
use crate::outbound::Rules;

/// The REST API version calls use unless the connection names another.
pub const DEFAULT_API_VERSION: &str = "v62.0";
/// A query's answer is followed by `nextRecordsUrl` this many times at
/// most within one page (Salesforce cuts batches short for large rows).
const MAX_FOLLOWS_PER_PAGE: usize = 4;
/// A classic Note's title holds at most 80 characters.
const NOTE_TITLE_CHARS: usize = 80;

/// A tenant's connection to one org, as stored (its refresh token apart,
/// sealed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SalesforceConfig {
    /// As the token endpoint last returned it (each refresh says again
    /// where the org is, and that answer is the one used).
    pub instance_url: Url,
    /// Where refresh grants go: `https://login.salesforce.com`,
    /// `https://test.salesforce.com` or the org's My Domain.
    pub login_url: Url,
    /// `vNN.N`.
    pub api_version: String,
    /// Who connected the org, as shown to admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// One org, reached as the admin who connected it.
pub struct Salesforce {
    shared: Shared,
    tenant: TenantId,
    config: SalesforceConfig,
    refresh_token: SecretString,
    /// The cached session's key: tenant, org (its My Domain) and which
    /// grant (a digest of the refresh token, so a reconnected org does not
    /// reuse the old grant's session).
    token_key: String,
    rules: Rules,
}

fn valid_api_version(v: &str) -> bool {
    v.strip_prefix('v')
        .and_then(|n| n.split_once('.'))
        .is_some_and(|(major, minor)| {
            (1..=3).contains(&major.len())
                && minor.len() == 1
                && major
                    .chars()
                    .chain(minor.chars())
                    .all(|c| c.is_ascii_digit())
        })
}

/// A field's API name (`Website`, `Teams_Link__c`, `ns__Link__c`): what
/// goes into the PATCH body as a key.
fn valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 80
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Salesforce {
    pub fn new(
        shared: &Shared,
        tenant: &TenantId,
        config: &SalesforceConfig,
        refresh_token: SecretString,
    ) -> Result<Salesforce, CrmError> {
        let app = oauth::app(shared)?;
        if !valid_api_version(&config.api_version) {
            return Err(CrmError::NotSetUp(format!(
                "not a Salesforce API version: {:?}",
                config.api_version
            )));
        }
        let grant = sha2::Sha256::digest(refresh_token.expose_secret().as_bytes());
        let token_key = format!(
            "salesforce-session:{}:{tenant}:{}:{}",
            app.client_id,
            config.instance_url.host_str().unwrap_or_default(),
            hex::encode(&grant[..8])
        );
        Ok(Salesforce {
            rules: api::rules(shared.retry),
            shared: shared.clone(),
            tenant: tenant.clone(),
            config: config.clone(),
            refresh_token,
            token_key,
        })
    }

    /// Where the org's API is now (the latest refresh's answer): a stored
    /// connection whose `instance_url` differs should take this one, so
    /// that its links ([`Connector::parse_link`]) follow the org too.
    pub async fn instance_url(&self) -> Result<Url, CrmError> {
        Ok(self.session().await?.instance_url)
    }

    /// Records of an answer's rows, for the instance the rows came from.
    async fn to_records<'a>(
        &self,
        rows: impl Iterator<Item = &'a Value>,
    ) -> Result<Vec<crate::crm::Record>, CrmError> {
        let instance = self.instance_url().await?;
        Ok(rows
            .filter_map(|row| records::to_record(&instance, row))
            .collect())
    }

    async fn search_text(&self, text: &SearchText, page: &PageRequest) -> Result<Page, CrmError> {
        let count = page.count.clamp(1, MAX_PAGE);
        let Some(q) = query::sosl_term(text).and_then(|t| query::sosl_search(&t, page.skip, count))
        else {
            return Ok(Page::default());
        };
        let target = Target::Rest {
            segments: &["search", ""],
            query: &[("q", &q)],
        };
        let answer = self.get_json(target, "/search").await?;
        let rows = answer["searchRecords"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let page_rows = query::merge_page(rows, page.skip, count);
        Ok(Page {
            records: self.to_records(page_rows.into_iter()).await?,
            next: None,
        })
    }

    /// Recently changed opportunities, one page by `OFFSET` (Salesforce's
    /// `nextRecordsUrl` batches are 200 rows at the least, more than a
    /// page); a batch cut short is followed within the page, boundedly.
    async fn recent(&self, page: &PageRequest) -> Result<Page, CrmError> {
        let count = page.count.clamp(1, MAX_PAGE);
        let Some(q) = query::soql_recent(page.skip, count) else {
            return Ok(Page::default());
        };
        let mut answer = self
            .get_json(
                Target::Rest {
                    segments: &["query", ""],
                    query: &[("q", &q)],
                },
                "/query",
            )
            .await?;
        let mut rows: Vec<Value> = Vec::new();
        let mut follows = 0;
        loop {
            if let Some(Value::Array(batch)) = answer.get_mut("records").map(Value::take) {
                rows.extend(batch);
            }
            let next = answer["nextRecordsUrl"].as_str().map(str::to_owned);
            let more = answer["done"] == Value::Bool(false)
                && rows.len() < count
                && follows < MAX_FOLLOWS_PER_PAGE;
            match next {
                Some(next) if more && api::is_next_records_url(&self.config.api_version, &next) => {
                    follows += 1;
                    answer = self
                        .get_json(Target::Instance(&next), "/query/next")
                        .await?;
                }
                _ => break,
            }
        }
        rows.truncate(count);
        Ok(Page {
            records: self.to_records(rows.iter()).await?,
            next: None,
        })
    }
}

#[async_trait]
impl Connector for Salesforce {
    fn kind(&self) -> CrmKind {
        CrmKind::Salesforce
    }

    /// No: the connection acts as the admin who connected it, so every
    /// user sees what that admin may see (and results are cached per
    /// tenant).
    fn per_user(&self) -> bool {
        false
    }

    /// Every page is asked by its `skip` (one request; see [`query`] and
    /// `recent`), so `page.continuation` is not used and `Page::next` is
    /// never set.
    async fn search(
        &self,
        _viewer: Viewer<'_>,
        text: &SearchText,
        page: &PageRequest,
    ) -> Result<Page, CrmError> {
        if text.is_empty() {
            self.recent(page).await
        } else {
            self.search_text(text, page).await
        }
    }

    async fn record(
        &self,
        _viewer: Viewer<'_>,
        record_type: RecordType,
        id: &RecordId,
    ) -> Result<Option<crate::crm::Record>, CrmError> {
        let Some(id) = RecordId::parse_for(CrmKind::Salesforce, id.as_str()) else {
            return Ok(None);
        };
        let q = query::soql_by_id(record_type, id.as_str());
        let target = Target::Rest {
            segments: &["query", ""],
            query: &[("q", &q)],
        };
        let answer = match self.get_json(target, "/query").await {
            Ok(answer) => answer,
            Err(Refusal::Said(e)) if e.status == 404 => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let rows = answer["records"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(self.to_records(rows.iter()).await?.into_iter().next())
    }

    async fn link_team(
        &self,
        record: &RecordRef,
        team: &TeamLink<'_>,
        how: &WriteBack,
    ) -> Result<String, CrmError> {
        let object = record.record_type.label();
        let id = record.id.as_str();
        match how {
            WriteBack::Off => Ok("nothing written (write-back is off)".into()),
            WriteBack::Note => {
                let title: String = format!("Team in Microsoft Teams: {}", team.display_name)
                    .chars()
                    .take(NOTE_TITLE_CHARS)
                    .collect();
                let body = json!({
                    "ParentId": id,
                    "Title": title,
                    "Body": format!("{}\n{}", team.display_name, team.web_url),
                });
                let target = Target::Rest {
                    segments: &["sobjects", "Note"],
                    query: &[],
                };
                let answer = self
                    .call(Method::POST, target, Some(&body), "/sobjects/Note")
                    .await?;
                let created: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
                let note = created["id"].as_str().unwrap_or("?");
                Ok(format!("Salesforce note {note} on {object} {id}"))
            }
            WriteBack::Field(name) => {
                if !valid_field_name(name) {
                    return Err(CrmError::Refused(format!(
                        "not a Salesforce field name: {name:?}"
                    )));
                }
                let mut fields = serde_json::Map::new();
                fields.insert(name.clone(), Value::from(team.web_url));
                let body = Value::Object(fields);
                let target = Target::Rest {
                    segments: &["sobjects", object, id],
                    query: &[],
                };
                self.call(
                    Method::PATCH,
                    target,
                    Some(&body),
                    "/sobjects/{object}/{id}",
                )
                .await?;
                Ok(format!("Salesforce field {name} on {object} {id}"))
            }
        }
    }

    async fn check(&self) -> Result<String, CrmError> {
        let user = self
            .get_json(
                Target::Instance("/services/oauth2/userinfo"),
                "/services/oauth2/userinfo",
            )
            .await?;
        let limits = self
            .get_json(
                Target::Rest {
                    segments: &["limits", ""],
                    query: &[],
                },
                "/limits",
            )
            .await?;
        let who = user["preferred_username"]
            .as_str()
            .or(user["name"].as_str())
            .unwrap_or("an unnamed user");
        let daily = &limits["DailyApiRequests"];
        Ok(format!(
            "Salesforce as {who}: {} of {} daily API requests left",
            daily["Remaining"], daily["Max"]
        ))
    }

    fn parse_link(&self, url: &Url) -> Option<(RecordType, RecordId)> {
        records::parse_link(&self.config.instance_url, url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_field_names_are_checked_before_any_request() {
        for ok in ["v62.0", "v9.0", "v100.1"] {
            assert!(valid_api_version(ok), "{ok}");
        }
        for bad in ["62.0", "v62", "v62.0/../..", "v62.00", "", "va.b"] {
            assert!(!valid_api_version(bad), "{bad}");
        }
        for ok in ["Website", "Teams_Link__c", "X1", "ns__Link__c"] {
            assert!(valid_field_name(ok), "{ok}");
        }
        for bad in ["", "1x", "Teams Link__c", "Name\"", "_x", "Name:1", "Ünï"] {
            assert!(!valid_field_name(bad), "{bad}");
        }
    }
}
