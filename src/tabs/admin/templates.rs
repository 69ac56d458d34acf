//! Templates: listed with their versions, created or changed (each save a
//! new version, checked first), and their icon uploaded (checked and
//! decoded within limits: [`crate::governance::templates::icons`]).

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::access::Caller;
use super::super::input::{invalid, json, ok};
use crate::app::App;
use crate::error::AppError;
use crate::governance::templates::icons::{self, IconError};
use crate::governance::templates::{self, StoredTemplate, Template, TemplateError};
use crate::http::{HttpRequest, HttpResponse};

/// Most earlier versions listed with a template.
const MAX_VERSIONS_LISTED: u32 = 20;

fn id_of(req: &HttpRequest) -> Result<String, AppError> {
    let id = req.head.params.get("id").cloned().unwrap_or_default();
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(id)
    } else {
        Err(invalid(
            "id",
            "a template id is 1 to 64 letters, digits or dashes",
        ))
    }
}

/// A template as the tab shows it: its icon as the URL the catalog serves
/// it at (the blob name stays inside; a save ignores what comes back).
fn item(t: &StoredTemplate) -> Value {
    let mut v = serde_json::to_value(&t.template).unwrap_or_default();
    v["id"] = t.id.clone().into();
    if t.template.icon.is_some() {
        v["icon"] = format!("/api/tab/catalog/{}/icon", t.id).into();
    }
    v
}

/// `GET admin/templates`.
pub async fn list(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let all = templates::list(app.docs.as_ref(), &caller.tenant).await?;
    Ok(ok(
        &json!({"templates": all.iter().map(item).collect::<Vec<_>>()}),
    ))
}

/// `GET admin/templates/{id}`: the template and its earlier versions.
pub async fn get(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let id = id_of(&req)?;
    let docs = app.docs.as_ref();
    let t = templates::get(docs, &caller.tenant, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let newest = t.template.version;
    let mut versions = Vec::new();
    for v in (1..=newest).rev().take(MAX_VERSIONS_LISTED as usize) {
        if let Some(old) = templates::get_version(docs, &caller.tenant, &id, v).await?
            && old.template.version == v
        {
            versions.push(
                json!({"version": v, "name": old.template.name, "active": old.template.active}),
            );
        }
    }
    Ok(ok(&json!({"template": item(&t), "versions": versions})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Put {
    template: Value,
    #[serde(default)]
    etag: Option<Value>,
}

/// `PUT admin/templates/{id}`: saves a new version.
pub async fn put(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let id = id_of(&req)?;
    let body: Put = json(&req)?;
    let _ = body.etag;
    let mut raw = body.template;
    if let Some(map) = raw.as_object_mut() {
        // What the list adds, and what only the store sets.
        map.remove("id");
        map.remove("version");
    }
    let mut template: Template = super::super::input::parse_value("template", raw)?;
    let docs = app.docs.as_ref();
    // The icon is uploaded on its own; a save keeps the stored one.
    template.icon = templates::get(docs, &caller.tenant, &id)
        .await?
        .and_then(|t| t.template.icon);
    let saved = save(&app, &caller, &id, &template, false).await?;
    Ok(ok(&json!({"id": id, "version": saved.version})))
}

/// Saves `template` as the next version of `id`, audited.
async fn save(
    app: &App,
    caller: &Caller,
    id: &str,
    template: &Template,
    new_icon: bool,
) -> Result<Template, AppError> {
    let saved = templates::save(app.docs.as_ref(), &caller.tenant, id, template)
        .await
        .map_err(|e| match e {
            TemplateError::Invalid(problems) => invalid("template", problems.join(" ")),
            e => AppError::Internal(e.into()),
        })?;
    let details = json!({"templateId": id, "version": saved.version, "icon": new_icon});
    caller.audit(app, "template.saved", details).await?;
    Ok(saved)
}

/// `POST admin/templates/{id}/icon`: the image bytes as the body.
pub async fn icon(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let id = id_of(&req)?;
    let declared = req
        .header("content-type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if declared != "image/png" && declared != "image/jpeg" {
        return Err(AppError::UnsupportedMediaType(
            "the icon must be sent as image/png or image/jpeg".into(),
        ));
    }
    let docs = app.docs.as_ref();
    let current = templates::get(docs, &caller.tenant, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    if icons::sniff(&req.body).ok() != Some(declared.as_str()) {
        return Err(invalid(
            "icon",
            format!("the bytes are not a {declared} image"),
        ));
    }
    let name = icons::store(app.blobs.as_ref(), &caller.tenant, &id, req.body.to_vec())
        .await
        .map_err(|e| match e {
            IconError::TooLarge => AppError::PayloadTooLarge {
                limit: icons::MAX_ICON_BYTES as u64,
            },
            IconError::Platform(e) => e.into(),
            e => invalid("icon", e.to_string()),
        })?;
    let mut next = current.template.clone();
    next.icon = Some(name);
    let saved = save(&app, &caller, &id, &next, true).await?;
    Ok(ok(
        &json!({"icon": format!("/api/tab/catalog/{id}/icon"), "version": saved.version}),
    ))
}
