//! A credential the CRM stops accepting: the next search answers the "ask
//! your administrator" card (a result, never a 5xx), the connection is
//! marked broken with the reason (the admin's finding), and no later
//! search calls the CRM or its token endpoint again.

use salestim::crm::CrmKind;
use salestim::crm::connections::Health;
use serde_json::Value;

use super::{attachments, connect_dynamics, connect_salesforce, search, stand_ins, titles, world};
use crate::provisioning::World;

/// The search after the revocation, then the admin's finding, then one
/// more search that asks nobody.
async fn ask_admin_once(w: &World, kind: CrmKind, asked: &dyn Fn() -> usize, reason_says: &str) {
    let body: Value = search(w, &w.tenant, "Fabrikam", 0, 10).await;
    let items = attachments(&body);
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(
        items[0]["preview"]["content"]["title"],
        format!("{} needs your administrator", kind.label())
    );
    let card = items[0]["content"].to_string();
    assert!(card.contains("ask your SalesTim administrator"), "{card}");

    let crm = &w.bot.app.app.crm;
    let connection = crm
        .connections()
        .get(&w.tenant, kind)
        .await
        .unwrap()
        .unwrap();
    match &connection.health {
        Health::Broken { reason, .. } => {
            assert!(reason.contains(reason_says), "{reason}")
        }
        other => panic!("the connection is not marked broken: {other:?}"),
    }
    assert_eq!(connection.summary()["health"]["state"], "broken");

    let before = asked();
    let again = search(w, &w.tenant, "Contoso North", 0, 10).await;
    assert_eq!(
        titles(&again),
        [format!("{} needs your administrator", kind.label())]
    );
    assert_eq!(
        asked(),
        before,
        "no CRM or token request with a broken connection"
    );
}

#[tokio::test]
async fn a_revoked_dynamics_client_asks_for_the_admin_once_and_is_not_called_again() {
    let (dv, sf) = stand_ins().await;
    let w = world(&dv, &sf).await;
    connect_dynamics(&w, &dv, &w.tenant).await;
    dv.add_account("Contoso North", "Oslo");
    dv.add_account("Fabrikam", "Paris");
    assert_eq!(
        titles(&search(&w, &w.tenant, "Contoso", 0, 10).await),
        ["Contoso North"]
    );

    // The app's secret is revoked; the token in hand runs out.
    dv.revoke_client();
    dv.expire_tokens();
    let asked = || dv.requests().len() + dv.token_requests();
    ask_admin_once(&w, CrmKind::Dynamics, &asked, "AADSTS7000215").await;
}

#[tokio::test]
async fn a_revoked_salesforce_grant_asks_for_the_admin_once_and_is_not_called_again() {
    let (dv, sf) = stand_ins().await;
    let w = world(&dv, &sf).await;
    connect_salesforce(&w, &sf, &w.tenant).await;
    sf.add_account("Contoso North", "Oslo");
    sf.add_account("Fabrikam", "Paris");
    assert_eq!(
        titles(&search(&w, &w.tenant, "Contoso", 0, 10).await),
        ["Contoso North"]
    );

    // The org's admin revokes the app's access: the session ends with it.
    sf.revoke_refresh_tokens();
    sf.expire_sessions();
    let asked = || sf.api_requests() + sf.token_requests("refresh_token");
    ask_admin_once(&w, CrmKind::Salesforce, &asked, "invalid_grant").await;
}
