//! Tenant settings: what the platform may do in the tenant (consent),
//! whether its credentials work, and the settings requests follow
//! (reminders, escalation, default expiry, the naming policy).

use serde::Deserialize;
use serde_json::json;

use super::super::access::Caller;
use super::super::input::{invalid, json, ok};
use crate::app::App;
use crate::error::AppError;
use crate::governance::tenants::{TenantError, TenantSettings};
use crate::http::{HttpRequest, HttpResponse};

/// `GET admin/settings`.
pub async fn get(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let tenant = app
        .tenants
        .get(&caller.tenant)
        .await?
        .ok_or(AppError::NotFound)?;
    let consent = &tenant.onboarding;
    let (healthy, detail) = match (&app.graph, consent.admin_consent) {
        (None, _) => (
            false,
            "this deployment has no Graph credentials: nothing can be provisioned or swept",
        ),
        (Some(_), false) => (
            false,
            "an administrator has not granted SalesTim consent in this tenant yet",
        ),
        (Some(_), true) => (
            true,
            "consent granted; the app's credentials are configured",
        ),
    };
    Ok(ok(&json!({
        "tenant": {"id": caller.tenant.as_str(), "name": tenant.display_name},
        "consent": {"granted": consent.admin_consent, "at": consent.consented_at},
        "credentials": {"kind": consent.credentials, "healthy": healthy, "detail": detail},
        "settings": tenant.settings,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Put {
    settings: TenantSettings,
}

/// `PUT admin/settings`: the whole settings document, checked before it
/// is saved (the same checks as `handler tenant set`).
pub async fn put(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let body: Put = json(&req)?;
    let saved = app
        .tenants
        .update(&caller.tenant, |t, _| {
            t.settings = body.settings.clone();
            Ok(())
        })
        .await
        .map_err(|e| match e {
            TenantError::Invalid(problems) => invalid("settings", problems.join(" ")),
            TenantError::Unknown(_) => AppError::NotFound,
            TenantError::Platform(e) => e.into(),
            e => invalid("settings", e.to_string()),
        })?;
    let details = json!({"settings": saved.settings});
    caller
        .audit(&app, "tenant.settings.changed", details)
        .await?;
    Ok(ok(&json!({"settings": saved.settings})))
}
