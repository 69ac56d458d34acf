//! The HTTP API behind the Teams tabs (`/api/tab/...`): who is calling
//! ([`auth`]: the Teams SSO token, checked before the body is read; the
//! development sign-in of `handler local` in [`dev`]), what they may do
//! ([`Role`], [`Can`]), and one file per screen, reached through the table
//! in [`api`].
//!
//! The tenant and the user come from the validated token only (`tid`,
//! `oid`); nothing in a URL or a body names them.

pub mod api;
pub mod auth;
pub mod dev;
pub mod me;
pub mod obo;

use serde::{Deserialize, Serialize};

use crate::ids::TenantId;

pub use auth::{TabAuthenticator, TabUser};

/// The delegated scope the tabs' API exposes; a tab's token must carry it.
pub const SCOPE_CLAIM: &str = "access_as_user";

/// What a user is in their tenant. The server decides with these on every
/// call; the UI only hides what a role cannot do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Everything in the tenant (the first admin is recorded at onboarding).
    Admin,
    /// Templates.
    CatalogManager,
    /// Lifecycle and naming policies.
    PolicyManager,
    /// The dashboard and the audit trail, read-only.
    Auditor,
    /// Decides requests (named by the templates).
    Approver,
    /// Requests teams and looks after their own.
    Member,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::CatalogManager,
        Role::PolicyManager,
        Role::Auditor,
        Role::Approver,
        Role::Member,
    ];
}

/// What a set of roles may do, as the tabs show it (`GET me`'s `can`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
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

impl Can {
    pub fn of(roles: &[Role]) -> Can {
        let has = |role: Role| roles.contains(&role);
        let admin = has(Role::Admin);
        Can {
            // Every signed-in user of a tenant may ask for a team.
            request: true,
            approve: admin || has(Role::Approver),
            dashboard: admin || has(Role::Auditor),
            admin: admin || has(Role::CatalogManager) || has(Role::PolicyManager),
            templates: admin || has(Role::CatalogManager),
            policies: admin || has(Role::PolicyManager),
            roles: admin,
            billing: admin,
        }
    }
}

/// The roles of `user` in their tenant. Every signed-in user is a member;
/// the per-tenant role assignments (users and Entra groups) are the roles
/// store's, which plugs in here, so that every screen asks this one place.
pub async fn roles_of(
    _app: &crate::app::App,
    _user: &TabUser,
) -> Result<Vec<Role>, crate::error::AppError> {
    Ok(vec![Role::Member])
}

/// The tenant a token names, as a [`TenantId`]; `None` when `tid` is not
/// a GUID (a system partition can never be named by a token).
pub(crate) fn token_tenant(tid: &str) -> Option<TenantId> {
    TenantId::parse(tid).ok().filter(|t| !t.is_system())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_camel_case_strings() {
        let names: Vec<String> = Role::ALL
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "admin",
                "catalogManager",
                "policyManager",
                "auditor",
                "approver",
                "member"
            ]
        );
        let role: Role = serde_json::from_str("\"policyManager\"").unwrap();
        assert_eq!(role, Role::PolicyManager);
    }

    #[test]
    fn each_role_can_what_it_is_for_and_no_more() {
        let member = Can::of(&[Role::Member]);
        assert!(member.request);
        assert!(!(member.approve || member.dashboard || member.admin || member.billing));
        let admin = Can::of(&[Role::Admin]);
        assert!(
            admin.approve && admin.dashboard && admin.templates && admin.roles && admin.billing
        );
        let auditor = Can::of(&[Role::Auditor, Role::Member]);
        assert!(auditor.dashboard && !auditor.admin && !auditor.policies);
        let catalog = Can::of(&[Role::CatalogManager]);
        assert!(catalog.admin && catalog.templates && !catalog.policies && !catalog.roles);
        let policy = Can::of(&[Role::PolicyManager]);
        assert!(policy.policies && !policy.templates && !policy.billing);
        assert!(Can::of(&[Role::Approver]).approve);
    }
}
