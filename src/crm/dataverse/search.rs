//! A page of search results, either way: one `searchquery` across the three
//! tables, or one filtered page of each table (the three at once), whose
//! nextLinks go into the continuation.

use serde_json::{Value, json};
use url::Url;

use super::Dataverse;
use super::client::{Failed, Request, json_of};
use super::query::{self, Continuation, NextSet};
use super::records::{Table, from_row};
use crate::crm::{CrmError, Page, Record, RecordType, SearchText};

/// A request for page `skip / count` without a continuation walks the
/// filters' pages from the first (Dataverse has no `$skip`), up to this
/// many; further pages are empty.
const MAX_WALK: usize = 10;

impl Dataverse {
    /// One page of Dataverse search.
    pub(super) async fn relevance_page(
        &self,
        caller: Option<&str>,
        text: &SearchText,
        skip: usize,
        count: usize,
    ) -> Result<Page, Failed> {
        let url = self.endpoint("searchquery")?;
        let body = query::search_body(text.as_str(), skip, count);
        let answer = self
            .request(Request {
                method: reqwest::Method::POST,
                url: &url,
                log_path: "/searchquery",
                caller,
                page_size: None,
                body: Some(&body),
                idempotent: true,
                searching: true,
            })
            .await?;
        // `response` is the search service's answer as escaped JSON.
        let outer = json_of(&answer)?;
        let inner: Value = outer["response"]
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| {
                CrmError::Unavailable("searchquery answered without a `response`".into())
            })?;
        if let Some(error) = inner.get("Error").filter(|e| !e.is_null()) {
            let message: String = error["Message"]
                .as_str()
                .or(error["message"].as_str())
                .unwrap_or("an error")
                .chars()
                .take(300)
                .collect();
            return Err(CrmError::Refused(format!("Dataverse search: {message}")).into());
        }
        let hits = inner["Value"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let records: Vec<Record> = hits
            .iter()
            .take(count)
            .filter_map(|hit| self.hit_record(hit))
            .collect();
        let after = skip + count;
        let more = match inner["Count"].as_u64() {
            Some(total) => (after as u64) < total,
            None => hits.len() >= count,
        };
        Ok(Page {
            records,
            next: more.then(|| Continuation::Relevance { skip: after }.encode()),
        })
    }

    /// A search hit as a row: its attributes, with its id under the
    /// table's key column.
    fn hit_record(&self, hit: &Value) -> Option<Record> {
        let record_type = Table::by_logical_name(hit["EntityName"].as_str()?)?;
        let mut row = match &hit["Attributes"] {
            Value::Object(attributes) => Value::Object(attributes.clone()),
            _ => json!({}),
        };
        row[Table::of(record_type).id_column] = hit["Id"].clone();
        from_row(record_type, &row, &self.config.org_url)
    }

    /// The first page of each table's filter (recently changed records for
    /// an empty text), then as many more as `skip` says.
    pub(super) async fn filter_pages(
        &self,
        caller: Option<&str>,
        text: &SearchText,
        skip: usize,
        count: usize,
    ) -> Result<Page, CrmError> {
        let walks = skip / count.max(1);
        if walks > MAX_WALK {
            return Ok(Page::default());
        }
        let mut sets = Vec::with_capacity(RecordType::ALL.len());
        for (record_type, size) in RecordType::ALL.into_iter().zip(query::shares(count)) {
            let table = Table::of(record_type);
            let mut url = self.endpoint(table.set)?;
            {
                let mut pairs = url.query_pairs_mut();
                pairs.append_pair("$select", table.select);
                if text.is_empty() {
                    pairs.append_pair("$orderby", "modifiedon desc");
                } else {
                    pairs.append_pair("$filter", &query::contains_filter(table, text.as_str()));
                }
            }
            sets.push(NextSet {
                record_type,
                link: url.into(),
                size,
            });
        }
        let (mut records, mut next) = self.fetch_sets(caller, &sets).await?;
        for _ in 0..walks {
            if next.is_empty() {
                return Ok(Page::default());
            }
            (records, next) = self.fetch_sets(caller, &next).await?;
        }
        Ok(filter_page(records, next))
    }

    /// The next page of the tables a continuation names.
    pub(super) async fn follow(
        &self,
        caller: Option<&str>,
        sets: &[NextSet],
    ) -> Result<Page, CrmError> {
        let (records, next) = self.fetch_sets(caller, sets).await?;
        Ok(filter_page(records, next))
    }

    async fn fetch_sets(
        &self,
        caller: Option<&str>,
        sets: &[NextSet],
    ) -> Result<(Vec<Record>, Vec<NextSet>), CrmError> {
        let pages =
            futures::future::join_all(sets.iter().map(|set| self.table_page(caller, set))).await;
        let mut records = Vec::new();
        let mut next = Vec::new();
        for page in pages {
            let (found, more) = page?;
            records.extend(found);
            next.extend(more);
        }
        Ok((records, next))
    }

    /// One page of one table: its records and its nextLink, verbatim.
    async fn table_page(
        &self,
        caller: Option<&str>,
        set: &NextSet,
    ) -> Result<(Vec<Record>, Option<NextSet>), CrmError> {
        // A link goes with our token: only to this org's Web API.
        if !set.link.starts_with(self.api.as_str()) {
            return Err(CrmError::Refused(
                "a continuation that leads outside the organization".into(),
            ));
        }
        let url = Url::parse(&set.link).map_err(|e| CrmError::Refused(e.to_string()))?;
        let table = Table::of(set.record_type);
        let log_path = format!("/{}", table.set);
        let body = self.get(&url, &log_path, caller, Some(set.size)).await?;
        let rows = body["value"].as_array().ok_or_else(|| {
            CrmError::Unavailable(format!("a page of {} without `value`", table.set))
        })?;
        let records = rows
            .iter()
            .take(set.size)
            .filter_map(|row| from_row(set.record_type, row, &self.config.org_url))
            .collect();
        let next = match body["@odata.nextLink"].as_str() {
            Some(link) if link.starts_with(self.api.as_str()) => Some(NextSet {
                record_type: set.record_type,
                link: link.to_owned(),
                size: set.size,
            }),
            Some(_) => {
                tracing::warn!(
                    org = self.org_host(),
                    set = table.set,
                    "a nextLink outside the organization's Web API; not followed"
                );
                None
            }
            None => None,
        };
        Ok((records, next))
    }

    pub(super) fn endpoint(&self, path: &str) -> Result<Url, CrmError> {
        self.api
            .join(path)
            .map_err(|e| CrmError::Refused(format!("{path}: {e}")))
    }
}

fn filter_page(records: Vec<Record>, next: Vec<NextSet>) -> Page {
    Page {
        records,
        next: (!next.is_empty()).then(|| Continuation::Filter { sets: next }.encode()),
    }
}
