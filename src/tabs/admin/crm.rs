//! The admin tab's CRM section: the tenant's connections with their
//! health (a broken one is the admin's finding: what the CRM said and
//! since when), connecting Dynamics 365 (its environment URL, our app or
//! the customer's own app registration) and Salesforce (the web-server
//! flow), checking, rotating and removing them. Every change is audited;
//! no secret is ever answered.

use serde::Deserialize;
use serde_json::json;

use super::super::access::Caller;
use super::super::input::{invalid, json, ok};
use crate::app::App;
use crate::crm::connections::{DynamicsInput, Invalid, check_write_back};
use crate::crm::dataverse::SearchMode;
use crate::crm::{CrmError, CrmKind, WriteBack, connect};
use crate::error::AppError;
use crate::http::{HttpRequest, HttpResponse};

fn kind_of(req: &HttpRequest) -> Result<CrmKind, AppError> {
    req.head
        .params
        .get("crm")
        .and_then(|k| CrmKind::parse(k))
        .ok_or(AppError::NotFound)
}

fn crm_failure(e: CrmError) -> AppError {
    match e {
        CrmError::Platform(e) => e.into(),
        CrmError::NotSetUp(why) => invalid("crm", why),
        other => invalid("crm", other.to_string()),
    }
}

fn invalid_input(e: Invalid) -> AppError {
    invalid(e.field, e.reason)
}

/// `GET admin/crm`.
pub async fn get(app: App, caller: Caller, _req: HttpRequest) -> Result<HttpResponse, AppError> {
    let connections = app.crm.connections().all(&caller.tenant).await?;
    let shared = app.crm.shared();
    Ok(ok(&json!({
        "connections": connections.iter().map(|c| c.summary()).collect::<Vec<_>>(),
        "available": {
            "dynamics": shared.entra.is_some(),
            "salesforce": shared.salesforce.is_some(),
        },
        "salesforceRedirectUri": shared.salesforce.as_ref().map(|s| s.redirect_uri.as_str()),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutDynamics {
    org_url: String,
    #[serde(default)]
    search: SearchMode,
    #[serde(default)]
    impersonate: bool,
    #[serde(default)]
    write_back: WriteBack,
    /// The customer's own app registration, instead of ours.
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

/// `PUT admin/crm/dynamics`: connects (or rotates) the Dynamics 365
/// environment, then checks it at once so the admin sees whether our app
/// is set up in it.
pub async fn put_dynamics(
    app: App,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let body: PutDynamics = json(&req)?;
    let org_url = body.org_url.trim().to_owned();
    let input = DynamicsInput {
        org_url: org_url.clone(),
        search: body.search,
        impersonate: body.impersonate,
        write_back: body.write_back,
        own_app: match (body.client_id, body.client_secret) {
            (Some(id), Some(secret)) => Some((id, secret)),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "clientSecret",
                    "give both the client id and the client secret, or neither",
                ));
            }
        },
    };
    let new = app.crm.dynamics_input(input).map_err(invalid_input)?;
    let own = new.own_app.as_ref().map(|(id, _)| id.clone());
    app.crm
        .connections()
        .put(
            &caller.tenant,
            new,
            &caller.user.aad_object_id,
            app.crm.now(),
        )
        .await?;
    caller
        .audit(
            &app,
            "crm.connection.saved",
            json!({"crm": "dynamics", "orgUrl": org_url, "ownApp": own}),
        )
        .await?;
    let checked = app
        .crm
        .check(&caller.tenant, CrmKind::Dynamics)
        .await
        .map_err(crm_failure)?
        .ok_or(AppError::NotFound)?;
    Ok(ok(&checked.summary()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectSalesforce {
    /// `https://login.salesforce.com` unless the org signs in elsewhere.
    #[serde(default)]
    login_url: Option<String>,
    #[serde(default)]
    write_back: WriteBack,
}

/// `POST admin/crm/salesforce/connect`: where to send the admin to sign
/// in to Salesforce and allow SalesTim (the callback stores the
/// connection).
pub async fn connect_salesforce(
    app: App,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let body: ConnectSalesforce = json(&req)?;
    check_write_back(&body.write_back).map_err(invalid_input)?;
    let login_url = app
        .crm
        .salesforce_login(body.login_url.as_deref())
        .map_err(invalid_input)?;
    let authorize = connect::start(
        &app.crm,
        &caller.tenant,
        &caller.user.aad_object_id,
        login_url,
        body.write_back,
    )
    .await
    .map_err(crm_failure)?;
    caller
        .audit(&app, "crm.connection.started", json!({"crm": "salesforce"}))
        .await?;
    Ok(ok(&json!({"authorizeUrl": authorize.as_str()})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutWriteBack {
    write_back: WriteBack,
}

/// `PUT admin/crm/{crm}/write-back`: how teams are recorded on records.
pub async fn put_write_back(
    app: App,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let kind = kind_of(&req)?;
    let body: PutWriteBack = json(&req)?;
    check_write_back(&body.write_back).map_err(invalid_input)?;
    let changed = app
        .crm
        .connections()
        .change(&caller.tenant, kind, |c| {
            c.write_back = body.write_back.clone()
        })
        .await?
        .ok_or(AppError::NotFound)?;
    caller
        .audit(
            &app,
            "crm.connection.saved",
            json!({"crm": kind, "writeBack": body.write_back}),
        )
        .await?;
    Ok(ok(&changed.summary()))
}

/// `POST admin/crm/{crm}/check`: checks the connection end to end; a
/// working check clears the finding.
pub async fn check(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let kind = kind_of(&req)?;
    let checked = app
        .crm
        .check(&caller.tenant, kind)
        .await
        .map_err(crm_failure)?
        .ok_or(AppError::NotFound)?;
    caller
        .audit(
            &app,
            "crm.connection.checked",
            json!({"crm": kind, "ok": checked.checked.as_ref().is_some_and(|c| c.ok)}),
        )
        .await?;
    Ok(ok(&checked.summary()))
}

/// `DELETE admin/crm/{crm}`: the connection and its sealed credential
/// are gone; cached answers under it are never read again.
pub async fn remove(app: App, caller: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let kind = kind_of(&req)?;
    if !app.crm.connections().remove(&caller.tenant, kind).await? {
        return Err(AppError::NotFound);
    }
    caller
        .audit(&app, "crm.connection.removed", json!({"crm": kind}))
        .await?;
    Ok(ok(&json!({"removed": kind})))
}
