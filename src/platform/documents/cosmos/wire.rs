//! What [`super::CosmosDocuments`] says to and hears from the SDK: the
//! parameterised SQL for a [`Query`], the bounded read of its feed, and the
//! mapping of Cosmos DB status codes onto [`PlatformError`].

use std::num::NonZeroU32;
use std::time::Duration;

use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::options::{MaxItemCountHint, QueryOptions};
use azure_data_cosmos::{CosmosError, FeedScope};
use futures::TryStreamExt;
use serde_json::{Map, Value};

use crate::ids::TenantId;
use crate::platform::documents::{Document, Query};
use crate::platform::{PlatformError, PlatformResult};

pub(super) const SERVICE: &str = "cosmos db";

/// Items per page asked of the service; the result bound is separate.
const PAGE_SIZE: u32 = 500;

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

/// The SQL text and its parameters. `TOP` is a number we computed, never
/// caller text; every value is a parameter.
pub(super) fn query_sql(query: &Query) -> PlatformResult<azure_data_cosmos::Query> {
    let mut text = format!(
        "SELECT TOP {} * FROM c WHERE c['type'] = @type",
        query.fetch_count()
    );
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

/// Runs a query in one tenant's partition, or across the container when
/// `tenant` is `None`, reading at most [`Query::fetch_count`] items.
pub(super) async fn run_query(
    client: &ContainerClient,
    tenant: Option<&TenantId>,
    query: &Query,
) -> PlatformResult<Vec<Document>> {
    let sql = query_sql(query)?;
    let scope = match tenant {
        Some(tenant) => FeedScope::partition(tenant.as_str().to_owned()),
        None => FeedScope::full_container(),
    };
    let wanted = query.fetch_count();
    let page = u32::try_from(wanted)
        .unwrap_or(PAGE_SIZE)
        .clamp(1, PAGE_SIZE);
    let options = QueryOptions::default().with_max_item_count(MaxItemCountHint::Limit(
        NonZeroU32::new(page).unwrap_or(NonZeroU32::MIN),
    ));
    let mut items = client
        .query_items::<Map<String, Value>>(sql, scope, Some(options))
        .await
        .map_err(cosmos_error)?;
    let mut docs = Vec::new();
    while docs.len() < wanted {
        match items.try_next().await.map_err(cosmos_error)? {
            Some(item) => docs.push(Document::from_stored_json(item)?),
            None => break,
        }
    }
    query.bounded(docs)
}

/// A clean 404 (no sub-status): the item or resource does not exist.
pub(super) fn is_not_found(err: &CosmosError) -> bool {
    err.status().is_not_found()
}

pub(super) fn is_conflict(err: &CosmosError) -> bool {
    err.status().is_conflict()
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
            .with("active", true)
            .limit(3);
        let json = serde_json::to_value(query_sql(&query)?)?;
        assert_eq!(
            json["query"],
            "SELECT TOP 3 * FROM c WHERE c['type'] = @type AND c['owner']['name'] = @p0 \
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
