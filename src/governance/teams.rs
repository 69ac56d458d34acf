//! The team inventory: teams the platform knows in a tenant (created by it
//! or found by the sweeps), with their owners and expiry. Owners renew a
//! team that is about to expire, or let it expire.
//!
//! A team made by SalesTim carries its template and renewal state; a team
//! found by the inventory sync ([`super::lifecycle`]) carries no template
//! ("not from a template"). The sync keeps what Graph says (names, people,
//! Entra's own dates) current on both and never touches what SalesTim
//! decided. A team deleted in Entra stays, marked [`Removed`], so what
//! happened to it can still be told; it is no longer listed or searched.

use futures::{Stream, TryStreamExt};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::audit::{self, AuditEntry};
use super::lifecycle::machine::{LifecycleState, Waiver};
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

/// Why a team is no longer in its tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Removal {
    /// Deleted in Entra and restorable for 30 days (delta `@removed`
    /// reason `changed`).
    SoftDeleted,
    /// Deleted for good (reason `deleted`).
    Deleted,
    /// Absent from a full listing of the tenant's groups: it went while no
    /// delta token covered it, so how is not known.
    Missing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    pub reason: Removal,
    /// When the inventory learnt it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
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
    /// The members' Entra object ids (lower case), for deciding who may see
    /// a private team. Owners are in `owners` (and usually here too, as
    /// Graph lists a team's owners among its members).
    #[serde(default)]
    pub member_ids: Vec<String>,
    /// The members who are guests (`userType` Guest), a subset of
    /// `member_ids`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guest_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_nickname: Option<String>,
    /// The group's own dates in Entra: made, expiring under the tenant's
    /// group lifecycle policy, last renewed there.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub entra_created_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub entra_expires_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub entra_renewed_at: Option<OffsetDateTime>,
    /// Set when the group was deleted in Entra; cleared if it comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
    /// When the inventory first held the team (made by SalesTim, or found
    /// by a sync); a full sync only marks missing what it held before.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_seen_at: Option<OffsetDateTime>,
    /// Where the team is in its lifecycle (see
    /// [`machine`](crate::governance::lifecycle::machine)); only a
    /// transition the machine allows changes it, with an audit entry.
    #[serde(default)]
    pub lifecycle: LifecycleState,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lifecycle_since: Option<OffsetDateTime>,
    /// Policies an admin exempted the team from, for a while.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<Waiver>,
    /// The team's line of the Teams activity report, once one was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<ActivityFacts>,
    /// When the owners last answered a guest review.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub guests_reviewed_at: Option<OffsetDateTime>,
    /// The guest review the owners were last asked for, with their answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_review: Option<GuestReview>,
}

/// A guest review: the guests the owners were asked about, and the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestReview {
    #[serde(with = "time::serde::rfc3339")]
    pub asked_at: OffsetDateTime,
    pub guests: Vec<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<GuestAnswer>,
}

/// Who answered a guest review, when, and whom they removed (the others
/// were kept). `by` is `None` when nobody answered and the policy's
/// default decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Person>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub removed: Vec<String>,
}

// A date as `2026-11-30` (the activity report's own format).
time::serde::format_description!(
    pub(crate) iso_date,
    Date,
    "[year]-[month]-[day]"
);

/// A team's activity, from the Teams activity report (joined on Team Id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityFacts {
    /// `None`: no activity in the report's period.
    #[serde(default, with = "iso_date::option")]
    pub last_activity: Option<Date>,
    /// The report's own "Report Refresh Date".
    #[serde(with = "iso_date")]
    pub report_date: Date,
    /// The report's period in days (7, 30, 90 or 180).
    pub period_days: u32,
}

impl Default for TeamRecord {
    fn default() -> Self {
        TeamRecord {
            group_id: String::new(),
            display_name: String::new(),
            description: String::new(),
            web_url: None,
            owners: Vec::new(),
            template_id: None,
            expires_at: None,
            renewal_days: None,
            renewal: Renewal::Pending,
            visibility: Visibility::Private,
            member_ids: Vec::new(),
            guest_ids: Vec::new(),
            mail_nickname: None,
            entra_created_at: None,
            entra_expires_at: None,
            entra_renewed_at: None,
            removed: None,
            first_seen_at: None,
            lifecycle: LifecycleState::Active,
            lifecycle_since: None,
            waivers: Vec::new(),
            activity: None,
            guests_reviewed_at: None,
            guest_review: None,
        }
    }
}

fn pending() -> Renewal {
    Renewal::Pending
}

fn private() -> Visibility {
    Visibility::Private
}

impl TeamRecord {
    /// Made by SalesTim from a template (a team found by the sync is not).
    pub fn from_template(&self) -> bool {
        self.template_id.is_some()
    }

    /// Still in the tenant (not deleted in Entra).
    pub fn is_present(&self) -> bool {
        self.removed.is_none()
    }

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
    /// cannot be identified sees a private team; nobody sees a team deleted
    /// in Entra.
    pub fn visible_to(&self, viewer: Option<&str>) -> bool {
        if !self.is_present() {
            return false;
        }
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
    docs.upsert(Container::Teams, &to_document(tenant, team)?)
        .await
        .map(|_| ())
}

/// The document a team is stored as (its id is the group id).
pub fn to_document(tenant: &TenantId, team: &TeamRecord) -> PlatformResult<Document> {
    Document::new(tenant, TYPE, team.group_id.clone(), team)
}

/// A kept team after [`modify`]: as it is now, what the change returned,
/// and whether it was written.
pub struct Modified<R> {
    pub team: TeamRecord,
    pub out: R,
    pub written: bool,
}

/// Changes the kept team `group_id` with `change`, under its ETag
/// (`change` runs again, on the newer version, after a lost race); writes
/// only when the team changed. `None`: no such team.
pub async fn modify<R, E>(
    docs: &dyn Documents,
    tenant: &TenantId,
    group_id: &str,
    mut change: impl FnMut(&mut TeamRecord) -> Result<R, E>,
) -> Result<Option<Modified<R>>, E>
where
    E: From<PlatformError>,
{
    if documents::check_id(group_id).is_err() {
        return Ok(None);
    }
    let mut out = None;
    let written = update::<E>(docs, Container::Teams, tenant, group_id, |doc| {
        out = None;
        let Some(mut team) = doc.map(parse).transpose()?.flatten() else {
            return Ok(Decision::Keep);
        };
        let before = team.clone();
        let returned = change(&mut team)?;
        let decision = if team == before {
            Decision::Keep
        } else {
            Decision::Write(to_document(tenant, &team)?)
        };
        out = Some((team, returned));
        Ok(decision)
    })
    .await?;
    Ok(out.map(|(team, out)| Modified {
        team,
        out,
        written: written.is_some(),
    }))
}

/// The team a document holds; `None` for another kind of document in the
/// container (the sync keeps its state beside the teams).
pub fn parse(doc: &Document) -> PlatformResult<Option<TeamRecord>> {
    if doc.kind != TYPE {
        return Ok(None);
    }
    from_document(doc).map(Some)
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
        if team.is_present() && team.is_owner(aad_object_id) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_without_lifecycle_fields_reads_as_active_and_activity_keeps_its_dates() {
        let old: TeamRecord = serde_json::from_value(json!({"displayName": "Sales"})).unwrap();
        assert_eq!(old.lifecycle, LifecycleState::Active);
        assert!(old.activity.is_none() && old.waivers.is_empty());
        let team = TeamRecord {
            activity: Some(ActivityFacts {
                last_activity: None,
                report_date: time::macros::date!(2026 - 11 - 30),
                period_days: 90,
            }),
            lifecycle: LifecycleState::Warned,
            ..old
        };
        let stored = serde_json::to_value(&team).unwrap();
        assert_eq!(stored["activity"]["reportDate"], "2026-11-30");
        assert_eq!(stored["activity"]["lastActivity"], json!(null));
        assert_eq!(stored["lifecycle"], "warned");
        let back: TeamRecord = serde_json::from_value(stored).unwrap();
        assert_eq!(back, team);
    }
}
