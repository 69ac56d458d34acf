//! Who may do what in a tenant: the roles of the tabs' API (RBAC).
//!
//! Four roles are assigned by the tenant's admins, to users or to Entra
//! groups: admin, catalog manager (templates), policy manager (lifecycle
//! policies) and auditor (read-only dashboard and audit). Two more follow
//! from the data: an approver is someone a template names as an approver,
//! and every signed-in user of the tenant is a member.
//!
//! The assignments are one document per tenant (`roles` in the tenants
//! container), changed only under its ETag, so two admins editing at once
//! cannot lose each other's change; every change is audited with what was
//! added and removed. The first admin is recorded when the tenant is
//! onboarded. The last admin who is a user cannot be removed: a tenant
//! without one could never assign a role again.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::audit;
use crate::ids::TenantId;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{Container, Document, Documents};
use crate::platform::{PlatformError, PlatformResult};

const DOC_ID: &str = "roles";
const TYPE: &str = "roleAssignments";
/// Most assignments a tenant keeps (a group is the way to give a role to many).
pub const MAX_ASSIGNMENTS: usize = 200;
const MAX_NAME_CHARS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Admin,
    CatalogManager,
    PolicyManager,
    Auditor,
    /// Named by a template as an approver (not assigned).
    Approver,
    /// Every signed-in user of the tenant (not assigned).
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

    /// The roles an admin can give; the others follow from the data.
    pub const ASSIGNABLE: [Role; 4] = [
        Role::Admin,
        Role::CatalogManager,
        Role::PolicyManager,
        Role::Auditor,
    ];

    pub fn is_assignable(self) -> bool {
        Role::ASSIGNABLE.contains(&self)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::CatalogManager => "Catalog manager",
            Role::PolicyManager => "Policy manager",
            Role::Auditor => "Auditor",
            Role::Approver => "Approver",
            Role::Member => "Member",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PrincipalKind {
    User,
    Group,
}

/// A user or an Entra group, by object id (lower case).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub kind: PrincipalKind,
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub principal: Principal,
    pub role: Role,
}

impl Assignment {
    /// `role` given to the user `id`.
    pub fn user(id: &str, role: Role) -> Self {
        Assignment {
            principal: Principal {
                kind: PrincipalKind::User,
                id: id.to_owned(),
                name: String::new(),
            },
            role,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignments {
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub updated_by: String,
}

impl RoleAssignments {
    /// The groups any role is given to: what a user's membership is
    /// checked against.
    pub fn groups(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .assignments
            .iter()
            .filter(|a| a.principal.kind == PrincipalKind::Group)
            .map(|a| a.principal.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The assigned roles of `user`, who is a member of `member_of` (among
    /// [`RoleAssignments::groups`]).
    pub fn roles_of(&self, user: &str, member_of: &[String]) -> BTreeSet<Role> {
        self.assignments
            .iter()
            .filter(|a| match a.principal.kind {
                PrincipalKind::User => a.principal.id.eq_ignore_ascii_case(user),
                PrincipalKind::Group => member_of
                    .iter()
                    .any(|g| g.eq_ignore_ascii_case(&a.principal.id)),
            })
            .map(|a| a.role)
            .collect()
    }
}

/// A bad assignment list: which entry, and why.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("the tenant needs at least one admin who is a user")]
    LastAdmin,
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> RoleError {
    RoleError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The assignments as stored, lower-cased and without duplicates; or the
/// first problem, naming its entry.
pub fn validate(assignments: &[Assignment]) -> Result<Vec<Assignment>, RoleError> {
    if assignments.len() > MAX_ASSIGNMENTS {
        return Err(invalid(
            "assignments",
            format!("at most {MAX_ASSIGNMENTS} assignments; give a role to a group instead"),
        ));
    }
    let mut out: Vec<Assignment> = Vec::with_capacity(assignments.len());
    for (i, a) in assignments.iter().enumerate() {
        let field = format!("assignments[{i}]");
        if !a.role.is_assignable() {
            return Err(invalid(
                format!("{field}.role"),
                format!(
                    "{} follows from the templates and cannot be assigned",
                    a.role.label()
                ),
            ));
        }
        let id = a.principal.id.trim().to_ascii_lowercase();
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(invalid(
                format!("{field}.principal.id"),
                "an Entra object id (a GUID) is needed",
            ));
        }
        let name = a.principal.name.trim();
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(invalid(
                format!("{field}.principal.name"),
                format!("at most {MAX_NAME_CHARS} characters"),
            ));
        }
        let clean = Assignment {
            principal: Principal {
                kind: a.principal.kind,
                id,
                name: name.to_owned(),
            },
            role: a.role,
        };
        if !out.contains(&clean) {
            out.push(clean);
        }
    }
    if !out
        .iter()
        .any(|a| a.role == Role::Admin && a.principal.kind == PrincipalKind::User)
    {
        return Err(RoleError::LastAdmin);
    }
    Ok(out)
}

/// The tenant's assignments and the version they were read at (`None`:
/// none were ever saved).
pub async fn get(
    docs: &dyn Documents,
    tenant: &TenantId,
) -> PlatformResult<(RoleAssignments, Option<String>)> {
    let doc = docs.get(Container::Tenants, tenant, DOC_ID).await?;
    let etag = doc
        .as_ref()
        .and_then(|d| d.etag.as_ref().map(|e| e.0.clone()));
    let roles = Document::parse_if_kind(doc.as_ref(), TYPE)?.unwrap_or_default();
    Ok((roles, etag))
}

/// Replaces the tenant's assignments, by `actor`, when they are still at
/// `expected` (the version the admin saw; `None`: whatever is there). A
/// stale version is a conflict, so an admin never overwrites a change they
/// did not see. Audited with what was added and removed.
pub async fn replace(
    docs: &dyn Documents,
    tenant: &TenantId,
    now: OffsetDateTime,
    actor: &str,
    assignments: &[Assignment],
    expected: Option<&str>,
) -> Result<RoleAssignments, RoleError> {
    let clean = validate(assignments)?;
    let mut written = None;
    let mut before = Vec::new();
    update(docs, Container::Tenants, tenant, DOC_ID, |doc| {
        let current: RoleAssignments = Document::parse_if_kind(doc, TYPE)?.unwrap_or_default();
        let etag = doc.and_then(|d| d.etag.as_ref().map(|e| e.0.as_str()));
        if let Some(expected) = expected
            && etag != Some(expected)
        {
            return Err(RoleError::Platform(PlatformError::PreconditionFailed));
        }
        before = current.assignments.clone();
        let next = RoleAssignments {
            assignments: clean.clone(),
            updated_at: Some(now),
            updated_by: actor.to_owned(),
        };
        written = Some(next.clone());
        Ok(Decision::Write(Document::new(tenant, TYPE, DOC_ID, &next)?))
    })
    .await?;
    let written = written.expect("a written update decided on the roles");
    let added: Vec<&Assignment> = clean.iter().filter(|a| !before.contains(a)).collect();
    let removed: Vec<&Assignment> = before.iter().filter(|a| !clean.contains(a)).collect();
    let details = json!({ "added": added, "removed": removed });
    audit::note(docs, tenant, now, actor, "roles.changed", details).await?;
    Ok(written)
}

/// Records the tenant's first admin (at onboarding). Nothing changes when
/// the tenant has assignments already.
pub async fn add_first_admin(
    docs: &dyn Documents,
    tenant: &TenantId,
    now: OffsetDateTime,
    admin: Principal,
    actor: &str,
) -> Result<bool, RoleError> {
    let assignment = Assignment {
        principal: admin,
        role: Role::Admin,
    };
    let clean = validate(std::slice::from_ref(&assignment))?;
    let mut added = false;
    update(docs, Container::Tenants, tenant, DOC_ID, |doc| {
        let current: RoleAssignments = Document::parse_if_kind(doc, TYPE)?.unwrap_or_default();
        added = current.assignments.is_empty();
        if !added {
            return Ok(Decision::Keep);
        }
        let next = RoleAssignments {
            assignments: clean.clone(),
            updated_at: Some(now),
            updated_by: actor.to_owned(),
        };
        Ok::<_, RoleError>(Decision::Write(Document::new(tenant, TYPE, DOC_ID, &next)?))
    })
    .await?;
    if added {
        let details = json!({ "admin": clean[0].principal });
        audit::note(docs, tenant, now, actor, "roles.firstAdmin", details).await?;
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, role: Role) -> Assignment {
        Assignment::user(id, role)
    }

    fn group(id: &str, role: Role) -> Assignment {
        Assignment {
            principal: Principal {
                kind: PrincipalKind::Group,
                id: id.into(),
                name: String::new(),
            },
            role,
        }
    }

    const A: &str = "00000000-0000-0000-0000-00000000000a";
    const B: &str = "00000000-0000-0000-0000-00000000000b";
    const G: &str = "00000000-0000-0000-0000-0000000000cc";

    #[test]
    fn roles_come_from_the_user_and_from_groups_the_user_is_in() {
        let roles = RoleAssignments {
            assignments: vec![
                user(A, Role::Admin),
                group(G, Role::Auditor),
                user(B, Role::CatalogManager),
            ],
            ..Default::default()
        };
        assert_eq!(
            roles.roles_of(&A.to_uppercase(), &[]),
            BTreeSet::from([Role::Admin])
        );
        assert_eq!(
            roles.roles_of(B, &[G.into()]),
            BTreeSet::from([Role::CatalogManager, Role::Auditor])
        );
        assert!(roles.roles_of("someone-else", &[]).is_empty());
        assert_eq!(roles.groups(), vec![G.to_owned()]);
    }

    #[test]
    fn a_list_without_a_user_admin_or_with_bad_entries_is_refused_naming_the_entry() {
        assert!(matches!(
            validate(&[group(G, Role::Admin)]),
            Err(RoleError::LastAdmin)
        ));
        match validate(&[user(A, Role::Admin), user("not-a-guid", Role::Auditor)]) {
            Err(RoleError::Invalid { field, .. }) => {
                assert_eq!(field, "assignments[1].principal.id")
            }
            other => panic!("{other:?}"),
        }
        match validate(&[user(A, Role::Admin), user(B, Role::Approver)]) {
            Err(RoleError::Invalid { field, .. }) => assert_eq!(field, "assignments[1].role"),
            other => panic!("{other:?}"),
        }
        let clean =
            validate(&[user(&A.to_uppercase(), Role::Admin), user(A, Role::Admin)]).unwrap();
        assert_eq!(clean, vec![user(A, Role::Admin)]);
    }
}
