//! A connection's life after it is made: checked, broken when the customer
//! deletes the secret it uses (the admin's finding, and no more calls),
//! mended by a rotation whose revision keeps the old cached answers from
//! being read, and removed.

use salestim::crm::service::{Found, Unanswered};
use salestim::crm::{CrmKind, SearchText, Viewer};
use serde_json::json;

use super::{Setup, setup};

async fn search(s: &Setup, typed: &str) -> Found {
    s.f.app
        .app
        .crm
        .search(
            &s.f.a,
            Viewer::default(),
            &SearchText::parse(typed).unwrap(),
            0,
            10,
        )
        .await
        .unwrap()
}

fn titles(found: &Found) -> Vec<String> {
    found.records.iter().map(|r| r.title.clone()).collect()
}

#[tokio::test]
async fn a_connection_is_checked_broken_by_a_revoked_secret_rotated_and_removed() {
    let s = setup(true).await;
    s.dv.add_account("Contoso Ltd", "Seattle");
    let first_secret = s.dv.client_secret();
    let (status, made) = s.put_dynamics(Some(&first_secret)).await;
    assert_eq!(status, 200, "{made}");

    let (status, checked) = s.admin("POST", "/dynamics/check", None).await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["checked"]["ok"], true, "{checked}");
    assert_eq!(checked["health"]["state"], "working");
    assert!(
        s.audited()
            .await
            .contains(&"crm.connection.checked".to_owned())
    );

    // A search is answered once by the environment, then from the cache.
    let calls = s.dv.requests().len();
    let found = search(&s, "contoso").await;
    assert_eq!(titles(&found), ["Contoso Ltd"]);
    assert!(!found.cached);
    assert_eq!(s.dv.requests().len(), calls + 1);
    let again = search(&s, "contoso").await;
    assert_eq!(titles(&again), ["Contoso Ltd"]);
    assert!(again.cached);
    assert_eq!(s.dv.requests().len(), calls + 1, "the second is cached");

    // The customer deletes the secret: the check finds it refused.
    let second_secret = s.dv.new_client_secret();
    s.dv.expire_tokens();
    let (status, broken) = s.admin("POST", "/dynamics/check", None).await;
    assert_eq!(status, 200, "{broken}");
    assert_eq!(broken["checked"]["ok"], false, "{broken}");
    assert_eq!(broken["health"]["state"], "broken", "{broken}");
    let reason = broken["health"]["reason"].as_str().unwrap();
    assert!(reason.contains("AADSTS7000215"), "{reason}");
    let (_, listed) = s.admin("GET", "", None).await;
    assert_eq!(listed["connections"][0]["health"]["state"], "broken");
    assert_eq!(listed["connections"][0]["health"]["reason"], reason);

    // Searches are told to ask the admin, without calling the environment.
    let calls = s.dv.requests().len();
    let tokens = s.dv.token_requests();
    let refused = search(&s, "fabrikam").await;
    assert!(refused.records.is_empty());
    assert!(
        matches!(
            refused.unanswered.as_slice(),
            [Unanswered::AskAdmin {
                crm: CrmKind::Dynamics,
                ..
            }]
        ),
        "{:?}",
        refused.unanswered
    );
    assert_eq!(s.dv.requests().len(), calls);
    assert_eq!(s.dv.token_requests(), tokens);

    // The admin rotates to the new secret: a new revision, working again,
    // and the answers cached under the old revision are not read.
    let (status, rotated) = s.put_dynamics(Some(&second_secret)).await;
    assert_eq!(status, 200, "{rotated}");
    assert!(rotated["revision"].as_u64() > made["revision"].as_u64());
    assert_eq!(rotated["health"]["state"], "working", "{rotated}");
    assert_eq!(rotated["checked"]["ok"], true, "{rotated}");
    let calls = s.dv.requests().len();
    let fresh = search(&s, "contoso").await;
    assert_eq!(titles(&fresh), ["Contoso Ltd"]);
    assert!(!fresh.cached);
    assert_eq!(s.dv.requests().len(), calls + 1, "the old answer was read");

    // Removed: gone, and every call about it is a 404.
    let (status, removed) = s.admin("DELETE", "/dynamics", None).await;
    assert_eq!((status, removed), (200, json!({"removed": "dynamics"})));
    assert!(s.raw(&s.f.a, "dynamics").await.is_none());
    for (method, path) in [
        ("DELETE", "/dynamics"),
        ("POST", "/dynamics/check"),
        ("PUT", "/dynamics/write-back"),
    ] {
        let body = (method == "PUT").then(|| json!({"writeBack": {"kind": "off"}}));
        let (status, answer) = s.admin(method, path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    let (_, listed) = s.admin("GET", "", None).await;
    assert_eq!(listed["connections"], json!([]));
    assert!(
        s.audited()
            .await
            .contains(&"crm.connection.removed".to_owned())
    );
    let gone = search(&s, "contoso").await;
    assert!(
        matches!(gone.unanswered.as_slice(), [Unanswered::NotConnected]),
        "{:?}",
        gone.unanswered
    );
}
