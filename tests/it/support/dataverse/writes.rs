//! What the connector writes: an update of a record (PATCH, an upsert
//! unless `If-Match: *`) and a note on one.

use std::collections::HashMap;

use serde_json::Value;

use super::odata::{Table, find, missing};
use super::{Note, Reply, Row, State};

/// PATCH is an upsert unless `If-Match: *` says the record must exist.
pub(super) fn update(
    st: &mut State,
    table: &'static Table,
    id: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Reply {
    let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(400, "0x80040203", "The request body is not a JSON object.");
    };
    if let Some(column) = changes.keys().find(|c| !table.has_column(c, &st.columns)) {
        return Reply::error(
            400,
            "0x80060888",
            &format!(
                "Invalid property '{column}' was found in entity 'Microsoft.Dynamics.CRM.{}'.",
                table.logical
            ),
        );
    }
    st.tick += 1;
    let tick = st.tick;
    match st
        .rows
        .iter_mut()
        .find(|r| r.table.logical == table.logical && r.id.eq_ignore_ascii_case(id))
    {
        Some(row) => {
            row.values.extend(changes);
            row.modified = tick;
        }
        None if headers.get("if-match").is_some_and(|m| m == "*") => return missing(table, id),
        None => st.rows.push(Row {
            table,
            id: id.to_owned(),
            values: changes,
            owner: super::OWNER.0.to_owned(),
            owner_name: super::OWNER.1.to_owned(),
            modified: tick,
        }),
    }
    Reply::empty(204)
}

pub(super) fn annotate(st: &mut State, body: &[u8]) -> Reply {
    let Ok(note) = serde_json::from_slice::<Value>(body) else {
        return Reply::error(400, "0x80040203", "The request body is not JSON.");
    };
    let Some((key, bind)) = note.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| k.starts_with("objectid_") && k.ends_with("@odata.bind"))
    }) else {
        return Reply::error(400, "0x80040203", "A note needs the record it is about.");
    };
    let logical = key
        .trim_start_matches("objectid_")
        .trim_end_matches("@odata.bind");
    let target = bind.as_str().unwrap_or("").trim_start_matches('/');
    let parsed = target
        .split_once('(')
        .and_then(|(set, rest)| Some((Table::by_set(set)?, rest.strip_suffix(')')?)));
    let Some((table, id)) = parsed.filter(|(t, _)| t.logical == logical) else {
        return Reply::error(
            400,
            "0x80060888",
            &format!("An undeclared property 'objectid_{logical}' or a bad reference '{target}'."),
        );
    };
    if find(st, table, id).is_none() {
        return missing(table, id);
    }
    st.notes.push(Note {
        subject: note["subject"].as_str().unwrap_or("").to_owned(),
        notetext: note["notetext"].as_str().unwrap_or("").to_owned(),
        regarding: (table.logical.to_owned(), id.to_owned()),
    });
    let note_id = uuid::Uuid::new_v4();
    Reply::empty(204).with_header(
        "odata-entityid",
        format!("{}/api/data/v9.2/annotations({note_id})", st.origin),
    )
}
