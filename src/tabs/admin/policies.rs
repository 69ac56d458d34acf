//! Lifecycle policies: the current version, the diff a proposal would
//! make (nothing written), and the save of the proposal as the next
//! version, refused when someone saved another meanwhile.

use serde::Deserialize;
use serde_json::json;

use super::super::access::Caller;
use super::super::input::{invalid, json, ok};
use crate::app::App;
use crate::error::AppError;
use crate::governance::lifecycle::policy::{self, Policies};
use crate::governance::lifecycle::store::{self, PolicyError, Saved};
use crate::governance::templates;
use crate::http::{HttpRequest, HttpResponse};

/// `GET admin/policies`.
pub async fn get(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let current = store::current(app.docs.as_ref(), &caller.tenant).await?;
    Ok(ok(&match current {
        Some(c) => {
            json!({"version": c.version, "policies": c.policies, "savedAt": c.saved_at, "savedBy": c.saved_by})
        }
        None => json!({"version": 0, "policies": Policies::default()}),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Proposal {
    policies: serde_json::Value,
    #[serde(default)]
    version: Option<u32>,
}

fn parse(p: serde_json::Value) -> Result<Policies, AppError> {
    super::super::input::parse_value("policies", p)
}

/// `POST admin/policies/diff`.
pub async fn diff(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let body: Proposal = json(&req)?;
    let after = parse(body.policies)?;
    let current = store::current(app.docs.as_ref(), &caller.tenant).await?;
    let before = current
        .as_ref()
        .map(|c| c.policies.clone())
        .unwrap_or_default();
    let ids: Vec<String> = templates::list(app.docs.as_ref(), &caller.tenant)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    Ok(ok(&json!({
        "version": current.map_or(0, |c| c.version),
        "changes": policy::diff(&before, &after),
        "problems": after.problems(&ids),
    })))
}

/// `PUT admin/policies`.
pub async fn put(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let body: Proposal = json(&req)?;
    let Some(version) = body.version else {
        return Err(invalid(
            "version",
            "the version the diff was made against is needed",
        ));
    };
    let policies = parse(body.policies)?;
    let ids: Vec<String> = templates::list(app.docs.as_ref(), &caller.tenant)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    let saved = store::save(
        app.docs.as_ref(),
        app.clock.as_ref(),
        &caller.tenant,
        &policies,
        Some(version),
        &ids,
        &caller.actor(),
    )
    .await
    .map_err(|e| match e {
        PolicyError::Invalid(problems) => invalid("policies", problems.join(" ")),
        PolicyError::Stale { current } => AppError::Conflict(format!(
            "the policies changed meanwhile (now version {current}); look at the diff again"
        )),
        PolicyError::Platform(e) => e.into(),
    })?;
    let (version, changed) = match saved {
        Saved::Version(v) => (v, true),
        Saved::Unchanged(v) => (v, false),
    };
    Ok(ok(&json!({"version": version, "changed": changed})))
}
