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
//!
//! - **Graph budget**: a run may make so many Graph requests
//!   ([`Inventory::budget`]). A round that reaches it stops after the page
//!   in hand and keeps where it was ([`state::Resume`]): the next run
//!   continues from that page, not from scratch. A full round stopped so
//!   marks no team missing until its listing is whole (the teams it saw
//!   are kept with it). A run that continues a round without the users of
//!   its earlier runs looks up the people its pages name (twenty a
//!   `$batch`), as an incremental round does.
//! - Every request of a sync goes out with `x-ms-throttle-priority: Low`
//!   ([`Graph::low_priority`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use time::OffsetDateTime;

use super::group::{self, GroupObject, GroupState, Links};
use super::inventory::{self, Applied};
use super::people::{self, People};
use super::state::{self, Claim, End, Finished, Phase, Resume, Round, RoundKind, SyncState};
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
    /// Graph requests one run may make (retries included); the round
    /// stops after the page that reaches it and continues at the next run.
    pub budget: u64,
}

impl Inventory<'_> {
    /// Syncs `tenant`'s inventory (full or incremental, as its state says;
    /// or the round a previous run left unfinished). `period` names a
    /// scheduled run: a second sync of the same period does nothing.
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
            graph: self.graph.tallied(tally.clone()).low_priority(),
            tenant,
            tally,
            budget: self.budget.max(1),
            counts: Counts::default(),
        };
        match run.rounds(&state).await {
            Ok(done) => {
                let round = done.round.clone();
                let finished = Finished {
                    end: done.end,
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
    /// Counted in `tally` too; low priority.
    graph: Graph,
    tenant: &'a TenantId,
    tally: Arc<Tally>,
    budget: u64,
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
    end: End,
    round: Round,
}

/// A round in progress (what [`Resume`] keeps between runs).
struct Progress {
    kind: RoundKind,
    why: String,
    started_at: OffsetDateTime,
    /// This run of the round (1: its first).
    run: u32,
    phase: Phase,
    /// A full round: the teams listed so far.
    seen: HashSet<String>,
    seen_overflow: bool,
}

impl Progress {
    fn full(why: String, started_at: OffsetDateTime) -> Progress {
        Progress {
            kind: RoundKind::Full,
            why,
            started_at,
            run: 1,
            phase: Phase::Users {
                next: format!("/users/delta?$select={}", people::SELECT),
                groups: format!("/groups/delta?$select={}", group::SELECT),
            },
            seen: HashSet::new(),
            seen_overflow: false,
        }
    }

    fn incremental(groups: &str, users: &str, started_at: OffsetDateTime) -> Progress {
        Progress {
            kind: RoundKind::Incremental,
            why: "kept delta links".into(),
            started_at,
            run: 1,
            phase: Phase::Users {
                next: users.to_owned(),
                groups: groups.to_owned(),
            },
            seen: HashSet::new(),
            seen_overflow: false,
        }
    }

    fn resumed(resume: &Resume) -> Progress {
        Progress {
            kind: resume.kind,
            why: resume.why.clone(),
            started_at: resume.started_at,
            run: resume.runs + 1,
            phase: resume.phase.clone(),
            seen: resume.seen.iter().cloned().collect(),
            seen_overflow: resume.seen_overflow,
        }
    }

    fn into_resume(self) -> Resume {
        let overflow = self.seen_overflow || self.seen.len() > state::MAX_SEEN_KEPT;
        let mut seen: Vec<String> = if overflow {
            Vec::new()
        } else {
            self.seen.into_iter().collect()
        };
        seen.sort();
        Resume {
            kind: self.kind,
            why: self.why,
            started_at: self.started_at,
            runs: self.run,
            phase: self.phase,
            seen,
            seen_overflow: overflow,
        }
    }
}

/// How a delta walk of a run ended.
enum Walked {
    /// The round's deltaLink.
    Done(String),
    /// The budget is spent: the link of the next page.
    Stopped(String),
    Expired(Expired),
}

impl Run<'_> {
    async fn rounds(mut self, state: &SyncState) -> Result<Done, SyncError> {
        let started = self.clock.now();
        let why = if let Some(resume) = &state.resume {
            let progress = Progress::resumed(resume);
            let outcome = match progress.kind {
                RoundKind::Full => self.full(progress).await?,
                RoundKind::Incremental => self.incremental(progress).await?,
            };
            match outcome {
                Ok(done) => return Ok(done),
                Err(e) => {
                    tracing::info!(tenant = %self.tenant, status = e.status, code = %e.code, "the link a stopped round kept expired; syncing in full");
                    self.counts = Counts::default();
                    format!(
                        "the link a stopped round kept expired (HTTP {} {})",
                        e.status, e.code
                    )
                }
            }
        } else {
            match (&state.groups_link, &state.users_link, &state.last_full) {
                (Some(groups), Some(users), Some(full))
                    if started - full.started_at < FULL_EVERY =>
                {
                    let progress = Progress::incremental(groups, users, started);
                    match self.incremental(progress).await? {
                        Ok(done) => return Ok(done),
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
            }
        };
        self.full(Progress::full(why, started))
            .await?
            .map_err(expired)
    }

    /// The run's record of its round (`complete`: the round is over).
    fn round(&self, p: &Progress, complete: bool) -> Round {
        let c = &self.counts;
        let cost = self.tally.stats();
        Round {
            kind: p.kind,
            why: p.why.clone(),
            started_at: p.started_at,
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
            batched: cost.batched,
            throttled: cost.throttled,
            run: p.run,
            complete,
            budget: self.budget,
        }
    }

    fn done(&self, p: Progress, groups_link: String, users_link: String) -> Done {
        Done {
            round: self.round(&p, true),
            end: End::Links {
                groups_link,
                users_link,
            },
        }
    }

    fn stopped(&self, p: Progress) -> Done {
        let round = self.round(&p, false);
        tracing::info!(tenant = %self.tenant, run = p.run, requests = round.graph_requests, budget = self.budget,
            "the inventory round spent its Graph budget; it continues at the next run");
        Done {
            round,
            end: End::Stopped(p.into_resume()),
        }
    }

    /// The link of the walk's next page when the run has spent its budget.
    fn over_budget(&self, walk: &DeltaWalk<'_>) -> Option<String> {
        let next = walk.next_link()?;
        (self.tally.stats().requests >= self.budget).then(|| next.to_owned())
    }

    /// Every user and every group (from where `p` stands); `Err(Expired)`
    /// when a token expired.
    async fn full(&mut self, mut p: Progress) -> Result<Result<Done, Expired>, SyncError> {
        let mut people = People::default();
        // The users of the round's earlier runs are not in memory.
        let look_up = p.run > 1;
        let (users_link, next) = match p.phase.clone() {
            Phase::Users { next, groups } => match self.users(&next, &mut people).await? {
                Walked::Done(link) => (link, groups),
                Walked::Stopped(next) => {
                    p.phase = Phase::Users { next, groups };
                    return Ok(Ok(self.stopped(p)));
                }
                Walked::Expired(e) => return Ok(Err(e)),
            },
            Phase::Groups { users_link, next } => (users_link, next),
        };
        let known = inventory::known_ids(self.docs, self.tenant).await?;
        let graph = self.graph.clone();
        let mut walk = DeltaWalk::start(&graph, self.tenant, next);
        let groups_link = loop {
            let items = match walk.next().await? {
                Step::Page(items) => items,
                Step::Done { delta_link } => break delta_link,
                Step::Expired(e) => return Ok(Err(e)),
            };
            self.listed_page(&items, &known, &mut p.seen, &mut people, look_up)
                .await?;
            if let Some(next) = self.over_budget(&walk) {
                p.phase = Phase::Groups { users_link, next };
                return Ok(Ok(self.stopped(p)));
            }
        };
        if p.seen_overflow {
            tracing::warn!(tenant = %self.tenant, "a full round over several runs saw too many teams to keep: no team is marked missing this time");
        } else {
            let now = self.clock.now();
            self.counts.removed +=
                inventory::mark_missing(self.docs, self.tenant, &p.seen, p.started_at, now).await?;
        }
        Ok(Ok(self.done(p, groups_link, users_link)))
    }

    /// One page of a full listing; `look_up`: first the people it names
    /// whom this run has not read.
    async fn listed_page(
        &mut self,
        items: &[serde_json::Value],
        known: &HashSet<String>,
        seen: &mut HashSet<String>,
        people: &mut People,
        look_up: bool,
    ) -> Result<(), SyncError> {
        let objects: Vec<GroupObject> = items.iter().filter_map(GroupObject::parse).collect();
        if look_up {
            let needed: Vec<&str> = objects
                .iter()
                .filter_map(|o| match o {
                    GroupObject::Present(g) if g.is_team() || known.contains(&g.id) => {
                        Some(g.as_ref())
                    }
                    _ => None,
                })
                .flat_map(GroupState::people_added)
                .collect();
            self.counts.looked_up += people.look_up(&self.graph, self.tenant, needed).await? as u64;
        }
        for object in objects {
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
            self.apply(&group, links, people).await?;
        }
        Ok(())
    }

    /// What changed since the links (from where `p` stands);
    /// `Err(Expired)` when a token expired.
    async fn incremental(&mut self, mut p: Progress) -> Result<Result<Done, Expired>, SyncError> {
        let mut people = People::default();
        let (users_link, next) = match p.phase.clone() {
            Phase::Users { next, groups } => match self.users(&next, &mut people).await? {
                Walked::Done(link) => {
                    // Now, while the users the round reported are in hand
                    // (a later run of the round would not have them).
                    self.counts.changed +=
                        inventory::refresh_people(self.docs, self.tenant, &people).await?;
                    (link, groups)
                }
                Walked::Stopped(next) => {
                    p.phase = Phase::Users { next, groups };
                    return Ok(Ok(self.stopped(p)));
                }
                Walked::Expired(e) => return Ok(Err(e)),
            },
            Phase::Groups { users_link, next } => (users_link, next),
        };
        let graph = self.graph.clone();
        let mut walk = DeltaWalk::start(&graph, self.tenant, next);
        let groups_link = loop {
            match walk.next().await? {
                Step::Page(items) => self.changed_page(&items, &mut people).await?,
                Step::Done { delta_link } => break delta_link,
                Step::Expired(e) => return Ok(Err(e)),
            }
            if let Some(next) = self.over_budget(&walk) {
                p.phase = Phase::Groups { users_link, next };
                return Ok(Ok(self.stopped(p)));
            }
        };
        Ok(Ok(self.done(p, groups_link, users_link)))
    }

    /// One users round into `people`, until its deltaLink, the budget, or
    /// an expired token.
    async fn users(&mut self, link: &str, people: &mut People) -> Result<Walked, SyncError> {
        let graph = self.graph.clone();
        let mut walk = DeltaWalk::start(&graph, self.tenant, link);
        loop {
            match walk.next().await? {
                Step::Page(items) => {
                    self.counts.users_read += people.read_page(&items)? as u64;
                    if let Some(next) = self.over_budget(&walk) {
                        return Ok(Walked::Stopped(next));
                    }
                }
                Step::Done { delta_link } => return Ok(Walked::Done(delta_link)),
                Step::Expired(e) => return Ok(Walked::Expired(e)),
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
