//! `handler crm …`: a tenant's CRM connections from a terminal (the admin
//! tab's CRM section does the same for the tenant's admins): list them,
//! connect Dynamics 365, start connecting Salesforce, check, change the
//! write-back, remove. Secrets come from the environment, never the
//! command line (it ends up in shell histories and process lists).

use crate::app::App;
use crate::crm::connections::DynamicsInput;
use crate::crm::dataverse::SearchMode;
use crate::crm::{CrmKind, WriteBack, connect};
use crate::ids::TenantId;

/// The environment variable `crm dynamics --client-id` reads the secret from.
pub const CLIENT_SECRET_ENV: &str = "CRM_CLIENT_SECRET";

/// Records what an operator did in the tenant's audit trail, with the
/// actions the admin tab's CRM section records.
async fn audit(
    app: &App,
    tenant: &TenantId,
    action: &str,
    details: serde_json::Value,
) -> Result<(), String> {
    crate::governance::audit::note(
        app.docs.as_ref(),
        tenant,
        app.clock.now(),
        &super::operator(),
        action,
        details,
    )
    .await
    .map_err(|e| e.to_string())
}

/// `note`, `off` or `field:<name>`.
pub fn write_back_arg(raw: &str) -> Result<WriteBack, String> {
    match raw {
        "note" => Ok(WriteBack::Note),
        "off" => Ok(WriteBack::Off),
        _ => match raw.strip_prefix("field:") {
            Some(name) if !name.is_empty() => Ok(WriteBack::Field(name.to_owned())),
            _ => Err(format!(
                "--write-back is note, off or field:<name>, not {raw:?}"
            )),
        },
    }
}

pub fn kind_arg(raw: &str) -> Result<CrmKind, String> {
    CrmKind::parse(raw).ok_or_else(|| format!("the CRM is dynamics or salesforce, not {raw:?}"))
}

pub fn search_arg(raw: &str) -> Result<SearchMode, String> {
    serde_json::from_value(serde_json::Value::from(raw))
        .map_err(|_| format!("--search is auto, relevance or filter, not {raw:?}"))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("serialisable")
}

pub async fn list(app: &App, tenant: &TenantId) -> Result<String, String> {
    let all = app
        .crm
        .connections()
        .all(tenant)
        .await
        .map_err(|e| e.to_string())?;
    if all.is_empty() {
        return Ok(format!("{tenant} has no CRM connection"));
    }
    Ok(pretty(&serde_json::Value::Array(
        all.iter().map(|c| c.summary()).collect(),
    )))
}

/// Connects (or rotates) the tenant's Dynamics 365 environment and checks it.
pub async fn dynamics(
    app: &App,
    tenant: &TenantId,
    org_url: &str,
    search: SearchMode,
    impersonate: bool,
    write_back: WriteBack,
    client_id: Option<String>,
) -> Result<String, String> {
    let own_app = match client_id {
        Some(id) => {
            let secret = std::env::var(CLIENT_SECRET_ENV).map_err(|_| {
                format!("--client-id needs the app registration's secret in {CLIENT_SECRET_ENV}")
            })?;
            Some((id, secret))
        }
        None => None,
    };
    let input = DynamicsInput {
        org_url: org_url.to_owned(),
        search,
        impersonate,
        write_back,
        own_app,
    };
    let new = app.crm.dynamics_input(input).map_err(|e| e.to_string())?;
    let own = new.own_app.as_ref().map(|(id, _)| id.clone());
    app.crm
        .connections()
        .put(tenant, new, &super::operator(), app.crm.now())
        .await
        .map_err(|e| e.to_string())?;
    audit(
        app,
        tenant,
        "crm.connection.saved",
        serde_json::json!({"crm": "dynamics", "orgUrl": org_url, "ownApp": own}),
    )
    .await?;
    check(app, tenant, CrmKind::Dynamics).await
}

/// The Salesforce authorize URL to give the tenant's admin; the callback
/// stores the connection once they allow SalesTim.
pub async fn salesforce(
    app: &App,
    tenant: &TenantId,
    login_url: Option<&str>,
    write_back: WriteBack,
) -> Result<String, String> {
    let login_url = app
        .crm
        .salesforce_login(login_url)
        .map_err(|e| e.to_string())?;
    let url = connect::start(&app.crm, tenant, &super::operator(), login_url, write_back)
        .await
        .map_err(|e| e.to_string())?;
    audit(
        app,
        tenant,
        "crm.connection.started",
        serde_json::json!({"crm": "salesforce"}),
    )
    .await?;
    Ok(format!(
        "Open this link as a Salesforce admin of the org within 10 minutes:\n{url}"
    ))
}

pub async fn check(app: &App, tenant: &TenantId, kind: CrmKind) -> Result<String, String> {
    match app
        .crm
        .check(tenant, kind)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(c) => {
            let ok = c.checked.as_ref().is_some_and(|c| c.ok);
            audit(
                app,
                tenant,
                "crm.connection.checked",
                serde_json::json!({"crm": kind, "ok": ok}),
            )
            .await?;
            Ok(pretty(&c.summary()))
        }
        None => Err(format!("{tenant} has no {} connection", kind.label())),
    }
}

pub async fn set_write_back(
    app: &App,
    tenant: &TenantId,
    kind: CrmKind,
    write_back: WriteBack,
) -> Result<String, String> {
    crate::crm::connections::check_write_back(&write_back).map_err(|e| e.to_string())?;
    match app
        .crm
        .connections()
        .change(tenant, kind, |c| c.write_back = write_back.clone())
        .await
        .map_err(|e| e.to_string())?
    {
        Some(c) => {
            audit(
                app,
                tenant,
                "crm.connection.saved",
                serde_json::json!({"crm": kind, "writeBack": write_back}),
            )
            .await?;
            Ok(pretty(&c.summary()))
        }
        None => Err(format!("{tenant} has no {} connection", kind.label())),
    }
}

pub async fn remove(app: &App, tenant: &TenantId, kind: CrmKind) -> Result<String, String> {
    match app.crm.connections().remove(tenant, kind).await {
        Ok(true) => {
            audit(
                app,
                tenant,
                "crm.connection.removed",
                serde_json::json!({"crm": kind}),
            )
            .await?;
            Ok(format!("removed {tenant}'s {} connection", kind.label()))
        }
        Ok(false) => Err(format!("{tenant} has no {} connection", kind.label())),
        Err(e) => Err(e.to_string()),
    }
}
