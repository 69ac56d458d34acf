//! Enforcement carried out: after a sweep has recorded a tenant's findings,
//! every enforced finding that is due makes the moves
//! [`enforce::next`](crate::governance::lifecycle::enforce::next) decides:
//! cards to owners, members or governance contacts (through the bot
//! outbox, under keys that make a second send a no-op), the team warned,
//! Graph actions queued as checkpointed jobs (under keys that make a
//! second request a no-op). Each move is noted on its finding once made,
//! so the next sweep goes on from there. Dry-run findings do nothing.
//!
//! The answers to the cards come back through the card actions
//! (`bot::invokes::card_action`) and [`queue_answer`].

use futures::TryStreamExt;
use time::{Duration, OffsetDateTime};

use crate::app::App;
use crate::bot::notify;
use crate::error::AppError;
use crate::governance::lifecycle::actions::{self, ActionRequest, Requested};
use crate::governance::lifecycle::enforce::{self, Acted, Audience, Effect, Move};
use crate::governance::lifecycle::findings::Action as FindingAction;
use crate::governance::lifecycle::machine::{Cause, LifecycleEvent, LifecycleState};
use crate::governance::lifecycle::people::People;
use crate::governance::lifecycle::policy::{Policies, PolicyKind, PolicySet};
use crate::governance::lifecycle::recorded::{self, RecordedFinding};
use crate::governance::lifecycle::{store, transitions};
use crate::governance::people::Person;
use crate::governance::teams::{self, GuestAnswer, GuestReview, Renewal, TeamRecord};
use crate::governance::templates;
use crate::ids::TenantId;
use crate::jobs::governance_action::Action;
use crate::platform::documents::Documents;
use crate::teams::cards;
use crate::teams::cards::lifecycle::MAX_GUESTS_REVIEWED;

/// Most members of an ownerless team asked to name an owner.
pub const MAX_MEMBERS_ASKED: usize = 25;

/// What enforcement did in one tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enforced {
    /// Enforced findings that were due.
    pub due: u32,
    pub cards: u32,
    pub actions: u32,
    /// Moves that failed (tried again by the next sweep).
    pub failed: u32,
}

impl Enforced {
    pub fn summary(&self) -> String {
        format!(
            "enforced: {} due, {} cards, {} actions queued, {} failed",
            self.due, self.cards, self.actions, self.failed
        )
    }
}

/// Carries out the due moves of `tenant`'s enforced findings at `now`.
pub async fn enforce_tenant(
    app: &App,
    tenant: &TenantId,
    now: OffsetDateTime,
    actor: &str,
) -> Result<Enforced, AppError> {
    let docs = app.docs.as_ref();
    let Some(stored) = store::current(docs, tenant).await? else {
        return Ok(Enforced::default());
    };
    // The findings that may move, read first (a page at a time), so the
    // moves below never race the stream.
    let due: Vec<RecordedFinding> = recorded::all(docs, tenant)
        .try_filter(|r| std::future::ready(r.finding.enforced && r.finding.due <= now))
        .try_collect()
        .await?;
    let mut out = Enforced {
        due: u32::try_from(due.len()).unwrap_or(u32::MAX),
        ..Enforced::default()
    };
    for record in due {
        let run = Run {
            app,
            tenant,
            now,
            actor,
            policies: &stored.policies,
            version: stored.version,
            record: &record,
        };
        if let Err(e) = run.moves(&mut out).await {
            out.failed += 1;
            tracing::error!(%tenant, team = %record.team_id, policy = record.policy.name(), error = %e, "an enforcement move failed; the next sweep tries again");
        }
    }
    Ok(out)
}

struct Run<'a> {
    app: &'a App,
    tenant: &'a TenantId,
    now: OffsetDateTime,
    actor: &'a str,
    policies: &'a Policies,
    version: u32,
    record: &'a RecordedFinding,
}

impl Run<'_> {
    fn docs(&self) -> &dyn Documents {
        self.app.docs.as_ref()
    }

    fn cause(&self, reason: &str) -> Cause {
        Cause {
            actor: self.actor.to_owned(),
            policy: Some((self.record.policy, self.record.finding.policy_version)),
            reason: reason.to_owned(),
        }
    }

    async fn moves(&self, out: &mut Enforced) -> Result<(), AppError> {
        let team = match teams::get(self.docs(), self.tenant, &self.record.team_id).await {
            Ok(team) if team.is_present() => team,
            Ok(_) | Err(teams::TeamError::NotFound) => return Ok(()),
            Err(e) => return Err(AppError::Internal(e.into())),
        };
        let set = self.policies.effective(team.template_id.as_deref());
        let finding = &self.record.finding;
        for step in enforce::next(finding, &set, &self.record.acted, self.now) {
            let detail = self.make(&step, &team, &set, out).await?;
            let acted = Acted {
                did: step.did(),
                action: finding.action,
                at: self.now,
                detail,
            };
            recorded::note(
                self.docs(),
                self.tenant,
                &self.record.team_id,
                self.record.policy,
                acted,
            )
            .await?;
        }
        Ok(())
    }

    /// Makes one move; returns what it did, in words.
    async fn make(
        &self,
        step: &Move,
        team: &TeamRecord,
        set: &PolicySet,
        out: &mut Enforced,
    ) -> Result<String, AppError> {
        let finding = &self.record.finding;
        match step {
            Move::Ask { to, reminder, warn } => {
                let tag = if *reminder { "-reminder" } else { "" };
                let (team, card) = self.card(team, set).await?;
                let people: Vec<Person> = match to {
                    Audience::Owners => team.owners.clone(),
                    Audience::Members => team
                        .member_ids
                        .iter()
                        .take(MAX_MEMBERS_ASKED)
                        .map(|id| Person::new(id.clone(), ""))
                        .collect(),
                };
                let since = self.record.first_seen.unix_timestamp();
                for person in &people {
                    let key = format!(
                        "lifecycle-{}-{}-{:?}-{since}-{}{tag}",
                        team.group_id,
                        finding.policy.name(),
                        finding.action,
                        person.aad_object_id
                    );
                    notify::send_to_person(self.app, self.tenant, person, key, card.clone())
                        .await?;
                    out.cards += 1;
                }
                if *warn && team.lifecycle == LifecycleState::Active {
                    transitions::apply(
                        self.docs(),
                        self.tenant,
                        &team.group_id,
                        &[LifecycleEvent::Warn],
                        self.now,
                        &self.cause(&finding.decision),
                    )
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?;
                }
                Ok(format!(
                    "{} sent to {} {}",
                    if *reminder { "reminder" } else { "card" },
                    people.len(),
                    if *to == Audience::Owners {
                        "owner(s)"
                    } else {
                        "member(s)"
                    }
                ))
            }
            Move::TellContacts(contacts) => {
                let (min, days) = set
                    .minimum_owners
                    .as_ref()
                    .map_or((2, 7), |p| (p.min_owners, p.nominate_days));
                let card = cards::lifecycle::owners_not_named(team, min, days);
                for id in contacts {
                    let key = format!(
                        "lifecycle-{}-contacts-{}-{id}",
                        team.group_id,
                        self.record.first_seen.unix_timestamp()
                    );
                    let contact = Person::new(id.clone(), "");
                    notify::send_to_person(self.app, self.tenant, &contact, key, card.clone())
                        .await?;
                    out.cards += 1;
                }
                Ok(format!("{} governance contact(s) told", contacts.len()))
            }
            Move::Request(effects) => {
                let mut queued = 0;
                for effect in effects {
                    queued += self.request(team, *effect, out).await?;
                }
                Ok(format!("{queued} action(s) queued"))
            }
            Move::KeepByDefault => self.keep_by_default(team, set).await,
        }
    }

    /// The card of the finding's action, as of `team` (made ready for it:
    /// a renewal pending, a guest review open).
    async fn card(
        &self,
        team: &TeamRecord,
        set: &PolicySet,
    ) -> Result<(TeamRecord, serde_json::Value), AppError> {
        let finding = &self.record.finding;
        let then = finding.then.clone().unwrap_or_default();
        Ok(match finding.action {
            FindingAction::SendRenewalCard => {
                let team = self.renewal_pending(team, set).await?;
                let card = cards::team_expiring(&team, None);
                (team, card)
            }
            FindingAction::AskKeepArchiveOrDelete => {
                let days = set.inactivity.as_ref().map_or(90, |p| p.inactive_days);
                (
                    team.clone(),
                    cards::lifecycle::inactive(team, None, days, &then),
                )
            }
            FindingAction::ReviewGuests => {
                let team = self.open_guest_review(team).await?;
                let card = cards::lifecycle::guest_review(&team, None, &then);
                (team, card)
            }
            _ => {
                let min = set.minimum_owners.as_ref().map_or(2, |p| p.min_owners);
                (
                    team.clone(),
                    cards::lifecycle::owner_needed(team, None, min),
                )
            }
        })
    }

    /// The team with its expiry pending an owner's answer: SalesTim's
    /// expiry set from the policy when the team had none of its own.
    async fn renewal_pending(
        &self,
        team: &TeamRecord,
        set: &PolicySet,
    ) -> Result<TeamRecord, AppError> {
        let Some(p) = &set.expiry else {
            return Ok(team.clone());
        };
        let start = team
            .entra_renewed_at
            .or(team.entra_created_at)
            .or(team.first_seen_at);
        let pending = teams::modify(self.docs(), self.tenant, &team.group_id, |t| {
            if t.expires_at.is_none() {
                // The policy's lifetime, or Entra's expiry when it comes first.
                let lifetime = start.map(|s| s + Duration::days(p.lifetime_days.into()));
                t.expires_at = match (lifetime, t.entra_expires_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            t.renewal_days.get_or_insert(p.lifetime_days);
            t.renewal = Renewal::Pending;
            Ok::<_, AppError>(())
        })
        .await?;
        Ok(pending.map_or_else(|| team.clone(), |m| m.team))
    }

    /// Opens a guest review on the team (its guests, named where Graph
    /// knows them), unless one was opened since this finding was first seen.
    async fn open_guest_review(&self, team: &TeamRecord) -> Result<TeamRecord, AppError> {
        if team
            .guest_review
            .as_ref()
            .is_some_and(|r| r.answer.is_none() && r.asked_at >= self.record.first_seen)
        {
            return Ok(team.clone());
        }
        let mut people = People::default();
        if let Some(graph) = self.app.graph.as_ref()
            && let Err(e) = people
                .look_up(
                    graph,
                    self.tenant,
                    team.guest_ids
                        .iter()
                        .take(MAX_GUESTS_REVIEWED)
                        .map(String::as_str),
                )
                .await
        {
            tracing::warn!(tenant = %self.tenant, team = %team.group_id, error = %e, "guest names not read; the review shows ids");
        }
        let guests: Vec<Person> = team
            .guest_ids
            .iter()
            .take(MAX_GUESTS_REVIEWED)
            .map(|id| {
                let name = people
                    .get(&id.to_ascii_lowercase())
                    .map(|k| k.name.clone())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| format!("Guest {id}"));
                Person::new(id.clone(), name)
            })
            .collect();
        let now = self.now;
        let opened = teams::modify(self.docs(), self.tenant, &team.group_id, |t| {
            t.guest_review = Some(GuestReview {
                asked_at: now,
                guests: guests.clone(),
                answer: None,
            });
            Ok::<_, AppError>(())
        })
        .await?;
        Ok(opened.map_or_else(|| team.clone(), |m| m.team))
    }

    /// Queues `effect`'s actions; returns how many were new.
    async fn request(
        &self,
        team: &TeamRecord,
        effect: Effect,
        out: &mut Enforced,
    ) -> Result<u32, AppError> {
        let finding = &self.record.finding;
        let mut wanted: Vec<Action> = match effect {
            Effect::Archive => vec![Action::Archive],
            Effect::SoftDelete => vec![Action::SoftDelete],
            Effect::RemoveGuests => {
                let review = team.guest_review.as_ref().filter(|r| r.answer.is_none());
                let guests: Vec<String> = match review {
                    Some(r) => r.guests.iter().map(|g| g.aad_object_id.clone()).collect(),
                    None => team.guest_ids.clone(),
                };
                self.close_guest_review(team, &guests).await?;
                guests
                    .into_iter()
                    .map(|user| Action::RemoveGuest { user })
                    .collect()
            }
            Effect::ReAddMissingMembers => {
                let missing = self.missing_permanent(team).await?;
                if !missing.is_empty() {
                    let card = cards::lifecycle::members_restored(team, missing.len());
                    for owner in &team.owners {
                        let key = format!(
                            "lifecycle-{}-restored-{}-{}",
                            team.group_id,
                            self.record.first_seen.unix_timestamp(),
                            owner.aad_object_id
                        );
                        notify::send_to_person(self.app, self.tenant, owner, key, card.clone())
                            .await?;
                        out.cards += 1;
                    }
                }
                missing
                    .into_iter()
                    .map(|user| Action::ReAddMember { user })
                    .collect()
            }
        };
        let mut queued = 0;
        for action in wanted.drain(..) {
            let key = format!(
                "sweep:{}:{}:{}:{}",
                team.group_id,
                finding.policy.name(),
                action_key(&action),
                self.record.first_seen.unix_timestamp()
            );
            let ask = ActionRequest {
                team_id: team.group_id.clone(),
                action,
                cause: self.cause(&finding.decision),
                key,
            };
            match actions::request(
                self.docs(),
                self.app.clock.as_ref(),
                self.app.queues.as_ref(),
                self.tenant,
                ask,
            )
            .await?
            {
                Requested::Queued(_) => {
                    queued += 1;
                    out.actions += 1;
                }
                Requested::Already(_) => {}
                Requested::Refused(job) => {
                    tracing::warn!(tenant = %self.tenant, team = %team.group_id, reason = ?job.failure, "an enforced action was refused");
                }
            }
        }
        Ok(queued)
    }

    /// Nobody answered the guest review and the policy removes them: the
    /// review is closed by the policy's default, recorded as such.
    async fn close_guest_review(
        &self,
        team: &TeamRecord,
        removed: &[String],
    ) -> Result<(), AppError> {
        let now = self.now;
        teams::modify(self.docs(), self.tenant, &team.group_id, |t| {
            if let Some(review) = t.guest_review.as_mut()
                && review.answer.is_none()
            {
                review.answer = Some(GuestAnswer {
                    by: None,
                    at: now,
                    removed: removed.to_vec(),
                });
            }
            t.guests_reviewed_at = Some(now);
            Ok::<_, AppError>(())
        })
        .await?;
        Ok(())
    }

    async fn missing_permanent(&self, team: &TeamRecord) -> Result<Vec<String>, AppError> {
        let Some(template) = team.template_id.as_deref() else {
            return Ok(Vec::new());
        };
        let Some(t) = templates::get(self.docs(), self.tenant, template).await? else {
            return Ok(Vec::new());
        };
        Ok(t.template
            .permanent
            .iter()
            .filter(|id| !team.is_member(id))
            .cloned()
            .collect())
    }

    /// Nobody answered and the policy keeps: an inactive team is kept for
    /// another period (a waiver by the policy), guests are kept and
    /// reported (the review closed as answered by the default).
    async fn keep_by_default(
        &self,
        team: &TeamRecord,
        set: &PolicySet,
    ) -> Result<String, AppError> {
        match self.record.policy {
            PolicyKind::Inactivity => {
                let days = set.inactivity.as_ref().map_or(90, |p| p.inactive_days);
                let now = self.now;
                let waiver = crate::governance::lifecycle::machine::Waiver::new(
                    PolicyKind::Inactivity,
                    now + Duration::days(days.clamp(1, 366).into()),
                    "kept by the policy's default: nobody answered",
                    self.actor,
                    now,
                )
                .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
                // The waiver and the way back to active, in one write.
                let cause = self.cause("kept by the policy's default: nobody answered");
                let kept = teams::modify(self.docs(), self.tenant, &team.group_id, |t| {
                    t.waivers.retain(|w| w.until > now);
                    t.waivers.push(waiver.clone());
                    if t.lifecycle != LifecycleState::Warned {
                        return Ok(None);
                    }
                    transitions::step(t, LifecycleEvent::Activate, now, cause.clone())
                        .map(Some)
                        .map_err(|e| AppError::Internal(e.into()))
                })
                .await?;
                if let Some(m) = kept
                    && let Some(moved) = &m.out
                {
                    let entry =
                        transitions::audit_entry(&team.group_id, &m.team.display_name, moved);
                    crate::governance::audit::record(self.docs(), self.tenant, &entry).await?;
                }
                Ok(format!("kept for {days} days by the policy's default"))
            }
            _ => {
                self.close_guest_review(team, &[]).await?;
                crate::governance::audit::record(
                    self.docs(),
                    self.tenant,
                    &crate::governance::audit::AuditEntry {
                        at: self.now,
                        actor: self.actor.to_owned(),
                        action: "team.guestsKeptUnreviewed".into(),
                        details: serde_json::json!({"teamId": team.group_id, "displayName": team.display_name, "guests": team.guest_ids.len(), "policyVersion": self.version}),
                    },
                )
                .await?;
                Ok(format!(
                    "{} guest(s) kept unreviewed and reported",
                    team.guest_ids.len()
                ))
            }
        }
    }
}

/// A short, stable name of an action for idempotency keys.
fn action_key(action: &Action) -> String {
    match action {
        Action::Archive => "archive".into(),
        Action::Unarchive => "unarchive".into(),
        Action::SoftDelete => "softDelete".into(),
        Action::Restore => "restore".into(),
        Action::Renew => "renew".into(),
        Action::AddOwner { user } => format!("addOwner-{user}"),
        Action::RemoveGuest { user } => format!("removeGuest-{user}"),
        Action::ReAddMember { user } => format!("reAddMember-{user}"),
    }
}

/// Queues what an answer on a lifecycle card asks for, keyed by the team,
/// the action, and `answer_key` (the card's own identity: the same click
/// replayed asks once).
pub async fn queue_answer(
    app: &App,
    tenant: &TenantId,
    team_id: &str,
    by: &Person,
    wanted: Vec<Action>,
    answer_key: &str,
    reason: &str,
) -> Result<u32, AppError> {
    let mut queued = 0;
    for action in wanted {
        let ask = ActionRequest {
            team_id: team_id.to_owned(),
            key: format!("card:{team_id}:{}:{answer_key}", action_key(&action)),
            action,
            cause: Cause {
                actor: by.actor(),
                policy: None,
                reason: reason.to_owned(),
            },
        };
        if let Requested::Queued(_) = actions::request(
            app.docs.as_ref(),
            app.clock.as_ref(),
            app.queues.as_ref(),
            tenant,
            ask,
        )
        .await?
        {
            queued += 1;
        }
    }
    Ok(queued)
}

/// An owner's answer to their team's expiry (the card's Renew / Let it
/// expire, or the same buttons in the My teams tab). A warned team that is
/// renewed is renewed in Entra too and becomes active again; the key is the
/// new expiry, so a replayed answer asks nothing more.
pub async fn answer_expiry(
    app: &App,
    tenant: &TenantId,
    group_id: &str,
    owner: &Person,
    renew: bool,
) -> Result<Result<TeamRecord, teams::TeamError>, AppError> {
    let (docs, clock) = (app.docs.as_ref(), app.clock.as_ref());
    let answered = teams::answer_expiry(docs, clock, tenant, group_id, owner, renew).await;
    if renew
        && let Ok(team) = &answered
        && team.renewal == Renewal::Renewed
        && team.lifecycle == LifecycleState::Warned
    {
        let key = format!(
            "renew-{}",
            team.expires_at.map_or(0, |t| t.unix_timestamp())
        );
        queue_answer(
            app,
            tenant,
            group_id,
            owner,
            vec![Action::Renew],
            &key,
            "an owner renewed the team",
        )
        .await?;
    }
    Ok(answered)
}
