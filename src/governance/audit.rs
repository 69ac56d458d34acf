//! The append-only audit trail: who did what, when and why, per tenant.
//! Entries are only ever created, never replaced.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::documents::{Container, Document, Documents};

const AUDIT_TYPE: &str = "audit";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `system:<function>` for the platform itself, a user id otherwise.
    pub actor: String,
    pub action: String,
    pub details: Value,
}

pub async fn record(
    docs: &dyn Documents,
    tenant: &TenantId,
    entry: &AuditEntry,
) -> PlatformResult<()> {
    // Time-ordered ids keep a tenant's trail sorted by id.
    let id = format!(
        "{}-{}",
        entry.at.unix_timestamp_nanos(),
        uuid::Uuid::new_v4().simple()
    );
    let doc = Document::new(tenant, AUDIT_TYPE, id, entry)?;
    docs.create(Container::Audit, &doc).await.map(|_| ())
}

/// Records that `actor` did `action` at `at`.
pub async fn note(
    docs: &dyn Documents,
    tenant: &TenantId,
    at: OffsetDateTime,
    actor: &str,
    action: &str,
    details: Value,
) -> PlatformResult<()> {
    let entry = AuditEntry {
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        details,
    };
    record(docs, tenant, &entry).await
}

/// Records `entry` once for `key` (letters, digits and dashes): a job that
/// resumes after writing it, and writes it again with the same `at` and
/// key, leaves one entry.
pub async fn record_once(
    docs: &dyn Documents,
    tenant: &TenantId,
    key: &str,
    entry: &AuditEntry,
) -> PlatformResult<()> {
    let id = format!("{}-{key}", entry.at.unix_timestamp_nanos());
    let doc = Document::new(tenant, AUDIT_TYPE, id, entry)?;
    match docs.create(Container::Audit, &doc).await {
        Ok(_) | Err(crate::platform::PlatformError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn trail(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<Vec<AuditEntry>> {
    let query = crate::platform::documents::Query::of_type(AUDIT_TYPE);
    docs.query(Container::Audit, tenant, &query)
        .await?
        .iter()
        .map(Document::parse)
        .collect()
}

/// Most entries one search reads. The trail has no index beside the
/// tenant's partition, so a search reads it page by page and keeps what
/// matches; a tenant with a longer trail is searched in its first this many
/// entries, and the answer says so ([`Found::truncated`]).
pub const MAX_SCANNED: usize = 50_000;
/// Most entries one answer holds.
pub const MAX_RESULTS: usize = 1_000;

/// What to look for in the trail; every field narrows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Part of the actor (`user:<object id>`, `system:SweepTenant`), any case.
    pub actor: Option<String>,
    /// The start of the action (`team.`, `request.approved`).
    pub action: Option<String>,
    pub from: Option<OffsetDateTime>,
    /// Before this moment (exclusive).
    pub to: Option<OffsetDateTime>,
}

impl Filter {
    fn matches(&self, e: &AuditEntry) -> bool {
        self.actor.as_ref().is_none_or(|a| {
            e.actor
                .to_ascii_lowercase()
                .contains(&a.to_ascii_lowercase())
        }) && self
            .action
            .as_ref()
            .is_none_or(|a| e.action.starts_with(a.as_str()))
            && self.from.is_none_or(|from| e.at >= from)
            && self.to.is_none_or(|to| e.at < to)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Found {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// More entries match, older than the last one here.
    pub more: bool,
    /// The trail is longer than [`MAX_SCANNED`]: older entries were not read.
    pub truncated: bool,
}

/// The newest `limit` entries (at most [`MAX_RESULTS`]) that match `filter`.
pub async fn search(
    docs: &dyn Documents,
    tenant: &TenantId,
    filter: &Filter,
    limit: usize,
) -> PlatformResult<Found> {
    use futures::TryStreamExt;
    let limit = limit.clamp(1, MAX_RESULTS);
    let query = crate::platform::documents::Query::of_type(AUDIT_TYPE).limit(MAX_SCANNED + 1);
    let mut stream = std::pin::pin!(crate::platform::documents::stream(
        docs,
        Container::Audit,
        crate::platform::documents::Scope::Tenant(tenant),
        query,
    ));
    let mut matched: Vec<AuditEntry> = Vec::new();
    let mut scanned = 0;
    let mut truncated = false;
    while let Some(doc) = stream.try_next().await? {
        scanned += 1;
        if scanned > MAX_SCANNED {
            truncated = true;
            break;
        }
        let entry: AuditEntry = doc.parse()?;
        if filter.matches(&entry) {
            matched.push(entry);
            // Keep memory bounded: only the newest `limit + 1` matter.
            if matched.len() > 4 * (limit + 1) {
                matched.sort_by_key(|e| std::cmp::Reverse(e.at));
                matched.truncate(limit + 1);
            }
        }
    }
    matched.sort_by_key(|e| std::cmp::Reverse(e.at));
    let more = matched.len() > limit;
    matched.truncate(limit);
    Ok(Found {
        entries: matched,
        more,
        truncated,
    })
}
