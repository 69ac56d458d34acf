//! A team's lifecycle and people as the governance actions change them:
//! archive and unarchive (a `teamsAsyncOperation` to poll), soft delete and
//! restore (Entra keeps a deleted Microsoft 365 group 30 days in
//! `/directory/deletedItems`), renew (and the tenant's group lifetime from
//! `groupLifecyclePolicies`), and owner and member links (`$ref`). Each
//! write has a read that says whether its effect is there, because Graph
//! answers some writes it carried out with a failure, and a repeated write
//! with "already exists" or 404.
//!
//! Archive is sent without `shouldSetSpoSiteReadOnlyForMembers`: Graph
//! refuses it in application context.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Graph, GraphError};
use crate::ids::TenantId;

/// Graph binds directory objects by absolute URL, whatever the base.
const DIRECTORY_OBJECTS: &str = "https://graph.microsoft.com/v1.0/directoryObjects";

/// Starts archiving (`archive`) or unarchiving a team; the operation to
/// poll with [`super::teams::operation`] (`/teams/{id}` when Graph named
/// none).
pub async fn set_archived(
    graph: &Graph,
    tenant: &TenantId,
    team: &str,
    archive: bool,
) -> Result<String, GraphError> {
    let verb = if archive { "archive" } else { "unarchive" };
    let path = format!("/teams/{team}/{verb}");
    let answer = graph
        .send(tenant, reqwest::Method::POST, &path, None)
        .await?;
    Ok(answer.location.unwrap_or_else(|| format!("/teams/{team}")))
}

/// `team.isArchived`.
pub async fn is_archived(graph: &Graph, tenant: &TenantId, team: &str) -> Result<bool, GraphError> {
    let team = graph
        .get(tenant, &format!("/teams/{team}?$select=id,isArchived"))
        .await?;
    Ok(team["isArchived"].as_bool().unwrap_or(false))
}

/// A write whose answer carries nothing the caller needs.
async fn write(
    graph: &Graph,
    tenant: &TenantId,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(), GraphError> {
    graph.send(tenant, method, path, body).await.map(|_| ())
}

/// Whether `path` reads (404: it does not).
async fn exists(graph: &Graph, tenant: &TenantId, path: &str) -> Result<bool, GraphError> {
    match graph.get(tenant, path).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Soft-deletes a Microsoft 365 group (restorable for 30 days).
pub async fn delete_group(graph: &Graph, tenant: &TenantId, group: &str) -> Result<(), GraphError> {
    write(
        graph,
        tenant,
        reqwest::Method::DELETE,
        &format!("/groups/{group}"),
        None,
    )
    .await
}

/// Whether the group is among the deleted items (soft-deleted, restorable).
pub async fn is_soft_deleted(
    graph: &Graph,
    tenant: &TenantId,
    group: &str,
) -> Result<bool, GraphError> {
    exists(
        graph,
        tenant,
        &format!("/directory/deletedItems/{group}?$select=id"),
    )
    .await
}

/// Brings a soft-deleted group back.
pub async fn restore_group(
    graph: &Graph,
    tenant: &TenantId,
    group: &str,
) -> Result<(), GraphError> {
    write(
        graph,
        tenant,
        reqwest::Method::POST,
        &format!("/directory/deletedItems/{group}/restore"),
        None,
    )
    .await
}

/// Whether the group is in the directory (not deleted).
pub async fn group_exists(
    graph: &Graph,
    tenant: &TenantId,
    group: &str,
) -> Result<bool, GraphError> {
    exists(graph, tenant, &format!("/groups/{group}?$select=id")).await
}

/// Renews the group under the tenant's group lifecycle policy.
pub async fn renew_group(graph: &Graph, tenant: &TenantId, group: &str) -> Result<(), GraphError> {
    write(
        graph,
        tenant,
        reqwest::Method::POST,
        &format!("/groups/{group}/renew"),
        None,
    )
    .await
}

/// A group's own dates in Entra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupDates {
    pub renewed: Option<OffsetDateTime>,
    /// `None` when no lifecycle policy covers the group.
    pub expires: Option<OffsetDateTime>,
}

pub async fn group_dates(
    graph: &Graph,
    tenant: &TenantId,
    group: &str,
) -> Result<GroupDates, GraphError> {
    let g = graph
        .get(
            tenant,
            &format!("/groups/{group}?$select=id,renewedDateTime,expirationDateTime"),
        )
        .await?;
    Ok(GroupDates {
        renewed: date(&g["renewedDateTime"]),
        expires: date(&g["expirationDateTime"]),
    })
}

fn date(v: &Value) -> Option<OffsetDateTime> {
    v.as_str()
        .and_then(|s| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
}

/// The tenant's group lifetime in days, when a group lifecycle policy
/// manages some groups (`managedGroupTypes` `All` or `Selected`).
pub async fn group_lifetime_days(
    graph: &Graph,
    tenant: &TenantId,
) -> Result<Option<u32>, GraphError> {
    let policies = graph.get_all(tenant, "/groupLifecyclePolicies").await?;
    Ok(lifetime_of(&policies))
}

fn lifetime_of(policies: &[Value]) -> Option<u32> {
    policies
        .iter()
        .filter(|p| p["managedGroupTypes"].as_str().is_some_and(|t| t != "None"))
        .filter_map(|p| p["groupLifetimeInDays"].as_u64())
        .filter_map(|d| u32::try_from(d).ok())
        .min()
}

/// A group's owners or its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Owners,
    Members,
}

impl Link {
    fn path(self) -> &'static str {
        match self {
            Link::Owners => "owners",
            Link::Members => "members",
        }
    }
}

/// Adds `user` to the group's owners or members. Graph answers 400 "One or
/// more added object references already exist" when it already is there
/// ([`is_already_linked`]).
pub async fn add_link(
    graph: &Graph,
    tenant: &TenantId,
    group: &str,
    link: Link,
    user: &str,
) -> Result<(), GraphError> {
    let body = json!({"@odata.id": format!("{DIRECTORY_OBJECTS}/{user}")});
    write(
        graph,
        tenant,
        reqwest::Method::POST,
        &format!("/groups/{group}/{}/$ref", link.path()),
        Some(&body),
    )
    .await
}

/// Graph's answer to adding a link that is already there.
pub fn is_already_linked(e: &GraphError) -> bool {
    matches!(e, GraphError::Http { status: 400, message, .. }
        if message.contains("already exist"))
}

/// Removes `user` from the group's members (404 when not one).
pub async fn remove_member(
    graph: &Graph,
    tenant: &TenantId,
    group: &str,
    user: &str,
) -> Result<(), GraphError> {
    write(
        graph,
        tenant,
        reqwest::Method::DELETE,
        &format!("/groups/{group}/members/{user}/$ref"),
        None,
    )
    .await
}

/// Whether `user` is among the group's owners or members.
pub async fn has_link(
    graph: &Graph,
    tenant: &TenantId,
    group: &str,
    link: Link,
    user: &str,
) -> Result<bool, GraphError> {
    let people = graph
        .get_all(
            tenant,
            &format!("/groups/{group}/{}?$select=id&$top=999", link.path()),
        )
        .await?;
    Ok(people.iter().any(|p| {
        p["id"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(user))
    }))
}

/// A user's display name (`None` when there is no such user).
pub async fn user_name(
    graph: &Graph,
    tenant: &TenantId,
    user: &str,
) -> Result<Option<String>, GraphError> {
    match graph
        .get(tenant, &format!("/users/{user}?$select=id,displayName"))
        .await
    {
        Ok(u) => Ok(Some(
            u["displayName"].as_str().unwrap_or_default().to_owned(),
        )),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifetime_is_the_shortest_policy_that_manages_groups() {
        assert_eq!(lifetime_of(&[]), None);
        let none = json!({"groupLifetimeInDays": 30, "managedGroupTypes": "None"});
        assert_eq!(lifetime_of(std::slice::from_ref(&none)), None);
        let all = json!({"groupLifetimeInDays": 180, "managedGroupTypes": "All"});
        let selected = json!({"groupLifetimeInDays": 365, "managedGroupTypes": "Selected"});
        assert_eq!(lifetime_of(&[none, all, selected]), Some(180));
    }

    #[test]
    fn already_there_is_read_from_graphs_message() {
        let e = GraphError::Http {
            status: 400,
            code: "Request_BadRequest".into(),
            message: "One or more added object references already exist for the following modified properties: 'members'.".into(),
        };
        assert!(is_already_linked(&e));
        let other = GraphError::Http {
            status: 400,
            code: "Request_BadRequest".into(),
            message: "Invalid object identifier".into(),
        };
        assert!(!is_already_linked(&other));
    }
}
