//! Sessions that end, a spent allocation, a revoked grant, an org that
//! moved.

use super::*;

#[tokio::test]
async fn an_ended_session_is_refreshed_once_and_the_call_sent_again_once() {
    let Org { sf, connector, .. } = org().await;
    sf.add_account("Acme", "Lyon");
    assert_eq!(
        titles(&connector, "acme", page(0, 5)).await.unwrap(),
        ["Acme"]
    );
    let (requests, refreshes) = (sf.api_requests(), sf.token_requests("refresh_token"));

    sf.expire_sessions();
    assert_eq!(
        titles(&connector, "acme", page(0, 5)).await.unwrap(),
        ["Acme"]
    );
    assert_eq!(sf.token_requests("refresh_token"), refreshes + 1);
    assert_eq!(
        sf.api_requests(),
        requests + 2,
        "the refused call and its retry"
    );
    let statuses: Vec<u16> = sf.seen().iter().rev().take(2).map(|s| s.status).collect();
    assert_eq!(statuses, [200, 401]);

    // Refused again right after a refresh: an error, not a loop.
    sf.refuse_all_sessions();
    let (requests, refreshes) = (sf.api_requests(), sf.token_requests("refresh_token"));
    let err = titles(&connector, "acme", page(0, 5)).await.unwrap_err();
    assert!(matches!(err, CrmError::Revoked(_)), "{err:?}");
    assert!(err.needs_admin());
    assert_eq!(sf.token_requests("refresh_token"), refreshes + 1);
    assert_eq!(sf.api_requests(), requests + 2);
}

#[tokio::test]
async fn a_spent_daily_allocation_is_reported_after_one_request() {
    let Org { sf, connector, .. } = org().await;
    sf.add_account("Acme", "Lyon");
    sf.exhaust_daily_limit();
    let err = titles(&connector, "acme", page(0, 5)).await.unwrap_err();
    let CrmError::Limited {
        message,
        retry_after,
    } = err
    else {
        panic!("a limit: {err:?}")
    };
    assert!(
        message.contains("daily API limit for your org is used up"),
        "{message}"
    );
    assert_eq!(retry_after, None);
    assert_eq!(sf.api_requests(), 1);
}

#[tokio::test]
async fn a_revoked_refresh_token_is_reported_for_the_admin() {
    let Org {
        sf,
        connector,
        shared,
        config,
    } = org().await;
    sf.add_account("Acme", "Lyon");
    assert!(titles(&connector, "acme", page(0, 5)).await.is_ok());

    sf.revoke_refresh_tokens();
    sf.expire_sessions();
    let err = titles(&connector, "acme", page(0, 5)).await.unwrap_err();
    assert!(
        matches!(&err, CrmError::Revoked(m) if m.contains("invalid_grant")),
        "{err:?}"
    );

    // A connector made afresh from the stored connection asks nothing of
    // the API.
    let requests = sf.api_requests();
    let again =
        Salesforce::new(&shared, &tenant(), &config, SecretString::from("5Aepstale")).unwrap();
    assert!(matches!(again.check().await, Err(CrmError::Revoked(_))));
    assert_eq!(sf.api_requests(), requests);

    let mut no_app = shared.clone();
    no_app.salesforce = None;
    let not_set_up = Salesforce::new(&no_app, &tenant(), &config, SecretString::from("x"));
    assert!(matches!(not_set_up, Err(CrmError::NotSetUp(_))));
}

#[tokio::test]
async fn the_instance_the_latest_refresh_names_is_the_one_used() {
    let Org { sf, connector, .. } = org().await;
    let acme = sf.add_account("Acme", "Lyon");
    assert!(titles(&connector, "acme", page(0, 5)).await.is_ok());
    let first_port = sf.seen().last().unwrap().port;

    let moved = sf.move_instance();
    sf.expire_sessions();
    let found = connector
        .search(Viewer::default(), &text("acme"), &page(0, 5))
        .await
        .unwrap();
    let last = sf.seen().last().unwrap().clone();
    assert_ne!(last.port, first_port);
    assert_eq!(format!("http://127.0.0.1:{}", last.port), moved);
    assert_eq!(
        found.records[0].url,
        format!("{moved}/lightning/r/Account/{acme}/view")
    );
    assert_eq!(
        connector.instance_url().await.unwrap().as_str(),
        format!("{moved}/")
    );
}

#[tokio::test]
async fn a_failing_instance_is_tried_again_for_reads_only_and_then_unavailable() {
    let Org { sf, connector, .. } = org().await;
    let acme = sf.add_account("Acme", "Lyon");
    assert!(titles(&connector, "acme", page(0, 5)).await.is_ok());

    sf.fail_next(1, 503);
    let requests = sf.api_requests();
    assert_eq!(
        titles(&connector, "acme", page(0, 5)).await.unwrap(),
        ["Acme"]
    );
    assert_eq!(sf.api_requests(), requests + 2);

    sf.fail_next(10, 503);
    let requests = sf.api_requests();
    let err = titles(&connector, "acme", page(0, 5)).await.unwrap_err();
    assert!(matches!(err, CrmError::Unavailable(_)), "{err:?}");
    assert_eq!(
        sf.api_requests(),
        requests + 3,
        "the policy's three attempts"
    );

    // A note may have been written before the failure: not sent twice.
    let record = RecordRef {
        crm: CrmKind::Salesforce,
        record_type: RecordType::Account,
        id: RecordId::parse(&acme).unwrap(),
    };
    let team = TeamLink {
        display_name: "Acme",
        web_url: TEAM_URL,
    };
    let requests = sf.api_requests();
    let err = connector
        .link_team(&record, &team, &WriteBack::Note)
        .await
        .unwrap_err();
    assert!(matches!(err, CrmError::Unavailable(_)), "{err:?}");
    assert_eq!(sf.api_requests(), requests + 1);
}
