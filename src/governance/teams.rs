//! The team inventory: teams the platform knows in a tenant (created by it
//! or found by the sweeps), with their owners and expiry. Owners renew a
//! team that is about to expire, or let it expire.

use futures::{Stream, TryStreamExt};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::audit::{self, AuditEntry};
use super::people::Person;
pub use super::templates::Visibility;
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{self, Container, Document, Documents, Query, Scope};
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
    /// Who may find the team: a record that does not say is taken as
    /// private, so nothing is shown that should not be.
    #[serde(default = "private")]
    pub visibility: Visibility,
    /// The members' Entra object ids (owners are in `owners`), for deciding
    /// who may see a private team.
    #[serde(default)]
    pub member_ids: Vec<String>,
}

fn pending() -> Renewal {
    Renewal::Pending
}

fn private() -> Visibility {
    Visibility::Private
}

impl TeamRecord {
    pub fn is_owner(&self, aad_object_id: &str) -> bool {
        self.owners.iter().any(|o| o.is(aad_object_id))
    }

    pub fn is_member(&self, aad_object_id: &str) -> bool {
        self.is_owner(aad_object_id)
            || self
                .member_ids
                .iter()
                .any(|m| m.eq_ignore_ascii_case(aad_object_id))
    }

    /// Whether `viewer` may see the team at all: anyone in the tenant for a
    /// public team, its owners and members for a private one; nobody who
    /// cannot be identified sees a private team.
    pub fn visible_to(&self, viewer: Option<&str>) -> bool {
        match self.visibility {
            Visibility::Public => true,
            Visibility::Private => viewer.is_some_and(|v| self.is_member(v)),
        }
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

/// Every team of the tenant, page by page (memory holds one page).
pub fn all<'a>(
    docs: &'a dyn Documents,
    tenant: &'a TenantId,
) -> impl Stream<Item = PlatformResult<TeamRecord>> + Send + 'a {
    documents::stream(
        docs,
        Container::Teams,
        Scope::Tenant(tenant),
        Query::of_type(TYPE),
    )
    .and_then(|doc| async move { from_document(&doc) })
}

/// Most teams `my teams` lists for one owner.
pub const MAX_OWNED_LISTED: usize = 50;

/// The teams `aad_object_id` owns, by name (at most [`MAX_OWNED_LISTED`]).
pub async fn owned_by(
    docs: &dyn Documents,
    tenant: &TenantId,
    aad_object_id: &str,
) -> PlatformResult<Vec<TeamRecord>> {
    let mut teams = Vec::new();
    let mut all = std::pin::pin!(all(docs, tenant));
    while let Some(team) = all.try_next().await? {
        if team.is_owner(aad_object_id) {
            teams.push(team);
            // Keep memory bounded: cut to the first by name as we go.
            if teams.len() > 2 * MAX_OWNED_LISTED {
                teams.sort_by_key(|t: &TeamRecord| t.display_name.to_lowercase());
                teams.truncate(MAX_OWNED_LISTED);
            }
        }
    }
    teams.sort_by_key(|t| t.display_name.to_lowercase());
    teams.truncate(MAX_OWNED_LISTED);
    Ok(teams)
}

/// An owner answers the expiry reminder: renew (the expiry moves by the
/// renewal period, counted from now or from the current expiry, whichever is
/// later) or let the team expire. Only a pending renewal is answered, once:
/// a second click, a replayed or stale card gets the team as it is and
/// changes nothing.
pub async fn answer_expiry(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
    group_id: &str,
    owner: &Person,
    renew: bool,
) -> Result<TeamRecord, TeamError> {
    if crate::platform::documents::check_id(group_id).is_err() {
        return Err(TeamError::NotFound);
    }
    let now = clock.now();
    let mut answered = None;
    let written = update(docs, Container::Teams, tenant, group_id, |doc| {
        let doc = match doc {
            Some(doc) if doc.kind == TYPE => doc,
            _ => return Err(TeamError::NotFound),
        };
        let mut team = from_document(doc)?;
        if !team.is_owner(&owner.aad_object_id) {
            return Err(TeamError::NotOwner);
        }
        let (Some(expires_at), Some(days)) = (team.expires_at, team.renewal_days) else {
            return Err(TeamError::NoExpiry);
        };
        if team.renewal != Renewal::Pending {
            answered = Some(team);
            return Ok(Decision::Keep);
        }
        if renew {
            team.expires_at = Some(expires_at.max(now) + time::Duration::days(i64::from(days)));
            team.renewal = Renewal::Renewed;
        } else {
            team.renewal = Renewal::Declined;
        }
        let next = Document::new(tenant, TYPE, group_id, &team)?;
        answered = Some(team);
        Ok(Decision::Write(next))
    })
    .await?;
    let team = answered.expect("a decision that did not fail saw the team");
    if written.is_none() {
        tracing::info!(%tenant, group_id, renewal = ?team.renewal, "expiry already answered; nothing changed");
        return Ok(team);
    }
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
    Ok(team)
}
