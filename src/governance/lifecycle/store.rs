//! Stored lifecycle policies: the tenant's current version (document
//! `lifecycle-policy` in the tenants container) and an unchanging copy of
//! every version (`lifecycle-policy@v<N>`), so each finding can name the
//! version it came from and that version can still be read.
//!
//! A new version is written under the current one's ETag (the one
//! optimistic-concurrency loop), so two admins saving at once get versions
//! N+1 and N+2, never two N+1s; saving what is already stored writes
//! nothing. Every save is audited.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::policy::{self, Policies};
use crate::governance::audit::{self, AuditEntry};
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::clock::Clock;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{self, Container, Document, Documents};

const ID: &str = "lifecycle-policy";
const TYPE: &str = "lifecyclePolicy";
const VERSION_TYPE: &str = "lifecyclePolicyVersion";

fn version_id(version: u32) -> String {
    format!("{ID}@v{version}")
}

/// One stored version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredPolicies {
    pub version: u32,
    pub policies: Policies,
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
    pub saved_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("not saved:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    #[error("the policies changed meanwhile (now version {current}); look at the diff again")]
    Stale { current: u32 },
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// The tenant's current policies; `None` before any was saved (no policy
/// applies then).
pub async fn current(
    docs: &dyn Documents,
    tenant: &TenantId,
) -> Result<Option<StoredPolicies>, PlatformError> {
    documents::get_kind(docs, Container::Tenants, tenant, ID, TYPE).await
}

/// Version `version` of the tenant's policies, as it was saved.
pub async fn version(
    docs: &dyn Documents,
    tenant: &TenantId,
    version: u32,
) -> Result<Option<StoredPolicies>, PlatformError> {
    let id = version_id(version);
    if let Some(copy) =
        documents::get_kind(docs, Container::Tenants, tenant, &id, VERSION_TYPE).await?
    {
        return Ok(Some(copy));
    }
    // The copy is written just after the current version: a save cut off
    // between the two still has its version as the current one.
    Ok(current(docs, tenant)
        .await?
        .filter(|stored| stored.version == version))
}

/// What a save did.
#[derive(Debug, PartialEq)]
pub enum Saved {
    /// A new version.
    Version(u32),
    /// The same policies were stored already, as this version.
    Unchanged(u32),
}

/// Saves `policies` as the tenant's next version, if they differ from the
/// current one and `expected` (the version the caller's diff was made
/// against, when it has one) is still current. `templates` are the
/// tenant's template ids, to check overrides against.
pub async fn save(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    policies: &Policies,
    expected: Option<u32>,
    templates: &[String],
    by: &str,
) -> Result<Saved, PolicyError> {
    let problems = policies.problems(templates);
    if !problems.is_empty() {
        return Err(PolicyError::Invalid(problems));
    }
    let now = clock.now();
    let mut outcome = Saved::Unchanged(0);
    let mut changes = 0usize;
    let written = update(docs, Container::Tenants, tenant, ID, |doc| {
        let stored: Option<StoredPolicies> = doc
            .filter(|d| d.kind == TYPE)
            .map(Document::parse)
            .transpose()?;
        let (version, before) = stored.map(|s| (s.version, s.policies)).unwrap_or_default();
        if let Some(expected) = expected
            && expected != version
        {
            return Err(PolicyError::Stale { current: version });
        }
        changes = policy::diff(&before, policies).len();
        if changes == 0 && version > 0 {
            outcome = Saved::Unchanged(version);
            return Ok(Decision::Keep);
        }
        outcome = Saved::Version(version + 1);
        let next = StoredPolicies {
            version: version + 1,
            policies: policies.clone(),
            saved_at: now,
            saved_by: by.to_owned(),
        };
        Ok(Decision::Write(Document::new(tenant, TYPE, ID, &next)?))
    })
    .await?;
    if let Some(doc) = written {
        let stored: StoredPolicies = doc.parse()?;
        let copy = Document::new(tenant, VERSION_TYPE, version_id(stored.version), &stored)?;
        docs.upsert(Container::Tenants, &copy).await?;
        audit::record(
            docs,
            tenant,
            &AuditEntry {
                at: now,
                actor: by.to_owned(),
                action: "lifecyclePolicy.saved".into(),
                details: serde_json::json!({"version": stored.version, "changes": changes}),
            },
        )
        .await?;
    }
    Ok(outcome)
}
