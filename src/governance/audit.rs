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
