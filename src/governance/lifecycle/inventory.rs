//! The inventory's writes: a team after a group object, a team removed, the
//! teams a full listing no longer holds, and the teams whose people a users
//! round renamed or made guests. Every write goes through
//! [`documents::update`](crate::platform::documents::update) (the one
//! optimistic-concurrency loop), so a sync and an owner renewing the same
//! team never lose each other's change; a team the change leaves as it was
//! is not written at all.

use std::collections::HashSet;

use futures::TryStreamExt;
use time::OffsetDateTime;

use super::group::{self, GroupState, Links};
use super::machine::Transition;
use super::people::People;
use super::transitions;
use crate::governance::audit;
use crate::governance::teams::{self, Removal, TeamRecord};
use crate::ids::TenantId;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{Container, Document, Documents, check_id};
use crate::platform::{PlatformError, PlatformResult};

/// What applying a group object did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Not a team, and not in the inventory.
    Ignored,
    Added,
    Changed,
    Unchanged,
}

/// The team of `group` after it (see [`group::apply`]): added when the
/// group is a team the inventory does not hold yet (first seen `now`).
pub async fn apply_group(
    docs: &dyn Documents,
    tenant: &TenantId,
    group: &GroupState,
    links: Links,
    people: &People,
    now: OffsetDateTime,
) -> PlatformResult<Applied> {
    if check_id(&group.id).is_err() {
        tracing::warn!(%tenant, "a group whose id cannot be a document id; ignored");
        return Ok(Applied::Ignored);
    }
    let mut applied = Applied::Ignored;
    let mut moved = Vec::new();
    let mut name = String::new();
    update::<PlatformError>(docs, Container::Teams, tenant, &group.id, |doc| {
        applied = Applied::Ignored;
        moved.clear();
        let was = existing(doc)?;
        let base = match (doc, &was) {
            // Another kind of document, or a plain group: not a team.
            (Some(_), None) => return Ok(Decision::Keep),
            (None, _) if !group.is_team() => return Ok(Decision::Keep),
            (None, _) => TeamRecord {
                group_id: group.id.clone(),
                first_seen_at: Some(now),
                ..TeamRecord::default()
            },
            (Some(_), Some(team)) => team.clone(),
        };
        let mut next = group::apply(base, group, links, people);
        moved = group::follow_removal(&mut next, now);
        name.clone_from(&next.display_name);
        if was.as_ref() == Some(&next) {
            applied = Applied::Unchanged;
            return Ok(Decision::Keep);
        }
        applied = if was.is_some() {
            Applied::Changed
        } else {
            Applied::Added
        };
        Ok(Decision::Write(teams::to_document(tenant, &next)?))
    })
    .await?;
    audit_moves(docs, tenant, &group.id, &name, &moved).await?;
    Ok(applied)
}

/// One audit entry per lifecycle transition the sync made.
async fn audit_moves(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    name: &str,
    moved: &[Transition],
) -> PlatformResult<()> {
    for t in moved {
        audit::record(docs, tenant, &transitions::audit_entry(id, name, t)).await?;
    }
    Ok(())
}

fn existing(doc: Option<&Document>) -> PlatformResult<Option<TeamRecord>> {
    doc.map(teams::parse).transpose().map(Option::flatten)
}

/// Marks the team of group `id` removed; `false` when there is no such
/// team (a plain group went) or it was already marked so.
pub async fn mark_removed(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    reason: Removal,
    now: OffsetDateTime,
) -> PlatformResult<bool> {
    if check_id(id).is_err() {
        return Ok(false);
    }
    let mut moved = Vec::new();
    let mut name = String::new();
    let written = update::<PlatformError>(docs, Container::Teams, tenant, id, |doc| {
        moved.clear();
        let Some(team) = existing(doc)? else {
            return Ok(Decision::Keep);
        };
        match group::removed(&team, reason, now) {
            Some(mut next) => {
                moved = group::follow_removal(&mut next, now);
                name.clone_from(&next.display_name);
                Ok(Decision::Write(teams::to_document(tenant, &next)?))
            }
            None => Ok(Decision::Keep),
        }
    })
    .await?;
    audit_moves(docs, tenant, id, &name, &moved).await?;
    Ok(written.is_some())
}

/// The group ids of every team the inventory holds (removed ones too).
pub async fn known_ids(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<HashSet<String>> {
    teams::all(docs, tenant)
        .map_ok(|t| t.group_id)
        .try_collect()
        .await
}

/// After a full listing: the teams held before `started` that it did not
/// hold are marked [`Removal::Missing`] (they went while no token covered
/// them). Returns how many.
pub async fn mark_missing(
    docs: &dyn Documents,
    tenant: &TenantId,
    seen: &HashSet<String>,
    started: OffsetDateTime,
    now: OffsetDateTime,
) -> PlatformResult<u64> {
    let mut missing = Vec::new();
    let mut all = std::pin::pin!(teams::all(docs, tenant));
    while let Some(team) = all.try_next().await? {
        let held_before = team.first_seen_at.is_none_or(|t| t < started);
        if team.is_present() && held_before && !seen.contains(&team.group_id) {
            missing.push(team.group_id);
        }
    }
    let mut marked = 0;
    for id in missing {
        tracing::info!(%tenant, group = %id, "a team is no longer in the tenant's groups");
        if mark_removed(docs, tenant, &id, Removal::Missing, now).await? {
            marked += 1;
        }
    }
    Ok(marked)
}

/// After an incremental round: the teams with a member or owner the users
/// round reported are named and counted again (a rename, a guest made a
/// member). Returns how many were written.
pub async fn refresh_people(
    docs: &dyn Documents,
    tenant: &TenantId,
    people: &People,
) -> PlatformResult<u64> {
    let changed: HashSet<&str> = people.changed().iter().map(String::as_str).collect();
    if changed.is_empty() {
        return Ok(0);
    }
    let mut stale = Vec::new();
    let mut all = std::pin::pin!(teams::all(docs, tenant));
    while let Some(team) = all.try_next().await? {
        let involved = team.member_ids.iter().any(|m| changed.contains(m.as_str()))
            || team
                .owners
                .iter()
                .any(|o| changed.contains(o.aad_object_id.as_str()));
        if involved && renamed(&team, people).is_some() {
            stale.push(team.group_id);
        }
    }
    let mut written = 0;
    for id in stale {
        let done = update::<PlatformError>(docs, Container::Teams, tenant, &id, |doc| {
            match existing(doc)?.and_then(|team| renamed(&team, people)) {
                Some(next) => Ok(Decision::Write(teams::to_document(tenant, &next)?)),
                None => Ok(Decision::Keep),
            }
        })
        .await?;
        written += u64::from(done.is_some());
    }
    Ok(written)
}

/// The team with its owners named and its guests counted as `people`
/// says; `None` when that changes nothing.
fn renamed(team: &TeamRecord, people: &People) -> Option<TeamRecord> {
    let mut next = team.clone();
    for owner in &mut next.owners {
        if let Some(known) = people.get(&owner.aad_object_id) {
            owner.name.clone_from(&known.name);
        }
    }
    let previous: HashSet<String> = team.guest_ids.iter().cloned().collect();
    next.guest_ids = group::guests(&next.member_ids, people, &previous);
    (next != *team).then_some(next)
}
