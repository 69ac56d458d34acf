//! The CRM in Teams end to end, as Teams drives the bot through the local
//! host (invokes with a valid channel token), with the Dataverse and
//! Salesforce stand-ins as the tenants' CRMs, connected the way a real
//! tenant is: a Dynamics 365 environment through our Entra app (the Graph
//! one, its token asked of `CRM_AUTHORITY_HOST`), a Salesforce org through
//! the web-server flow (`crm::connect::start`, then the callback's
//! `finish` with a code the org minted).

use reqwest::StatusCode;
use salestim::crm::connections::DynamicsInput;
use salestim::crm::dataverse::SearchMode;
use salestim::crm::{RecordType, WriteBack, connect};
use salestim::governance::naming::{Attribute, NamingPolicy, Part};
use salestim::governance::templates::{self, ApprovalRule, Template};
use salestim::ids::TenantId;
use serde_json::{Value, json};

use crate::bot_invokes::{BOB, HOST, invoke};
use crate::provisioning::{World, project_template, world_with};
use crate::support::dataverse::DataverseStandIn;
use crate::support::graph::CLIENT_ID as GRAPH_CLIENT_ID;
use crate::support::salesforce::{CLIENT_ID, CLIENT_SECRET, SalesforceStandIn};

mod bad_input;
mod isolation;
mod revoked;
mod search;
mod team;

/// The admin who connects the CRMs.
const ADMIN: &str = "0a0a0a0a-0000-4000-8000-00000000ad01";

/// A Dynamics 365 environment and a Salesforce org, each on its port.
async fn stand_ins() -> (DataverseStandIn, SalesforceStandIn) {
    (
        DataverseStandIn::start().await,
        SalesforceStandIn::start().await,
    )
}

/// The world of the provisioning tests (a bot, the Graph stand-in, tenant
/// A with its directory), its CRM settings pointing at the stand-ins.
async fn world(dv: &DataverseStandIn, sf: &SalesforceStandIn) -> World {
    world_with(
        None,
        vec![
            ("CRM_AUTHORITY_HOST", dv.authority_host.to_string()),
            ("CRM_EXTRA_HOSTS", "127.0.0.1".into()),
            ("SALESFORCE_CLIENT_ID", CLIENT_ID.into()),
            ("SALESFORCE_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("SALESFORCE_LOGIN_URL", sf.origin.clone()),
        ],
    )
    .await
}

/// Connects `tenant` to the Dataverse environment as an admin does:
/// their input checked, our Entra app consented in their tenant and an
/// application user in the environment.
async fn connect_dynamics(w: &World, dv: &DataverseStandIn, tenant: &TenantId) {
    dv.add_tenant(tenant.as_str(), true);
    dv.accept_app(GRAPH_CLIENT_ID, &w.graph.client_secret());
    let crm = &w.bot.app.app.crm;
    let new = crm
        .dynamics_input(DynamicsInput {
            org_url: dv.org_url.to_string(),
            search: SearchMode::Auto,
            impersonate: false,
            write_back: WriteBack::Note,
            own_app: None,
        })
        .expect("the stand-in's host is one the deployment names");
    crm.connections()
        .put(tenant, new, ADMIN, crm.now())
        .await
        .unwrap();
}

/// Connects `tenant` to the Salesforce org by the web-server flow: the
/// admin is sent to the org's authorize page, which sends them back with
/// a code.
async fn connect_salesforce(w: &World, sf: &SalesforceStandIn, tenant: &TenantId) {
    sf.set_redirect_uri(&format!("https://{HOST}/api/crm/salesforce/callback"));
    let crm = &w.bot.app.app.crm;
    let login = crm
        .salesforce_login(Some(&sf.origin))
        .expect("the stand-in's host is one the deployment names");
    let authorize = connect::start(crm, tenant, ADMIN, login, WriteBack::Note)
        .await
        .unwrap();
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("the authorize URL carries a state");
    let (connected, _) = connect::finish(crm, &state, &sf.mint_code())
        .await
        .expect("the callback connects the org");
    assert_eq!(&connected, tenant);
}

/// A template for teams for `record_type` records, named after the record
/// (`[CrmRecord] - <name>`), with no approval.
async fn record_template(w: &World, tenant: &TenantId, id: &str, record_type: RecordType) {
    let template = Template {
        name: format!("{} team", record_type.label()),
        crm_link: Some(record_type),
        naming: Some(NamingPolicy {
            prefix: vec![
                Part::Attribute(Attribute::CrmRecord),
                Part::Text(" - ".into()),
            ],
            ..NamingPolicy::default()
        }),
        approval: ApprovalRule::None,
        icon: Some(format!("{}/project", w.tenant)),
        ..project_template()
    };
    templates::save(w.bot.app.app.docs.as_ref(), tenant, id, &template)
        .await
        .unwrap();
}

/// Bob types `text` into the `searchCrm` box; Teams asks for `count`
/// results from `skip`.
async fn search(w: &World, tenant: &TenantId, text: &str, skip: u64, count: u64) -> Value {
    let value = json!({"commandId": "searchCrm",
        "parameters": [{"name": "searchText", "value": text}],
        "queryOptions": {"skip": skip, "count": count}});
    let (status, body) = invoke(&w.bot, tenant, BOB, "composeExtension/query", value).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A link pasted into the compose box.
async fn unfurl(w: &World, tenant: &TenantId, url: &str) -> Value {
    let value = json!({"url": url});
    let (status, body) = invoke(&w.bot, tenant, BOB, "composeExtension/queryLink", value).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The result list's attachments.
fn attachments(body: &Value) -> Vec<Value> {
    assert_eq!(body["composeExtension"]["type"], "result", "{body}");
    body["composeExtension"]["attachments"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The titles of the list's previews, in order.
fn titles(body: &Value) -> Vec<String> {
    attachments(body)
        .iter()
        .map(|a| {
            a["preview"]["content"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The message a search answered with instead of results.
fn message(body: &Value) -> String {
    assert_eq!(body["composeExtension"]["type"], "message", "{body}");
    body["composeExtension"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The inserted card of the result titled `title`.
fn card_titled(body: &Value, title: &str) -> Value {
    attachments(body)
        .into_iter()
        .find(|a| a["preview"]["content"]["title"] == title)
        .unwrap_or_else(|| panic!("{title} in {body}"))["content"]
        .clone()
}

/// A card's action titled `title`.
fn action<'a>(card: &'a Value, title: &str) -> Option<&'a Value> {
    card["actions"]
        .as_array()?
        .iter()
        .find(|a| a["title"] == title)
}
