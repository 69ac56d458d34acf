//! One tenant-wide `/groups` change-notification subscription per onboarded
//! tenant: made, renewed before it expires, made again when Graph forgot
//! it, and the record that tells whose a notification is.
//!
//! Groups allow 100 subscriptions per app and tenant and get no `missed`
//! lifecycle event, so: one subscription over all groups (the delta round
//! it triggers finds what changed), and a periodic `GET` to see it still
//! exists (a 404 means make it again; the delta round catches up on what
//! the gap missed).
//!
//! Whose a notification is: the tenant's partition holds a binding
//! document per subscription id, written by us when Graph made it. A
//! notification's own `tenantId` only says which partition to look in;
//! without our binding there, the item is unknown. Its `clientState` must
//! then equal the tenant's secret (random, sealed with the tenant's data
//! key; never logged), compared in constant time ([`super::notifications`]).
//!
//! Every region's timer fires, so the upkeep of a tenant holds a short
//! lease in the state document: two regions never make two subscriptions.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::state::Lease;
use crate::graph::subscriptions::{self as graph_subs, GROUP_LIFETIME, NewSubscription};
use crate::graph::{Graph, GraphError};
use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{self, Container, Document, Documents};
use crate::platform::keys::WrappedKey;
use crate::platform::keys::envelope::{Envelope, Sealed};
use crate::platform::{PlatformError, PlatformResult};

pub const RESOURCE: &str = "/groups";
pub const CHANGE_TYPE: &str = "updated,deleted";
/// The HTTP functions' routes (under `/api/`).
pub const NOTIFICATION_ROUTE: &str = "graph/notifications";
pub const LIFECYCLE_ROUTE: &str = "graph/lifecycle";

const STATE_ID: &str = "graph-subscription";
const STATE_TYPE: &str = "graphSubscription";
const BINDING_TYPE: &str = "graphSubscriptionBinding";
/// Long enough for a create (Graph waits up to 10 s per validation call).
const LEASE: time::Duration = time::Duration::minutes(5);

fn binding_id(subscription: &str) -> String {
    format!("graph-subscription:{subscription}")
}

/// The tenant's subscription state (tenants container).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    /// The data key the client state is sealed with, wrapped.
    tenant_key: WrappedKey,
    client_state: Sealed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<Current>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<Lease>,
}

/// The subscription Graph has for the tenant, as we last saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Current {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

/// Subscription id -> tenant, written by us when Graph made it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Binding {
    subscription_id: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// Where Graph sends notifications: from `SALESTIM_PUBLIC_HOSTNAME`.
#[derive(Clone, Debug, PartialEq)]
pub struct Urls {
    pub notification: String,
    pub lifecycle: String,
}

impl Urls {
    /// `None` without a public host name: Graph could not reach us.
    pub fn from_public_hostname(host: Option<&str>) -> Option<Urls> {
        let host = host?;
        Some(Urls {
            notification: format!("https://{host}/api/{NOTIFICATION_ROUTE}"),
            lifecycle: format!("https://{host}/api/{LIFECYCLE_ROUTE}"),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// What the upkeep is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Upkeep {
    /// Make it if missing, see it still exists, renew it when a third of
    /// its life is left.
    Check,
    /// Renew now (Graph asked for reauthorization).
    Renew,
}

/// What the upkeep did.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Created {
        id: String,
        why: &'static str,
    },
    Renewed {
        id: String,
    },
    Fine {
        id: String,
    },
    /// Another upkeep of the tenant runs now.
    Busy,
}

/// The tenant's subscription state, as the upkeep left it.
pub async fn current(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<Option<Current>> {
    Ok(read(docs, tenant).await?.and_then(|s| s.current))
}

async fn read(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<Option<Stored>> {
    documents::get_kind(docs, Container::Tenants, tenant, STATE_ID, STATE_TYPE).await
}

pub struct Subscriptions<'a> {
    pub docs: &'a dyn Documents,
    pub clock: &'a dyn Clock,
    pub envelope: &'a Envelope,
}

impl Subscriptions<'_> {
    /// Keeps `tenant`'s subscription alive, as `what` says.
    pub async fn upkeep(
        &self,
        tenant: &TenantId,
        graph: &Graph,
        urls: &Urls,
        what: Upkeep,
    ) -> Result<Outcome, SubscriptionError> {
        self.secret_state(tenant).await?;
        let holder = uuid::Uuid::new_v4().to_string();
        let Some(stored) = self.claim(tenant, &holder).await? else {
            return Ok(Outcome::Busy);
        };
        let result = self.keep(tenant, graph, urls, what, &stored).await;
        let (current, old) = match &result {
            Ok((current, _)) => (Some(current.clone()), stored.current.as_ref()),
            Err(_) => (stored.current.clone(), None),
        };
        self.finish(tenant, &holder, current).await?;
        if let (Ok((current, _)), Some(old)) = (&result, old)
            && old.id != current.id
        {
            self.docs
                .delete(Container::Tenants, tenant, &binding_id(&old.id))
                .await?;
        }
        result.map(|(_, outcome)| outcome)
    }

    async fn keep(
        &self,
        tenant: &TenantId,
        graph: &Graph,
        urls: &Urls,
        what: Upkeep,
        stored: &Stored,
    ) -> Result<(Current, Outcome), SubscriptionError> {
        let now = self.clock.now();
        let Some(current) = &stored.current else {
            return self.create(tenant, graph, urls, stored, "none yet").await;
        };
        let renew = match what {
            Upkeep::Renew => true,
            Upkeep::Check => match graph_subs::get(graph, tenant, &current.id).await? {
                None => {
                    return self
                        .create(tenant, graph, urls, stored, "Graph forgot it (404)")
                        .await;
                }
                Some(seen) => due_for_renewal(seen.expires_at, now),
            },
        };
        if !renew {
            let fine = Current {
                checked_at: now,
                ..current.clone()
            };
            let id = fine.id.clone();
            return Ok((fine, Outcome::Fine { id }));
        }
        match graph_subs::renew(graph, tenant, &current.id, now + GROUP_LIFETIME).await? {
            Some(renewed) => Ok((
                Current {
                    id: renewed.id.clone(),
                    expires_at: renewed.expires_at,
                    checked_at: now,
                },
                Outcome::Renewed { id: renewed.id },
            )),
            None => {
                self.create(tenant, graph, urls, stored, "Graph forgot it (404)")
                    .await
            }
        }
    }

    async fn create(
        &self,
        tenant: &TenantId,
        graph: &Graph,
        urls: &Urls,
        stored: &Stored,
        why: &'static str,
    ) -> Result<(Current, Outcome), SubscriptionError> {
        let secret = self.open(tenant, stored).await?;
        let client_state = std::str::from_utf8(&secret)
            .map_err(|_| PlatformError::Invalid("the client state is not text".into()))?;
        let now = self.clock.now();
        let new = NewSubscription {
            resource: RESOURCE,
            change_type: CHANGE_TYPE,
            notification_url: &urls.notification,
            lifecycle_url: &urls.lifecycle,
            client_state,
            expires_at: now + GROUP_LIFETIME,
        };
        let made = graph_subs::create(graph, tenant, &new).await?;
        let binding = Binding {
            subscription_id: made.id.clone(),
            created_at: now,
        };
        let doc = Document::new(tenant, BINDING_TYPE, binding_id(&made.id), &binding)?;
        self.docs.upsert(Container::Tenants, &doc).await?;
        let current = Current {
            id: made.id.clone(),
            expires_at: made.expires_at,
            checked_at: now,
        };
        Ok((current, Outcome::Created { id: made.id, why }))
    }

    /// Makes the tenant's secret (and its state document) the first time.
    async fn secret_state(&self, tenant: &TenantId) -> Result<(), SubscriptionError> {
        if read(self.docs, tenant).await?.is_some() {
            return Ok(());
        }
        let mut raw = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(raw.as_mut_slice());
        let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_slice()));
        let tenant_key = self.envelope.new_tenant_key().await?;
        let client_state = self
            .envelope
            .seal(tenant, &tenant_key, secret.as_bytes())
            .await?;
        let stored = Stored {
            tenant_key,
            client_state,
            current: None,
            lease: None,
        };
        let doc = Document::new(tenant, STATE_TYPE, STATE_ID, &stored)?;
        match self.docs.create(Container::Tenants, &doc).await {
            // Another upkeep made it first: theirs stands.
            Ok(_) | Err(PlatformError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn open(&self, tenant: &TenantId, stored: &Stored) -> PlatformResult<Zeroizing<Vec<u8>>> {
        let secret = self
            .envelope
            .open(tenant, &stored.tenant_key, &stored.client_state)
            .await?;
        Ok(Zeroizing::new(secret))
    }

    async fn claim(&self, tenant: &TenantId, holder: &str) -> PlatformResult<Option<Stored>> {
        let now = self.clock.now();
        let mut claimed = None;
        update(self.docs, Container::Tenants, tenant, STATE_ID, |doc| {
            claimed = None;
            let Some(mut stored) = parse(doc)? else {
                return Ok(Decision::Keep);
            };
            if stored.lease.as_ref().is_some_and(|l| l.until > now) {
                return Ok(Decision::Keep);
            }
            stored.lease = Some(Lease {
                holder: holder.to_owned(),
                until: now + LEASE,
            });
            let next = Document::new(tenant, STATE_TYPE, STATE_ID, &stored)?;
            claimed = Some(stored);
            Ok::<_, PlatformError>(Decision::Write(next))
        })
        .await?;
        Ok(claimed)
    }

    async fn finish(
        &self,
        tenant: &TenantId,
        holder: &str,
        current: Option<Current>,
    ) -> PlatformResult<()> {
        update(self.docs, Container::Tenants, tenant, STATE_ID, |doc| {
            let Some(mut stored) = parse(doc)? else {
                return Ok(Decision::Keep);
            };
            stored.current.clone_from(&current);
            if stored.lease.as_ref().is_some_and(|l| l.holder == holder) {
                stored.lease = None;
            }
            let next = Document::new(tenant, STATE_TYPE, STATE_ID, &stored)?;
            Ok::<_, PlatformError>(Decision::Write(next))
        })
        .await?;
        Ok(())
    }
}

fn parse(doc: Option<&Document>) -> PlatformResult<Option<Stored>> {
    Document::parse_if_kind(doc, STATE_TYPE)
}

/// Whether our binding for `subscription` is in `tenant`'s partition.
pub(super) async fn is_bound(
    docs: &dyn Documents,
    tenant: &TenantId,
    subscription: &str,
) -> PlatformResult<bool> {
    if !graph_subs::is_subscription_id(subscription) {
        return Ok(false);
    }
    Ok(
        match docs
            .get(Container::Tenants, tenant, &binding_id(subscription))
            .await?
        {
            Some(doc) if doc.kind == BINDING_TYPE => {
                doc.parse::<Binding>()?.subscription_id == subscription
            }
            _ => false,
        },
    )
}

/// The tenant's client state, opened; `None` before its first upkeep.
pub(super) async fn client_state(
    docs: &dyn Documents,
    envelope: &Envelope,
    tenant: &TenantId,
) -> PlatformResult<Option<Zeroizing<Vec<u8>>>> {
    match read(docs, tenant).await? {
        Some(stored) => Ok(Some(Zeroizing::new(
            envelope
                .open(tenant, &stored.tenant_key, &stored.client_state)
                .await?,
        ))),
        None => Ok(None),
    }
}

/// Renewed once less than a third of a full life is left: with the
/// timer's 6-hour beat that leaves days of tries before it expires.
pub fn due_for_renewal(expires_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    expires_at - now < GROUP_LIFETIME / 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_once_a_third_of_the_life_is_left() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let third = GROUP_LIFETIME / 3;
        let second = time::Duration::seconds(1);
        assert!(!due_for_renewal(now + third + second, now));
        assert!(!due_for_renewal(now + third, now));
        assert!(due_for_renewal(now + third - second, now));
        assert!(due_for_renewal(now - second, now), "expired");
    }

    #[test]
    fn urls_come_from_the_public_host_name_or_not_at_all() {
        assert_eq!(Urls::from_public_hostname(None), None);
        let urls = Urls::from_public_hostname(Some("app.example.com")).unwrap();
        assert_eq!(
            urls.notification,
            "https://app.example.com/api/graph/notifications"
        );
        assert_eq!(
            urls.lifecycle,
            "https://app.example.com/api/graph/lifecycle"
        );
    }
}
