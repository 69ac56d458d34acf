//! What [`super::CosmosDocuments`] says to and hears from the SDK: the
//! parameterised SQL for a [`Query`], the bounded read of its feed, and the
//! mapping of Cosmos DB status codes onto [`PlatformError`].

use std::num::NonZeroU32;
use std::time::Duration;

use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::feed::ContinuationToken;
use azure_data_cosmos::options::{MaxItemCountHint, QueryOptions};
use azure_data_cosmos::{CosmosError, FeedScope};
use futures::TryStreamExt;
use serde_json::{Map, Value};

use crate::ids::TenantId;
use crate::platform::documents::{Document, Page, Query};
use crate::platform::{PlatformError, PlatformResult};

pub(super) const SERVICE: &str = "cosmos db";

/// How many empty pages in a row one call reads before handing back the
/// continuation (a cross-partition feed may answer empty pages).
const MAX_EMPTY_PAGES: usize = 16;

/// `c['a']['b']` for the field path `a.b`: brackets, so that names which are
/// SQL keywords (`value`, `order`) still work, and single quotes, which every
/// Cosmos SQL parser reads as a string (the SDK's emulator reads `"..."` as a
/// quoted identifier and silently matches nothing). Safe to paste because
/// [`Query::validate`] allows only identifier characters and dots.
fn field_expr(path: &str) -> String {
    let mut expr = String::from("c");
    for part in path.split('.') {
        expr.push_str("['");
        expr.push_str(part);
        expr.push_str("']");
    }
    expr
}

/// The SQL text and its parameters; every value is a parameter. The page
/// size is the feed's max item count, and a limit is honoured by the
/// caller across pages, so the text carries no `TOP`.
pub(super) fn query_sql(query: &Query) -> PlatformResult<azure_data_cosmos::Query> {
    let mut text = "SELECT * FROM c WHERE c['type'] = @type".to_owned();
    for (i, (field, _)) in query.filters.iter().enumerate() {
        text.push_str(&format!(" AND {} = @p{i}", field_expr(field)));
    }
    text.push_str(" ORDER BY c.id");
    let mut sql = azure_data_cosmos::Query::from(text)
        .with_parameter("@type", &query.kind)
        .map_err(cosmos_error)?;
    for (i, (_, value)) in query.filters.iter().enumerate() {
        sql = sql
            .with_parameter(format!("@p{i}"), value)
            .map_err(cosmos_error)?;
    }
    Ok(sql)
}

/// One page of a query in one tenant's partition, or across the container
/// when `tenant` is `None`, resuming at `continuation` (the SDK's own token).
/// The SDK's pages are at most the page size; the continuation is taken
/// from the iterator after the page, so the next call resumes right after
/// it. An exhausted feed gives no continuation.
pub(super) async fn run_page(
    client: &ContainerClient,
    tenant: Option<&TenantId>,
    query: &Query,
    continuation: Option<&str>,
) -> PlatformResult<Page> {
    let sql = query_sql(query)?;
    let scope = match tenant {
        Some(tenant) => FeedScope::partition(tenant.as_str().to_owned()),
        None => FeedScope::full_container(),
    };
    let page_size = query.next_page_size(0);
    let max_items =
        NonZeroU32::new(u32::try_from(page_size).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
    let mut options =
        QueryOptions::default().with_max_item_count(MaxItemCountHint::Limit(max_items));
    if let Some(token) = continuation {
        if token.len() > MAX_CONTINUATION_BYTES {
            return Err(PlatformError::Invalid(
                "not a continuation this store gave".into(),
            ));
        }
        options = options.with_continuation_token(ContinuationToken::from_string(token.to_owned()));
    }
    let mut pages = client
        .query_items::<Map<String, Value>>(sql, scope, Some(options))
        .await
        .map_err(cosmos_error)?
        .into_pages();
    for _ in 0..MAX_EMPTY_PAGES {
        let Some(page) = pages.try_next().await.map_err(cosmos_error)? else {
            return Ok(Page::default());
        };
        let items = page.into_items();
        let token = pages.to_continuation_token().map_err(cosmos_error)?;
        if items.is_empty() {
            continue;
        }
        let documents = items
            .into_iter()
            .take(page_size)
            .map(Document::from_stored_json)
            .collect::<PlatformResult<Vec<_>>>()?;
        return Ok(Page {
            documents,
            continuation: Some(token.as_str().to_owned()),
        });
    }
    let token = pages.to_continuation_token().map_err(cosmos_error)?;
    Ok(Page {
        documents: Vec::new(),
        continuation: Some(token.as_str().to_owned()),
    })
}

/// SDK continuation tokens are a few hundred bytes; a longer one was not ours.
const MAX_CONTINUATION_BYTES: usize = 16 * 1024;

/// A clean 404 (no sub-status): the item or resource does not exist.
pub(super) fn is_not_found(err: &CosmosError) -> bool {
    err.status().is_not_found()
}

pub(super) fn is_conflict(err: &CosmosError) -> bool {
    err.status().is_conflict()
}

/// Refused for this identity: under Entra ID (role-based) access, data-plane
/// roles may not create or change databases and containers.
pub(super) fn is_forbidden(err: &CosmosError) -> bool {
    err.status().is_forbidden()
}

/// Maps the SDK's error onto what the layers above act on.
pub(super) fn cosmos_error(err: CosmosError) -> PlatformError {
    let status = err.status();
    let retry_after = err
        .response()
        .and_then(|r| r.headers().retry_after_ms)
        .map(Duration::from_millis);
    match u16::from(status.status_code()) {
        404 if status.is_not_found() => PlatformError::NotFound,
        409 => PlatformError::Conflict,
        412 => PlatformError::PreconditionFailed,
        429 => PlatformError::Throttled {
            service: SERVICE,
            retry_after,
        },
        503 if retry_after.is_some() => PlatformError::Throttled {
            service: SERVICE,
            retry_after,
        },
        400 => PlatformError::Invalid(format!("{SERVICE}: {err}")),
        408 | 500..=599 => PlatformError::unavailable(SERVICE, err),
        _ => PlatformError::backend(SERVICE, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_become_bracketed_names() {
        assert_eq!(field_expr("status"), "c['status']");
        assert_eq!(
            field_expr("subscription.status"),
            "c['subscription']['status']"
        );
    }

    #[test]
    fn values_are_parameters_never_text() -> Result<(), Box<dyn std::error::Error>> {
        let query = Query::of_type("team")
            .with("owner.name", "x\" OR 1=1 --")
            .with("active", true);
        let json = serde_json::to_value(query_sql(&query)?)?;
        assert_eq!(
            json["query"],
            "SELECT * FROM c WHERE c['type'] = @type AND c['owner']['name'] = @p0 \
             AND c['active'] = @p1 ORDER BY c.id"
        );
        assert_eq!(json["parameters"][1]["value"], "x\" OR 1=1 --");
        assert_eq!(json["parameters"][2]["value"], true);
        Ok(())
    }

    fn mapped(status: u16, sub_status: Option<u16>) -> PlatformError {
        let mut status = azure_data_cosmos::CosmosStatus::new(status.into());
        if let Some(sub) = sub_status {
            status = status.with_sub_status(sub);
        }
        cosmos_error(
            CosmosError::builder()
                .with_status(status)
                .with_message("test")
                .build(),
        )
    }

    #[test]
    fn status_codes_map_to_what_callers_act_on() {
        assert!(matches!(mapped(404, None), PlatformError::NotFound));
        assert!(matches!(
            mapped(404, Some(1003)),
            PlatformError::Backend { .. }
        ));
        assert!(matches!(mapped(409, None), PlatformError::Conflict));
        assert!(matches!(
            mapped(412, None),
            PlatformError::PreconditionFailed
        ));
        assert!(matches!(
            mapped(429, Some(3200)),
            PlatformError::Throttled { .. }
        ));
        assert!(matches!(
            mapped(503, None),
            PlatformError::Unavailable { .. }
        ));
        assert!(matches!(
            mapped(500, None),
            PlatformError::Unavailable { .. }
        ));
        assert!(matches!(
            mapped(408, None),
            PlatformError::Unavailable { .. }
        ));
        assert!(matches!(mapped(400, None), PlatformError::Invalid(_)));
        assert!(matches!(mapped(401, None), PlatformError::Backend { .. }));
        assert!(matches!(mapped(403, None), PlatformError::Backend { .. }));
    }
}
