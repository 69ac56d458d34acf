//! The CRM as the rest of the app uses it: a tenant's connections, their
//! connectors, the cache in front of them, and what a refused credential
//! does (the connection is marked broken once, and is not called again
//! until an admin acts).

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use super::connections::{Checked, Connection, Connections, Health};
use super::search::{Cached, Scope};
use super::{
    Connector, CrmError, CrmKind, CrmStats, Page, Record, RecordRef, SearchText, Shared, TeamLink,
    Viewer,
};
use crate::ids::TenantId;
use crate::platform::cache::Cache;
use crate::platform::clock::Clock;
use crate::platform::documents::Documents;
use crate::platform::keys::envelope::Envelope;

/// Search results and records are kept this long unless configured.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

pub struct Crm {
    shared: Shared,
    docs: Arc<dyn Documents>,
    cache: Arc<dyn Cache>,
    clock: Arc<dyn Clock>,
    /// The app's envelope (one cache of unwrapped data keys).
    envelope: Arc<Envelope>,
    ttl: Duration,
    extra_hosts: Vec<String>,
}

/// Why a connection could not answer, for the user's card.
#[derive(Debug)]
pub enum Unanswered {
    /// The tenant has no CRM connection.
    NotConnected,
    /// The connection is broken: the admin must act.
    AskAdmin { crm: CrmKind, reason: String },
    /// The CRM's limit is reached, or it is down: try later.
    TryLater { crm: CrmKind, message: String },
}

/// A page of search results across the tenant's connections.
#[derive(Debug, Default)]
pub struct Found {
    pub records: Vec<Record>,
    /// Connections that did not answer (the others' records are shown).
    pub unanswered: Vec<Unanswered>,
    /// Every page came from the cache.
    pub cached: bool,
}

/// A connection ready to be called.
pub struct Live {
    pub connection: Connection,
    pub connector: Box<dyn Connector>,
}

impl Crm {
    pub fn new(
        shared: Shared,
        docs: Arc<dyn Documents>,
        cache: Arc<dyn Cache>,
        clock: Arc<dyn Clock>,
        envelope: Arc<Envelope>,
        ttl: Duration,
        extra_hosts: Vec<String>,
    ) -> Crm {
        Crm {
            extra_hosts,
            envelope,
            shared,
            docs,
            cache,
            clock,
            ttl,
        }
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    pub fn stats(&self) -> CrmStats {
        self.shared.stats()
    }

    pub fn connections(&self) -> Connections<'_> {
        Connections {
            docs: self.docs.as_ref(),
            envelope: &self.envelope,
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The Dynamics 365 connection an admin's input makes, checked.
    pub fn dynamics_input(
        &self,
        input: super::connections::DynamicsInput,
    ) -> Result<super::connections::NewConnection, super::connections::Invalid> {
        super::connections::dynamics(input, &self.extra_hosts, self.shared.entra.is_some())
    }

    /// A Salesforce sign-in URL an admin typed, checked.
    pub fn salesforce_login(
        &self,
        raw: Option<&str>,
    ) -> Result<Option<Url>, super::connections::Invalid> {
        super::connections::salesforce_login(raw, &self.extra_hosts)
    }

    pub fn docs(&self) -> &dyn Documents {
        self.docs.as_ref()
    }

    /// Checks a connection end to end (an admin's "Test"): records what
    /// the CRM said and mends or marks its health. `None` when there is no
    /// such connection.
    pub async fn check(
        &self,
        tenant: &TenantId,
        kind: CrmKind,
    ) -> Result<Option<Connection>, CrmError> {
        let Some(connection) = self.connections().get(tenant, kind).await? else {
            return Ok(None);
        };
        let outcome = match self
            .connections()
            .connector(&self.shared, tenant, &connection)
            .await
        {
            Ok(connector) => connector.check().await,
            Err(e) => Err(e),
        };
        if let Err(CrmError::Platform(_)) = &outcome {
            return outcome.map(|_| None);
        }
        let now = self.clock.now();
        let changed = self
            .connections()
            .change(tenant, kind, |c| match &outcome {
                Ok(who) => {
                    c.health = Health::Working;
                    c.checked = Some(Checked {
                        at: now,
                        ok: true,
                        message: who.clone(),
                    });
                }
                Err(e) => {
                    c.checked = Some(Checked {
                        at: now,
                        ok: false,
                        message: e.to_string(),
                    });
                    if e.needs_admin() && !matches!(c.health, Health::Broken { .. }) {
                        c.health = Health::Broken {
                            reason: e.to_string(),
                            since: now,
                        };
                    }
                }
            })
            .await?;
        Ok(changed)
    }

    /// The tenant's working connections, each with its connector; broken
    /// ones are answered for without calling their CRM.
    pub async fn live(&self, tenant: &TenantId) -> Result<(Vec<Live>, Vec<Unanswered>), CrmError> {
        let mut live = Vec::new();
        let mut unanswered = Vec::new();
        for connection in self.connections().all(tenant).await? {
            match self.ready(tenant, connection).await? {
                Ok(one) => live.push(one),
                Err(why) => unanswered.push(why),
            }
        }
        if live.is_empty() && unanswered.is_empty() {
            unanswered.push(Unanswered::NotConnected);
        }
        Ok((live, unanswered))
    }

    /// The tenant's connection to `crm` alone, ready to be called, or why
    /// it cannot be.
    async fn live_one(
        &self,
        tenant: &TenantId,
        crm: CrmKind,
    ) -> Result<Result<Live, Unanswered>, CrmError> {
        match self.connections().get(tenant, crm).await? {
            Some(connection) => self.ready(tenant, connection).await,
            None => Ok(Err(Unanswered::NotConnected)),
        }
    }

    /// A stored connection with its connector; a broken one is answered
    /// for without calling its CRM.
    async fn ready(
        &self,
        tenant: &TenantId,
        connection: Connection,
    ) -> Result<Result<Live, Unanswered>, CrmError> {
        if let Health::Broken { reason, .. } = &connection.health {
            return Ok(Err(Unanswered::AskAdmin {
                crm: connection.kind(),
                reason: reason.clone(),
            }));
        }
        match self
            .connections()
            .connector(&self.shared, tenant, &connection)
            .await
        {
            Ok(connector) => Ok(Ok(Live {
                connection,
                connector,
            })),
            Err(e) => {
                let kind = connection.kind();
                Ok(Err(self.failed(tenant, kind, e).await?))
            }
        }
    }

    /// A connection that searches as each user answers nobody else: an
    /// invoke that names no user (an anonymous unfurl) would otherwise be
    /// served with the app's own, wider, view.
    fn answers(live: &Live, viewer: Viewer<'_>) -> bool {
        !live.connector.per_user() || viewer.aad_object_id.is_some()
    }

    fn cached<'a>(&'a self, tenant: &'a TenantId, live: &'a Live) -> Cached<'a> {
        Cached {
            cache: self.cache.as_ref(),
            ttl: self.ttl,
            scope: Scope {
                tenant,
                connection: live.connection.kind().as_str(),
                revision: live.connection.revision,
            },
            connector: live.connector.as_ref(),
        }
    }

    /// One page of records matching `text` in every connected CRM.
    pub async fn search(
        &self,
        tenant: &TenantId,
        viewer: Viewer<'_>,
        text: &SearchText,
        skip: usize,
        count: usize,
    ) -> Result<Found, CrmError> {
        let (live, mut unanswered) = self.live(tenant).await?;
        let mut found = Found {
            cached: !live.is_empty(),
            ..Found::default()
        };
        for one in &live {
            match self
                .cached(tenant, one)
                .search(viewer, text, skip, count)
                .await
            {
                Ok((Page { records, .. }, cached)) => {
                    found.records.extend(records);
                    found.cached &= cached;
                }
                Err(e) => unanswered.push(self.failed(tenant, one.connection.kind(), e).await?),
            }
        }
        found.unanswered = unanswered;
        Ok(found)
    }

    /// One record, by reference.
    pub async fn record(
        &self,
        tenant: &TenantId,
        viewer: Viewer<'_>,
        record: &RecordRef,
    ) -> Result<Result<Option<Record>, Unanswered>, CrmError> {
        let one = match self.live_one(tenant, record.crm).await? {
            Ok(one) if Self::answers(&one, viewer) => one,
            Ok(_) => return Ok(Err(Unanswered::NotConnected)),
            Err(why) => return Ok(Err(why)),
        };
        match self
            .cached(tenant, &one)
            .record(viewer, record.record_type, &record.id)
            .await
        {
            Ok(found) => Ok(Ok(found)),
            Err(e) => Ok(Err(self.failed(tenant, record.crm, e).await?)),
        }
    }

    /// The record a link points to, when it is one of the tenant's
    /// connected orgs' record links; `None` for any other URL (no CRM is
    /// asked about a link that is not theirs).
    pub async fn unfurl(
        &self,
        tenant: &TenantId,
        viewer: Viewer<'_>,
        url: &Url,
    ) -> Result<Option<Result<Record, Unanswered>>, CrmError> {
        let (live, _) = self.live(tenant).await?;
        for one in live.iter().filter(|l| Self::answers(l, viewer)) {
            let Some((record_type, id)) = one.connector.parse_link(url) else {
                continue;
            };
            return match self
                .cached(tenant, one)
                .record(viewer, record_type, &id)
                .await
            {
                Ok(Some(record)) => Ok(Some(Ok(record))),
                Ok(None) => Ok(None),
                Err(e) => Ok(Some(Err(self
                    .failed(tenant, one.connection.kind(), e)
                    .await?))),
            };
        }
        Ok(None)
    }

    /// Records a new team on its record's side, as the connection's
    /// write-back says. `Ok(Err(why))` when it cannot be (no connection,
    /// a broken one, the CRM refused or its limit is reached: the team
    /// stands, the note says why); an unreachable CRM is an error worth
    /// trying again.
    pub async fn link_team(
        &self,
        tenant: &TenantId,
        record: &RecordRef,
        team: &TeamLink<'_>,
    ) -> Result<Result<String, String>, CrmError> {
        let one = match self.live_one(tenant, record.crm).await? {
            Ok(one) => one,
            Err(Unanswered::AskAdmin { crm, reason }) => {
                return Ok(Err(format!(
                    "the {} connection is broken: {reason}",
                    crm.label()
                )));
            }
            Err(Unanswered::TryLater { crm, message }) => {
                return Ok(Err(format!(
                    "the {} connection did not answer: {message}",
                    crm.label()
                )));
            }
            Err(Unanswered::NotConnected) => {
                return Ok(Err(format!("no {} connection", record.crm.label())));
            }
        };
        let how = &one.connection.write_back;
        match one.connector.link_team(record, team, how).await {
            Ok(what) => Ok(Ok(what)),
            Err(CrmError::Unavailable(message)) => Err(CrmError::Unavailable(message)),
            Err(e) => {
                let why = e.to_string();
                self.failed(tenant, record.crm, e).await?;
                Ok(Err(why))
            }
        }
    }

    /// What a failed call means for the user; a refused credential also
    /// marks the connection broken (once: the admin's finding).
    pub async fn failed(
        &self,
        tenant: &TenantId,
        crm: CrmKind,
        e: CrmError,
    ) -> Result<Unanswered, CrmError> {
        match e {
            CrmError::Revoked(reason) | CrmError::NotSetUp(reason) => {
                tracing::warn!(tenant = %tenant, crm = crm.as_str(), reason, "CRM connection broken; the admin must act");
                let now = self.clock.now();
                self.connections()
                    .change(tenant, crm, |c| {
                        if !matches!(c.health, Health::Broken { .. }) {
                            c.health = Health::Broken {
                                reason: reason.clone(),
                                since: now,
                            };
                        }
                    })
                    .await?;
                Ok(Unanswered::AskAdmin { crm, reason })
            }
            CrmError::Limited { message, .. } => {
                tracing::warn!(tenant = %tenant, crm = crm.as_str(), message, "CRM limit reached");
                Ok(Unanswered::TryLater { crm, message })
            }
            CrmError::Unavailable(message) | CrmError::Refused(message) => {
                tracing::warn!(tenant = %tenant, crm = crm.as_str(), message, "CRM call failed");
                Ok(Unanswered::TryLater { crm, message })
            }
            CrmError::Platform(e) => Err(CrmError::Platform(e)),
        }
    }
}
