//! A sweep's second half: every team of the tenant's inventory evaluated
//! against the tenant's current policies, page by page. With `record`, the
//! findings are reconciled with the ones kept (only what changed is
//! written; what no longer holds is resolved); without, nothing is stored
//! (`handler sweep`, a dry run). A tenant without stored policies finds
//! nothing, and resolves what an earlier version found.

use futures::TryStreamExt;
use time::OffsetDateTime;

use super::findings::{self, Finding, Rules};
use super::policy::Policies;
use super::recorded::{self, Reconciled};
use super::review::Naming;
use super::{state, store};
use crate::governance::naming::NamingPolicy;
use crate::governance::teams;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::documents::Documents;

/// What a sweep found, tenant-wide.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// The policy version evaluated (0: none stored).
    pub policy_version: u32,
    pub teams: u32,
    /// Every finding, when the caller asked to keep them (a dry run
    /// prints them); empty otherwise, so a sweep of any size holds one
    /// team's findings at a time.
    pub findings: Vec<Finding>,
    pub found: u32,
    pub recorded: Reconciled,
}

impl Evaluation {
    /// One line for the log: what the policies found, and what changed in
    /// the kept findings.
    pub fn summary(&self) -> String {
        if self.policy_version == 0 {
            return "no lifecycle policies stored: nothing evaluated".into();
        }
        let r = &self.recorded;
        format!(
            "policies v{} over {} teams: {} findings ({} new, {} changed, {} resolved)",
            self.policy_version, self.teams, self.found, r.new, r.changed, r.resolved
        )
    }
}

pub struct Sweep<'a> {
    pub docs: &'a dyn Documents,
    pub tenant: &'a TenantId,
    pub tenant_naming: &'a NamingPolicy,
    pub now: OffsetDateTime,
    /// Reconcile the kept findings (as `actor`); `None`: a dry run.
    pub record: Option<&'a str>,
    /// Return every finding in [`Evaluation::findings`].
    pub keep: bool,
    /// Told the number of teams evaluated so far, after each team (a
    /// progress bar on an operator's terminal).
    pub progress: Option<&'a (dyn Fn(u32) + Send + Sync)>,
}

impl Sweep<'_> {
    pub async fn run(&self) -> PlatformResult<Evaluation> {
        let (version, policies) = match store::current(self.docs, self.tenant).await? {
            Some(stored) => (stored.version, stored.policies),
            None => (0, Policies::default()),
        };
        let mut out = Evaluation {
            policy_version: version,
            ..Evaluation::default()
        };
        // The inventory's facts are as of its last round.
        let read_at = state::get(self.docs, self.tenant)
            .await?
            .and_then(|s| {
                [s.last_full, s.last_incremental]
                    .into_iter()
                    .flatten()
                    .map(|r| r.finished_at)
                    .max()
            })
            .unwrap_or(self.now);
        let mut naming = Naming::new(self.docs, self.tenant, self.tenant_naming);
        // The kept findings, read once (there are far fewer than teams):
        // no query per team.
        let mut kept = match self.record {
            Some(_) => recorded::by_team(self.docs, self.tenant).await?,
            None => Default::default(),
        };
        let mut all = std::pin::pin!(teams::all(self.docs, self.tenant));
        while let Some(team) = all.try_next().await? {
            out.teams += 1;
            let set = policies.effective(team.template_id.as_deref());
            let (facts, naming_policy) = naming.facts(&team, read_at).await?;
            let rules = Rules {
                policies: &set,
                version,
                naming: naming_policy,
            };
            let found = findings::evaluate(&rules, &facts, self.now);
            out.found += u32::try_from(found.len()).unwrap_or(u32::MAX);
            if let Some(actor) = self.record {
                let before = kept.remove(&team.group_id).unwrap_or_default();
                out.recorded += recorded::reconcile_with(
                    self.docs,
                    self.tenant,
                    &team.group_id,
                    &before,
                    &found,
                    self.now,
                    actor,
                )
                .await?;
            }
            if self.keep {
                out.findings.extend(found);
            }
            if let Some(progress) = self.progress {
                progress(out.teams);
            }
        }
        Ok(out)
    }
}
