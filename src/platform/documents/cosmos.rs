//! The main store on Azure Cosmos DB (NoSQL API), through the official
//! `azure_data_cosmos` 1.x SDK.
//!
//! One container per [`Container`], partition key `/tenantId`, and the tenant
//! id as the partition key value of every call, so a request handler can only
//! ever touch its own tenant's partition. Optimistic concurrency uses the
//! service's `_etag` with an if-match precondition; TTL is the service's own
//! (every container has a default TTL of -1 so that a per-item `ttl` takes
//! effect, as it does in the embedded store). Queries are parameterised SQL with field paths written as
//! bracketed names that [`Query::validate`] has already restricted to plain
//! identifiers; every read of a feed is bounded.

mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{Secret, TokenCredential};
use azure_data_cosmos::clients::{ContainerClient, DatabaseClient};
use azure_data_cosmos::models::{ContainerProperties, TimeToLive};
use azure_data_cosmos::options::{
    EndToEndOperationLatencyPolicy, ItemWriteOptions, OperationOptions, Precondition, Region,
    ThrottlingRetryOptions,
};
use azure_data_cosmos::{AccountEndpoint, AccountReference, CosmosClient, RoutingStrategy};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::{
    Container, Document, Documents, ETag, Page, Query, Scope, Serving, check_id,
    stored_json_for_write,
};
use crate::ids::TenantId;
use crate::platform::{PlatformError, PlatformResult};
use wire::{SERVICE, cosmos_error, is_conflict, is_forbidden, is_not_found, run_page};

/// Upper bound on any one operation, retries and failovers included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Building a client reads the account's regions; never wait longer than this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Throttled calls are retried by the SDK, within these bounds.
const THROTTLE_RETRIES: u32 = 5;
const THROTTLE_WAIT: Duration = Duration::from_secs(10);

/// How the app proves who it is to Cosmos DB.
#[derive(Clone)]
pub enum CosmosAuth {
    /// An account key (`COSMOS_KEY`): for development and tests.
    Key(SecretString),
    /// An Entra ID credential (managed identity in production).
    Token(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for CosmosAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CosmosAuth::Key(_) => "CosmosAuth::Key(..)",
            CosmosAuth::Token(_) => "CosmosAuth::Token(..)",
        })
    }
}

/// The Cosmos DB implementation of [`Documents`].
pub struct CosmosDocuments {
    client: CosmosClient,
    database_name: String,
    database: DatabaseClient,
    /// Container clients resolve the container's metadata once; keep them.
    containers: Mutex<HashMap<Container, ContainerClient>>,
    /// The region this app reads first (its own), when it named one.
    preferred: Option<Region>,
    /// The region that answered the last health ping.
    last_served: Mutex<Option<Region>>,
}

/// The regions the SDK tries, in order: the configured list
/// (`COSMOS_PREFERRED_REGIONS`, the account's regions in failover order,
/// the same in every app) with this app's own region (`REGION_NAME`) moved
/// to the front, so each region reads its nearest replica first and fails
/// over in the account's order. An own region that the list does not name
/// leads only an empty list (a one-region deployment); `local` never.
pub fn preferred_regions(own: &str, configured: &[String]) -> Vec<Region> {
    let mut regions: Vec<Region> = configured
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .map(|r| Region::new(r.to_owned()))
        .collect();
    let own = own.trim();
    if own.is_empty() || own.eq_ignore_ascii_case("local") {
        return regions;
    }
    let own = Region::new(own.to_owned());
    match regions.iter().position(|r| *r == own) {
        Some(i) => {
            let r = regions.remove(i);
            regions.insert(0, r);
        }
        None if regions.is_empty() => regions.push(own),
        None => {}
    }
    regions
}

impl CosmosDocuments {
    /// Wraps a client that the caller built (tests build one on the SDK's
    /// in-memory emulator).
    pub fn new(client: CosmosClient, database: &str) -> Self {
        CosmosDocuments {
            database: client.database_client(database),
            database_name: database.to_owned(),
            client,
            containers: Mutex::new(HashMap::new()),
            preferred: None,
            last_served: Mutex::new(None),
        }
    }

    /// Names the region the client was told to read first, so health can
    /// say when another one answers.
    pub fn with_preferred(mut self, preferred: Option<Region>) -> Self {
        self.preferred = preferred;
        self
    }

    /// Builds a client for `endpoint` with bounded timeouts and throttle
    /// retries. `preferred_regions` ([`preferred_regions`]) orders the
    /// regions the SDK tries; empty means the account's own order.
    pub async fn connect(
        endpoint: &str,
        auth: CosmosAuth,
        preferred_regions: Vec<Region>,
        database: &str,
    ) -> PlatformResult<Self> {
        let endpoint: AccountEndpoint = endpoint
            .parse()
            .map_err(|e| PlatformError::Invalid(format!("COSMOS_ENDPOINT: {e}")))?;
        let account = match auth {
            CosmosAuth::Key(key) => AccountReference::with_authentication_key(
                endpoint,
                Secret::new(key.expose_secret().to_owned()),
            ),
            CosmosAuth::Token(credential) => {
                AccountReference::with_credential(endpoint, credential)
            }
        };
        let preferred = preferred_regions.first().cloned();
        let build = CosmosClient::builder()
            .with_default_operation_options(default_operation_options())
            .build(
                account,
                RoutingStrategy::PreferredRegions(preferred_regions),
            );
        let client = tokio::time::timeout(CONNECT_TIMEOUT, build)
            .await
            .map_err(|_| {
                PlatformError::unavailable(SERVICE, "timed out reading the account's regions")
            })?
            .map_err(cosmos_error)?;
        Ok(Self::new(client, database).with_preferred(preferred))
    }

    /// The container's client, resolving its metadata on first use.
    async fn container(&self, container: Container) -> PlatformResult<ContainerClient> {
        if let Some(client) = self.cached(container)? {
            return Ok(client);
        }
        let client = self
            .database
            .container_client(container.name(), None)
            .await
            .map_err(|e| match cosmos_error(e) {
                // Not a missing document: the store itself is not set up.
                PlatformError::NotFound => PlatformError::backend(
                    SERVICE,
                    format!(
                        "container {}/{} does not exist (ensure() creates it)",
                        self.database_name,
                        container.name()
                    ),
                ),
                other => other,
            })?;
        self.containers
            .lock()
            .map_err(|_| PlatformError::backend(SERVICE, "container cache lock poisoned"))?
            .insert(container, client.clone());
        Ok(client)
    }

    fn cached(&self, container: Container) -> PlatformResult<Option<ContainerClient>> {
        Ok(self
            .containers
            .lock()
            .map_err(|_| PlatformError::backend(SERVICE, "container cache lock poisoned"))?
            .get(&container)
            .cloned())
    }

    /// Creates one container if needed, with TTL switched on (default -1:
    /// nothing expires unless it carries its own `ttl`). Without it Cosmos DB
    /// ignores a per-item `ttl`, while the embedded store honours it in every
    /// container; so an existing container without TTL is fixed in place.
    ///
    /// Under Entra ID access (managed identity, local auth off) the app's
    /// data-plane role may not create or change containers: the deployment
    /// creates them (`infra/`), so a 403 here means "managed elsewhere" and
    /// the container must then exist, with TTL on, or the start fails saying
    /// so.
    async fn ensure_container(&self, container: Container) -> PlatformResult<()> {
        let properties = ContainerProperties::new(container.name(), "/tenantId".into())
            .with_default_ttl(TimeToLive::NoDefault);
        let managed_elsewhere = match self.database.create_container(properties, None).await {
            Ok(_) => return Ok(()),
            Err(e) if is_conflict(&e) => false,
            Err(e) if is_forbidden(&e) => true,
            Err(e) => return Err(cosmos_error(e)),
        };
        let client = self.container(container).await?;
        let mut current: ContainerProperties = client
            .read(None)
            .await
            .map_err(cosmos_error)?
            .into_model()
            .map_err(cosmos_error)?;
        if current.default_ttl.is_forever() && managed_elsewhere {
            return Err(PlatformError::backend(
                SERVICE,
                format!(
                    "container {}/{} has TTL off and this identity may not change it: deploy it with defaultTtl -1 (infra/ does)",
                    self.database_name,
                    container.name()
                ),
            ));
        }
        if current.default_ttl.is_forever() {
            tracing::info!(
                container = container.name(),
                "enabling TTL on existing container"
            );
            current.default_ttl = TimeToLive::NoDefault;
            client.replace(current, None).await.map_err(cosmos_error)?;
        }
        Ok(())
    }

    /// Writes with the tenant as partition key and returns the written
    /// document carrying the new ETag from the response headers.
    async fn write(
        &self,
        container: Container,
        doc: &Document,
        op: Write<'_>,
    ) -> PlatformResult<Document> {
        let item = stored_json_for_write(doc)?;
        let client = self.container(container).await?;
        let pk = doc.tenant_id.as_str().to_owned();
        let result = match op {
            Write::Create => client.create_item(pk, &doc.id, &item, None).await,
            Write::Upsert => client.upsert_item(pk, &doc.id, &item, None).await,
            Write::Replace(etag) => {
                let options = ItemWriteOptions::default()
                    .with_precondition(Precondition::if_match(etag.0.clone()));
                client.replace_item(pk, &doc.id, &item, Some(options)).await
            }
        };
        let response = result.map_err(cosmos_error)?;
        let etag = response
            .headers()
            .etag()
            .map(|e| ETag(e.to_string()))
            .ok_or_else(|| PlatformError::backend(SERVICE, "write response without an ETag"))?;
        let mut written = doc.clone();
        written.etag = Some(etag);
        Ok(written)
    }
}

enum Write<'a> {
    Create,
    Upsert,
    Replace(&'a ETag),
}

/// Operation defaults for clients this module builds: bounded end to end,
/// bounded throttle retries.
fn default_operation_options() -> OperationOptions {
    let mut throttling = ThrottlingRetryOptions::default();
    throttling.max_retry_count = Some(THROTTLE_RETRIES);
    throttling.max_retry_wait_time = Some(THROTTLE_WAIT);
    let mut options = OperationOptions::default();
    options.end_to_end_latency_policy =
        Some(EndToEndOperationLatencyPolicy::new(OPERATION_TIMEOUT));
    options.throttling_retry_options = Some(throttling);
    options
}

#[async_trait]
impl Documents for CosmosDocuments {
    async fn ensure(&self) -> PlatformResult<()> {
        match self.client.create_database(&self.database_name, None).await {
            Ok(_) => {}
            // Exists, or the deployment manages it (Entra ID access).
            Err(e) if is_conflict(&e) || is_forbidden(&e) => {}
            Err(e) => return Err(cosmos_error(e)),
        }
        for container in Container::ALL {
            self.ensure_container(container).await?;
        }
        Ok(())
    }

    async fn get(
        &self,
        container: Container,
        tenant: &TenantId,
        id: &str,
    ) -> PlatformResult<Option<Document>> {
        check_id(id)?;
        let client = self.container(container).await?;
        match client.read_item(tenant.as_str().to_owned(), id, None).await {
            Ok(response) => {
                let map: Map<String, Value> = response.into_model().map_err(cosmos_error)?;
                Document::from_stored_json(map).map(Some)
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(cosmos_error(e)),
        }
    }

    async fn create(&self, container: Container, doc: &Document) -> PlatformResult<Document> {
        self.write(container, doc, Write::Create).await
    }

    async fn replace(
        &self,
        container: Container,
        doc: &Document,
        if_match: &ETag,
    ) -> PlatformResult<Document> {
        self.write(container, doc, Write::Replace(if_match)).await
    }

    async fn upsert(&self, container: Container, doc: &Document) -> PlatformResult<Document> {
        self.write(container, doc, Write::Upsert).await
    }

    async fn delete(
        &self,
        container: Container,
        tenant: &TenantId,
        id: &str,
    ) -> PlatformResult<bool> {
        check_id(id)?;
        let client = self.container(container).await?;
        match client
            .delete_item(tenant.as_str().to_owned(), id, None)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(cosmos_error(e)),
        }
    }

    async fn query_page(
        &self,
        container: Container,
        scope: Scope<'_>,
        query: &Query,
        continuation: Option<&str>,
    ) -> PlatformResult<Page> {
        if !query.should_run()? {
            return Ok(Page::default());
        }
        let client = self.container(container).await?;
        run_page(&client, scope.tenant(), query, continuation).await
    }

    /// A point read of a document that does not exist: the cheapest data
    /// round trip, routed like every read (to the first available preferred
    /// region), which also tells which region answered.
    async fn ping(&self) -> PlatformResult<()> {
        let client = self.container(Container::Tenants).await?;
        let result = client
            .read_item(PING_PARTITION.to_owned(), PING_ID, None)
            .await;
        let (diagnostics, outcome) = match result {
            Ok(response) => (Some(response.diagnostics()), Ok(())),
            Err(e) => (
                e.diagnostics(),
                if is_not_found(&e) {
                    Ok(())
                } else {
                    Err(cosmos_error(e))
                },
            ),
        };
        if outcome.is_ok()
            && let (Some(preferred), Some(diagnostics)) = (&self.preferred, diagnostics)
            && let Ok(mut last) = self.last_served.lock()
        {
            let attempts: Vec<Attempt> = diagnostics
                .requests()
                .iter()
                .map(|r| Attempt {
                    region: r.region().cloned(),
                    unreachable: r.request_sent().definitely_not_sent() || r.timed_out(),
                })
                .collect();
            *last = Some(answered_by(preferred, &attempts));
        }
        outcome
    }

    fn serving(&self) -> Option<Serving> {
        let preferred = self.preferred.as_ref()?;
        let served = self.last_served.lock().ok()?.clone()?;
        Some(Serving {
            preferred: preferred.as_str().to_owned(),
            served: served.as_str().to_owned(),
        })
    }
}

/// The region that answered a ping, as health should see it: another
/// region than the preferred one only when the SDK could not reach the
/// preferred one (it routed the first attempt elsewhere, having marked it
/// unavailable, or an attempt there was never sent or timed out). A retry
/// elsewhere after the preferred region *answered* (a replica behind on
/// its session, a hedge that won) is not a failover.
fn answered_by(preferred: &Region, attempts: &[Attempt]) -> Region {
    let (Some(first), Some(last)) = (
        attempts.first().and_then(|a| a.region.clone()),
        attempts.last().and_then(|a| a.region.clone()),
    ) else {
        return preferred.clone();
    };
    let unreachable = first != *preferred
        || attempts
            .iter()
            .any(|a| a.region.as_ref() == Some(preferred) && a.unreachable);
    if unreachable { last } else { preferred.clone() }
}

/// One attempt of an operation, from its diagnostics.
struct Attempt {
    region: Option<Region>,
    /// Never sent (the endpoint did not resolve or connect) or timed out.
    unreachable: bool,
}

/// What the health ping reads: no tenant id or document id can be these.
const PING_PARTITION: &str = "_health";
const PING_ID: &str = "health-ping";

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(region: &str, unreachable: bool) -> Attempt {
        Attempt {
            region: Some(Region::new(region.to_owned())),
            unreachable,
        }
    }

    #[test]
    fn own_region_first_then_the_accounts_order() {
        let configured = ["West Europe".to_owned(), "North Europe".to_owned()];
        let names = |v: Vec<Region>| v.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>();
        assert_eq!(
            names(preferred_regions("northeurope", &configured)),
            ["northeurope", "westeurope"]
        );
        assert_eq!(
            names(preferred_regions("West Europe", &configured)),
            ["westeurope", "northeurope"]
        );
        assert_eq!(
            names(preferred_regions("local", &configured)),
            ["westeurope", "northeurope"]
        );
        assert_eq!(names(preferred_regions("eastus", &[])), ["eastus"]);
        assert!(preferred_regions("local", &[]).is_empty());
        // A region the account does not have does not lead it.
        assert_eq!(
            names(preferred_regions("eastus", &configured)),
            ["westeurope", "northeurope"]
        );
    }

    #[test]
    fn only_an_unreachable_preferred_region_counts_as_a_failover() {
        let ne = Region::new("northeurope");
        // Answered at home.
        assert_eq!(answered_by(&ne, &[attempt("northeurope", false)]), ne);
        // Home answered but was behind on the session: retried elsewhere.
        assert_eq!(
            answered_by(
                &ne,
                &[attempt("northeurope", false), attempt("westeurope", false)]
            ),
            ne
        );
        // Home did not resolve: failed over.
        assert_eq!(
            answered_by(
                &ne,
                &[attempt("northeurope", true), attempt("westeurope", false)]
            )
            .as_str(),
            "westeurope"
        );
        // The SDK already knows home is down and goes elsewhere first.
        assert_eq!(
            answered_by(&ne, &[attempt("westeurope", false)]).as_str(),
            "westeurope"
        );
        assert_eq!(answered_by(&ne, &[]), ne);
    }
}
