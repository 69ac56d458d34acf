//! The Web API's resources: the three tables (query, read, update), notes,
//! `searchquery` and `WhoAmI`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{FORMATTED, Reply, Row, State};

pub struct Table {
    pub set: &'static str,
    pub logical: &'static str,
    pub id_column: &'static str,
    pub object_type_code: u32,
    pub columns: &'static [&'static str],
}

const COMMON: [&str; 2] = ["_ownerid_value", "modifiedon"];

static TABLES: [Table; 3] = [
    Table {
        set: "accounts",
        logical: "account",
        id_column: "accountid",
        object_type_code: 1,
        columns: &[
            "name",
            "address1_city",
            "telephone1",
            "websiteurl",
            "industrycode",
        ],
    },
    Table {
        set: "contacts",
        logical: "contact",
        id_column: "contactid",
        object_type_code: 2,
        columns: &[
            "fullname",
            "jobtitle",
            "_parentcustomerid_value",
            "emailaddress1",
            "telephone1",
        ],
    },
    Table {
        set: "opportunities",
        logical: "opportunity",
        id_column: "opportunityid",
        object_type_code: 3,
        columns: &[
            "name",
            "_customerid_value",
            "salesstage",
            "estimatedvalue",
            "estimatedclosedate",
            "closeprobability",
        ],
    },
];

impl Table {
    pub fn by_logical(logical: &str) -> Option<&'static Table> {
        TABLES.iter().find(|t| t.logical == logical)
    }

    pub(super) fn by_set(set: &str) -> Option<&'static Table> {
        TABLES.iter().find(|t| t.set == set)
    }

    pub(super) fn has_column(&self, column: &str, custom: &[(String, String)]) -> bool {
        column == self.id_column
            || self.columns.contains(&column)
            || COMMON.contains(&column)
            || custom.iter().any(|(t, c)| t == self.logical && c == column)
    }
}

#[allow(clippy::too_many_arguments, reason = "one request's parts, as served")]
pub(super) fn route(
    st: &mut State,
    method: &str,
    path: &str,
    query: &[(String, String)],
    prefer: &str,
    headers: &HashMap<String, String>,
    caller: Option<&str>,
    body: &[u8],
) -> Reply {
    let segment = path.trim_start_matches('/');
    match (method, segment) {
        ("GET", "WhoAmI") => Reply::json(
            200,
            json!({"@odata.context": format!("{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", st.origin),
                "BusinessUnitId": "b0b0b0b0-0000-4000-8000-000000000001",
                "UserId": "a0a0a0a0-0000-4000-8000-000000000002",
                "OrganizationId": "c0c0c0c0-0000-4000-8000-000000000003"}),
        ),
        ("POST", "searchquery") => super::search::search(st, caller, body),
        ("POST", "annotations") => super::writes::annotate(st, body),
        _ => {
            let (set, key) = match segment.split_once('(') {
                Some((set, rest)) => (set, rest.strip_suffix(')')),
                None => (segment, None),
            };
            let Some(table) = Table::by_set(set) else {
                return Reply::error(
                    404,
                    "0x80060888",
                    &format!("Resource not found for the segment '{set}'."),
                );
            };
            let annotate = prefer.contains("OData.Community.Display.V1.FormattedValue");
            match (method, key) {
                ("GET", None) => list(st, table, path, query, prefer, caller, annotate),
                ("GET", Some(id)) => read(st, table, id, query, caller, annotate),
                ("PATCH", Some(id)) => super::writes::update(st, table, id, headers, body),
                _ => Reply::error(
                    405,
                    "0x80060888",
                    "The requested resource does not support the method.",
                ),
            }
        }
    }
}

pub(super) fn visible(st: &State, row: &Row, caller: Option<&str>) -> bool {
    match caller {
        Some(caller) if st.owner_scoped => row.owner == caller,
        _ => true,
    }
}

/// A row as the Web API writes it, `$select`ed, annotated when asked.
fn shape(row: &Row, select: Option<&str>, annotate: bool) -> Value {
    let mut out = Map::new();
    out.insert(
        "@odata.etag".into(),
        Value::from(format!("W/\"{}\"", row.modified)),
    );
    let wanted = |column: &str| select.is_none_or(|s| s.split(',').any(|c| c.trim() == column));
    for (key, value) in &row.values {
        let (column, formatted) = match key.strip_suffix(FORMATTED) {
            Some(column) => (column, true),
            None => (key.as_str(), false),
        };
        if wanted(column) && (annotate || !formatted) {
            out.insert(key.clone(), value.clone());
        }
    }
    if wanted("_ownerid_value") {
        out.insert("_ownerid_value".into(), Value::from(row.owner.clone()));
        if annotate {
            out.insert(
                format!("_ownerid_value{FORMATTED}"),
                Value::from(row.owner_name.clone()),
            );
        }
    }
    if wanted("modifiedon") {
        out.insert(
            "modifiedon".into(),
            Value::from(format!("2026-01-01T00:00:{:02}Z", row.modified % 60)),
        );
    }
    out.insert(row.table.id_column.into(), Value::from(row.id.clone()));
    Value::Object(out)
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `contains(<column>,'<literal>')`: the literal's doubled quotes undone;
/// anything else is not understood.
fn parse_contains(filter: &str) -> Option<(String, String)> {
    let rest = filter.trim().strip_prefix("contains(")?;
    let (column, rest) = rest.split_once(',')?;
    let mut chars = rest.trim_start().strip_prefix('\'')?.chars().peekable();
    let mut literal = String::new();
    loop {
        match chars.next()? {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                literal.push('\'');
            }
            '\'' => break,
            c => literal.push(c),
        }
    }
    let tail: String = chars.collect();
    (tail.trim() == ")").then(|| (column.trim().to_owned(), literal))
}

fn list(
    st: &mut State,
    table: &'static Table,
    path: &str,
    query: &[(String, String)],
    prefer: &str,
    caller: Option<&str>,
    annotate: bool,
) -> Reply {
    if param(query, "$skip").is_some() {
        return Reply::error(
            400,
            "0x80060888",
            "The query parameter $skip is not supported.",
        );
    }
    let filter = match param(query, "$filter") {
        None => None,
        Some(f) => match parse_contains(f) {
            Some((column, _)) if !table.has_column(&column, &st.columns) => {
                return Reply::error(
                    400,
                    "0x80060888",
                    &format!(
                        "Could not find a property named '{column}' on type 'Microsoft.Dynamics.CRM.{}'.",
                        table.logical
                    ),
                );
            }
            Some(found) => Some(found),
            None => return Reply::error(400, "0x80060888", "Syntax error in $filter."),
        },
    };
    let mut rows: Vec<&Row> = st
        .rows
        .iter()
        .filter(|r| r.table.logical == table.logical && visible(st, r, caller))
        .filter(|r| {
            filter.as_ref().is_none_or(|(column, literal)| {
                r.values[column.as_str()]
                    .as_str()
                    .is_some_and(|v| v.to_lowercase().contains(&literal.to_lowercase()))
            })
        })
        .collect();
    match param(query, "$orderby") {
        Some("modifiedon desc") => rows.sort_by_key(|r| std::cmp::Reverse(r.modified)),
        Some(other) => {
            let column = other.trim_end_matches(" asc");
            rows.sort_by_key(|r| {
                r.values
                    .get(column)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            });
        }
        None => {}
    }
    if let Some(top) = param(query, "$top").and_then(|t| t.parse::<usize>().ok()) {
        rows.truncate(top);
    }
    let offset = match param(query, "$skiptoken") {
        None => 0,
        Some(cookie) => match st.cookies.get(cookie) {
            Some(offset) => *offset,
            None => return Reply::error(400, "0x80040203", "Invalid paging cookie."),
        },
    };
    let page_size = prefer
        .split(',')
        .find_map(|p| {
            p.trim()
                .strip_prefix("odata.maxpagesize=")?
                .parse::<usize>()
                .ok()
        })
        .filter(|n| (1..=5000).contains(n));
    let size = page_size.unwrap_or(5000);
    let select = param(query, "$select");
    let value: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(size)
        .map(|r| shape(r, select, annotate))
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/api/data/v9.2/$metadata#{}({})", st.origin, table.set, select.unwrap_or("*")),
        "value": value,
    });
    let more = offset + size < rows.len() && param(query, "$top").is_none();
    if more {
        let cookie = format!(
            "<cookie pagenumber=\"{}\" pagingcookie=\"{}\" istracking=\"False\" />",
            offset / size + 2,
            uuid::Uuid::new_v4()
        );
        st.cookies.insert(cookie.clone(), offset + size);
        let api = super::API.trim_end_matches('/');
        let mut next = url::Url::parse(&format!("{}{api}{path}", st.origin)).expect("a URL");
        {
            let mut pairs = next.query_pairs_mut();
            for (k, v) in query.iter().filter(|(k, _)| k != "$skiptoken") {
                pairs.append_pair(k, v);
            }
            pairs.append_pair("$skiptoken", &cookie);
        }
        body["@odata.nextLink"] = Value::from(next.to_string());
    }
    let mut applied = Vec::new();
    if let Some(n) = page_size {
        applied.push(format!("odata.maxpagesize={n}"));
    }
    if annotate {
        applied
            .push("odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"".into());
    }
    let reply = Reply::json(200, body);
    if applied.is_empty() {
        reply
    } else {
        reply.with_header("preference-applied", applied.join(","))
    }
}

pub(super) fn find<'a>(st: &'a State, table: &Table, id: &str) -> Option<&'a Row> {
    st.rows
        .iter()
        .find(|r| r.table.logical == table.logical && r.id.eq_ignore_ascii_case(id))
}

pub(super) fn missing(table: &Table, id: &str) -> Reply {
    Reply::error(
        404,
        "0x80040217",
        &format!("{} With Id = {id} Does Not Exist", table.logical),
    )
}

fn read(
    st: &State,
    table: &Table,
    id: &str,
    query: &[(String, String)],
    caller: Option<&str>,
    annotate: bool,
) -> Reply {
    match find(st, table, id) {
        None => missing(table, id),
        Some(row) if !visible(st, row, caller) => Reply::error(
            403,
            "0x80040220",
            &format!(
                "Principal user (Id={}) is missing prvRead{} privilege on this record.",
                caller.unwrap_or(""),
                table.logical
            ),
        ),
        Some(row) => Reply::json(200, shape(row, param(query, "$select"), annotate)),
    }
}
