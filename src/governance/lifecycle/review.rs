//! What a change of policies would do before it is stored: for every team
//! of the tenant, its findings under the current version and under the
//! proposed one, and the teams where they differ. The teams are read page
//! by page, so a tenant of any size is reviewed in bounded memory.

use std::collections::HashMap;

use futures::TryStreamExt;
use time::OffsetDateTime;

use super::findings::{self, Action, Rules, TeamFacts};
use super::machine::LifecycleState;
use super::policy::{Policies, PolicyKind};
use crate::governance::naming::{Attributes, NamingPolicy};
use crate::governance::teams::{self, Removal, TeamRecord};
use crate::governance::templates;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::documents::Documents;

/// One version of the policies, as a review reads it.
pub struct Version<'a> {
    pub number: u32,
    pub policies: &'a Policies,
}

/// A team whose findings differ between the two versions.
#[derive(Clone, Debug, PartialEq)]
pub struct TeamChange {
    pub team_id: String,
    pub team_name: String,
    pub before: Vec<(PolicyKind, Action, bool)>,
    pub after: Vec<(PolicyKind, Action, bool)>,
}

/// The facts of a team as the inventory keeps them.
pub fn facts_of(team: &TeamRecord, read_at: OffsetDateTime) -> TeamFacts {
    TeamFacts {
        team_id: team.group_id.clone(),
        display_name: team.display_name.clone(),
        template_id: team.template_id.clone(),
        read_at,
        created_at: team.entra_created_at.or(team.first_seen_at),
        renewed_at: team.entra_renewed_at,
        expires_at: team.expires_at,
        entra_expires_at: team.entra_expires_at,
        owners: u32::try_from(team.owners.len()).unwrap_or(u32::MAX),
        members: u32::try_from(team.member_ids.len()).unwrap_or(u32::MAX),
        guests: u32::try_from(team.guest_ids.len()).unwrap_or(u32::MAX),
        activity: team.activity.clone(),
        guests_reviewed_at: team.guests_reviewed_at,
        missing_permanent: Vec::new(),
        naming_attributes: Attributes::default(),
        state: match team.removed.map(|r| r.reason) {
            None => team.lifecycle,
            // Deleted in Entra, as the inventory sync saw it.
            Some(Removal::SoftDeleted) => LifecycleState::SoftDeleted,
            Some(Removal::Deleted | Removal::Missing) => LifecycleState::Purged,
        },
        state_since: team.removed.map(|r| r.at).or(team.lifecycle_since),
        waivers: team.waivers.clone(),
    }
}

/// The naming policy for teams of each template (the tenant's with the
/// template's inside it), looked up once per template.
pub(super) struct Naming<'a> {
    docs: &'a dyn Documents,
    tenant: &'a TenantId,
    tenant_policy: &'a NamingPolicy,
    by_template: HashMap<Option<String>, ByTemplate>,
}

/// What a template brings to its teams' facts.
struct ByTemplate {
    naming: NamingPolicy,
    attributes: Attributes,
    /// The members it keeps permanently.
    permanent: Vec<String>,
}

impl<'a> Naming<'a> {
    pub(super) fn new(
        docs: &'a dyn Documents,
        tenant: &'a TenantId,
        tenant_policy: &'a NamingPolicy,
    ) -> Self {
        Naming {
            docs,
            tenant,
            tenant_policy,
            by_template: HashMap::new(),
        }
    }

    /// A team's facts as the inventory keeps them (read at `read_at`),
    /// with the naming policy that applies to it.
    pub(super) async fn facts(
        &mut self,
        team: &TeamRecord,
        read_at: OffsetDateTime,
    ) -> PlatformResult<(TeamFacts, &NamingPolicy)> {
        let of = self.of(team.template_id.as_deref()).await?;
        let mut facts = facts_of(team, read_at);
        facts.naming_attributes = of.attributes.clone();
        facts.missing_permanent = of
            .permanent
            .iter()
            .filter(|id| !team.is_member(id))
            .cloned()
            .collect();
        Ok((facts, &of.naming))
    }

    async fn of(&mut self, template: Option<&str>) -> PlatformResult<&ByTemplate> {
        let key = template.map(str::to_owned);
        if !self.by_template.contains_key(&key) {
            let found = match template {
                Some(id) => templates::get(self.docs, self.tenant, id).await?,
                None => None,
            };
            let value = match found {
                Some(t) => ByTemplate {
                    naming: self.tenant_policy.with(t.template.naming.as_ref()),
                    attributes: Attributes {
                        template_code: Some(t.template.code.clone()).filter(|c| !c.is_empty()),
                        ..Attributes::default()
                    },
                    permanent: t.template.permanent.clone(),
                },
                None => ByTemplate {
                    naming: self.tenant_policy.clone(),
                    attributes: Attributes::default(),
                    permanent: Vec::new(),
                },
            };
            self.by_template.insert(key.clone(), value);
        }
        Ok(&self.by_template[&key])
    }
}

/// The teams whose findings change from `before` to `after` at `now`.
pub async fn review(
    docs: &dyn Documents,
    tenant: &TenantId,
    tenant_naming: &NamingPolicy,
    before: Version<'_>,
    after: Version<'_>,
    now: OffsetDateTime,
) -> PlatformResult<Vec<TeamChange>> {
    let mut naming = Naming::new(docs, tenant, tenant_naming);
    let mut changes = Vec::new();
    let mut all = std::pin::pin!(teams::all(docs, tenant));
    while let Some(team) = all.try_next().await? {
        let template = team.template_id.as_deref();
        let (facts, policy) = naming.facts(&team, now).await?;
        let outline = |version: &Version<'_>| {
            let set = version.policies.effective(template);
            let rules = Rules {
                policies: &set,
                version: version.number,
                naming: policy,
            };
            findings::outline(&findings::evaluate(&rules, &facts, now))
        };
        let (was, will) = (outline(&before), outline(&after));
        if was != will {
            changes.push(TeamChange {
                team_id: team.group_id.clone(),
                team_name: team.display_name.clone(),
                before: was,
                after: will,
            });
        }
    }
    changes.sort_by(|a, b| a.team_name.cmp(&b.team_name));
    Ok(changes)
}
