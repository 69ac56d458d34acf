//! Groups and teams as provisioning uses them: the request shapes (group
//! with owners and members bound, team from the group, channels, website
//! tabs, app installs, guest settings) and the answers read back. Kept
//! apart from the steps so that the Graph wire format lives in `graph/`.

use serde_json::{Value, json};

use super::{BatchRequest, Graph, GraphError, GraphResponse};
use crate::ids::TenantId;

/// Graph binds by absolute URL, whatever the base the client talks to.
const BIND_BASE: &str = "https://graph.microsoft.com/v1.0";
/// The website tab app, built into Teams.
pub const WEBSITE_TAB_APP: &str = "com.microsoft.teamspace.tab.web";
/// The directory setting template that carries `AllowToAddGuests`.
pub const GUEST_SETTINGS_TEMPLATE: &str = "08d542b9-071f-4e16-94b0-74abb372e3d9";
/// Graph binds at most this many owners and members, together, when a
/// group is created; the others are added once the team exists.
pub const MAX_BINDS: usize = 20;

pub fn user_bind(id: &str) -> String {
    format!("{BIND_BASE}/users('{id}')")
}

/// The mailNicknames starting with `base` (to pick a free one).
pub async fn nicknames_like(
    graph: &Graph,
    tenant: &TenantId,
    base: &str,
) -> Result<Vec<String>, GraphError> {
    let path = format!(
        "/groups?$filter=startswith(mailNickname,'{}')&$select=mailNickname&$top=999",
        base.replace('\'', "''")
    );
    Ok(graph
        .get_all(tenant, &path)
        .await?
        .iter()
        .filter_map(|g| g.get("mailNickname").and_then(Value::as_str))
        .map(str::to_owned)
        .collect())
}

/// A group found by its mailNickname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundGroup {
    pub id: String,
    pub display_name: String,
}

/// The group with this mailNickname, if there is one.
pub async fn group_by_nickname(
    graph: &Graph,
    tenant: &TenantId,
    nickname: &str,
) -> Result<Option<FoundGroup>, GraphError> {
    let path = format!(
        "/groups?$filter=mailNickname eq '{}'&$select=id,displayName,mailNickname",
        nickname.replace('\'', "''")
    );
    let found = graph.get(tenant, &path).await?;
    Ok(found
        .get("value")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
        .and_then(|g| {
            Some(FoundGroup {
                id: g.get("id")?.as_str()?.to_owned(),
                display_name: str_of(g, "displayName").to_owned(),
            })
        }))
}

pub struct NewGroup<'a> {
    pub display_name: &'a str,
    pub mail_nickname: &'a str,
    pub description: &'a str,
    pub visibility: &'a str,
    pub owners: &'a [String],
    pub members: &'a [String],
}

/// The owners and members (object ids) bound when a group is created:
/// owners first, then members, at most [`MAX_BINDS`] in all.
pub fn bound_at_creation<'a>(
    owners: &'a [String],
    members: &'a [String],
) -> (&'a [String], &'a [String]) {
    let owners = &owners[..owners.len().min(MAX_BINDS)];
    let members = &members[..members.len().min(MAX_BINDS - owners.len())];
    (owners, members)
}

/// [`bound_at_creation`] as the `@odata.bind` URLs of the create request.
pub fn creation_binds(owners: &[String], members: &[String]) -> (Vec<String>, Vec<String>) {
    let (owners, members) = bound_at_creation(owners, members);
    let urls = |ids: &[String]| ids.iter().map(|id| user_bind(id)).collect();
    (urls(owners), urls(members))
}

/// Creates a Microsoft 365 group; returns its id.
pub async fn create_group(
    graph: &Graph,
    tenant: &TenantId,
    group: &NewGroup<'_>,
) -> Result<String, GraphError> {
    let (owners, members) = creation_binds(group.owners, group.members);
    let mut body = json!({
        "displayName": group.display_name,
        "mailNickname": group.mail_nickname,
        "groupTypes": ["Unified"],
        "mailEnabled": true,
        "securityEnabled": false,
        "visibility": group.visibility,
        "owners@odata.bind": owners,
        "members@odata.bind": members,
    });
    if !group.description.is_empty() {
        body["description"] = group.description.into();
    }
    let created = graph
        .send(tenant, reqwest::Method::POST, "/groups", Some(&body))
        .await?;
    created
        .body
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| GraphError::Decode("a created group without id".into()))
}

/// Makes the group a team (202 and an operation to poll). `Ok(None)` when
/// it already is one.
pub async fn team_from_group(
    graph: &Graph,
    tenant: &TenantId,
    group_id: &str,
) -> Result<Option<String>, GraphError> {
    let body = json!({
        "template@odata.bind": format!("{BIND_BASE}/teamsTemplates('standard')"),
        "group@odata.bind": format!("{BIND_BASE}/groups('{group_id}')"),
    });
    match graph
        .send(tenant, reqwest::Method::POST, "/teams", Some(&body))
        .await
    {
        Ok(GraphResponse { location, .. }) => Ok(Some(location.unwrap_or_else(|| {
            // Without a Location there is nothing to poll: the team is read instead.
            format!("/teams/{group_id}")
        }))),
        Err(GraphError::Http { status: 409, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Running,
    Succeeded,
    Failed(String),
}

/// Where a `teamsAsyncOperation` stands (`location` as the 202 gave it).
pub async fn operation(
    graph: &Graph,
    tenant: &TenantId,
    location: &str,
) -> Result<Operation, GraphError> {
    let path = operation_path(location);
    if !path.contains("/operations") {
        return match graph.get(tenant, &path).await {
            Ok(_) => Ok(Operation::Succeeded),
            Err(e) if e.is_not_found() => Ok(Operation::Running),
            Err(e) => Err(e),
        };
    }
    let op = graph.get(tenant, &path).await?;
    Ok(match op.get("status").and_then(Value::as_str) {
        Some("succeeded") => Operation::Succeeded,
        Some("failed") => Operation::Failed(
            op.pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("the operation failed")
                .to_owned(),
        ),
        _ => Operation::Running,
    })
}

/// `/teams('x')/operations('y')` as Graph writes it, to the path form.
fn operation_path(location: &str) -> String {
    let location = location
        .split_once("/v1.0")
        .map(|(_, p)| p)
        .unwrap_or(location);
    let mut out = String::new();
    for part in location.split('/') {
        if part.is_empty() {
            continue;
        }
        match part.split_once("('") {
            Some((name, rest)) => {
                out.push('/');
                out.push_str(name);
                out.push('/');
                out.push_str(rest.trim_end_matches("')"));
            }
            None => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    out
}

pub fn member_values(owners: &[String], members: &[String]) -> Value {
    let entry = |id: &String, owner: bool| {
        json!({"@odata.type": "microsoft.graph.aadUserConversationMember",
            "roles": if owner { vec!["owner"] } else { vec![] },
            "user@odata.bind": user_bind(id)})
    };
    let values: Vec<Value> = owners
        .iter()
        .map(|id| entry(id, true))
        .chain(members.iter().map(|id| entry(id, false)))
        .collect();
    json!({"values": values})
}

pub fn add_members(id: &str, team: &str, owners: &[String], members: &[String]) -> BatchRequest {
    BatchRequest::post(
        id,
        format!("/teams/{team}/members/add"),
        member_values(owners, members),
    )
}

pub fn create_channel(
    id: &str,
    team: &str,
    name: &str,
    description: &str,
    private_owner: Option<&str>,
) -> BatchRequest {
    let mut body = json!({"displayName": name, "membershipType": "standard"});
    if !description.is_empty() {
        body["description"] = description.into();
    }
    if let Some(owner) = private_owner {
        body["membershipType"] = "private".into();
        body["members"] = json!([{"@odata.type": "#microsoft.graph.aadUserConversationMember",
            "user@odata.bind": user_bind(owner), "roles": ["owner"]}]);
    }
    BatchRequest::post(id, format!("/teams/{team}/channels"), body)
}

pub fn install_app(id: &str, team: &str, app: &str) -> BatchRequest {
    BatchRequest::post(
        id,
        format!("/teams/{team}/installedApps"),
        json!({"teamsApp@odata.bind": format!("{BIND_BASE}/appCatalogs/teamsApps('{app}')")}),
    )
}

pub fn website_tab(id: &str, team: &str, channel: &str, name: &str, url: &str) -> BatchRequest {
    BatchRequest::post(
        id,
        format!("/teams/{team}/channels/{channel}/tabs"),
        json!({"displayName": name,
            "teamsApp@odata.bind": format!("{BIND_BASE}/appCatalogs/teamsApps('{WEBSITE_TAB_APP}')"),
            "configuration": {"contentUrl": url, "websiteUrl": url}}),
    )
}

pub fn no_guests(id: &str, group: &str) -> BatchRequest {
    BatchRequest::post(
        id,
        format!("/groups/{group}/settings"),
        json!({"templateId": GUEST_SETTINGS_TEMPLATE,
            "values": [{"name": "AllowToAddGuests", "value": "false"}]}),
    )
}

/// The `value` items of a list answer (a batch sub-response body).
pub fn items(body: &Value) -> &[Value] {
    body.get("value")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

pub fn str_of<'a>(item: &'a Value, field: &str) -> &'a str {
    item.get(field).and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_locations_become_paths() {
        assert_eq!(
            operation_path("/teams('abc')/operations('op-1')"),
            "/teams/abc/operations/op-1"
        );
        assert_eq!(
            operation_path("https://graph.microsoft.com/v1.0/teams('abc')/operations('op-1')"),
            "/teams/abc/operations/op-1"
        );
        assert_eq!(operation_path("/teams/abc"), "/teams/abc");
    }

    #[test]
    fn a_group_is_created_with_twenty_people_at_most_owners_first() {
        let ids = |p: &str, n: usize| (0..n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let (o, m) = creation_binds(&ids("o", 3), &ids("m", 30));
        assert_eq!((o.len(), m.len()), (3, 17));
        assert_eq!(o[0], "https://graph.microsoft.com/v1.0/users('o0')");
        let (o, m) = creation_binds(&ids("o", 25), &ids("m", 5));
        assert_eq!((o.len(), m.len()), (20, 0));
        let (o, m) = creation_binds(&ids("o", 1), &[]);
        assert_eq!((o.len(), m.len()), (1, 0));
    }

    #[test]
    fn members_are_bound_with_their_roles() {
        let v = member_values(&["a".into()], &["b".into()]);
        assert_eq!(v["values"][0]["roles"], json!(["owner"]));
        assert_eq!(v["values"][1]["roles"], json!([]));
        assert_eq!(
            v["values"][1]["user@odata.bind"],
            "https://graph.microsoft.com/v1.0/users('b')"
        );
    }
}
