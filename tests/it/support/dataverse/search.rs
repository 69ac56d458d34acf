//! Dataverse search's `searchquery`: `entities` as a JSON string, the
//! answer as escaped JSON in `response`, trimmed to what the caller may see.

use serde_json::{Map, Value, json};

use super::odata::{Table, visible};
use super::{Reply, State};

/// Lucene's escapes undone; an unescaped `*` matches everything.
fn search_terms(search: &str) -> (String, bool) {
    let mut term = String::new();
    let mut everything = false;
    let mut chars = search.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => term.extend(chars.next()),
            '*' => everything = true,
            c => term.push(c),
        }
    }
    (term.trim().to_lowercase(), everything)
}

pub(super) fn search(st: &State, caller: Option<&str>, body: &[u8]) -> Reply {
    if !st.search_enabled {
        return Reply::error(
            400,
            "0x80048d0b",
            "Dataverse Search feature is disabled for this organization.",
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(400, "0x80040203", "The request body is not JSON.");
    };
    let Some(entities) = request["entities"].as_str() else {
        return Reply::error(400, "0x80040203", "'entities' must be a JSON string.");
    };
    let Ok(Value::Array(entities)) = serde_json::from_str::<Value>(entities) else {
        return Reply::error(400, "0x80040203", "'entities' is not a JSON array.");
    };
    let top = request["top"].as_u64().unwrap_or(50).min(100) as usize;
    let skip = request["skip"].as_u64().unwrap_or(0) as usize;
    let (term, everything) = search_terms(request["search"].as_str().unwrap_or(""));
    let mut hits = Vec::new();
    for entity in &entities {
        let Some(table) = entity["name"].as_str().and_then(Table::by_logical) else {
            continue;
        };
        let columns: Vec<&str> = entity["searchColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let select: Vec<&str> = entity["selectColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for row in st
            .rows
            .iter()
            .filter(|r| r.table.logical == table.logical && visible(st, r, caller))
        {
            let matched = everything
                || (!term.is_empty()
                    && columns.iter().any(|c| {
                        row.values
                            .get(*c)
                            .and_then(Value::as_str)
                            .is_some_and(|v| v.to_lowercase().contains(&term))
                    }));
            if matched {
                let attributes: Map<String, Value> = select
                    .iter()
                    .filter_map(|c| Some(((*c).to_owned(), row.values.get(*c)?.clone())))
                    .collect();
                hits.push(json!({"Id": row.id, "EntityName": table.logical, "ObjectTypeCode": table.object_type_code,
                    "Attributes": attributes, "Highlights": {}, "Score": 1.0}));
            }
        }
    }
    let total = hits.len();
    let value: Vec<Value> = hits.into_iter().skip(skip).take(top).collect();
    let count = if request["count"].as_bool() == Some(true) {
        total as i64
    } else {
        -1
    };
    let response =
        json!({"Error": null, "Value": value, "Facets": {}, "QueryContext": null, "Count": count});
    Reply::json(200, json!({"response": response.to_string()}))
}
