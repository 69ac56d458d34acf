//! Dynamics 365 / Dataverse through its Web API (`/api/data/v9.2`), app-only:
//! client credentials against the customer's tenant for the org's scope,
//! as our multi-tenant Entra app (or the customer's own app registration).
//!
//! Search takes one of two ways. Dataverse search (`searchquery`) ranks
//! across the three tables in one request, but an admin must enable it per
//! environment; where it is off, the OData `contains()` filter on each
//! table's name works everywhere, at three requests a page. In
//! [`SearchMode::Auto`] the first "search is not enabled" answer switches
//! this connector to the filters, and every continuation it hands out says
//! which way it was made, so page 2 goes the same way in one request per
//! table that has more.
//!
//! Dataverse has no `$skip`: the filters page by `@odata.nextLink`, which
//! carries a `$skiptoken` and is used verbatim.
//!
//! The trap for an app-only connection: Entra happily issues a token to an
//! app that the environment does not know, and Dataverse then answers
//! "The user is not a member of the organization." (`0x80072560`). That is
//! an admin's missing step (add the app as an application user with a
//! security role), not a revoked credential, and is reported as such.

mod client;
mod query;
mod records;
mod search;

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::{
    Connector, CrmError, CrmKind, Page, PageRequest, Record, RecordId, RecordRef, RecordType,
    SearchText, Shared, TeamLink, Viewer, WriteBack,
};
use crate::ids::TenantId;
use crate::outbound::Rules;

pub use query::{escape_odata_literal, escape_search_text};

/// How a connection searches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SearchMode {
    /// Dataverse search, and the OData filters where it is not enabled.
    #[default]
    Auto,
    /// Dataverse search only: an environment without it is not set up.
    Relevance,
    /// The OData filters only (an admin who wants no search index used).
    Filter,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataverseConfig {
    /// `https://<org>.crm[N].dynamics.com`.
    pub org_url: Url,
    #[serde(default)]
    pub search: SearchMode,
    /// Each search and read runs as the viewer (`CallerObjectId`: their
    /// Entra object id), so Dataverse applies their security roles.
    #[serde(default)]
    pub impersonate: bool,
}

/// Which app registration the connection signs in as.
pub enum Credentials {
    /// Our multi-tenant Entra app ([`Shared::entra`]).
    OurApp,
    /// The customer's own app registration in their tenant.
    OwnApp {
        client_id: String,
        client_secret: SecretString,
    },
}

pub struct Dataverse {
    shared: Shared,
    tenant: TenantId,
    config: DataverseConfig,
    client_id: String,
    client_secret: SecretString,
    token_url: String,
    /// `<org origin>/.default`.
    scope: String,
    /// `<org origin>/api/data/v9.2/`.
    api: Url,
    rules: Rules,
    /// Auto mode, after the environment said search is not enabled.
    search_off: AtomicBool,
}

impl Dataverse {
    pub fn new(
        shared: &Shared,
        tenant: &TenantId,
        config: &DataverseConfig,
        credentials: Credentials,
    ) -> Result<Dataverse, CrmError> {
        let (client_id, client_secret) = match credentials {
            Credentials::OurApp => {
                let app = shared.entra.as_ref().ok_or_else(|| {
                    CrmError::NotSetUp("this deployment has no Entra app for Dynamics 365".into())
                })?;
                (app.client_id.clone(), app.client_secret.clone())
            }
            Credentials::OwnApp {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        let authority = shared.authority_host.clone();
        let origin = config.org_url.origin();
        if !origin.is_tuple() {
            return Err(CrmError::Refused(format!(
                "{} is not an organization URL",
                config.org_url
            )));
        }
        let origin = origin.ascii_serialization();
        let api = Url::parse(&format!("{origin}/api/data/v9.2/"))
            .map_err(|e| CrmError::Refused(format!("{}: {e}", config.org_url)))?;
        Ok(Dataverse {
            shared: shared.clone(),
            tenant: tenant.clone(),
            config: config.clone(),
            token_url: format!(
                "{}/{}/oauth2/v2.0/token",
                authority.as_str().trim_end_matches('/'),
                tenant
            ),
            scope: format!("{origin}/.default"),
            client_id,
            client_secret,
            api,
            rules: client::rules(shared.retry),
            search_off: AtomicBool::new(config.search == SearchMode::Filter),
        })
    }

    /// Whether searches go through Dataverse search (false once an Auto
    /// connection has found it not enabled, and always in Filter mode).
    pub fn uses_relevance_search(&self) -> bool {
        !self.search_off.load(Ordering::Relaxed)
    }

    fn org_host(&self) -> &str {
        self.config.org_url.host_str().unwrap_or_default()
    }

    /// The viewer to act as, when the connection impersonates.
    fn caller<'a>(&self, viewer: Viewer<'a>) -> Option<&'a str> {
        if self.config.impersonate {
            viewer.aad_object_id
        } else {
            None
        }
    }
}

#[async_trait]
impl Connector for Dataverse {
    fn kind(&self) -> CrmKind {
        CrmKind::Dynamics
    }

    fn per_user(&self) -> bool {
        self.config.impersonate
    }

    async fn search(
        &self,
        viewer: Viewer<'_>,
        text: &SearchText,
        page: &PageRequest,
    ) -> Result<Page, CrmError> {
        let caller = self.caller(viewer);
        let count = page.count.clamp(1, super::MAX_PAGE);
        if let Some(continuation) = &page.continuation {
            let next = query::Continuation::decode(continuation)
                .ok_or_else(|| CrmError::Refused("not a continuation of this connector".into()))?;
            return match next {
                query::Continuation::Relevance { skip } => self
                    .relevance_page(caller, text, skip, count)
                    .await
                    .map_err(CrmError::from),
                query::Continuation::Filter { sets } => self.follow(caller, &sets).await,
            };
        }
        if !text.is_empty() && self.uses_relevance_search() {
            match self.relevance_page(caller, text, page.skip, count).await {
                Err(client::Failed::SearchOff(message))
                    if self.config.search == SearchMode::Auto =>
                {
                    tracing::info!(
                        org = self.org_host(),
                        message,
                        "Dataverse search is not enabled; using filters"
                    );
                    self.search_off.store(true, Ordering::Relaxed);
                }
                Err(client::Failed::SearchOff(message)) => {
                    return Err(CrmError::NotSetUp(format!(
                        "Dataverse search is not enabled in {} ({message}): an admin can turn it on \
                         in the Power Platform admin center, or set the connection to search by name",
                        self.org_host()
                    )));
                }
                other => return other.map_err(CrmError::from),
            }
        }
        self.filter_pages(caller, text, page.skip, count).await
    }

    async fn record(
        &self,
        viewer: Viewer<'_>,
        record_type: RecordType,
        id: &RecordId,
    ) -> Result<Option<Record>, CrmError> {
        if RecordId::parse_for(CrmKind::Dynamics, id.as_str()).is_none() {
            return Ok(None);
        }
        let table = records::Table::of(record_type);
        let mut url = self.endpoint(&format!("{}({id})", table.set))?;
        url.query_pairs_mut().append_pair("$select", table.select);
        let log_path = format!("/{}(id)", table.set);
        match self.get(&url, &log_path, self.caller(viewer), None).await {
            Ok(body) => Ok(records::from_row(record_type, &body, &self.config.org_url)),
            Err(client::Failed::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn link_team(
        &self,
        record: &RecordRef,
        team: &TeamLink<'_>,
        how: &WriteBack,
    ) -> Result<String, CrmError> {
        if RecordId::parse_for(CrmKind::Dynamics, record.id.as_str()).is_none() {
            return Err(CrmError::Refused(format!(
                "{} is not a Dataverse id",
                record.id
            )));
        }
        let table = records::Table::of(record.record_type);
        match how {
            WriteBack::Off => Ok("nothing written (write-back is off)".into()),
            WriteBack::Note => {
                let body = json!({
                    "subject": format!("Team in Microsoft Teams: {}", team.display_name),
                    "notetext": format!("{}\n{}", team.display_name, team.web_url),
                    format!("objectid_{}@odata.bind", table.logical): format!("/{}({})", table.set, record.id),
                });
                let url = self.endpoint("annotations")?;
                self.write(reqwest::Method::POST, &url, "/annotations", &body)
                    .await?;
                Ok(format!(
                    "a note on the {} with the team's link",
                    table.logical
                ))
            }
            WriteBack::Field(name) => {
                if !records::is_logical_name(name) {
                    return Err(CrmError::Refused(format!(
                        "{name:?} is not a Dataverse column's logical name"
                    )));
                }
                let url = self.endpoint(&format!("{}({})", table.set, record.id))?;
                let body = Value::Object(
                    [(name.clone(), Value::from(team.web_url))]
                        .into_iter()
                        .collect(),
                );
                let log_path = format!("/{}(id)", table.set);
                self.write(reqwest::Method::PATCH, &url, &log_path, &body)
                    .await?;
                Ok(format!("the team's link in the {}'s {name}", table.logical))
            }
        }
    }

    async fn check(&self) -> Result<String, CrmError> {
        let url = self.endpoint("WhoAmI")?;
        let body = self.get(&url, "/WhoAmI", None, None).await?;
        Ok(format!(
            "UserId {}, organization {}",
            body["UserId"].as_str().unwrap_or("?"),
            body["OrganizationId"].as_str().unwrap_or("?"),
        ))
    }

    fn parse_link(&self, url: &Url) -> Option<(RecordType, RecordId)> {
        records::parse_link(&self.config.org_url, url)
    }
}
