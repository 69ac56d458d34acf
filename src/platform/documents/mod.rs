//! The main store: JSON documents, one container per kind, partitioned by
//! tenant id (Cosmos DB `/tenantId`). Every call names its tenant, so one
//! tenant's code can never read another's documents.
//!
//! Implementations: [`cosmos::CosmosDocuments`] (Azure) and
//! [`sqlite::SqliteDocuments`] (embedded default).

pub mod cosmos;
pub mod sqlite;
pub mod update;

use async_trait::async_trait;
use futures::Stream;
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

    /// What an update reads: `None` when nothing is there, the body when the
    /// document is of `kind`, an error when the id holds another kind.
    pub fn parse_if_kind<T: DeserializeOwned>(
        doc: Option<&Document>,
        kind: &str,
    ) -> PlatformResult<Option<T>> {
        match doc {
            Some(doc) if doc.kind == kind => doc.parse().map(Some),
            Some(doc) => Err(PlatformError::Invalid(format!(
                "{} is a {} document",
                doc.id, doc.kind
            ))),
            None => Ok(None),
        }
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
    /// At most this many documents in all (the first ones in the store's order).
    pub limit: Option<usize>,
    /// Documents per page; [`DEFAULT_PAGE_SIZE`] when not set.
    pub page_size: Option<usize>,
}

impl Query {
    pub fn of_type(kind: &str) -> Self {
        Query {
            kind: kind.to_owned(),
            filters: Vec::new(),
            limit: None,
            page_size: None,
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

    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Validates the query for an implementation about to run it; `false`
    /// when nothing can be returned (a limit or page of 0), so there is
    /// nothing to run.
    pub fn should_run(&self) -> PlatformResult<bool> {
        self.validate()?;
        Ok(self.limit != Some(0) && self.next_page_size(0) > 0)
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
        if self.page_size.is_some_and(|n| n == 0 || n > MAX_PAGE_SIZE) {
            return Err(PlatformError::Invalid(format!(
                "a page holds 1 to {MAX_PAGE_SIZE} documents"
            )));
        }
        Ok(())
    }

    /// How many documents the next page may hold when `taken` were already
    /// returned: the page size, cut to what is left of the limit.
    pub(crate) fn next_page_size(&self, taken: usize) -> usize {
        let page = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        match self.limit {
            Some(limit) => page.min(limit.saturating_sub(taken)),
            None => page,
        }
    }
}

/// Documents per page unless a query says otherwise.
pub const DEFAULT_PAGE_SIZE: usize = 500;
/// The most documents one page may hold.
pub const MAX_PAGE_SIZE: usize = 1_000;

/// Where a query looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// One tenant's partition: what request handlers use.
    Tenant(&'a TenantId),
    /// Every partition: only for platform timers that walk all tenants.
    AllTenants,
}

impl Scope<'_> {
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Scope::Tenant(t) => Some(t),
            Scope::AllTenants => None,
        }
    }
}

/// One page of a query's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub documents: Vec<Document>,
    /// Where the next page starts (opaque; hand it back unchanged); `None`
    /// when this was the last page. A page may be empty and still have a
    /// continuation (Cosmos DB may answer empty pages across partitions).
    pub continuation: Option<String>,
}

/// Every document a query matches, page by page: memory holds one page, and
/// `limit` (if any) is honoured across pages. Continuations the store gives
/// are handed back as they are; a store that keeps answering empty pages
/// with a continuation is still read to the end, since the store bounds
/// each call.
pub fn stream<'a>(
    docs: &'a dyn Documents,
    container: Container,
    scope: Scope<'a>,
    query: Query,
) -> impl Stream<Item = PlatformResult<Document>> + Send + 'a {
    struct State {
        query: Query,
        buffered: std::vec::IntoIter<Document>,
        continuation: Option<String>,
        taken: usize,
        done: bool,
    }
    let start = State {
        query,
        buffered: Vec::new().into_iter(),
        continuation: None,
        taken: 0,
        done: false,
    };
    futures::stream::try_unfold(start, move |mut state| async move {
        loop {
            if let Some(doc) = state.buffered.next() {
                state.taken += 1;
                return Ok(Some((doc, state)));
            }
            let next = state.query.next_page_size(state.taken);
            if state.done || next == 0 {
                return Ok(None);
            }
            let mut paged = state.query.clone();
            paged.page_size = Some(next);
            let page = docs
                .query_page(container, scope, &paged, state.continuation.as_deref())
                .await?;
            state.done = page.continuation.is_none();
            state.continuation = page.continuation;
            state.buffered = page.documents.into_iter();
        }
    })
}

/// The document `id` of `kind` in `tenant`'s partition, parsed; `None`
/// when there is none, or when the id holds a document of another kind.
pub async fn get_kind<T: DeserializeOwned>(
    docs: &dyn Documents,
    container: Container,
    tenant: &TenantId,
    id: &str,
    kind: &str,
) -> PlatformResult<Option<T>> {
    match docs.get(container, tenant, id).await? {
        Some(doc) if doc.kind == kind => doc.parse().map(Some),
        _ => Ok(None),
    }
}

/// Every document a query matches, collected: for sets that are small by
/// construction (a person's conversations) or cut by a limit. Anything that
/// can grow with a tenant walks [`stream`] instead.
pub async fn collect(
    docs: &dyn Documents,
    container: Container,
    scope: Scope<'_>,
    query: &Query,
) -> PlatformResult<Vec<Document>> {
    use futures::TryStreamExt;
    stream(docs, container, scope, query.clone())
        .try_collect()
        .await
}

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

    /// One page of the documents of one type in `scope` matching all
    /// filters, in a stable order (by id, then tenant), starting where
    /// `continuation` (from the previous page) says. At most
    /// `query.page_size` documents (and never more than the limit).
    async fn query_page(
        &self,
        container: Container,
        scope: Scope<'_>,
        query: &Query,
        continuation: Option<&str>,
    ) -> PlatformResult<Page>;

    /// A cheap round trip, for the health probe.
    async fn ping(&self) -> PlatformResult<()>;

    /// A store replicated across regions: the region this app reads first
    /// and the one that answered its last ping (they differ after a
    /// failover). `None` for a store in one place.
    fn serving(&self) -> Option<Serving> {
        None
    }
}

/// Where a multi-region store is served from ([`Documents::serving`]), as
/// normalised region names (`westeurope`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serving {
    pub preferred: String,
    pub served: String,
}

impl dyn Documents {
    /// Documents of one type in one tenant's partition matching all filters,
    /// collected (see [`collect`]: for small sets, or with a limit).
    pub async fn query(
        &self,
        container: Container,
        tenant: &TenantId,
        query: &Query,
    ) -> PlatformResult<Vec<Document>> {
        collect(self, container, Scope::Tenant(tenant), query).await
    }
}
