//! Team templates: what a requested team is made from. This is the part the
//! bot needs (name, description, version, approvers); channels, tabs, apps
//! and naming rules are added by the provisioning work.

use serde::{Deserialize, Serialize};

use super::people::Person;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::documents::{Container, Document, Documents, Query};

const TYPE: &str = "template";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Bumped on every change; a request records the version it was made against.
    pub version: u32,
    /// Anyone of these may approve a request; none means no approval is needed.
    #[serde(default)]
    pub approvers: Vec<Person>,
    /// Retired templates stay for the requests made from them, but are not offered.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A template with its id (the document id).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTemplate {
    pub id: String,
    pub template: Template,
}

pub async fn get(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
) -> PlatformResult<Option<StoredTemplate>> {
    if crate::platform::documents::check_id(id).is_err() {
        return Ok(None);
    }
    match docs.get(Container::Templates, tenant, id).await? {
        Some(doc) if doc.kind == TYPE => Ok(Some(StoredTemplate {
            id: doc.id.clone(),
            template: doc.parse()?,
        })),
        _ => Ok(None),
    }
}

/// The templates people can request teams from, by name.
pub async fn list_active(
    docs: &dyn Documents,
    tenant: &TenantId,
) -> PlatformResult<Vec<StoredTemplate>> {
    let mut templates = docs
        .query(
            Container::Templates,
            tenant,
            &Query::of_type(TYPE).with("active", true),
        )
        .await?
        .into_iter()
        .map(|doc| {
            Ok(StoredTemplate {
                id: doc.id.clone(),
                template: doc.parse()?,
            })
        })
        .collect::<PlatformResult<Vec<_>>>()?;
    templates.sort_by_key(|t| t.template.name.to_lowercase());
    Ok(templates)
}

/// Creates or replaces a template.
pub async fn put(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    template: &Template,
) -> PlatformResult<()> {
    let doc = Document::new(tenant, TYPE, id, template)?;
    docs.upsert(Container::Templates, &doc).await.map(|_| ())
}
