//! What Dataverse and Entra refuse, and what the connector makes of it.

use salestim::crm::dataverse::SearchMode;
use salestim::crm::{Connector, CrmError};

use super::*;

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
async fn a_token_refused_again_after_one_refresh_is_revoked() {
    let (dv, shared, crm) = environment(SearchMode::Relevance).await;
    crm.check().await.unwrap();
    dv.refuse_tokens();
    let refused = crm.check().await;
    assert!(matches!(refused, Err(CrmError::Revoked(_))), "{refused:?}");
    assert_eq!(shared.stats().tokens, 2, "one refresh, no more");
    assert_eq!(dv.count("/WhoAmI"), 3);
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
