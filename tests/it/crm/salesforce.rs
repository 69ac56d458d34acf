//! The Salesforce connector against the stateful org stand-in: an org
//! connected by the web-server flow, searched and paged at one request a
//! page, typed text that cannot reach the query's structure, sessions that
//! end (one refresh, one retry, never a loop), a spent daily allocation, a
//! revoked grant, an org that moved, records read and written back, and
//! links of the org told from others.

use std::sync::Arc;
use std::time::Duration;

use salestim::crm::salesforce::{DEFAULT_API_VERSION, Salesforce, SalesforceConfig, exchange_code};
use salestim::crm::{
    Connector, CrmError, CrmKind, PageRequest, RecordId, RecordRef, RecordType, SalesforceApp,
    SearchText, Shared, TeamLink, Viewer, WriteBack,
};
use salestim::ids::TenantId;
use salestim::outbound::{RetryPolicy, TokenCache};
use salestim::platform::cache::memory::MemoryCache;
use salestim::platform::clock::SystemClock;
use secrecy::SecretString;
use url::Url;

mod records;
mod sessions;

use crate::support::salesforce::{
    ADMIN_USERNAME, API_VERSION, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SalesforceStandIn,
};

const SEARCH: &str = "/services/data/v62.0/search/";
const QUERY: &str = "/services/data/v62.0/query/";
const TEAM_URL: &str = "https://teams.microsoft.com/l/team/19%3Aabc%40thread.tacv2/conversations";

fn shared(sf: &SalesforceStandIn) -> Shared {
    Shared {
        http: salestim::outbound::http_client().unwrap(),
        tokens: Arc::new(TokenCache::new(Arc::new(MemoryCache::new(Arc::new(
            SystemClock,
        ))))),
        counters: Arc::default(),
        authority_host: Url::parse("https://login.microsoftonline.com").unwrap(),
        entra: None,
        salesforce: Some(SalesforceApp {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(CLIENT_SECRET),
            login_url: sf.login_url(),
            redirect_uri: Url::parse(REDIRECT_URI).unwrap(),
        }),
        retry: RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(1),
        },
    }
}

fn tenant() -> TenantId {
    TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap()
}

/// A stand-in org, connected through the code exchange as the callback
/// does it.
struct Org {
    sf: SalesforceStandIn,
    shared: Shared,
    connector: Salesforce,
    config: SalesforceConfig,
}

async fn org() -> Org {
    let sf = SalesforceStandIn::start().await;
    let shared = shared(&sf);
    let (connector, config) = connect(&sf, &shared).await;
    Org {
        sf,
        shared,
        connector,
        config,
    }
}

async fn connect(sf: &SalesforceStandIn, shared: &Shared) -> (Salesforce, SalesforceConfig) {
    let grant = exchange_code(shared, &sf.login_url(), &sf.mint_code())
        .await
        .expect("the code is exchanged");
    assert!(grant.identity.contains("/id/00D"), "{}", grant.identity);
    let config = SalesforceConfig {
        instance_url: grant.instance_url,
        login_url: sf.login_url(),
        api_version: DEFAULT_API_VERSION.into(),
        user_name: None,
    };
    let connector = Salesforce::new(shared, &tenant(), &config, grant.refresh_token).unwrap();
    (connector, config)
}

fn text(s: &str) -> SearchText {
    SearchText::parse(s).unwrap()
}

fn page(skip: usize, count: usize) -> PageRequest {
    PageRequest {
        skip,
        count,
        continuation: None,
    }
}

async fn titles(
    sf: &Salesforce,
    typed: &str,
    request: PageRequest,
) -> Result<Vec<String>, CrmError> {
    let found = sf.search(Viewer::default(), &text(typed), &request).await?;
    Ok(found.records.into_iter().map(|r| r.title).collect())
}

#[tokio::test]
async fn a_connected_org_is_searched_across_accounts_contacts_and_opportunities() {
    let Org { sf, connector, .. } = org().await;
    let acme = sf.add_account("Acme Corp", "Lyon");
    sf.add_contact("Ann Acme", "Buyer", &acme);
    let deal = sf.add_opportunity("Acme renewal", &acme, "Prospecting");
    sf.add_account("Globex", "Paris");
    assert_eq!(connector.kind(), CrmKind::Salesforce);
    assert!(!connector.per_user());

    let found = connector
        .search(Viewer::default(), &text("acm"), &page(0, 25))
        .await
        .unwrap();
    let kinds: Vec<_> = found
        .records
        .iter()
        .map(|r| (r.record_type, r.title.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (RecordType::Account, "Acme Corp"),
            (RecordType::Contact, "Ann Acme"),
            (RecordType::Opportunity, "Acme renewal"),
        ]
    );
    let opportunity = &found.records[2];
    assert_eq!(opportunity.subtitle, "Acme Corp · Prospecting");
    assert_eq!(opportunity.owner.as_deref(), Some("Dana Admin"));
    assert_eq!(
        opportunity.url,
        format!("{}/lightning/r/Opportunity/{deal}/view", sf.origin)
    );
    assert_eq!(found.records[1].subtitle, "Buyer · Acme Corp");
    assert_eq!(found.records[0].subtitle, "Lyon");
    assert_eq!(sf.token_requests("authorization_code"), 1);
    assert_eq!(sf.token_requests("refresh_token"), 1);
    assert_eq!(sf.requests_to(SEARCH), 1);
    let q = sf.seen()[0].q.clone().unwrap();
    assert!(
        q.starts_with("FIND {acm*} IN NAME FIELDS RETURNING Account("),
        "{q}"
    );
}

#[tokio::test]
async fn each_page_is_one_request_with_a_warm_session() {
    let Org {
        sf,
        connector,
        shared,
        ..
    } = org().await;
    let acme = sf.add_account("Acme", "Lyon");
    for i in 1..=5 {
        sf.add_opportunity(&format!("Deal {i}"), &acme, "Qualification");
    }

    // The empty box: recently changed opportunities, newest first.
    let before = sf.requests_to(QUERY);
    assert_eq!(
        titles(&connector, "", page(0, 2)).await.unwrap(),
        ["Deal 5", "Deal 4"]
    );
    assert_eq!(sf.requests_to(QUERY), before + 1);
    assert_eq!(
        titles(&connector, "", page(2, 2)).await.unwrap(),
        ["Deal 3", "Deal 2"]
    );
    assert_eq!(sf.requests_to(QUERY), before + 2);

    // A typed search pages the same way.
    for i in 1..=3 {
        sf.add_account(&format!("Deal account {i}"), "Nice");
    }
    let first = titles(&connector, "deal", page(0, 4)).await.unwrap();
    let second = titles(&connector, "deal", page(4, 4)).await.unwrap();
    assert_eq!(
        first,
        ["Deal account 1", "Deal 1", "Deal account 2", "Deal 2"],
        "accounts and opportunities in turn"
    );
    assert_eq!(second, ["Deal account 3", "Deal 3", "Deal 4", "Deal 5"]);
    assert_eq!(sf.requests_to(SEARCH), 2);
    assert_eq!(
        sf.token_requests("refresh_token"),
        1,
        "one session for all pages"
    );
    assert_eq!(
        shared.stats().tokens,
        2,
        "the code exchange and one refresh"
    );
}

#[tokio::test]
async fn a_batch_cut_short_is_followed_within_the_page_and_no_further() {
    let Org { sf, connector, .. } = org().await;
    let acme = sf.add_account("Acme", "Lyon");
    for i in 1..=7 {
        sf.add_opportunity(&format!("Deal {i}"), &acme, "Qualification");
    }
    sf.set_batch_size(2);
    let found = titles(&connector, "", page(0, 5)).await.unwrap();
    assert_eq!(found, ["Deal 7", "Deal 6", "Deal 5", "Deal 4", "Deal 3"]);
    assert_eq!(sf.requests_to(QUERY), 1);
    assert_eq!(
        sf.api_requests(),
        3,
        "the query and two nextRecordsUrl batches"
    );

    // Batches of one row: four follow-ups at most, then the page is what
    // arrived.
    sf.set_batch_size(1);
    let found = titles(&connector, "", page(0, 7)).await.unwrap();
    assert_eq!(found.len(), 5);
    assert_eq!(sf.api_requests(), 3 + 5);
}

#[tokio::test]
async fn typed_text_cannot_reach_the_query_structure() {
    let Org { sf, connector, .. } = org().await;
    let acme = sf.add_account("Acme", "Lyon");
    sf.add_contact("Pat O'Brien", "CFO", &acme);
    sf.add_user("Eve Intruder");

    let injected = "acme} IN NAME FIELDS RETURNING User(Id, Name";
    let found = connector
        .search(Viewer::default(), &text(injected), &page(0, 25))
        .await
        .unwrap();
    assert!(found.records.is_empty(), "{:?}", found.records);
    let q = sf.seen().last().unwrap().q.clone().unwrap();
    assert!(
        q.starts_with(r"FIND {acme\} IN NAME FIELDS RETURNING User\(Id, Name*}"),
        "{q}"
    );

    // A typed asterisk is a character, not a wildcard; typing on is.
    assert!(
        titles(&connector, "ac*", page(0, 25))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        titles(&connector, "ac", page(0, 25)).await.unwrap(),
        ["Acme"]
    );
    assert_eq!(
        titles(&connector, "O'Brien", page(0, 25)).await.unwrap(),
        ["Pat O'Brien"]
    );
}
