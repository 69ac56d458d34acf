//! Search both ways, paging, and typed text kept out of the query.

use salestim::crm::dataverse::SearchMode;
use salestim::crm::{Connector, CrmError, CrmKind, RecordType};

use super::*;

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
