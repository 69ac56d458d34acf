//! The admin tab's CRM section and the `handler crm` commands, end to end
//! against the Dataverse and Salesforce stand-ins: connecting (our app, the
//! customer's own), what is refused, the Salesforce web-server flow through
//! the callback, checks, rotation and removal, and the operator's commands.

use salestim::governance::audit;
use salestim::governance::roles::{self, Assignment, Role};
use salestim::ids::TenantId;
use salestim::platform::documents::{Container, Document};
use serde_json::{Value, json};

use crate::support::dataverse::{self, DataverseStandIn};
use crate::support::salesforce::{self as sf_standin, SalesforceStandIn};
use crate::tab_api::{ADMIN, call};
use crate::tab_auth::{Fixture, fixture_with};

mod dynamics;
mod health;
mod operator;
mod salesforce;

/// The host of `support::salesforce::REDIRECT_URI`: the callback Salesforce
/// knows for the stand-in's connected app.
const PUBLIC_HOST: &str = "salestim.test";

pub(super) struct Setup {
    pub f: Fixture,
    pub dv: DataverseStandIn,
    pub sf: SalesforceStandIn,
}

/// Tenant A (ADMIN its admin, MEMBER a member) whose Dynamics environment
/// has our app as an application user, a Salesforce org; the app with our
/// Entra app and our connected app pointed at them. `extra_hosts`: the
/// stand-ins' 127.0.0.1 may be connected to.
pub(super) async fn setup(extra_hosts: bool) -> Setup {
    let dv = DataverseStandIn::start().await;
    let sf = SalesforceStandIn::start().await;
    let mut settings = vec![
        ("GRAPH_CLIENT_ID", dataverse::CLIENT_ID.to_owned()),
        ("GRAPH_CLIENT_SECRET", dv.client_secret()),
        ("CRM_AUTHORITY_HOST", dv.authority_host.to_string()),
        ("SALESFORCE_CLIENT_ID", sf_standin::CLIENT_ID.to_owned()),
        (
            "SALESFORCE_CLIENT_SECRET",
            sf_standin::CLIENT_SECRET.to_owned(),
        ),
        ("SALESFORCE_LOGIN_URL", sf.origin.clone()),
        ("SALESTIM_PUBLIC_HOSTNAME", PUBLIC_HOST.to_owned()),
    ];
    if extra_hosts {
        settings.push(("CRM_EXTRA_HOSTS", "127.0.0.1".to_owned()));
    }
    let f = fixture_with(settings).await;
    let docs = f.app.app.docs.as_ref();
    let now = f.app.app.clock.now();
    for tenant in [&f.a, &f.b] {
        roles::replace(
            docs,
            tenant,
            now,
            "test",
            &[Assignment::user(ADMIN, Role::Admin)],
            None,
        )
        .await
        .unwrap();
    }
    dv.add_tenant(f.a.as_str(), true);
    Setup { f, dv, sf }
}

impl Setup {
    /// `admin/crm{path}` in tenant A as `who`.
    pub(super) async fn call_as(
        &self,
        who: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let token = self.f.token(&self.f.a, who);
        call(&self.f, &token, method, &format!("admin/crm{path}"), body).await
    }

    pub(super) async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_as(ADMIN, method, path, body).await
    }

    /// `PUT admin/crm/dynamics` at the stand-in; `own`: the customer's app.
    pub(super) async fn put_dynamics(&self, own: Option<&str>) -> (u16, Value) {
        let mut body = json!({"orgUrl": self.dv.org_url.as_str()});
        if let Some(secret) = own {
            body["clientId"] = dataverse::CLIENT_ID.into();
            body["clientSecret"] = secret.into();
        }
        self.admin("PUT", "/dynamics", Some(body)).await
    }

    /// The tenant's stored connection document, as the store holds it.
    pub(super) async fn raw(&self, tenant: &TenantId, crm: &str) -> Option<Document> {
        self.f
            .app
            .app
            .docs
            .get(Container::Tenants, tenant, &format!("crm-{crm}"))
            .await
            .unwrap()
    }

    /// The audit trail's actions in tenant A.
    pub(super) async fn audited(&self) -> Vec<String> {
        audit::trail(self.f.app.app.docs.as_ref(), &self.f.a)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    /// Everything of tenant A a CRM change could touch: its connections and
    /// its audit trail.
    pub(super) async fn snapshot(&self) -> String {
        let crm = self.raw(&self.f.a, "dynamics").await;
        let sf = self.raw(&self.f.a, "salesforce").await;
        format!(
            "{:?} {:?} {:?}",
            crm.map(|d| d.body),
            sf.map(|d| d.body),
            self.audited().await
        )
    }

    /// Every byte the app's document store keeps on disk (the SQLite file
    /// and its journal), as text.
    pub(super) fn store_bytes(&self) -> String {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.f.app.data_dir()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("documents.sqlite") {
                all.extend(std::fs::read(&path).unwrap());
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// Whether a JSON value holds `needle` anywhere in its text.
pub(super) fn mentions(value: &Value, needle: &str) -> bool {
    value.to_string().contains(needle)
}
