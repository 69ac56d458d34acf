//! The Dataverse connector against the Dataverse stand-in: relevance search
//! and the filters it falls back to, paging by continuation at one request
//! a page, typed text that cannot change a query, service protection's
//! 429s, tokens that expire or are revoked, an environment without our
//! application user, impersonation, reads, and the team written back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use salestim::crm::dataverse::{Credentials, Dataverse, DataverseConfig, SearchMode};
use salestim::crm::{
    Connector, CrmError, CrmKind, EntraApp, Page, PageRequest, RecordId, RecordRef, RecordType,
    SearchText, Shared, TeamLink, Viewer, WriteBack,
};
use salestim::ids::TenantId;
use salestim::outbound::{RetryPolicy, TokenCache};
use salestim::platform::cache::memory::MemoryCache;
use salestim::platform::clock::SystemClock;
use secrecy::SecretString;

use crate::support::dataverse::{CLIENT_ID, DataverseStandIn};

const TENANT: &str = "6a0c2f4e-1b3d-4c5e-8f70-9a1b2c3d4e5f";
const ALICE: &str = "11111111-1111-4111-8111-111111111111";
const BOB: &str = "22222222-2222-4222-8222-222222222222";

/// A waiting 429 is honoured up to two seconds.
const CAP: Duration = Duration::from_secs(2);

fn shared(dv: &DataverseStandIn) -> Shared {
    Shared {
        http: salestim::outbound::http_client().unwrap(),
        tokens: Arc::new(TokenCache::new(Arc::new(MemoryCache::new(Arc::new(
            SystemClock,
        ))))),
        counters: Arc::default(),
        entra: Some(EntraApp {
            authority_host: dv.authority_host.clone(),
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

fn config(dv: &DataverseStandIn, search: SearchMode, impersonate: bool) -> DataverseConfig {
    DataverseConfig {
        org_url: dv.org_url.clone(),
        search,
        impersonate,
    }
}

fn connect(shared: &Shared, config: &DataverseConfig) -> Dataverse {
    let tenant = TenantId::parse(TENANT).unwrap();
    Dataverse::new(shared, &tenant, config, Credentials::OurApp).unwrap()
}

/// An environment with our application user, a few records, and a
/// connector to it.
async fn environment(search: SearchMode) -> (DataverseStandIn, Shared, Dataverse) {
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

fn text(s: &str) -> SearchText {
    SearchText::parse(s).unwrap()
}

fn first(count: usize) -> PageRequest {
    PageRequest {
        skip: 0,
        count,
        continuation: None,
    }
}

/// The page after `page`, as Teams asks for it with the continuation.
fn after(page: &Page, skip: usize, count: usize) -> PageRequest {
    PageRequest {
        skip,
        count,
        continuation: page.next.clone(),
    }
}

fn titles(page: &Page) -> Vec<String> {
    let mut titles: Vec<String> = page.records.iter().map(|r| r.title.clone()).collect();
    titles.sort();
    titles
}

const NOBODY: Viewer<'static> = Viewer {
    aad_object_id: None,
};

#[tokio::test]
async fn relevance_search_finds_across_the_three_tables_in_one_request() {
    let (dv, shared, crm) = environment(SearchMode::Auto).await;
    let page = crm
        .search(NOBODY, &text("contoso"), &first(10))
        .await
        .unwrap();
    assert_eq!(
        titles(&page),
        ["Connie Contoso", "Contoso Ltd", "Contoso renewal"]
    );
    assert_eq!(dv.count("/searchquery"), 1);
    assert_eq!(dv.count("/accounts"), 0);
    assert_eq!(shared.stats().requests, 1);
    assert_eq!(shared.stats().tokens, 1);
    let account = page
        .records
        .iter()
        .find(|r| r.record_type == RecordType::Account)
        .unwrap();
    assert_eq!(account.subtitle, "Seattle");
    assert_eq!(account.crm, CrmKind::Dynamics);
    assert!(account.url.starts_with(&format!(
        "{}/main.aspx?pagetype=entityrecord&etn=account&id=",
        dv.org_url.as_str().trim_end_matches('/')
    )));
    assert!(crm.uses_relevance_search());
    assert!(page.next.is_none());
    let seen = dv.requests();
    assert_eq!(seen[0].method, "POST");
}

#[tokio::test]
async fn without_dataverse_search_auto_falls_back_to_filters_and_relevance_is_not_set_up() {
    let (dv, shared, crm) = environment(SearchMode::Auto).await;
    dv.set_search_enabled(false);
    let page = crm
        .search(NOBODY, &text("contoso"), &first(9))
        .await
        .unwrap();
    assert_eq!(
        titles(&page),
        ["Connie Contoso", "Contoso Ltd", "Contoso renewal"]
    );
    let opportunity = page
        .records
        .iter()
        .find(|r| r.record_type == RecordType::Opportunity)
        .unwrap();
    assert_eq!(opportunity.subtitle, "Contoso Ltd · Develop");
    assert_eq!(opportunity.owner.as_deref(), Some("Ada Admin"));
    assert!(!crm.uses_relevance_search(), "the fallback is remembered");
    let contacts = dv.first_to("/contacts");
    assert!(contacts.has("$filter", "contains(fullname,'contoso')"));
    assert!(contacts.prefer.contains("odata.maxpagesize=3"));
    assert!(
        contacts
            .prefer
            .contains("OData.Community.Display.V1.FormattedValue")
    );

    // Remembered: the next search goes straight to the filters.
    crm.search(NOBODY, &text("fabrikam"), &first(9))
        .await
        .unwrap();
    assert_eq!(dv.count("/searchquery"), 1);
    assert_eq!(shared.stats().requests, 1 + 3 + 3);

    let strict = connect(&shared, &config(&dv, SearchMode::Relevance, false));
    let refused = strict.search(NOBODY, &text("contoso"), &first(9)).await;
    assert!(
        matches!(&refused, Err(CrmError::NotSetUp(m)) if m.contains("Dataverse search is not enabled")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn each_page_after_the_first_costs_one_request_with_its_continuation() {
    let (dv, shared, crm) = environment(SearchMode::Relevance).await;
    for i in 0..7 {
        dv.add_account(&format!("Northwind {i}"), "Oslo");
    }
    let wanted = text("northwind");
    let one = crm.search(NOBODY, &wanted, &first(3)).await.unwrap();
    assert_eq!(one.records.len(), 3);
    let before = shared.stats();
    let two = crm
        .search(NOBODY, &wanted, &after(&one, 3, 3))
        .await
        .unwrap();
    let now = shared.stats();
    assert_eq!((now.requests - before.requests, now.tokens), (1, 1));
    assert_eq!(two.records.len(), 3);
    let mut all = titles(&one);
    all.extend(titles(&two));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 6, "no record twice: {all:?}");

    // The filters: page 2 follows the nextLinks verbatim, asking only the
    // tables that have more.
    let filters = connect(&shared, &config(&dv, SearchMode::Filter, false));
    let one = filters.search(NOBODY, &wanted, &first(6)).await.unwrap();
    assert_eq!(one.records.len(), 2, "two per table, only accounts match");
    let before = dv.count("/accounts");
    let requests = shared.stats().requests;
    let two = filters
        .search(NOBODY, &wanted, &after(&one, 6, 6))
        .await
        .unwrap();
    let seen: Vec<_> = dv
        .requests()
        .into_iter()
        .map(|s| (s.path, s.status, s.query))
        .collect();
    assert_eq!(shared.stats().requests - requests, 1, "{seen:#?}");
    assert_eq!(dv.count("/accounts") - before, 1);
    assert_eq!(two.records.len(), 2);
    let followed = dv.requests().pop().unwrap();
    assert!(
        followed
            .query
            .iter()
            .any(|(k, v)| k == "$skiptoken" && v.starts_with("<cookie"))
    );
    assert!(followed.query.iter().all(|(k, _)| k != "$skip"));
    // A page asked for by its number alone walks the pages from the first.
    let walked = filters
        .search(
            NOBODY,
            &wanted,
            &PageRequest {
                skip: 6,
                count: 6,
                continuation: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(titles(&walked), titles(&two));
}

#[tokio::test]
async fn typed_text_is_a_name_to_look_for_never_part_of_the_query() {
    let (dv, _shared, filters) = environment(SearchMode::Filter).await;
    dv.add_account("O'Brien & Sons", "Dublin");
    let injected = text("') or true or contains(name,'");
    let page = filters.search(NOBODY, &injected, &first(9)).await.unwrap();
    assert!(page.records.is_empty(), "{:?}", titles(&page));
    let quoted = filters
        .search(NOBODY, &text("o'brien"), &first(9))
        .await
        .unwrap();
    assert_eq!(titles(&quoted), ["O'Brien & Sons"]);
    let accounts = dv.first_to("/accounts");
    assert!(accounts.has(
        "$filter",
        "contains(name,''') or true or contains(name,''')"
    ));

    let relevance = connect(&_shared, &config(&dv, SearchMode::Relevance, false));
    let star = relevance
        .search(NOBODY, &text("*"), &first(9))
        .await
        .unwrap();
    assert!(star.records.is_empty(), "{:?}", titles(&star));
    let found = relevance
        .search(NOBODY, &text("O'Brien &"), &first(9))
        .await
        .unwrap();
    assert_eq!(titles(&found), ["O'Brien & Sons"]);
}

#[tokio::test]
async fn a_429_is_waited_out_then_the_search_succeeds() {
    let (dv, shared, crm) = environment(SearchMode::Relevance).await;
    dv.throttle_next(1, 1);
    let started = Instant::now();
    let page = crm
        .search(NOBODY, &text("fabrikam"), &first(5))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(titles(&page), ["Fabrikam"]);
    assert_eq!(dv.count("/searchquery"), 2);
    assert_eq!(shared.stats().throttled, 1);
}

#[tokio::test]
async fn a_retry_after_past_the_cap_is_limited_without_waiting() {
    let (dv, _shared, crm) = environment(SearchMode::Relevance).await;
    dv.throttle_next(1, 300);
    let started = Instant::now();
    let limited = crm.search(NOBODY, &text("fabrikam"), &first(5)).await;
    assert!(started.elapsed() < CAP);
    match limited {
        Err(CrmError::Limited { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(300)))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dv.count("/searchquery"), 1);
}

#[tokio::test]
async fn an_expired_token_is_replaced_once_and_the_call_succeeds() {
    let (dv, shared, crm) = environment(SearchMode::Relevance).await;
    crm.check().await.unwrap();
    dv.expire_tokens();
    let page = crm
        .search(NOBODY, &text("fabrikam"), &first(5))
        .await
        .unwrap();
    assert_eq!(titles(&page), ["Fabrikam"]);
    assert_eq!(dv.token_requests(), 2);
    assert_eq!(shared.stats().tokens, 2);
    assert_eq!(dv.count("/searchquery"), 2);
}

#[tokio::test]
async fn a_revoked_client_is_for_the_admin() {
    let (dv, _shared, crm) = environment(SearchMode::Relevance).await;
    dv.revoke_client();
    let revoked = crm.check().await;
    assert!(
        matches!(&revoked, Err(CrmError::Revoked(m)) if m.contains("invalid_client")),
        "{revoked:?}"
    );
    assert!(revoked.unwrap_err().needs_admin());
    assert_eq!(dv.count("/WhoAmI"), 0);
}

#[tokio::test]
async fn an_environment_without_our_application_user_is_not_set_up() {
    let (dv, _shared, crm) = environment(SearchMode::Auto).await;
    dv.add_tenant(TENANT, false);
    let refused = crm.search(NOBODY, &text("contoso"), &first(5)).await;
    match refused {
        Err(CrmError::NotSetUp(message)) => {
            assert!(message.contains("127.0.0.1"), "{message}");
            assert!(message.contains("application user"), "{message}");
            assert!(message.contains("security role"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(crm.check().await, Err(CrmError::NotSetUp(_))),
        "check says the same"
    );
}

#[tokio::test]
async fn impersonation_acts_as_the_viewer_and_each_sees_their_own() {
    let (dv, shared, _) = environment(SearchMode::Auto).await;
    let alices = dv.add_account("Acme North", "Lyon");
    let bobs = dv.add_account("Acme South", "Nice");
    dv.set_owner(&alices, ALICE, "Alice");
    dv.set_owner(&bobs, BOB, "Bob");
    dv.scope_to_owner(true);
    let crm = connect(&shared, &config(&dv, SearchMode::Auto, true));
    assert!(crm.per_user());
    let alice = Viewer {
        aad_object_id: Some(ALICE),
    };
    let page = crm.search(alice, &text("acme"), &first(5)).await.unwrap();
    assert_eq!(titles(&page), ["Acme North"]);
    assert_eq!(dv.requests().pop().unwrap().caller.as_deref(), Some(ALICE));
    let bob = Viewer {
        aad_object_id: Some(BOB),
    };
    let page = crm.search(bob, &text("acme"), &first(5)).await.unwrap();
    assert_eq!(titles(&page), ["Acme South"]);
    let id = RecordId::parse(&alices).unwrap();
    assert!(
        crm.record(bob, RecordType::Account, &id)
            .await
            .unwrap()
            .is_none()
    );
    let record = crm
        .record(alice, RecordType::Account, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.owner.as_deref(), Some("Alice"));

    let shared_view = connect(&shared, &config(&dv, SearchMode::Auto, false));
    assert!(!shared_view.per_user());
    let page = shared_view
        .search(alice, &text("acme"), &first(5))
        .await
        .unwrap();
    assert_eq!(titles(&page), ["Acme North", "Acme South"]);
    assert_eq!(dv.requests().pop().unwrap().caller, None);
}

#[tokio::test]
async fn a_record_is_read_with_its_labels_and_an_unknown_one_is_none() {
    let (dv, _shared, crm) = environment(SearchMode::Auto).await;
    let id = dv.add_account("Tailspin", "Denver");
    let record = crm
        .record(NOBODY, RecordType::Account, &RecordId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.title.as_str(), record.subtitle.as_str()),
        ("Tailspin", "Denver")
    );
    let labels: Vec<(&str, &str)> = record
        .fields
        .iter()
        .map(|f| (f.label.as_str(), f.value.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("Phone", "+1 555 0100"),
            ("Website", "https://example.com"),
            ("Industry", "Consulting")
        ]
    );
    let seen = dv.requests().pop().unwrap();
    assert_eq!(seen.path, format!("/accounts({id})"));
    assert!(
        seen.query
            .iter()
            .any(|(k, v)| k == "$select" && v.starts_with("name,"))
    );
    let unknown = RecordId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    assert!(
        crm.record(NOBODY, RecordType::Account, &unknown)
            .await
            .unwrap()
            .is_none()
    );
    let salesforce = RecordId::parse("0015g00000ABCde").unwrap();
    assert!(
        crm.record(NOBODY, RecordType::Account, &salesforce)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_team_is_written_back_as_a_note_or_into_the_named_column() {
    let (dv, _shared, crm) = environment(SearchMode::Auto).await;
    let id = dv.add_account("Wingtip", "Austin");
    dv.add_column("account", "new_teamurl");
    let record = RecordRef {
        crm: CrmKind::Dynamics,
        record_type: RecordType::Account,
        id: RecordId::parse(&id).unwrap(),
    };
    let team = TeamLink {
        display_name: "Wingtip deal room",
        web_url: "https://teams.microsoft.com/l/team/19%3Aabc%40thread.tacv2",
    };
    crm.link_team(&record, &team, &WriteBack::Note)
        .await
        .unwrap();
    let notes = dv.notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].regarding, ("account".to_owned(), id.clone()));
    assert!(notes[0].subject.contains("Wingtip deal room"));
    assert!(notes[0].notetext.contains(team.web_url));

    crm.link_team(&record, &team, &WriteBack::Field("new_teamurl".into()))
        .await
        .unwrap();
    assert_eq!(dv.value("account", &id, "new_teamurl"), team.web_url);

    let refused = crm
        .link_team(&record, &team, &WriteBack::Field("name\":\"x".into()))
        .await;
    assert!(matches!(refused, Err(CrmError::Refused(_))));
    let unknown_column = crm
        .link_team(&record, &team, &WriteBack::Field("new_missing".into()))
        .await;
    assert!(
        matches!(unknown_column, Err(CrmError::Refused(_))),
        "{unknown_column:?}"
    );
    // An update never creates the record it meant to update.
    let gone = RecordRef {
        id: RecordId::parse(&uuid::Uuid::new_v4().to_string()).unwrap(),
        ..record.clone()
    };
    assert!(
        crm.link_team(&gone, &team, &WriteBack::Field("new_teamurl".into()))
            .await
            .is_err()
    );
    assert_eq!(
        dv.value("account", gone.id.as_str(), "new_teamurl"),
        serde_json::Value::Null
    );

    let before = dv.requests().len();
    crm.link_team(&record, &team, &WriteBack::Off)
        .await
        .unwrap();
    assert_eq!(dv.requests().len(), before);
    assert_eq!(dv.notes().len(), 1);
}

#[tokio::test]
async fn check_says_who_the_app_is_in_the_environment() {
    let (_dv, _shared, crm) = environment(SearchMode::Auto).await;
    let who = crm.check().await.unwrap();
    assert!(who.starts_with("UserId a0a0a0a0-"), "{who}");
    assert!(who.contains("organization c0c0c0c0-"), "{who}");
}

#[tokio::test]
async fn links_of_the_org_are_records_and_others_are_not() {
    let (dv, _shared, crm) = environment(SearchMode::Auto).await;
    let id = uuid::Uuid::new_v4().to_string();
    let org = dv.org_url.as_str().trim_end_matches('/');
    let link = |s: String| crm.parse_link(&url::Url::parse(&s).unwrap());
    assert_eq!(
        link(format!(
            "{org}/main.aspx?appid=abc&pagetype=entityrecord&etn=opportunity&id={id}"
        )),
        Some((RecordType::Opportunity, RecordId::parse(&id).unwrap()))
    );
    assert_eq!(
        link(format!("{org}/main.aspx?id={id}&etn=contact")).map(|l| l.0),
        Some(RecordType::Contact)
    );
    for other in [
        format!(
            "http://localhost:{}/main.aspx?etn=account&id={id}",
            dv.org_url.port().unwrap()
        ),
        format!("http://127.0.0.1:1/main.aspx?etn=account&id={id}"),
        format!("{org}/apps/main.aspx?etn=account&id={id}"),
        format!("{org}/main.aspx?etn=incident&id={id}"),
        format!("{org}/main.aspx?etn=account&id=not-a-guid"),
    ] {
        assert_eq!(link(other.clone()), None, "{other}");
    }
}

#[tokio::test]
async fn our_app_is_needed_unless_the_customer_brings_theirs() {
    let dv = DataverseStandIn::start().await;
    dv.add_tenant(TENANT, true);
    let mut without = shared(&dv);
    without.entra = None;
    let tenant = TenantId::parse(TENANT).unwrap();
    let config = config(&dv, SearchMode::Auto, false);
    assert!(matches!(
        Dataverse::new(&without, &tenant, &config, Credentials::OurApp),
        Err(CrmError::NotSetUp(_))
    ));
    let wrong = Dataverse::new(
        &shared(&dv),
        &tenant,
        &config,
        Credentials::OwnApp {
            client_id: "their-app".into(),
            client_secret: SecretString::from("theirs".to_owned()),
        },
    )
    .unwrap();
    assert!(matches!(wrong.check().await, Err(CrmError::Revoked(_))));
}
