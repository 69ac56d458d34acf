//! Role assignments ([`crate::governance::roles`]): listed with their
//! version, replaced as a whole under it.

use serde::Deserialize;
use serde_json::json;

use super::super::access::Caller;
use super::super::input::{invalid, json, ok};
use crate::app::App;
use crate::error::AppError;
use crate::governance::roles::{self, Assignment, RoleError};
use crate::http::{HttpRequest, HttpResponse};
use crate::platform::PlatformError;

/// `GET admin/roles`.
pub async fn get(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let (assigned, etag) = roles::get(app.docs.as_ref(), &caller.tenant).await?;
    Ok(ok(
        &json!({"assignments": assigned.assignments, "etag": etag,
                  "updatedAt": assigned.updated_at, "updatedBy": assigned.updated_by}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Put {
    assignments: Vec<Assignment>,
    #[serde(default)]
    etag: Option<String>,
}

/// `PUT admin/roles`.
pub async fn put(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let body: Put = json(&req)?;
    let saved = roles::replace(
        app.docs.as_ref(),
        &caller.tenant,
        app.clock.now(),
        &caller.actor(),
        &body.assignments,
        body.etag.as_deref(),
    )
    .await
    .map_err(|e| match e {
        RoleError::Invalid { field, reason } => invalid(&field, reason),
        RoleError::LastAdmin => invalid(
            "assignments",
            "the tenant needs at least one admin who is a user",
        ),
        RoleError::Platform(PlatformError::PreconditionFailed) => {
            AppError::Conflict("the role assignments changed meanwhile; look at them again".into())
        }
        RoleError::Platform(e) => e.into(),
    })?;
    let (_, etag) = roles::get(app.docs.as_ref(), &caller.tenant).await?;
    Ok(ok(&json!({"assignments": saved.assignments, "etag": etag})))
}
