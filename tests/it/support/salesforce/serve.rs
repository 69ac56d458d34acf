//! The stand-in's HTTP side: the token endpoint and the REST resources.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::queries::{self, Refused, Spec};
use super::{
    ADMIN_ID, ADMIN_NAME, ADMIN_USERNAME, API_VERSION, NoteSnapshot, ORG_ID, Seen, State, errors,
};

pub(super) async fn serve(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>) {
    let port = listener.local_addr().expect("an address").port();
    super::super::http_serve::serve(listener, move |parts, body| {
        let state = state.clone();
        async move {
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            let path = parts.uri.path().to_owned();
            let query: HashMap<String, String> =
                url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            let (status, answer) = {
                let mut st = state.lock().expect("the state is never poisoned");
                if path == "/services/oauth2/token" && parts.method == hyper::Method::POST {
                    super::token::token(&mut st, &body)
                } else {
                    let (status, answer) = api(
                        &mut st,
                        parts.method.as_str(),
                        &path,
                        &query,
                        &header("authorization"),
                        &body,
                    );
                    st.seen.push(Seen {
                        method: parts.method.to_string(),
                        port,
                        path: path.clone(),
                        q: query.get("q").cloned(),
                        status,
                    });
                    (status, answer)
                }
            };
            reply(status, answer)
        }
    })
    .await
}

fn reply(
    status: u16,
    body: Option<Value>,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let bytes = body
        .map(|b| serde_json::to_vec(&b).expect("JSON serialises"))
        .unwrap_or_default();
    let empty = bytes.is_empty();
    let mut response = hyper::Response::new(http_body_util::Full::new(bytes.into()));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("a valid status");
    if !empty {
        response.headers_mut().insert(
            "content-type",
            "application/json;charset=UTF-8".parse().unwrap(),
        );
    }
    response
}

fn refused((status, code, message): Refused) -> (u16, Option<Value>) {
    let (status, body) = errors(status, code, &message);
    (status, Some(body))
}

/// Every other request: a session first, then the daily allocation, then
/// the resource.
fn api(
    st: &mut State,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    authorization: &str,
    body: &[u8],
) -> (u16, Option<Value>) {
    let token = authorization.strip_prefix("Bearer ").unwrap_or("");
    if !st.sessions.contains(token) {
        return refused((
            401,
            "INVALID_SESSION_ID",
            "Session expired or invalid".into(),
        ));
    }
    if !st.failures.is_empty() {
        let status = st.failures.remove(0);
        return refused((status, "SERVER_UNAVAILABLE", "Server unavailable".into()));
    }
    if st.limit_exceeded {
        return refused((
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.".into(),
        ));
    }
    st.daily_used += 1;
    if path == "/services/oauth2/userinfo" {
        return (
            200,
            Some(
                json!({"sub": format!("{}/id/{ORG_ID}/{ADMIN_ID}", st.instance_url),
                "user_id": ADMIN_ID, "organization_id": ORG_ID,
                "preferred_username": ADMIN_USERNAME, "name": ADMIN_NAME}),
            ),
        );
    }
    let base = format!("/services/data/{API_VERSION}/");
    let Some(resource) = path.strip_prefix(&base) else {
        return refused((
            404,
            "NOT_FOUND",
            "The requested resource does not exist".into(),
        ));
    };
    let segments: Vec<&str> = resource.split('/').collect();
    let q = query.get("q").map(String::as_str).unwrap_or("");
    let result = match (method, segments.as_slice()) {
        ("GET", ["search", ""]) => search(st, q),
        ("GET", ["query", ""]) => soql(st, q),
        ("GET", ["query", locator]) => Ok(next_batch(st, locator)),
        ("GET", ["limits", ""]) => Ok((
            200,
            Some(json!({"DailyApiRequests": {"Max": st.daily_max,
                "Remaining": st.daily_max.saturating_sub(st.daily_used)}})),
        )),
        ("POST", ["sobjects", "Note"]) => create_note(st, body),
        ("PATCH", ["sobjects", object, id]) => update(st, object, id, body),
        _ => Err((
            404,
            "NOT_FOUND",
            "The requested resource does not exist".into(),
        )),
    };
    result.unwrap_or_else(refused)
}

/// A row with the fields asked for (related names looked up).
fn render(st: &State, row: &Value, fields: &[String]) -> Result<Value, Refused> {
    let object = row["attributes"]["type"].as_str().unwrap_or_default();
    let known = st.schema.get(object);
    for field in fields.iter().filter(|f| !f.contains('.')) {
        if !known.is_some_and(|k| k.contains(field)) {
            return Err((
                400,
                "INVALID_FIELD",
                format!("No such column '{field}' on entity '{object}'"),
            ));
        }
    }
    queries::select(row, fields, |relation, name| {
        let id_field = format!("{relation}Id");
        (name == "Name" && row.get(&id_field).is_some()).then(|| {
            match row[&id_field].as_str().and_then(|id| st.rows.get(id)) {
                Some(related) => {
                    json!({"attributes": related["attributes"], "Name": related["Name"]})
                }
                None => Value::Null,
            }
        })
    })
    .map_err(|field| {
        (
            400,
            "INVALID_FIELD",
            format!("No such column '{field}' on entity '{object}'"),
        )
    })
}

/// Rows of `spec.object` that pass `keep`, ordered as asked.
fn rows_of(
    st: &State,
    spec: &Spec,
    keep: impl Fn(&Value) -> bool,
    recent_first: bool,
) -> Vec<Value> {
    let mut rows: Vec<&Value> = st
        .rows
        .values()
        .filter(|r| r["attributes"]["type"] == spec.object.as_str() && keep(r))
        .collect();
    if recent_first {
        rows.sort_by(|a, b| b["LastModified"].as_u64().cmp(&a["LastModified"].as_u64()));
    } else {
        rows.sort_by(|a, b| {
            let key = |r: &Value| {
                (
                    r["Name"].as_str().unwrap_or("").to_owned(),
                    r["Id"].to_string(),
                )
            };
            key(a).cmp(&key(b))
        });
    }
    rows.into_iter()
        .skip(spec.offset)
        .take(spec.limit.unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

fn search(st: &mut State, q: &str) -> Result<(u16, Option<Value>), Refused> {
    let search = queries::parse_sosl(q)?;
    let mut found = Vec::new();
    for spec in &search.specs {
        if !st.schema.contains_key(&spec.object) {
            return Err((
                400,
                "INVALID_TYPE",
                format!("sObject type '{}' is not supported.", spec.object),
            ));
        }
        let name_matches = |r: &Value| search.term.matches(r["Name"].as_str().unwrap_or(""));
        for row in rows_of(st, spec, name_matches, false) {
            found.push(render(st, &row, &spec.fields)?);
        }
    }
    Ok((200, Some(json!({ "searchRecords": found }))))
}

fn soql(st: &mut State, q: &str) -> Result<(u16, Option<Value>), Refused> {
    let query = queries::parse_soql(q)?;
    if !st.schema.contains_key(&query.spec.object) {
        return Err((
            400,
            "INVALID_TYPE",
            format!("sObject type '{}' is not supported.", query.spec.object),
        ));
    }
    let by_id = |r: &Value| query.id.as_deref().is_none_or(|id| r["Id"] == id);
    let rows = rows_of(st, &query.spec, by_id, query.recent_first)
        .iter()
        .map(|row| render(st, row, &query.spec.fields))
        .collect::<Result<Vec<_>, _>>()?;
    let total = rows.len();
    Ok(batch(st, rows, total))
}

/// The first `batch_size` rows; the rest behind a `nextRecordsUrl`.
fn batch(st: &mut State, mut rows: Vec<Value>, total: usize) -> (u16, Option<Value>) {
    let mut answer = json!({"totalSize": total, "done": true});
    if rows.len() > st.batch_size {
        let rest = rows.split_off(st.batch_size);
        st.next_id += 1;
        let locator = format!("01g5g{:013}", st.next_id);
        let sent = total - rest.len();
        st.cursors.insert(locator.clone(), rest);
        answer["done"] = json!(false);
        answer["nextRecordsUrl"] = json!(format!(
            "/services/data/{API_VERSION}/query/{locator}-{sent}"
        ));
    }
    answer["records"] = Value::Array(rows);
    (200, Some(answer))
}

fn next_batch(st: &mut State, locator: &str) -> (u16, Option<Value>) {
    let (cursor, _) = locator.split_once('-').unwrap_or((locator, ""));
    match st.cursors.remove(cursor) {
        Some(rows) => {
            let total = rows.len();
            batch(st, rows, total)
        }
        None => refused((400, "INVALID_QUERY_LOCATOR", "invalid query locator".into())),
    }
}

fn create_note(st: &mut State, body: &[u8]) -> Result<(u16, Option<Value>), Refused> {
    let note: Value = serde_json::from_slice(body)
        .map_err(|_| (400, "JSON_PARSER_ERROR", "the body is not JSON".to_owned()))?;
    let parent_id = note["ParentId"].as_str().unwrap_or_default().to_owned();
    if !st.rows.contains_key(&parent_id) {
        return Err((
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            "Parent ID: id value of incorrect type".into(),
        ));
    }
    let title = note["Title"].as_str().unwrap_or_default().to_owned();
    if title.is_empty() || title.chars().count() > 80 {
        return Err((400, "STRING_TOO_LONG", "Title: data value too large".into()));
    }
    st.next_id += 1;
    let id = format!("0025g{:010}AAA", st.next_id);
    st.notes.push(NoteSnapshot {
        id: id.clone(),
        parent_id,
        title,
        body: note["Body"].as_str().unwrap_or_default().to_owned(),
    });
    Ok((201, Some(json!({"id": id, "success": true, "errors": []}))))
}

fn update(
    st: &mut State,
    object: &str,
    id: &str,
    body: &[u8],
) -> Result<(u16, Option<Value>), Refused> {
    let fields: serde_json::Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
        (
            400,
            "JSON_PARSER_ERROR",
            "the body is not a JSON object".to_owned(),
        )
    })?;
    let known = st.schema.get(object).cloned().unwrap_or_default();
    if let Some(field) = fields.keys().find(|f| !known.contains(*f)) {
        return Err((
            400,
            "INVALID_FIELD",
            format!("No such column '{field}' on sobject of type {object}"),
        ));
    }
    st.modified += 1;
    let modified = st.modified;
    let row = st
        .rows
        .get_mut(id)
        .filter(|r| r["attributes"]["type"] == object)
        .ok_or((
            404,
            "NOT_FOUND",
            "The requested resource does not exist".to_owned(),
        ))?;
    for (k, v) in fields {
        row[k.as_str()] = v;
    }
    row["LastModified"] = json!(modified);
    Ok((204, None))
}
