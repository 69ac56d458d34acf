//! What the request form needs from the tenant's directory (Microsoft
//! Graph): the requester's department and country for the naming policy,
//! their manager for manager approval, and the addresses typed as owners
//! and members resolved to Entra object ids. Only what the template needs
//! is looked up.

use super::people::Person;
use super::requests::RequesterInfo;
use super::templates::Audience;
use crate::graph::{Graph, GraphError, users};
use crate::ids::TenantId;

/// Looks up what `needs` (attributes, manager) asks for. Without Graph
/// (a deployment with no credentials) nothing is known, and the request
/// says what is missing.
pub async fn requester_info(
    graph: Option<&Graph>,
    tenant: &TenantId,
    requester: &Person,
    (attributes, manager): (bool, bool),
) -> Result<RequesterInfo, GraphError> {
    let mut info = RequesterInfo::default();
    let Some(graph) = graph else {
        if attributes || manager {
            tracing::warn!(%tenant, "no Graph credentials: the requester's directory details are unknown");
        }
        return Ok(info);
    };
    if attributes && let Some(me) = users::user(graph, tenant, &requester.aad_object_id).await? {
        info.country = me.country().map(str::to_owned);
        info.department = me.department.clone();
    }
    if manager && let Some(m) = users::manager(graph, tenant, &requester.aad_object_id).await? {
        info.manager = Some(Person::new(&m.id, m.name()));
    }
    Ok(info)
}

/// Splits what was typed in a people field (commas, semicolons, spaces).
pub fn entries(text: &str) -> Vec<String> {
    text.split([',', ';', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .take(50)
        .map(str::to_owned)
        .collect()
}

/// Object ids for `entries` (object ids as they are, addresses looked up),
/// or the reasons to show in the form.
pub async fn resolve(
    graph: Option<&Graph>,
    tenant: &TenantId,
    entries: &[String],
) -> Result<Result<Vec<String>, Vec<String>>, GraphError> {
    let mut ids = Vec::new();
    let mut reasons = Vec::new();
    for entry in entries {
        if uuid::Uuid::parse_str(entry).is_ok() {
            ids.push(entry.to_ascii_lowercase());
            continue;
        }
        if !entry.contains('@') || entry.len() > 256 {
            reasons.push(format!("\"{entry}\" is not an email address."));
            continue;
        }
        let Some(graph) = graph else {
            reasons.push(format!(
                "\"{entry}\" cannot be looked up: this SalesTim has no access to your directory."
            ));
            continue;
        };
        match users::user(graph, tenant, entry).await? {
            Some(user) => ids.push(user.id.to_ascii_lowercase()),
            None => reasons.push(format!(
                "No one in your directory has the address \"{entry}\"."
            )),
        }
    }
    Ok(if reasons.is_empty() {
        Ok(ids)
    } else {
        Err(reasons)
    })
}

/// Whether the user is in a template's audience: everyone is in
/// `Everyone`; for groups, the directory is asked (nested membership
/// counts). Without Graph nobody is in a group: a template for some groups
/// is then offered to nobody, never to everyone.
pub async fn in_audience(
    graph: Option<&Graph>,
    tenant: &TenantId,
    user: &str,
    audience: &Audience,
) -> Result<bool, GraphError> {
    let groups = audience.group_ids();
    if groups.is_empty() {
        return Ok(true);
    }
    let Some(graph) = graph else {
        return Ok(false);
    };
    let member_of = users::member_of(graph, tenant, user, &groups).await?;
    Ok(audience.includes(&member_of))
}
