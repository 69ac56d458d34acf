//! Two tenants, each connected to its own Salesforce org: one's search
//! never returns, nor is answered from the cache of, the other's records,
//! and a card naming the other tenant's record finds nothing.

use salestim::governance::requests;
use serde_json::json;

use super::{connect_salesforce, message, search, titles, world};
use crate::bot_invokes::{BOB, invoke};
use crate::support::dataverse::DataverseStandIn;
use crate::support::salesforce::SalesforceStandIn;

#[tokio::test]
async fn a_tenant_sees_only_its_own_org_and_never_the_other_tenants_cache_or_records() {
    let dv = DataverseStandIn::start().await;
    let (org_a, org_b) = (
        SalesforceStandIn::start().await,
        SalesforceStandIn::start().await,
    );
    let w = world(&dv, &org_a).await;
    let (a, b) = (w.tenant.clone(), w.bot.active_tenant().await);
    connect_salesforce(&w, &org_a, &a).await;
    connect_salesforce(&w, &org_b, &b).await;
    let acme_a = org_a.add_account("Contoso North", "Oslo");
    let deal_a = org_a.add_opportunity("Contoso deal", &acme_a, "Prospecting");
    org_b.add_account("Contoso South", "Lima");

    let in_a = search(&w, &a, "Contoso", 0, 10).await;
    let mut got = titles(&in_a);
    got.sort();
    assert_eq!(got, ["Contoso North", "Contoso deal"]);

    // The same text in B: asked of B's org, answered with B's records.
    let (before_a, before_b) = (org_a.api_requests(), org_b.api_requests());
    let in_b = search(&w, &b, "Contoso", 0, 10).await;
    assert_eq!(titles(&in_b), ["Contoso South"]);
    assert!(org_b.api_requests() > before_b, "B's org was asked");
    assert_eq!(org_a.api_requests(), before_a, "A's org was not");
    // And again, from B's own cache entry.
    let before_b = org_b.api_requests();
    assert_eq!(
        titles(&search(&w, &b, "Contoso", 0, 10).await),
        ["Contoso South"]
    );
    assert_eq!(org_b.api_requests(), before_b);

    // A's record named on a card opened in B: looked up in B's org only.
    let data = json!({"action": "crm.teamForm", "crm": "salesforce",
        "recordType": "opportunity", "recordId": deal_a, "msteams": {"type": "task/fetch"}});
    let (before_a, before_b) = (org_a.api_requests(), org_b.api_requests());
    let (status, opened) = invoke(&w.bot, &b, BOB, "task/fetch", json!({"data": data})).await;
    assert_eq!(status, 200, "{opened}");
    let card = opened["task"]["value"]["card"]["content"].to_string();
    assert!(card.contains("Record not found"), "{card}");
    assert!(!card.contains("Contoso deal"), "{card}");
    assert!(org_b.api_requests() > before_b, "looked up in B's org");

    let mut submitted = data.clone();
    for (k, v) in [
        ("action", "request.submit"),
        ("templateId", "deal"),
        ("displayName", "Falcon"),
        ("title", "Contoso deal"),
    ] {
        submitted[k] = json!(v);
    }
    let (status, answer) = invoke(&w.bot, &b, BOB, "task/submit", json!({"data": submitted})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.to_string().contains("Record not found"), "{answer}");
    assert_eq!(
        org_a.api_requests(),
        before_a,
        "A's org is never asked from B"
    );
    let docs = w.bot.app.app.docs.as_ref();
    assert!(
        requests::list_for_requester(docs, &b, BOB, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let nothing = search(&w, &b, "deal", 0, 10).await;
    assert!(message(&nothing).starts_with("No account"), "{nothing}");
}
