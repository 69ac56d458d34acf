//! One tenant's inventory sync: a full round the first time (and after a
//! token expired, or once a month), an incremental round from the kept
//! delta links otherwise.
//!
//! - **Full**: one `/users/delta` round (everybody's name and guest flag,
//!   joined here: no call per team), then one `/groups/delta` round over
//!   every group of the tenant, teams kept on our side, owners and members
//!   from `owners@delta`/`members@delta`. Teams the inventory held that the
//!   listing no longer holds are marked missing.
//! - **Incremental**: the same two rounds from the kept deltaLinks, which
//!   give only what changed: the teams renamed, whose people changed, made,
//!   deleted. A team new to the inventory has its members and owners read
//!   whole (two paged requests: a group made a team keeps members that
//!   changed before the token); people a change adds whom the users round
//!   did not report are looked up twenty at a time. The cost follows the
//!   changes, not the tenant's size.
//! - An expired token (`410`, `syncStateNotFound`) turns the round into a
//!   full one: never a failure.
//!
//! Pages are applied as they come (memory: one page, the ids of the
//! tenant's teams, and in a full round the users' names). A sync holds its
//! tenant's lease ([`state::claim`]); what it read, changed and cost is kept
//! in the sync state and returned for the log.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use time::OffsetDateTime;

use super::group::{self, GroupObject, GroupState, Links};
use super::inventory::{self, Applied};
use super::people::{self, People};
use super::state::{self, Claim, Finished, Round, RoundKind, SyncState};
use crate::governance::teams::{self, TeamError};
use crate::graph::delta::{self, DeltaWalk, Expired, Step};
use crate::graph::{Graph, GraphError, Tally};
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::clock::Clock;
use crate::platform::documents::Documents;

/// A full round at least this often, even with valid tokens: it repairs
/// what replays or a missed change could have left wrong.
pub const FULL_EVERY: time::Duration = time::Duration::days(30);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl SyncError {
    /// Worth retrying later (from the queue).
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Graph(e) => e.is_transient(),
            SyncError::Platform(e) => e.is_transient(),
        }
    }
}

/// What a sync did.
#[derive(Debug)]
pub enum Outcome {
    Synced(Round),
    /// Another sync holds the tenant until then.
    Busy(OffsetDateTime),
    /// The scheduled period was synced already.
    AlreadyDone(String),
}

/// What a sync works with.
pub struct Inventory<'a> {
    pub docs: &'a dyn Documents,
    pub clock: &'a dyn Clock,
    pub graph: &'a Graph,
}

impl Inventory<'_> {
    /// Syncs `tenant`'s inventory (full or incremental, as its state says).
    /// `period` names a scheduled run: a second sync of the same period
    /// does nothing.
    pub async fn sync(
        &self,
        tenant: &TenantId,
        period: Option<&str>,
    ) -> Result<Outcome, SyncError> {
        let holder = uuid::Uuid::new_v4().to_string();
        let state = match state::claim(self.docs, tenant, &holder, period, self.clock.now()).await?
        {
            Claim::Run(state) => state,
            Claim::Busy(until) => return Ok(Outcome::Busy(until)),
            Claim::Done(period) => return Ok(Outcome::AlreadyDone(period)),
        };
        let tally = Arc::new(Tally::default());
        let run = Run {
            docs: self.docs,
            clock: self.clock,
            graph: self.graph.tallied(tally.clone()),
            tenant,
            tally,
            counts: Counts::default(),
        };
        match run.rounds(&state).await {
            Ok(done) => {
                let round = done.round.clone();
                let finished = Finished {
                    groups_link: done.groups_link,
                    users_link: done.users_link,
                    round: done.round,
                    period: period.map(str::to_owned),
                };
                state::finish(self.docs, tenant, &holder, finished).await?;
                Ok(Outcome::Synced(round))
            }
            Err(e) => {
                if let Err(release) = state::release(self.docs, tenant, &holder).await {
                    tracing::warn!(%tenant, error = %release, "the inventory lease was not given back; it expires");
                }
                Err(e)
            }
        }
    }
}

/// One sync in progress.
struct Run<'a> {
    docs: &'a dyn Documents,
    clock: &'a dyn Clock,
    /// Counted in `tally` too.
    graph: Graph,
    tenant: &'a TenantId,
    tally: Arc<Tally>,
    counts: Counts,
}

#[derive(Debug, Default)]
struct Counts {
    groups_read: u64,
    users_read: u64,
    teams_seen: u64,
    added: u64,
    changed: u64,
    removed: u64,
    unchanged: u64,
    looked_up: u64,
}

impl Counts {
    fn count(&mut self, applied: Applied) {
        match applied {
            Applied::Ignored => {}
            Applied::Added => self.added += 1,
            Applied::Changed => self.changed += 1,
            Applied::Unchanged => self.unchanged += 1,
        }
    }
}

struct Done {
    groups_link: String,
    users_link: String,
    round: Round,
}

impl Run<'_> {
    async fn rounds(mut self, state: &SyncState) -> Result<Done, SyncError> {
        let started = self.clock.now();
        let why = match (&state.groups_link, &state.users_link, &state.last_full) {
            (Some(groups), Some(users), Some(full)) if started - full.started_at < FULL_EVERY => {
                match self.incremental(groups, users).await? {
                    Ok((groups_link, users_link)) => {
                        let why = "kept delta links".to_owned();
                        let round = self.round(RoundKind::Incremental, why, started);
                        return Ok(Done {
                            groups_link,
                            users_link,
                            round,
                        });
                    }
                    Err(e) => {
                        tracing::info!(tenant = %self.tenant, status = e.status, code = %e.code, "a delta token expired; syncing in full");
                        // What the incremental part read is applied and
                        // harmless; the full round counts afresh.
                        self.counts = Counts::default();
                        format!("a delta token expired (HTTP {} {})", e.status, e.code)
                    }
                }
            }
            (Some(_), Some(_), Some(_)) => "the last full sync is over 30 days old".to_owned(),
            _ => "first sync".to_owned(),
        };
        let (groups_link, users_link) = self.full(started).await?;
        let round = self.round(RoundKind::Full, why, started);
        Ok(Done {
            groups_link,
            users_link,
            round,
        })
    }

    fn round(&self, kind: RoundKind, why: String, started_at: OffsetDateTime) -> Round {
        let c = &self.counts;
        let cost = self.tally.stats();
        Round {
            kind,
            why,
            started_at,
            finished_at: self.clock.now(),
            groups_read: c.groups_read,
            users_read: c.users_read,
            teams_seen: c.teams_seen,
            added: c.added,
            changed: c.changed,
            removed: c.removed,
            unchanged: c.unchanged,
            looked_up: c.looked_up,
            graph_requests: cost.requests,
            throttled: cost.throttled,
        }
    }

    /// Every user and every group; returns the new (groups, users) links.
    async fn full(&mut self, started: OffsetDateTime) -> Result<(String, String), SyncError> {
        let start = format!("/users/delta?$select={}", people::SELECT);
        let mut people = People::default();
        let users_link = self.users(&start, &mut people).await?.map_err(expired)?;
        let known = inventory::known_ids(self.docs, self.tenant).await?;
        let mut seen = HashSet::new();
        let start = format!("/groups/delta?$select={}", group::SELECT);
        let graph = self.graph.clone();
        let mut walk = DeltaWalk::start(&graph, self.tenant, start);
        let groups_link = loop {
            let items = match walk.next().await? {
                Step::Page(items) => items,
                Step::Done { delta_link } => break delta_link,
                Step::Expired(e) => return Err(expired(e)),
            };
            for object in items.iter().filter_map(GroupObject::parse) {
                self.counts.groups_read += 1;
                let group = match object {
                    GroupObject::Removed { id, reason } => {
                        if known.contains(&id) {
                            self.remove(&id, reason).await?;
                        }
                        continue;
                    }
                    GroupObject::Present(group) => group,
                };
                if !group.is_team() && !known.contains(&group.id) {
                    continue;
                }
                let links = if seen.insert(group.id.clone()) {
                    self.counts.teams_seen += 1;
                    Links::Replace
                } else {
                    Links::Change
                };
                self.apply(&group, links, &people).await?;
            }
        };
        let now = self.clock.now();
        self.counts.removed +=
            inventory::mark_missing(self.docs, self.tenant, &seen, started, now).await?;
        Ok((groups_link, users_link))
    }

    /// What changed since the links; `Err(Expired)` when a token expired.
    async fn incremental(
        &mut self,
        groups: &str,
        users: &str,
    ) -> Result<Result<(String, String), Expired>, SyncError> {
        let mut people = People::default();
        let users_link = match self.users(users, &mut people).await? {
            Ok(link) => link,
            Err(e) => return Ok(Err(e)),
        };
        let graph = self.graph.clone();
        let mut walk = DeltaWalk::start(&graph, self.tenant, groups);
        let groups_link = loop {
            match walk.next().await? {
                Step::Page(items) => self.changed_page(&items, &mut people).await?,
                Step::Done { delta_link } => break delta_link,
                Step::Expired(e) => return Ok(Err(e)),
            }
        };
        self.counts.changed += inventory::refresh_people(self.docs, self.tenant, &people).await?;
        Ok(Ok((groups_link, users_link)))
    }

    /// One users round into `people`; its deltaLink, or the token expired.
    async fn users(
        &mut self,
        link: &str,
        people: &mut People,
    ) -> Result<Result<String, Expired>, SyncError> {
        let mut walk = DeltaWalk::start(&self.graph, self.tenant, link);
        loop {
            match walk.next().await? {
                Step::Page(items) => self.counts.users_read += people.read_page(&items)? as u64,
                Step::Done { delta_link } => return Ok(Ok(delta_link)),
                Step::Expired(e) => return Ok(Err(e)),
            }
        }
    }

    /// One page of an incremental round: the teams it touches, people
    /// looked up for the whole page at once, then each object applied.
    async fn changed_page(
        &mut self,
        items: &[serde_json::Value],
        people: &mut People,
    ) -> Result<(), SyncError> {
        let objects: Vec<GroupObject> = items.iter().filter_map(GroupObject::parse).collect();
        self.counts.groups_read += objects.len() as u64;
        let mut held = HashSet::new();
        let mut entering: HashMap<String, GroupState> = HashMap::new();
        for object in &objects {
            let GroupObject::Present(group) = object else {
                continue;
            };
            if held.contains(&group.id) || entering.contains_key(&group.id) {
                continue;
            }
            match teams::get(self.docs, self.tenant, &group.id).await {
                Ok(_) => {
                    held.insert(group.id.clone());
                }
                Err(TeamError::NotFound) if group.is_team() => {
                    if let Some(whole) = self.read_whole(group).await? {
                        entering.insert(group.id.clone(), whole);
                    }
                }
                Err(TeamError::NotFound) => {}
                Err(TeamError::Platform(e)) => return Err(e.into()),
                Err(e) => return Err(PlatformError::Invalid(e.to_string()).into()),
            }
        }
        let added = objects.iter().filter_map(|o| match o {
            GroupObject::Present(g) if held.contains(&g.id) => Some(g.as_ref()),
            _ => None,
        });
        let needed: Vec<&str> = added
            .chain(entering.values())
            .flat_map(GroupState::people_added)
            .collect();
        self.counts.looked_up += people.look_up(&self.graph, self.tenant, needed).await? as u64;
        for object in objects {
            match object {
                GroupObject::Removed { id, reason } => self.remove(&id, reason).await?,
                GroupObject::Present(group) => {
                    if let Some(whole) = entering.remove(&group.id) {
                        self.counts.teams_seen += 1;
                        self.apply(&whole, Links::Replace, people).await?;
                    } else if held.contains(&group.id) {
                        self.counts.teams_seen += 1;
                        self.apply(&group, Links::Change, people).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A team new to the inventory with its members and owners read whole;
    /// `None` when the group went meanwhile.
    async fn read_whole(&self, group: &GroupState) -> Result<Option<GroupState>, SyncError> {
        let mut whole = group.clone();
        for (relation, list) in [
            ("members", &mut whole.members),
            ("owners", &mut whole.owners),
        ] {
            let path = format!("/groups/{}/{relation}?$select=id", group.id);
            let items = match self.graph.get_all(self.tenant, &path).await {
                Ok(items) => items,
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            *list = items.iter().filter_map(delta::link).collect();
        }
        Ok(Some(whole))
    }

    async fn apply(
        &mut self,
        group: &GroupState,
        links: Links,
        people: &People,
    ) -> Result<(), SyncError> {
        let now = self.clock.now();
        let applied =
            inventory::apply_group(self.docs, self.tenant, group, links, people, now).await?;
        self.counts.count(applied);
        Ok(())
    }

    async fn remove(&mut self, id: &str, reason: delta::Reason) -> Result<(), SyncError> {
        let now = self.clock.now();
        let removal = group::removal(reason);
        if inventory::mark_removed(self.docs, self.tenant, id, removal, now).await? {
            tracing::info!(tenant = %self.tenant, group = id, ?removal, "a team was deleted");
            self.counts.removed += 1;
        }
        Ok(())
    }
}

/// A token that expires inside a full round (its own, minutes old): Graph
/// is in trouble; the sync fails and its message is retried.
fn expired(e: Expired) -> SyncError {
    SyncError::Graph(GraphError::Http {
        status: e.status,
        code: e.code,
        message: "a delta token expired during a full sync".into(),
    })
}
