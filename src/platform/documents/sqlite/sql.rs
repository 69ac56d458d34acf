//! The SQL behind [`super::SqliteDocuments`]: the schema, the row written
//! for a document, and the query builder that turns a [`Query`] into bound
//! JSON comparisons.

use crate::platform::sqlite_cached::Cached;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params, params_from_iter};
use serde_json::{Map, Value};

use super::SERVICE;
use crate::platform::documents::{Container, Document, ETag, Page, Query, stored_json_for_write};
use crate::platform::{PlatformError, PlatformResult};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    container  TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    etag       TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (container, tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_by_kind ON documents (container, kind, tenant_id, id);
CREATE INDEX IF NOT EXISTS documents_by_expiry ON documents (expires_at)
    WHERE expires_at IS NOT NULL;
";

/// A row is visible while it has no expiry or its expiry is still ahead.
pub(super) const VISIBLE: &str = "(expires_at IS NULL OR expires_at > :now)";

/// What a write stores: the row's columns, computed before taking the lock.
pub(super) struct Row {
    pub(super) container: &'static str,
    pub(super) tenant_id: String,
    pub(super) id: String,
    pub(super) kind: String,
    pub(super) body: String,
    pub(super) etag: String,
    pub(super) ttl_ms: Option<i64>,
}

impl Row {
    pub(super) fn new(container: Container, doc: &Document) -> PlatformResult<Self> {
        let map = stored_json_for_write(doc)?;
        let body = serde_json::to_string(&map)
            .map_err(|e| PlatformError::Invalid(format!("document body: {e}")))?;
        Ok(Row {
            container: container.name(),
            tenant_id: doc.tenant_id.as_str().to_owned(),
            id: doc.id.clone(),
            kind: doc.kind.clone(),
            body,
            etag: new_etag(),
            ttl_ms: doc.ttl.map(|s| i64::from(s) * 1000),
        })
    }

    pub(super) fn expires_at(&self, now: i64) -> Option<i64> {
        self.ttl_ms.map(|ttl| now.saturating_add(ttl))
    }

    /// Removes an expired row under this key, so that a create or upsert
    /// treats it as the absent document it already is to readers.
    pub(super) fn purge_expired(&self, conn: &Connection, now: i64) -> PlatformResult<()> {
        conn.exec_cached(
            "DELETE FROM documents WHERE container = ?1 AND tenant_id = ?2 AND id = ?3
             AND expires_at IS NOT NULL AND expires_at <= ?4",
            params![self.container, self.tenant_id, self.id, now],
        )
        .map_err(sql_error)?;
        Ok(())
    }

    pub(super) fn written(self, doc: &Document) -> Document {
        let mut out = doc.clone();
        out.etag = Some(ETag(self.etag));
        out
    }
}

/// A fresh ETag, quoted the way Cosmos DB quotes its `_etag` values.
fn new_etag() -> String {
    format!("\"{}\"", uuid::Uuid::new_v4())
}

pub(super) fn sql_error(err: rusqlite::Error) -> PlatformError {
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            PlatformError::unavailable(SERVICE, err)
        }
        Some(ErrorCode::ConstraintViolation) => PlatformError::Conflict,
        _ => PlatformError::backend(SERVICE, err),
    }
}

pub(super) fn is_visible(
    conn: &Connection,
    container: &str,
    tenant: &str,
    id: &str,
    now: i64,
) -> PlatformResult<bool> {
    let sql = format!(
        "SELECT 1 FROM documents WHERE container = :container
         AND tenant_id = :tenant AND id = :id AND {VISIBLE}"
    );
    let found = conn
        .query_row_cached(
            &sql,
            rusqlite::named_params! {
                ":container": container, ":tenant": tenant, ":id": id, ":now": now,
            },
            |_| Ok(()),
        )
        .optional()
        .map_err(sql_error)?;
    Ok(found.is_some())
}

pub(super) fn read_document(body: String, etag: String) -> PlatformResult<Document> {
    let mut map: Map<String, Value> = serde_json::from_str(&body)
        .map_err(|e| PlatformError::backend(SERVICE, format!("stored JSON: {e}")))?;
    map.insert("_etag".into(), Value::String(etag));
    Document::from_stored_json(map)
}

/// The WHERE clause and parameters for a query's type and field filters.
/// Field paths were validated as plain identifiers and are bound as
/// parameters all the same; values are compared by JSON type, as Cosmos does.
fn filter_sql(query: &Query, params: &mut Vec<SqlValue>) -> String {
    params.push(SqlValue::Text(query.kind.clone()));
    let mut sql = format!("kind = ?{}", params.len());
    for (field, value) in &query.filters {
        params.push(SqlValue::Text(format!("$.{field}")));
        let path = params.len();
        let clause = match value {
            Value::Null => format!("json_type(body, ?{path}) = 'null'"),
            Value::Bool(true) => format!("json_type(body, ?{path}) = 'true'"),
            Value::Bool(false) => format!("json_type(body, ?{path}) = 'false'"),
            Value::Number(n) => {
                params.push(match n.as_i64() {
                    Some(i) => SqlValue::Integer(i),
                    None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
                });
                format!(
                    "json_type(body, ?{path}) IN ('integer', 'real') AND json_extract(body, ?{path}) = ?{}",
                    params.len()
                )
            }
            Value::String(s) => {
                params.push(SqlValue::Text(s.clone()));
                format!(
                    "json_type(body, ?{path}) = 'text' AND json_extract(body, ?{path}) = ?{}",
                    params.len()
                )
            }
            // Query::validate refuses objects and arrays before we get here.
            Value::Array(_) | Value::Object(_) => "0".to_owned(),
        };
        sql.push_str(" AND ");
        sql.push_str(&clause);
    }
    sql
}

/// Where the next page starts: the (id, tenant) of the last document
/// returned, as base64url JSON. Opaque to callers; anything else handed back
/// is refused.
fn encode_continuation(id: &str, tenant: &str) -> String {
    use base64::Engine;
    let json = serde_json::to_vec(&(id, tenant)).expect("two strings always serialise");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_continuation(token: &str) -> PlatformResult<(String, String)> {
    use base64::Engine;
    let invalid = || PlatformError::Invalid("not a continuation this store gave".into());
    if token.len() > 1024 {
        return Err(invalid());
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    serde_json::from_slice(&json).map_err(|_| invalid())
}

/// One page by keyset: rows after the continuation's (id, tenant) in
/// (id, tenant) order, one more than the page size read to tell whether
/// another page follows.
pub(super) fn run_page(
    conn: &Connection,
    now: i64,
    container: &'static str,
    tenant: Option<String>,
    query: &Query,
    continuation: Option<&str>,
) -> PlatformResult<Page> {
    let after = continuation.map(decode_continuation).transpose()?;
    let mut params = vec![SqlValue::Integer(now), SqlValue::Text(container.into())];
    let mut sql = "SELECT body, etag, id, tenant_id FROM documents
                   WHERE (expires_at IS NULL OR expires_at > ?1) AND container = ?2"
        .to_owned();
    if let Some(tenant) = tenant {
        params.push(SqlValue::Text(tenant));
        sql.push_str(&format!(" AND tenant_id = ?{}", params.len()));
    }
    if let Some((id, tenant)) = after {
        params.push(SqlValue::Text(id));
        params.push(SqlValue::Text(tenant));
        sql.push_str(&format!(
            " AND (id, tenant_id) > (?{}, ?{})",
            params.len() - 1,
            params.len()
        ));
    }
    let filters = filter_sql(query, &mut params);
    let page_size = query.next_page_size(0);
    params.push(SqlValue::Integer(
        i64::try_from(page_size + 1).unwrap_or(i64::MAX),
    ));
    sql.push_str(&format!(
        " AND {filters} ORDER BY id, tenant_id LIMIT ?{}",
        params.len()
    ));
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
    let rows = stmt
        .query_map(params_from_iter(params), |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })
        .map_err(sql_error)?;
    let mut documents = Vec::with_capacity(page_size.min(64));
    let mut last = None;
    let mut more = false;
    for row in rows {
        let (body, etag, id, tenant) = row.map_err(sql_error)?;
        if documents.len() == page_size {
            more = true;
            break;
        }
        documents.push(read_document(body, etag)?);
        last = Some((id, tenant));
    }
    Ok(Page {
        documents,
        continuation: match (more, last) {
            (true, Some((id, tenant))) => Some(encode_continuation(&id, &tenant)),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_round_trip_and_foreign_ones_are_refused() {
        let token = encode_continuation("req-1", "t");
        assert_eq!(
            decode_continuation(&token).unwrap(),
            ("req-1".to_owned(), "t".to_owned())
        );
        for bad in ["", "!!", "bm90IGpzb24", &"A".repeat(2000)] {
            assert!(
                matches!(decode_continuation(bad), Err(PlatformError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
