//! People in a tenant's directory: the attributes a naming policy uses, a
//! requester's manager (for manager approval), and addresses typed in a
//! form resolved to object ids, and which groups a user belongs to (roles
//! and template audiences given to Entra groups).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Graph, GraphError};
use crate::http::encode_uri_component;
use crate::ids::TenantId;

const SELECT: &str = "$select=id,displayName,department,country,usageLocation";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    /// The `country` profile field, or the licensing `usageLocation`.
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    usage_location: Option<String>,
}

impl DirectoryUser {
    pub fn country(&self) -> Option<&str> {
        self.country.as_deref().or(self.usage_location.as_deref())
    }

    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or_default()
    }
}

fn parse(value: serde_json::Value) -> Result<DirectoryUser, GraphError> {
    serde_json::from_value(value).map_err(|e| GraphError::Decode(e.to_string()))
}

/// How long a user found stays in the shared cache: the form looks the
/// same people up when it shows the final name and again on submit.
const CACHED_FOR: Duration = Duration::from_secs(600);

fn cache_key(tenant: &TenantId, id_or_upn: &str) -> String {
    format!("graph:user:{tenant}:{}", id_or_upn.to_lowercase())
}

/// A user by object id or user principal name; `None` when there is none.
/// A user found is remembered for [`CACHED_FOR`] (the cache is best effort:
/// its trouble only costs a Graph request).
pub async fn user(
    graph: &Graph,
    tenant: &TenantId,
    id_or_upn: &str,
) -> Result<Option<DirectoryUser>, GraphError> {
    let cache = &graph.inner.cache;
    let key = cache_key(tenant, id_or_upn);
    if let Ok(Some(bytes)) = cache.get(&key).await
        && let Ok(user) = serde_json::from_slice::<DirectoryUser>(&bytes)
    {
        return Ok(Some(user));
    }
    let path = format!("/users/{}?{SELECT}", encode_uri_component(id_or_upn));
    let found = match graph.get(tenant, &path).await {
        Ok(v) => parse(v)?,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Ok(bytes) = serde_json::to_vec(&found)
        && let Err(e) = cache.set(&key, &bytes, CACHED_FOR).await
    {
        tracing::debug!(error = %e, "a directory user was not cached");
    }
    Ok(Some(found))
}

/// A user's manager; `None` when the directory names none.
pub async fn manager(
    graph: &Graph,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<DirectoryUser>, GraphError> {
    let path = format!("/users/{}/manager?{SELECT}", encode_uri_component(id));
    match graph.get(tenant, &path).await {
        Ok(v) => parse(v).map(Some),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Most group ids one `checkMemberGroups` call takes (Graph's limit).
pub const CHECK_GROUPS_PER_CALL: usize = 20;
/// How long a user's answer is remembered: a role given through a group
/// reaches the user within this, and a page of the tabs costs no Graph
/// request per call.
const MEMBERSHIP_CACHED_FOR: Duration = Duration::from_secs(300);

/// Which of `groups` the user is a member of, directly or through nested
/// groups (`POST /users/{id}/checkMemberGroups`, at most
/// [`CHECK_GROUPS_PER_CALL`] ids a call). The answer for this set of
/// groups is cached for [`MEMBERSHIP_CACHED_FOR`].
pub async fn member_of(
    graph: &Graph,
    tenant: &TenantId,
    user: &str,
    groups: &[String],
) -> Result<Vec<String>, GraphError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let mut sorted: Vec<String> = groups.iter().map(|g| g.to_ascii_lowercase()).collect();
    sorted.sort();
    sorted.dedup();
    let digest =
        hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(sorted.join(",").as_bytes())[..12]);
    let key = format!("graph:memberof:{tenant}:{}:{digest}", user.to_lowercase());
    let cache = &graph.inner.cache;
    if let Ok(Some(bytes)) = cache.get(&key).await
        && let Ok(found) = serde_json::from_slice::<Vec<String>>(&bytes)
    {
        return Ok(found);
    }
    let path = format!("/users/{}/checkMemberGroups", encode_uri_component(user));
    let mut found = Vec::new();
    for chunk in sorted.chunks(CHECK_GROUPS_PER_CALL) {
        let body = serde_json::json!({ "groupIds": chunk });
        let answer = match graph
            .send(tenant, reqwest::Method::POST, &path, Some(&body))
            .await
        {
            Ok(answer) => answer,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let ids = answer
            .body
            .get("value")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        found.extend(
            ids.iter()
                .filter_map(|v| v.as_str())
                .map(str::to_ascii_lowercase)
                .filter(|id| chunk.contains(id)),
        );
    }
    if let Ok(bytes) = serde_json::to_vec(&found)
        && let Err(e) = cache.set(&key, &bytes, MEMBERSHIP_CACHED_FOR).await
    {
        tracing::debug!(error = %e, "a group membership was not cached");
    }
    Ok(found)
}
