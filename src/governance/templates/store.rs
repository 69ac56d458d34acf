//! Templates in the store: the current version of each (document id = the
//! template id) and, written beside it on every save, an unchanging copy
//! of each version (`<id>@v<version>`), so a request is provisioned from
//! exactly the template it was made and approved against.

use super::{StoredTemplate, Template, TemplateError};
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{Container, Document, Documents, Query};

const TYPE: &str = "template";
const VERSION_TYPE: &str = "templateVersion";

fn version_id(id: &str, version: u32) -> String {
    format!("{id}@v{version}")
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

/// The template as it was at `version` (what a request recorded): its
/// copy, or the current template when that is the version (or when no copy
/// was kept, e.g. a template written by [`put`]).
pub async fn get_version(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    version: u32,
) -> PlatformResult<Option<StoredTemplate>> {
    if crate::platform::documents::check_id(id).is_err() {
        return Ok(None);
    }
    if let Some(doc) = docs
        .get(Container::Templates, tenant, &version_id(id, version))
        .await?
        && doc.kind == VERSION_TYPE
    {
        return Ok(Some(StoredTemplate {
            id: id.to_owned(),
            template: doc.parse()?,
        }));
    }
    let current = get(docs, tenant, id).await?;
    if let Some(t) = &current
        && t.template.version != version
    {
        tracing::warn!(%tenant, template = id, version, current = t.template.version, "no copy of the requested template version; using the current one");
    }
    Ok(current)
}

async fn list_by(
    docs: &dyn Documents,
    tenant: &TenantId,
    query: &Query,
) -> PlatformResult<Vec<StoredTemplate>> {
    let mut templates = docs
        .query(Container::Templates, tenant, query)
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

/// The templates people can request teams from, by name.
pub async fn list_active(
    docs: &dyn Documents,
    tenant: &TenantId,
) -> PlatformResult<Vec<StoredTemplate>> {
    list_by(docs, tenant, &Query::of_type(TYPE).with("active", true)).await
}

/// Every template, retired ones too, by name.
pub async fn list(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<Vec<StoredTemplate>> {
    list_by(docs, tenant, &Query::of_type(TYPE)).await
}

/// Creates or replaces a template after checking it. The version is the
/// stored one plus one (1 for a new template), whatever the caller says.
pub async fn save(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    template: &Template,
) -> Result<Template, TemplateError> {
    let mut problems = template.problems();
    if crate::platform::documents::check_id(id).is_err()
        || id.len() > 64
        || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        problems.push("A template id is 1 to 64 letters, digits or dashes.".to_owned());
    }
    if !problems.is_empty() {
        return Err(TemplateError::Invalid(problems));
    }
    let mut saved = None;
    update(docs, Container::Templates, tenant, id, |current| {
        let mut next = template.clone();
        next.name = next.name.trim().to_owned();
        next.version = match current {
            Some(doc) => doc.parse::<Template>()?.version + 1,
            None => 1,
        };
        let doc = Document::new(tenant, TYPE, id, &next)?;
        saved = Some(next);
        Ok::<_, TemplateError>(Decision::Write(doc))
    })
    .await?;
    let next = saved.expect("a written update decided on the template");
    // Only the save that won the version writes its copy.
    let copy = Document::new(tenant, VERSION_TYPE, version_id(id, next.version), &next)?;
    docs.upsert(Container::Templates, &copy).await?;
    Ok(next)
}

/// Writes a template as it is (tests and seeding; no check, no version bump).
pub async fn put(
    docs: &dyn Documents,
    tenant: &TenantId,
    id: &str,
    template: &Template,
) -> PlatformResult<()> {
    let doc = Document::new(tenant, TYPE, id, template)?;
    docs.upsert(Container::Templates, &doc).await.map(|_| ())
}
