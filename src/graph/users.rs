//! People in a tenant's directory: the attributes a naming policy uses, a
//! requester's manager (for manager approval), and addresses typed in a
//! form resolved to object ids.

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
