//! The Dataverse connector against the Dataverse stand-in: relevance search
//! and the filters it falls back to, paging by continuation at one request
//! a page, typed text that cannot change a query, service protection's
//! 429s, tokens that expire or are revoked, an environment without our
//! application user, impersonation, reads, and the team written back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use salestim::crm::dataverse::{Credentials, Dataverse, DataverseConfig, SearchMode};
use salestim::crm::{EntraApp, Page, PageRequest, SearchText, Shared, Viewer};
use salestim::ids::TenantId;
use salestim::outbound::{RetryPolicy, TokenCache};
use salestim::platform::cache::memory::MemoryCache;
use salestim::platform::clock::SystemClock;
use secrecy::SecretString;

use crate::support::dataverse::{CLIENT_ID, DataverseStandIn};

mod records;
mod refusals;
mod search;

pub(super) const TENANT: &str = "6a0c2f4e-1b3d-4c5e-8f70-9a1b2c3d4e5f";
pub(super) const ALICE: &str = "11111111-1111-4111-8111-111111111111";
pub(super) const BOB: &str = "22222222-2222-4222-8222-222222222222";

/// A waiting 429 is honoured up to two seconds.
pub(super) const CAP: Duration = Duration::from_secs(2);

pub(super) fn shared(dv: &DataverseStandIn) -> Shared {
    Shared {
        http: salestim::outbound::http_client().unwrap(),
        tokens: Arc::new(TokenCache::new(Arc::new(MemoryCache::new(Arc::new(
            SystemClock,
        ))))),
        counters: Arc::default(),
        authority_host: dv.authority_host.clone(),
        entra: Some(EntraApp {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(dv.client_secret()),
        }),
        salesforce: None,
        retry: RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_retry_after: CAP,
        },
    }
}

pub(super) fn config(
    dv: &DataverseStandIn,
    search: SearchMode,
    impersonate: bool,
) -> DataverseConfig {
    DataverseConfig {
        org_url: dv.org_url.clone(),
        search,
        impersonate,
    }
}

pub(super) fn connect(shared: &Shared, config: &DataverseConfig) -> Dataverse {
    let tenant = TenantId::parse(TENANT).unwrap();
    Dataverse::new(shared, &tenant, config, Credentials::OurApp).unwrap()
}

/// An environment with our application user, a few records, and a
/// connector to it.
pub(super) async fn environment(search: SearchMode) -> (DataverseStandIn, Shared, Dataverse) {
    let dv = DataverseStandIn::start().await;
    dv.add_tenant(TENANT, true);
    let contoso = dv.add_account("Contoso Ltd", "Seattle");
    dv.add_account("Fabrikam", "Paris");
    dv.add_contact("Connie Contoso", "Buyer", &contoso);
    dv.add_opportunity("Contoso renewal", &contoso, 5000.0);
    let shared = shared(&dv);
    let crm = connect(&shared, &config(&dv, search, false));
    (dv, shared, crm)
}

pub(super) fn text(s: &str) -> SearchText {
    SearchText::parse(s).unwrap()
}

pub(super) fn first(count: usize) -> PageRequest {
    PageRequest {
        skip: 0,
        count,
        continuation: None,
    }
}

/// The page after `page`, as Teams asks for it with the continuation.
pub(super) fn after(page: &Page, skip: usize, count: usize) -> PageRequest {
    PageRequest {
        skip,
        count,
        continuation: page.next.clone(),
    }
}

pub(super) fn titles(page: &Page) -> Vec<String> {
    let mut titles: Vec<String> = page.records.iter().map(|r| r.title.clone()).collect();
    titles.sort();
    titles
}

pub(super) const NOBODY: Viewer<'static> = Viewer {
    aad_object_id: None,
};
