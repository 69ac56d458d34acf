//! The main store: JSON documents, one container per kind, partitioned by
//! tenant id (Cosmos DB `/tenantId`). Every call names its tenant, so one
//! tenant's code can never read another's documents.
//!
//! Implementations: [`cosmos::CosmosDocuments`] (Azure) and
//! [`sqlite::SqliteDocuments`] (embedded default).

pub mod cosmos;
pub mod sqlite;

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use super::{PlatformError, PlatformResult};
use crate::ids::TenantId;

/// The containers of the main store, one per kind of document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Container {
    Tenants,
    Templates,
    Requests,
    Teams,
    Findings,
    Jobs,
    /// Processed webhook and message ids; short-lived (TTL).
    Events,
    /// Append-only audit trail.
    Audit,
}

impl Container {
    pub const ALL: [Container; 8] = [
        Container::Tenants,
        Container::Templates,
        Container::Requests,
        Container::Teams,
        Container::Findings,
        Container::Jobs,
        Container::Events,
        Container::Audit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Container::Tenants => "tenants",
            Container::Templates => "templates",
            Container::Requests => "requests",
            Container::Teams => "teams",
            Container::Findings => "findings",
            Container::Jobs => "jobs",
            Container::Events => "events",
            Container::Audit => "audit",
        }
    }
}

/// An opaque version stamp for optimistic concurrency (Cosmos `_etag`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

/// One stored document. `id`, `tenantId`, `type` and `ttl` are stored as
/// top-level fields beside `body`'s fields; `_etag` is set by the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub id: String,
    pub tenant_id: TenantId,
    pub kind: String,
    pub body: Map<String, Value>,
    /// Seconds until the store deletes it by itself.
    pub ttl: Option<u32>,
    /// Set on every document read from the store; ignored on writes.
    pub etag: Option<ETag>,
}

/// Field names the store keeps for itself; a body must not carry them.
pub const RESERVED_FIELDS: [&str; 5] = ["id", "tenantId", "type", "ttl", "_etag"];

impl Document {
    /// Builds a document from a serialisable value (which must serialise to a
    /// JSON object).
    pub fn new(
        tenant_id: &TenantId,
        kind: &str,
        id: impl Into<String>,
        body: &impl Serialize,
    ) -> PlatformResult<Self> {
        let body = match serde_json::to_value(body)
            .map_err(|e| PlatformError::Invalid(format!("document body: {e}")))?
        {
            Value::Object(mut map) => {
                for reserved in RESERVED_FIELDS {
                    map.remove(reserved);
                }
                map.retain(|k, _| !k.starts_with('_'));
                map
            }
            other => {
                return Err(PlatformError::Invalid(format!(
                    "document body must be a JSON object, not {other}"
                )));
            }
        };
        Ok(Document {
            id: id.into(),
            tenant_id: tenant_id.clone(),
            kind: kind.to_owned(),
            body,
            ttl: None,
            etag: None,
        })
    }

    pub fn with_ttl(mut self, seconds: u32) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// Reads the body back as a typed value.
    pub fn parse<T: DeserializeOwned>(&self) -> PlatformResult<T> {
        serde_json::from_value(Value::Object(self.body.clone()))
            .map_err(|e| PlatformError::Invalid(format!("document {}/{}: {e}", self.kind, self.id)))
    }

    /// The document as stored: body fields plus `id`, `tenantId`, `type`, `ttl`.
    pub fn to_stored_json(&self) -> Map<String, Value> {
        let mut map = self.body.clone();
        map.insert("id".into(), Value::String(self.id.clone()));
        map.insert(
            "tenantId".into(),
            Value::String(self.tenant_id.as_str().to_owned()),
        );
        map.insert("type".into(), Value::String(self.kind.clone()));
        if let Some(ttl) = self.ttl {
            map.insert("ttl".into(), Value::from(ttl));
        }
        map
    }

    /// Rebuilds a document from its stored JSON (the inverse of
    /// [`Document::to_stored_json`]); system fields other than `_etag` are dropped.
    pub fn from_stored_json(mut map: Map<String, Value>) -> PlatformResult<Self> {
        let take_str = |map: &mut Map<String, Value>, key: &str| match map.remove(key) {
            Some(Value::String(s)) => Ok(s),
            other => Err(PlatformError::Invalid(format!(
                "stored document has no string {key}: {other:?}"
            ))),
        };
        let id = take_str(&mut map, "id")?;
        let tenant_id = TenantId::try_from(take_str(&mut map, "tenantId")?)
            .map_err(|e| PlatformError::Invalid(e.to_string()))?;
        let kind = take_str(&mut map, "type")?;
        let ttl = map.remove("ttl").and_then(|v| v.as_u64()).map(|v| v as u32);
        let etag = match map.remove("_etag") {
            Some(Value::String(s)) => Some(ETag(s)),
            _ => None,
        };
        map.retain(|k, _| !k.starts_with('_'));
        Ok(Document {
            id,
            tenant_id,
            kind,
            body: map,
            ttl,
            etag,
        })
    }
}

/// A query within one tenant's partition: documents of one `type` whose
/// fields equal the given values. Field paths are plain names, or dotted
/// names for nested fields (`subscription.status`).
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub kind: String,
    pub filters: Vec<(String, Value)>,
    pub limit: Option<usize>,
}

impl Query {
    pub fn of_type(kind: &str) -> Self {
        Query {
            kind: kind.to_owned(),
            filters: Vec::new(),
            limit: None,
        }
    }

    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.filters.push((field.to_owned(), value.into()));
        self
    }

    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Validates the query for an implementation about to run it; `false`
    /// when nothing can be returned (a limit of 0), so there is nothing to run.
    pub fn should_run(&self) -> PlatformResult<bool> {
        self.validate()?;
        Ok(self.limit != Some(0))
    }

    /// Rejects field paths that are not plain (dotted) identifiers, so that
    /// no implementation ever pastes caller text into a query language.
    pub fn validate(&self) -> PlatformResult<()> {
        for (field, value) in &self.filters {
            let ok = !field.is_empty()
                && field.split('.').all(|part| {
                    let mut chars = part.chars();
                    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
            if !ok {
                return Err(PlatformError::Invalid(format!(
                    "query field {field:?} is not a plain field path"
                )));
            }
            if value.is_object() || value.is_array() {
                return Err(PlatformError::Invalid(format!(
                    "query field {field:?}: only scalar values can be compared"
                )));
            }
        }
        if self.kind.is_empty() {
            return Err(PlatformError::Invalid(
                "query type must not be empty".into(),
            ));
        }
        if self.limit.is_some_and(|n| n > MAX_QUERY_RESULTS) {
            return Err(PlatformError::Invalid(format!(
                "query limit is at most {MAX_QUERY_RESULTS}"
            )));
        }
        Ok(())
    }

    /// How many documents an implementation reads at most: the limit, or one
    /// more than [`MAX_QUERY_RESULTS`] so that [`Query::bounded`] can tell an
    /// overflow from a full answer.
    pub(crate) fn fetch_count(&self) -> usize {
        self.limit.unwrap_or(MAX_QUERY_RESULTS + 1)
    }

    /// Refuses an answer that hit the cap without the caller asking for a
    /// limit: silently cutting a sweep short would be worse than failing.
    pub(crate) fn bounded(&self, docs: Vec<Document>) -> PlatformResult<Vec<Document>> {
        if self.limit.is_none() && docs.len() > MAX_QUERY_RESULTS {
            return Err(PlatformError::Invalid(format!(
                "query for {:?} matched more than {MAX_QUERY_RESULTS} documents; set a limit",
                self.kind
            )));
        }
        Ok(docs)
    }
}

/// The most documents one query may return; a query without a limit that
/// matches more fails with `Invalid` instead of reading without bound.
pub const MAX_QUERY_RESULTS: usize = 5_000;

/// Checks a document id the way Cosmos DB does, so that the embedded store
/// never accepts an id that production would refuse.
pub(crate) fn check_id(id: &str) -> PlatformResult<()> {
    if id.is_empty() || id.len() > 255 {
        return Err(PlatformError::Invalid(
            "document id must be 1 to 255 bytes".into(),
        ));
    }
    if id.contains(['/', '\\', '?', '#']) || id.chars().any(char::is_control) {
        return Err(PlatformError::Invalid(format!(
            "document id {id:?} contains a character Cosmos DB refuses"
        )));
    }
    Ok(())
}

/// The JSON to write for `doc`: its stored form without store-owned (`_`)
/// fields, and without a stray `ttl` in the body when the document has none.
pub(crate) fn stored_json_for_write(doc: &Document) -> PlatformResult<Map<String, Value>> {
    check_id(&doc.id)?;
    if doc.kind.is_empty() {
        return Err(PlatformError::Invalid(
            "document type must not be empty".into(),
        ));
    }
    if doc.ttl == Some(0) {
        return Err(PlatformError::Invalid(
            "document ttl must be at least one second".into(),
        ));
    }
    let mut map = doc.to_stored_json();
    if doc.ttl.is_none() {
        map.remove("ttl");
    }
    map.retain(|k, _| !k.starts_with('_'));
    Ok(map)
}

/// The main store.
#[async_trait]
pub trait Documents: Send + Sync + 'static {
    /// Creates the containers if they do not exist yet.
    async fn ensure(&self) -> PlatformResult<()>;

    async fn get(
        &self,
        container: Container,
        tenant: &TenantId,
        id: &str,
    ) -> PlatformResult<Option<Document>>;

    /// Creates a new document; `Conflict` if the id exists in that partition.
    async fn create(&self, container: Container, doc: &Document) -> PlatformResult<Document>;

    /// Replaces a document only if its ETag is still `if_match`;
    /// `PreconditionFailed` otherwise, `NotFound` if it is gone.
    async fn replace(
        &self,
        container: Container,
        doc: &Document,
        if_match: &ETag,
    ) -> PlatformResult<Document>;

    /// Creates or overwrites, whatever the current version.
    async fn upsert(&self, container: Container, doc: &Document) -> PlatformResult<Document>;

    /// Deletes; `false` when there was nothing to delete.
    async fn delete(
        &self,
        container: Container,
        tenant: &TenantId,
        id: &str,
    ) -> PlatformResult<bool>;

    /// Documents of one type in one tenant's partition matching all filters.
    async fn query(
        &self,
        container: Container,
        tenant: &TenantId,
        query: &Query,
    ) -> PlatformResult<Vec<Document>>;

    /// The same across every partition: only for platform timers that sweep
    /// all tenants (dunning, governance sweeps), never for request handlers.
    async fn query_all_tenants(
        &self,
        container: Container,
        query: &Query,
    ) -> PlatformResult<Vec<Document>>;

    /// A cheap round trip, for the health probe.
    async fn ping(&self) -> PlatformResult<()>;
}
