//! A tenant's CRM connections: at most one per CRM, each a document in the
//! tenant's partition holding the connection's settings and its
//! credentials sealed under a data key of its own (the envelope
//! encryption every tenant secret uses): a customer's own Dataverse client
//! secret, a Salesforce refresh token.
//!
//! Connections are created, checked, rotated and removed by the tenant's
//! admins (the admin tab's CRM section). Every change bumps the
//! connection's revision, which the search cache's keys carry: answers
//! cached under a rotated or removed connection are never read again.
//!
//! A connection whose credential the CRM stops accepting is marked broken
//! with the reason and when: the admin's CRM section shows it as a finding
//! (with the audit trail's entry), every user's search gets a card telling
//! them to ask their admin, and no call goes to the CRM with it again until
//! an admin rotates or re-checks it: a revoked credential never turns into
//! a retry loop.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::dataverse::{Credentials, Dataverse, DataverseConfig};
use super::salesforce::{Salesforce, SalesforceConfig};
use super::{Connector, CrmError, CrmKind, Shared, WriteBack};
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{Container, Document, Documents};
use crate::platform::keys::WrappedKey;
use crate::platform::keys::envelope::{Envelope, Sealed};

const CONNECTION_TYPE: &str = "crmConnection";

/// The CRMs' own domains (their commercial and government clouds): an
/// admin connects to a host under one of these, or one the deployment
/// names (`CRM_EXTRA_HOSTS`). Our app's token for the org goes to it, so
/// it is never a host an admin makes up.
const DYNAMICS_DOMAINS: [&str; 5] = [
    ".dynamics.com",
    ".dynamics.us",
    ".microsoftdynamics.us",
    ".appsplatform.us",
    ".dynamics.cn",
];
const SALESFORCE_DOMAINS: [&str; 4] = [
    ".salesforce.com",
    ".force.com",
    ".salesforce.mil",
    ".cloudforce.com",
];

/// Whether an admin may connect `kind` at `url`: HTTPS to the CRM's own
/// domains, or a host the deployment names (plain HTTP only for a
/// loopback one).
pub fn check_host(kind: CrmKind, url: &url::Url, extra: &[String]) -> Result<(), String> {
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
        return Err("the URL has no host".into());
    };
    let named = extra.contains(&host);
    let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if named && loopback => {}
        _ => return Err("the URL must start with https://".into()),
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err("the URL must name only the host".into());
    }
    let domains: &[&str] = match kind {
        CrmKind::Dynamics => &DYNAMICS_DOMAINS,
        CrmKind::Salesforce => &SALESFORCE_DOMAINS,
    };
    if named || domains.iter().any(|d| host.ends_with(d)) {
        Ok(())
    } else {
        Err(format!(
            "{host} is not a {} host (expected one under {})",
            kind.label(),
            domains.join(", ")
        ))
    }
}

fn connection_id(kind: CrmKind) -> String {
    format!("crm-{}", kind.as_str())
}

/// Where a connection reaches its CRM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "crm")]
pub enum Target {
    Dynamics(DataverseConfig),
    Salesforce(SalesforceConfig),
}

impl Target {
    pub fn kind(&self) -> CrmKind {
        match self {
            Target::Dynamics(_) => CrmKind::Dynamics,
            Target::Salesforce(_) => CrmKind::Salesforce,
        }
    }
}

/// Whether the connection works, as the last call found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum Health {
    #[default]
    Working,
    /// The credential was refused or the CRM is not set up for us: the
    /// admin's finding. No call is made with it until an admin acts.
    Broken {
        reason: String,
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
}

/// The last end-to-end check an admin ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub ok: bool,
    pub message: String,
}

/// A stored connection (never shown as is: [`Connection::summary`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub target: Target,
    #[serde(default)]
    pub write_back: WriteBack,
    /// Bumped on every change (the search cache's keys carry it).
    pub revision: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
    /// Who changed it last (an admin's Entra object id).
    pub changed_by: String,
    /// A customer's own Dataverse app registration (else our app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The data key `secret` is sealed under.
    pub tenant_key: WrappedKey,
    /// The customer's own Dataverse client secret, or the Salesforce
    /// refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Sealed>,
    #[serde(default)]
    pub health: Health,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<Checked>,
}

impl Connection {
    pub fn kind(&self) -> CrmKind {
        self.target.kind()
    }

    /// What the admin tab shows: settings and state, never a secret.
    pub fn summary(&self) -> serde_json::Value {
        let target = match &self.target {
            Target::Dynamics(c) => serde_json::json!({
                "orgUrl": c.org_url.as_str(),
                "search": c.search,
                "impersonate": c.impersonate,
                "ownApp": self.client_id.is_some(),
                "clientId": self.client_id,
            }),
            Target::Salesforce(c) => serde_json::json!({
                "instanceUrl": c.instance_url.as_str(),
                "loginUrl": c.login_url.as_str(),
                "user": c.user_name,
            }),
        };
        serde_json::json!({
            "crm": self.kind(),
            "label": self.kind().label(),
            "target": target,
            "writeBack": self.write_back,
            "revision": self.revision,
            "changedAt": self.changed_at.format(&time::format_description::well_known::Rfc3339).ok(),
            "changedBy": self.changed_by,
            "health": self.health,
            "checked": self.checked,
        })
    }
}

/// A field of an admin's input that is not valid, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

/// A client id or secret longer than this is nobody's.
const MAX_CREDENTIAL_CHARS: usize = 1024;

/// A field to write the team's link to: a logical (API) name.
pub fn check_write_back(w: &WriteBack) -> Result<(), Invalid> {
    match w {
        WriteBack::Field(name)
            if name.is_empty()
                || name.len() > 100
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Err(invalid(
                "writeBack.field",
                "a field's logical (API) name: letters, digits and underscores",
            ))
        }
        _ => Ok(()),
    }
}

/// What an admin types to connect Dynamics 365 (the admin tab, the
/// operator command).
pub struct DynamicsInput {
    pub org_url: String,
    pub search: super::dataverse::SearchMode,
    pub impersonate: bool,
    pub write_back: WriteBack,
    /// The customer's own app registration: (client id, secret).
    pub own_app: Option<(String, String)>,
}

/// The connection `input` makes, checked: the environment's URL on a
/// Dynamics host, a usable write-back, an app to sign in with.
pub fn dynamics(
    input: DynamicsInput,
    extra_hosts: &[String],
    have_our_app: bool,
) -> Result<NewConnection, Invalid> {
    let org_url = url::Url::parse(input.org_url.trim()).map_err(|_| {
        invalid(
            "orgUrl",
            "the environment's URL, e.g. https://contoso.crm.dynamics.com",
        )
    })?;
    check_host(CrmKind::Dynamics, &org_url, extra_hosts).map_err(|why| invalid("orgUrl", why))?;
    check_write_back(&input.write_back)?;
    let own_app = match input.own_app {
        Some((id, secret)) => {
            let id = id.trim().to_owned();
            if uuid::Uuid::parse_str(&id).is_err() {
                return Err(invalid(
                    "clientId",
                    "the app registration's client id (a GUID)",
                ));
            }
            if secret.is_empty() || secret.len() > MAX_CREDENTIAL_CHARS {
                return Err(invalid(
                    "clientSecret",
                    "the app registration's client secret",
                ));
            }
            Some((id, SecretString::from(secret)))
        }
        None if !have_our_app => {
            return Err(invalid(
                "clientId",
                "this deployment has no Entra app of its own: give your app registration's client id and secret",
            ));
        }
        None => None,
    };
    let origin = url::Url::parse(&org_url.origin().ascii_serialization())
        .map_err(|_| invalid("orgUrl", "the URL has no origin"))?;
    Ok(NewConnection {
        target: Target::Dynamics(DataverseConfig {
            org_url: origin,
            search: input.search,
            impersonate: input.impersonate,
        }),
        write_back: input.write_back,
        own_app,
        refresh_token: None,
    })
}

/// A Salesforce sign-in URL an admin typed (its origin), checked; `None`
/// for the deployment's default.
pub fn salesforce_login(
    raw: Option<&str>,
    extra_hosts: &[String],
) -> Result<Option<url::Url>, Invalid> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let url = url::Url::parse(raw).map_err(|_| {
        invalid(
            "loginUrl",
            "e.g. https://login.salesforce.com or your My Domain",
        )
    })?;
    check_host(CrmKind::Salesforce, &url, extra_hosts).map_err(|why| invalid("loginUrl", why))?;
    url::Url::parse(&url.origin().ascii_serialization())
        .map(Some)
        .map_err(|_| invalid("loginUrl", "the URL has no origin"))
}

/// What an admin hands over to make or rotate a connection.
pub struct NewConnection {
    pub target: Target,
    pub write_back: WriteBack,
    /// A customer's own Dataverse app: (client id, secret).
    pub own_app: Option<(String, SecretString)>,
    /// A Salesforce refresh token from the web-server flow.
    pub refresh_token: Option<SecretString>,
}

/// The tenant's connections, read and changed under their ETags.
pub struct Connections<'a> {
    pub docs: &'a dyn Documents,
    pub envelope: &'a Envelope,
}

impl Connections<'_> {
    pub async fn get(
        &self,
        tenant: &TenantId,
        kind: CrmKind,
    ) -> Result<Option<Connection>, PlatformError> {
        let doc = self
            .docs
            .get(Container::Tenants, tenant, &connection_id(kind))
            .await?;
        Document::parse_if_kind(doc.as_ref(), CONNECTION_TYPE)
    }

    /// Every connection of the tenant (one read per CRM).
    pub async fn all(&self, tenant: &TenantId) -> Result<Vec<Connection>, PlatformError> {
        let mut all = Vec::with_capacity(CrmKind::ALL.len());
        for kind in CrmKind::ALL {
            if let Some(c) = self.get(tenant, kind).await? {
                all.push(c);
            }
        }
        Ok(all)
    }

    /// Makes the connection, or replaces its settings and credentials
    /// (a rotation): the revision moves on, the health is reset.
    pub async fn put(
        &self,
        tenant: &TenantId,
        new: NewConnection,
        admin: &str,
        now: OffsetDateTime,
    ) -> Result<Connection, PlatformError> {
        let kind = new.target.kind();
        let secret = match (&new.own_app, &new.refresh_token) {
            (Some((_, secret)), _) | (None, Some(secret)) => Some(secret),
            (None, None) => None,
        };
        let tenant_key = self.envelope.new_tenant_key().await?;
        let sealed = match secret {
            Some(s) => Some(
                self.envelope
                    .seal(tenant, &tenant_key, s.expose_secret().as_bytes())
                    .await?,
            ),
            None => None,
        };
        let mut made = None;
        update(
            self.docs,
            Container::Tenants,
            tenant,
            &connection_id(kind),
            |doc| {
                let before: Option<Connection> = Document::parse_if_kind(doc, CONNECTION_TYPE)?;
                let connection = Connection {
                    target: new.target.clone(),
                    write_back: new.write_back.clone(),
                    // From the clock, so a connection removed and made again never
                    // reuses a revision (and its cached answers).
                    revision: before
                        .as_ref()
                        .map_or(0, |b| b.revision + 1)
                        .max((now.unix_timestamp_nanos() / 1_000_000) as u64),
                    created_at: before.as_ref().map_or(now, |b| b.created_at),
                    changed_at: now,
                    changed_by: admin.to_owned(),
                    client_id: new.own_app.as_ref().map(|(id, _)| id.clone()),
                    tenant_key: tenant_key.clone(),
                    secret: sealed.clone(),
                    health: Health::Working,
                    checked: None,
                };
                let doc = Document::new(tenant, CONNECTION_TYPE, connection_id(kind), &connection)?;
                made = Some(connection);
                Ok::<_, PlatformError>(Decision::Write(doc))
            },
        )
        .await?;
        made.ok_or_else(|| PlatformError::backend("crm", "connection not written"))
    }

    /// Changes a connection in place (its health, its last check, its
    /// Salesforce instance); `None` when there is none.
    pub async fn change(
        &self,
        tenant: &TenantId,
        kind: CrmKind,
        mut edit: impl FnMut(&mut Connection),
    ) -> Result<Option<Connection>, PlatformError> {
        let mut changed = None;
        update(
            self.docs,
            Container::Tenants,
            tenant,
            &connection_id(kind),
            |doc| {
                changed = None;
                let Some(mut connection) =
                    Document::parse_if_kind::<Connection>(doc, CONNECTION_TYPE)?
                else {
                    return Ok::<_, PlatformError>(Decision::Keep);
                };
                edit(&mut connection);
                let doc = Document::new(tenant, CONNECTION_TYPE, connection_id(kind), &connection)?;
                changed = Some(connection);
                Ok(Decision::Write(doc))
            },
        )
        .await?;
        Ok(changed)
    }

    pub async fn remove(&self, tenant: &TenantId, kind: CrmKind) -> Result<bool, PlatformError> {
        self.docs
            .delete(Container::Tenants, tenant, &connection_id(kind))
            .await
    }

    /// The connection's connector, its credential opened for this call.
    pub async fn connector(
        &self,
        shared: &Shared,
        tenant: &TenantId,
        connection: &Connection,
    ) -> Result<Box<dyn Connector>, CrmError> {
        let secret = match &connection.secret {
            Some(sealed) => {
                let bytes = self
                    .envelope
                    .open(tenant, &connection.tenant_key, sealed)
                    .await?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| PlatformError::Invalid("a CRM secret is not text".into()))?;
                Some(SecretString::from(text))
            }
            None => None,
        };
        Ok(match &connection.target {
            Target::Dynamics(config) => {
                let credentials = match (&connection.client_id, secret) {
                    (Some(client_id), Some(client_secret)) => Credentials::OwnApp {
                        client_id: client_id.clone(),
                        client_secret,
                    },
                    _ => Credentials::OurApp,
                };
                Box::new(Dataverse::new(shared, tenant, config, credentials)?)
            }
            Target::Salesforce(config) => {
                let refresh_token = secret.ok_or_else(|| {
                    CrmError::NotSetUp("the Salesforce connection has no refresh token".into())
                })?;
                Box::new(Salesforce::new(shared, tenant, config, refresh_token)?)
            }
        })
    }
}
