//! What is typed or carried that must not reach a CRM as it is: a search
//! text over 100 characters, OData quotes and SOSL reserved characters
//! typed into the search box, a page past the CRMs' depth, a record id that
//! is not its CRM's shape.

use salestim::crm::RecordType;
use serde_json::json;

use super::{connect_dynamics, connect_salesforce, message, search, stand_ins, titles, world};
use crate::bot_invokes::{BOB, invoke};
use crate::provisioning::World;
use crate::support::dataverse::DataverseStandIn;
use crate::support::salesforce::SalesforceStandIn;

/// Every request either stand-in has seen, tokens included.
fn asked(dv: &DataverseStandIn, sf: &SalesforceStandIn) -> usize {
    dv.requests().len()
        + dv.token_requests()
        + sf.api_requests()
        + sf.token_requests("refresh_token")
}

async fn both(dv: &DataverseStandIn, sf: &SalesforceStandIn) -> World {
    let w = world(dv, sf).await;
    connect_dynamics(&w, dv, &w.tenant).await;
    connect_salesforce(&w, sf, &w.tenant).await;
    w
}

#[tokio::test]
async fn long_texts_deep_pages_and_foreign_record_ids_are_refused_without_asking_a_crm() {
    let (dv, sf) = stand_ins().await;
    let w = both(&dv, &sf).await;
    let account = dv.add_account("Contoso", "Seattle");
    let sf_account = sf.add_account("Contoso", "Boston");
    super::record_template(&w, &w.tenant, "acct", RecordType::Account).await;

    let long = "a".repeat(101);
    let told = message(&search(&w, &w.tenant, &long, 0, 10).await);
    assert!(told.contains("at most 100 characters"), "{told}");
    let told = message(&search(&w, &w.tenant, "Contoso", 2001, 25).await);
    assert!(told.contains("Narrow the search"), "{told}");
    assert_eq!(asked(&dv, &sf), 0, "no CRM was asked");

    // 100 characters is still a search.
    let hundred = format!("Contoso{}", "x".repeat(93));
    assert_eq!(hundred.chars().count(), 100);
    search(&w, &w.tenant, &hundred, 0, 10).await;
    assert!(asked(&dv, &sf) > 0);

    // A card's record id in another CRM's shape, or in none.
    let before = asked(&dv, &sf);
    for (crm, id) in [
        ("dynamics", sf_account.as_str()),
        ("salesforce", account.as_str()),
        ("dynamics", "accounts(00000000-0000-0000-0000-000000000000)"),
        ("salesforce", "001' OR Name != '"),
    ] {
        let data =
            json!({"action": "crm.teamForm", "crm": crm, "recordType": "account", "recordId": id});
        let (status, opened) =
            invoke(&w.bot, &w.tenant, BOB, "task/fetch", json!({"data": data})).await;
        assert_eq!(status, 200, "{opened}");
        let card = opened["task"]["value"]["card"]["content"].to_string();
        assert!(card.contains("Unknown record"), "{crm} {id}: {card}");
    }
    assert_eq!(asked(&dv, &sf), before, "no CRM was asked about them");
}

#[tokio::test]
async fn odata_quotes_and_wildcards_typed_into_the_search_box_find_nothing_extra_in_dynamics() {
    let (dv, sf) = stand_ins().await;
    let w = world(&dv, &sf).await;
    connect_dynamics(&w, &dv, &w.tenant).await;
    dv.add_account("Contoso", "Seattle");
    dv.add_account("Fabrikam", "Paris");
    dv.add_account("O'Neil Partners", "Dublin");

    // Dataverse search: a typed `*` is not Lucene's match-all.
    for typed in ["*", "Cont*"] {
        let body = search(&w, &w.tenant, typed, 0, 10).await;
        assert!(message(&body).starts_with("No account"), "{typed}: {body}");
    }
    assert!(dv.count("/searchquery") >= 1);

    // The OData filters (no search in the environment): a quote stays in
    // the string literal.
    dv.set_search_enabled(false);
    assert_eq!(
        titles(&search(&w, &w.tenant, "O'Neil", 0, 10).await),
        ["O'Neil Partners"]
    );
    for typed in ["x') or contains(name,'", "' or name ne '", "zz'"] {
        let body = search(&w, &w.tenant, typed, 0, 10).await;
        assert!(message(&body).starts_with("No account"), "{typed}: {body}");
    }
    assert!(dv.count("/accounts") >= 1, "the filters were used");
}

#[tokio::test]
async fn sosl_reserved_characters_typed_into_the_search_box_find_nothing_extra_in_salesforce() {
    let (dv, sf) = stand_ins().await;
    let w = world(&dv, &sf).await;
    connect_salesforce(&w, &sf, &w.tenant).await;
    sf.add_account("Contoso", "Boston");
    sf.add_account("Fabrikam", "Paris");
    sf.add_user("Contoso Insider");

    assert_eq!(
        titles(&search(&w, &w.tenant, "Contoso", 0, 10).await),
        ["Contoso"]
    );
    for typed in [
        "Cont*",
        "Fabrikam OR Contoso",
        "Contoso} RETURNING User(Id, Name",
        "Fabrikam) OR (Contoso",
    ] {
        let body = search(&w, &w.tenant, typed, 0, 10).await;
        assert!(message(&body).starts_with("No account"), "{typed}: {body}");
    }
}
