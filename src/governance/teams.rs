//! The team inventory: teams the platform knows in a tenant (created by it
//! or found by the sweeps), with their owners and expiry. Owners renew a
//! team that is about to expire, or let it expire.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::audit::{self, AuditEntry};
use super::people::Person;
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::{Container, Document, Documents, Query};
use crate::platform::{PlatformError, PlatformResult};

const TYPE: &str = "team";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Renewal {
    /// Nothing asked or answered yet.
    Pending,
    Renewed,
    /// An owner chose to let the team expire.
    Declined,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamRecord {
    /// The team's Entra group id (also the document id).
    #[serde(skip)]
    pub group_id: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    /// The team's link as Graph gives it (`webUrl`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    #[serde(default)]
    pub owners: Vec<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// How long a renewal extends the team (the lifecycle policy's period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_days: Option<u32>,
    #[serde(default = "pending")]
    pub renewal: Renewal,
}

fn pending() -> Renewal {
    Renewal::Pending
}

impl TeamRecord {
    pub fn is_owner(&self, aad_object_id: &str) -> bool {
        self.owners.iter().any(|o| o.is(aad_object_id))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("no such team")]
    NotFound,
    #[error("only an owner of the team can do that")]
    NotOwner,
    #[error("the team has no expiry policy")]
    NoExpiry,
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

fn from_document(doc: &Document) -> PlatformResult<TeamRecord> {
    let mut team: TeamRecord = doc.parse()?;
    team.group_id = doc.id.clone();
    Ok(team)
}

pub async fn get(
    docs: &dyn Documents,
    tenant: &TenantId,
    group_id: &str,
) -> Result<TeamRecord, TeamError> {
    if crate::platform::documents::check_id(group_id).is_err() {
        return Err(TeamError::NotFound);
    }
    match docs.get(Container::Teams, tenant, group_id).await? {
        Some(doc) if doc.kind == TYPE => Ok(from_document(&doc)?),
        _ => Err(TeamError::NotFound),
    }
}

pub async fn put(docs: &dyn Documents, tenant: &TenantId, team: &TeamRecord) -> PlatformResult<()> {
    let doc = Document::new(tenant, TYPE, team.group_id.clone(), team)?;
    docs.upsert(Container::Teams, &doc).await.map(|_| ())
}

/// Every team of the tenant (bounded by the store's query cap).
pub async fn list(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<Vec<TeamRecord>> {
    docs.query(Container::Teams, tenant, &Query::of_type(TYPE))
        .await?
        .iter()
        .map(from_document)
        .collect()
}

/// The teams `aad_object_id` owns, by name.
pub async fn owned_by(
    docs: &dyn Documents,
    tenant: &TenantId,
    aad_object_id: &str,
) -> PlatformResult<Vec<TeamRecord>> {
    let mut teams: Vec<_> = list(docs, tenant)
        .await?
        .into_iter()
        .filter(|t| t.is_owner(aad_object_id))
        .collect();
    teams.sort_by_key(|t| t.display_name.to_lowercase());
    Ok(teams)
}

/// An owner answers the expiry reminder: renew (the expiry moves by the
/// renewal period, counted from now or from the current expiry, whichever is
/// later) or let the team expire.
pub async fn answer_expiry(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    group_id: &str,
    owner: &Person,
    renew: bool,
) -> Result<TeamRecord, TeamError> {
    let now = clock.now();
    for _ in 0..5 {
        let doc = match docs.get(Container::Teams, tenant, group_id).await? {
            Some(doc) if doc.kind == TYPE => doc,
            _ => return Err(TeamError::NotFound),
        };
        let mut team = from_document(&doc)?;
        if !team.is_owner(&owner.aad_object_id) {
            return Err(TeamError::NotOwner);
        }
        let (Some(expires_at), Some(days)) = (team.expires_at, team.renewal_days) else {
            return Err(TeamError::NoExpiry);
        };
        if renew {
            team.expires_at = Some(expires_at.max(now) + time::Duration::days(i64::from(days)));
            team.renewal = Renewal::Renewed;
        } else {
            team.renewal = Renewal::Declined;
        }
        let etag = doc
            .etag
            .clone()
            .ok_or_else(|| PlatformError::backend("documents", "a read document has no ETag"))?;
        let updated = Document::new(tenant, TYPE, group_id, &team)?;
        match docs.replace(Container::Teams, &updated, &etag).await {
            Ok(_) => {
                let entry = AuditEntry {
                    at: now,
                    actor: owner.actor(),
                    action: if renew {
                        "team.renewed"
                    } else {
                        "team.expiryAccepted"
                    }
                    .to_owned(),
                    details: serde_json::json!({"groupId": group_id, "displayName": team.display_name, "expiresAt": team.expires_at.map(|t| t.unix_timestamp())}),
                };
                audit::record(docs, tenant, &entry).await?;
                return Ok(team);
            }
            Err(PlatformError::PreconditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PlatformError::unavailable("documents", "the team keeps changing under us").into())
}
