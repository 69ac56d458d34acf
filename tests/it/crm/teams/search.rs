//! `searchCrm` from the compose box: a page of records with previews, the
//! record card inserted (key fields, the button back to the record, "Create
//! a team for this record" only for a type with a template), the next
//! page at one CRM request with a warm token, the same search again from
//! the cache; and record links unfurled into the same card.

use salestim::crm::RecordType;
use serde_json::Value;

use super::{
    action, attachments, card_titled, connect_dynamics, connect_salesforce, record_template,
    search, stand_ins, titles, unfurl, world,
};
use crate::provisioning::World;

const TEAM_BUTTON: &str = "Create a team for this record";
const ACCOUNTS: [&str; 5] = [
    "Contoso Alpha",
    "Contoso Beta",
    "Contoso Delta",
    "Contoso Epsilon",
    "Contoso Gamma",
];

/// What a CRM's stand-in counts: its API requests and its token requests.
struct Counts<'a> {
    api: &'a dyn Fn() -> usize,
    tokens: &'a dyn Fn() -> usize,
}

impl Counts<'_> {
    fn now(&self) -> (usize, usize) {
        ((self.api)(), (self.tokens)())
    }
}

/// Pages "Contoso" three at a time (five accounts and an opportunity
/// match: all of them, each once), then asks for the first page again.
async fn pages_and_cache(w: &World, counts: &Counts<'_>) {
    let first = search(w, &w.tenant, "Contoso", 0, 3).await;
    let page1 = titles(&first);
    assert_eq!(page1.len(), 3, "{first}");
    for a in attachments(&first) {
        let text = a["preview"]["content"]["text"].as_str().unwrap_or_default();
        assert!(text.contains(" · "), "a preview says the CRM and type: {a}");
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    }

    let before = counts.now();
    let second = search(w, &w.tenant, "Contoso", 3, 3).await;
    let (api, tokens) = counts.now();
    let page2 = titles(&second);
    assert_eq!(page2.len(), 3, "{second}");
    assert!(
        page2.iter().all(|t| !page1.contains(t)),
        "page 2 has the next records: {page1:?} then {page2:?}"
    );
    assert!(
        api - before.0 <= 1,
        "page 2 took {} CRM requests",
        api - before.0
    );
    assert_eq!(tokens, before.1, "the token was warm");

    let before = counts.now();
    let again = search(w, &w.tenant, "Contoso", 0, 3).await;
    assert_eq!(titles(&again), page1);
    assert_eq!(
        counts.now(),
        before,
        "the same search is answered from the cache"
    );

    let mut all: Vec<String> = page1.into_iter().chain(page2).collect();
    all.sort();
    let mut expected: Vec<String> = ACCOUNTS.iter().map(|a| (*a).to_owned()).collect();
    expected.push("Contoso renewal".into());
    expected.sort();
    assert_eq!(all, expected);
}

/// The opportunity's card offers a team, an account's does not (only the
/// opportunity has a template); both open the record in its CRM.
fn assert_cards(body: &Value, crm: &str, opportunity_url: &str) {
    let opportunity = card_titled(body, "Contoso renewal");
    let open = action(&opportunity, &format!("Open in {crm}")).expect("a button to the record");
    assert_eq!(open["type"], "Action.OpenUrl");
    assert_eq!(open["url"], opportunity_url);
    let team = action(&opportunity, TEAM_BUTTON)
        .unwrap_or_else(|| panic!("a team is offered: {opportunity}"));
    assert_eq!(team["data"]["action"], "crm.teamForm");
    assert_eq!(team["data"]["recordType"], "opportunity");
    assert_eq!(team["data"]["msteams"]["type"], "task/fetch");
    let account = card_titled(body, "Contoso Alpha");
    assert!(
        action(&account, &format!("Open in {crm}")).is_some(),
        "{account}"
    );
    assert!(
        action(&account, TEAM_BUTTON).is_none(),
        "no account template: {account}"
    );
}

#[tokio::test]
async fn dynamics_records_are_searched_paged_inserted_and_cached() {
    let (dv, sf) = stand_ins().await;
    let w = world(&dv, &sf).await;
    connect_dynamics(&w, &dv, &w.tenant).await;
    record_template(&w, &w.tenant, "deal", RecordType::Opportunity).await;
    let alpha = dv.add_account(ACCOUNTS[0], "Seattle");
    for name in &ACCOUNTS[1..] {
        dv.add_account(name, "Paris");
    }
    let renewal = dv.add_opportunity("Contoso renewal", &alpha, 5000.0);
    dv.add_account("Fabrikam", "Lyon");

    let api = || dv.requests().len();
    let tokens = || dv.token_requests();
    let counts = Counts {
        api: &api,
        tokens: &tokens,
    };
    pages_and_cache(&w, &counts).await;
    assert!(dv.count("/searchquery") >= 1, "Dataverse search was used");

    // Everything on one page: the cards as they are inserted.
    let body = search(&w, &w.tenant, "Contoso", 0, 10).await;
    let url = format!(
        "{}main.aspx?pagetype=entityrecord&etn=opportunity&id={renewal}",
        dv.org_url
    );
    let opportunity = card_titled(&body, "Contoso renewal");
    let text = opportunity.to_string();
    assert!(
        text.contains("Est. revenue") && text.contains("5000") && text.contains("2027-03-31"),
        "key fields: {text}"
    );
    let open = action(&opportunity, "Open in Dynamics 365").unwrap();
    let shown = url::Url::parse(open["url"].as_str().unwrap()).unwrap();
    let wanted = url::Url::parse(&url).unwrap();
    assert_eq!(shown.origin(), wanted.origin());
    assert_eq!(shown.path(), "/main.aspx");
    let pairs = |u: &url::Url| {
        u.query_pairs()
            .into_owned()
            .collect::<std::collections::HashMap<_, _>>()
    };
    assert_eq!(pairs(&shown)["etn"], "opportunity");
    assert_eq!(pairs(&shown)["id"], renewal);
    assert_cards(&body, "Dynamics 365", open["url"].as_str().unwrap());
}

#[tokio::test]
async fn salesforce_records_are_searched_paged_inserted_and_cached() {
    let (dv, sf) = stand_ins().await;
    let w = world(&dv, &sf).await;
    connect_salesforce(&w, &sf, &w.tenant).await;
    record_template(&w, &w.tenant, "deal", RecordType::Opportunity).await;
    let alpha = sf.add_account(ACCOUNTS[0], "Seattle");
    for name in &ACCOUNTS[1..] {
        sf.add_account(name, "Paris");
    }
    let renewal = sf.add_opportunity("Contoso renewal", &alpha, "Prospecting");
    sf.add_account("Fabrikam", "Lyon");

    let api = || sf.api_requests();
    let tokens = || sf.token_requests("refresh_token");
    let counts = Counts {
        api: &api,
        tokens: &tokens,
    };
    pages_and_cache(&w, &counts).await;

    let body = search(&w, &w.tenant, "Contoso", 0, 10).await;
    let opportunity = card_titled(&body, "Contoso renewal");
    let text = opportunity.to_string();
    assert!(
        text.contains("Prospecting") && text.contains("2026-06-30"),
        "key fields: {text}"
    );
    let url = format!("{}/lightning/r/Opportunity/{renewal}/view", sf.origin);
    assert_cards(&body, "Salesforce", &url);
}

/// The unfurled card is the record's card: its name, CRM and type, the
/// button back to it and the search card's key fields (a read has more of
/// them than a search answer carries).
fn same_record_card(unfurled: &Value, inserted: &Value) {
    assert_eq!(unfurled["actions"], inserted["actions"], "{unfurled}");
    assert_eq!(unfurled["body"][0], inserted["body"][0]);
    assert_eq!(unfurled["body"][1], inserted["body"][1]);
    let facts = |card: &Value| -> Vec<Value> {
        card["body"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "FactSet")
            .flat_map(|b| b["facts"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    let shown = facts(unfurled);
    for fact in facts(inserted) {
        assert!(shown.contains(&fact), "{fact} in {unfurled}");
    }
}

#[tokio::test]
async fn record_links_of_the_connected_orgs_unfurl_into_the_record_card_and_others_ask_nothing() {
    let (dv, sf) = stand_ins().await;
    let w = world(&dv, &sf).await;
    connect_dynamics(&w, &dv, &w.tenant).await;
    connect_salesforce(&w, &sf, &w.tenant).await;
    let dv_id = dv.add_account("Contoso Alpha", "Seattle");
    let sf_id = sf.add_account("Acme Corp", "Boston");

    // The cards a search inserts, to compare with.
    let inserted = search(&w, &w.tenant, "Contoso", 0, 10).await;
    let dv_card = card_titled(&inserted, "Contoso Alpha");
    let inserted = search(&w, &w.tenant, "Acme", 0, 10).await;
    let sf_card = card_titled(&inserted, "Acme Corp");

    let dynamics = format!(
        "{}main.aspx?appid=4c5d6e7f-0000-4000-8000-000000000001&pagetype=entityrecord&etn=account&id={dv_id}",
        dv.org_url
    );
    let body = unfurl(&w, &w.tenant, &dynamics).await;
    let got = attachments(&body);
    assert_eq!(got.len(), 1, "{body}");
    same_record_card(&got[0]["content"], &dv_card);
    assert_eq!(got[0]["preview"]["content"]["title"], "Contoso Alpha");

    let lightning = format!("{}/lightning/r/Account/{sf_id}/view", sf.origin);
    let body = unfurl(&w, &w.tenant, &lightning).await;
    let got = attachments(&body);
    assert_eq!(got.len(), 1, "{body}");
    same_record_card(&got[0]["content"], &sf_card);

    let port = dv.org_url.port().unwrap();
    let before = (dv.requests().len(), sf.api_requests(), dv.token_requests());
    for other in [
        format!(
            "https://contoso.crm.dynamics.com/main.aspx?pagetype=entityrecord&etn=account&id={dv_id}"
        ),
        format!(
            "http://127.0.0.1:{}/main.aspx?pagetype=entityrecord&etn=account&id={dv_id}",
            port + 1
        ),
        format!("http://localhost:{port}/main.aspx?pagetype=entityrecord&etn=account&id={dv_id}"),
        format!("https://acme.lightning.force.com/lightning/r/Account/{sf_id}/view"),
        format!("{}/lightning/r/Account/{sf_id}/view", sf.moved_origin),
    ] {
        let body = unfurl(&w, &w.tenant, &other).await;
        assert!(attachments(&body).is_empty(), "{other}: {body}");
    }
    assert_eq!(
        (dv.requests().len(), sf.api_requests(), dv.token_requests()),
        before,
        "no CRM is asked about a link that is not its org's"
    );
}
