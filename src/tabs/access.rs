//! Who is calling the tabs' API and what they may do (RBAC), decided on the
//! server for every call: the UI only hides what a role cannot do.
//!
//! A [`Caller`] is built from the validated token's tenant and user, once
//! per call. Their roles are:
//! - the roles the tenant's admins assigned to them, or to an Entra group
//!   they are in (membership asked of Graph, only when some role is given
//!   to a group, and cached for minutes);
//! - approver, when an active template names them as an approver (and, for
//!   `GET me`, when a waiting request waits for them: a manager, say);
//! - member, always.
//!
//! Each endpoint names the roles it admits ([`Caller::require`]); a caller
//! without one gets 403 and the refusal is logged with who and what.

use std::collections::BTreeSet;

use futures::TryStreamExt;
use serde::Serialize;

use crate::app::App;
use crate::error::AppError;
use crate::governance::people::Person;
use crate::governance::requests::{self, RequestState};
use crate::governance::roles::{self, Role};
use crate::governance::templates::{self, ApprovalRule, StoredTemplate};
use crate::graph::users;
use crate::ids::TenantId;

/// Waiting requests looked at for "is someone waiting for this user": a
/// tenant has a handful; a tenant with thousands is not scanned past this.
const MAX_WAITING_SCANNED: usize = 2_000;

#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub user: Person,
    pub email: String,
    pub roles: BTreeSet<Role>,
    /// The Entra groups (among those roles and audiences name) the user is in.
    pub groups: Vec<String>,
}

/// What the UI may show (the server checks again on every call).
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Can {
    pub request: bool,
    pub approve: bool,
    pub dashboard: bool,
    pub admin: bool,
    pub templates: bool,
    pub policies: bool,
    pub roles: bool,
    pub billing: bool,
}

/// The roles each part of the API admits.
pub const DASHBOARD: &[Role] = &[Role::Admin, Role::Auditor];
pub const TEMPLATES_READ: &[Role] = &[Role::Admin, Role::CatalogManager, Role::Auditor];
pub const TEMPLATES_WRITE: &[Role] = &[Role::Admin, Role::CatalogManager];
pub const POLICIES_READ: &[Role] = &[Role::Admin, Role::PolicyManager, Role::Auditor];
pub const POLICIES_WRITE: &[Role] = &[Role::Admin, Role::PolicyManager];
pub const ADMIN: &[Role] = &[Role::Admin];
pub const ADMIN_READ: &[Role] = &[Role::Admin, Role::Auditor];
pub const EVERYONE: &[Role] = &[Role::Member];

impl Caller {
    /// The caller's roles in `tenant`, read now.
    pub async fn resolve(
        app: &App,
        tenant: TenantId,
        user_id: &str,
        name: &str,
        email: &str,
    ) -> Result<Caller, AppError> {
        let user = Person::new(user_id, name);
        let (assigned, _) = roles::get(app.docs.as_ref(), &tenant).await?;
        let templates = templates::list_active(app.docs.as_ref(), &tenant).await?;
        let mut wanted = assigned.groups();
        for t in &templates {
            wanted.extend(t.template.audience.group_ids());
        }
        wanted.sort();
        wanted.dedup();
        let groups = member_of(app, &tenant, &user, &wanted).await;
        let mut roles = assigned.roles_of(&user.aad_object_id, &groups);
        roles.insert(Role::Member);
        if names_approver(&templates, &user.aad_object_id) {
            roles.insert(Role::Approver);
        }
        Ok(Caller {
            tenant,
            user,
            email: email.to_owned(),
            roles,
            groups,
        })
    }

    /// Adds the approver role when a waiting request waits for the caller
    /// (a manager, say) though no template names them. Only what the UI
    /// shows (`GET me`) needs it: no endpoint admits by the approver role
    /// (deciding is checked against the request), so the other calls do
    /// not pay for the scan.
    pub async fn with_waiting_approvals(mut self, app: &App) -> Result<Caller, AppError> {
        if !self.roles.contains(&Role::Approver)
            && waited_for(app, &self.tenant, &self.user.aad_object_id).await?
        {
            self.roles.insert(Role::Approver);
        }
        Ok(self)
    }

    pub fn has_any(&self, allowed: &[Role]) -> bool {
        allowed.iter().any(|r| self.roles.contains(r))
    }

    /// Admits the caller when they hold one of `allowed`; a 403 (logged)
    /// otherwise.
    pub fn require(&self, allowed: &[Role], what: &str) -> Result<(), AppError> {
        if self.has_any(allowed) {
            return Ok(());
        }
        tracing::warn!(tenant_id = %self.tenant, user = %self.user.aad_object_id, what, roles = ?self.roles, "refused: the caller's roles do not admit this");
        Err(AppError::Forbidden(format!(
            "your roles do not allow you to {what}"
        )))
    }

    pub fn can(&self) -> Can {
        Can {
            request: true,
            approve: self.roles.contains(&Role::Approver),
            dashboard: self.has_any(DASHBOARD),
            admin: self.has_any(ADMIN_READ)
                || self.has_any(TEMPLATES_READ)
                || self.has_any(POLICIES_READ),
            templates: self.has_any(TEMPLATES_WRITE),
            policies: self.has_any(POLICIES_WRITE),
            roles: self.has_any(ADMIN),
            billing: self.has_any(ADMIN),
        }
    }

    /// The actor written to the audit trail.
    pub fn actor(&self) -> String {
        self.user.actor()
    }

    /// Audits that the caller did `action`.
    pub async fn audit(
        &self,
        app: &App,
        action: &str,
        details: serde_json::Value,
    ) -> Result<(), AppError> {
        let (docs, now) = (app.docs.as_ref(), app.clock.now());
        Ok(
            crate::governance::audit::note(docs, &self.tenant, now, &self.actor(), action, details)
                .await?,
        )
    }
}

/// Which of `groups` the user is in. Without Graph (a deployment with no
/// Graph credentials, `handler local`) nobody is in any group, which gives
/// no group's role: the safe answer, said once in the log.
async fn member_of(app: &App, tenant: &TenantId, user: &Person, groups: &[String]) -> Vec<String> {
    if groups.is_empty() {
        return Vec::new();
    }
    let Some(graph) = &app.graph else {
        tracing::debug!(tenant_id = %tenant, "no Graph credentials: roles and audiences given to groups do not apply");
        return Vec::new();
    };
    match users::member_of(graph, tenant, &user.aad_object_id, groups).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(tenant_id = %tenant, user = %user.aad_object_id, error = %e, "group membership unknown: roles given to groups do not apply to this call");
            Vec::new()
        }
    }
}

fn names_approver(templates: &[StoredTemplate], user: &str) -> bool {
    templates.iter().any(|t| match &t.template.approval {
        ApprovalRule::Named { approvers } => approvers.iter().any(|p| p.is(user)),
        ApprovalRule::Stages { stages } => stages.iter().flatten().any(|p| p.is(user)),
        ApprovalRule::None | ApprovalRule::Manager => false,
    })
}

async fn waited_for(app: &App, tenant: &TenantId, user: &str) -> Result<bool, AppError> {
    let mut waiting = std::pin::pin!(requests::in_state(
        app.docs.as_ref(),
        tenant,
        RequestState::Submitted
    ));
    let mut seen = 0;
    while let Some(request) = waiting.try_next().await? {
        if request.is_approver(user) {
            return Ok(true);
        }
        seen += 1;
        if seen >= MAX_WAITING_SCANNED {
            break;
        }
    }
    Ok(false)
}
