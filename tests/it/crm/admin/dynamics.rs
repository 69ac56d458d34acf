//! Connecting Dynamics 365 from the admin tab: our app, then the customer's
//! own (its secret stored only sealed, for this tenant only), and every
//! input refused with the field named and nothing changed.

use salestim::crm::CrmKind;
use salestim::crm::connections::Connection;
use salestim::functions::tab_api::MAX_BODY_BYTES;
use salestim::platform::documents::{Container, Document};
use serde_json::json;

use super::{mentions, setup};
use crate::support::dataverse;
use crate::tab_api::{MEMBER, send};

#[tokio::test]
async fn an_admin_connects_dynamics_with_our_app_then_their_own_with_the_secret_sealed() {
    let s = setup(true).await;
    let (status, none) = s.admin("GET", "", None).await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["connections"], json!([]));
    assert_eq!(
        none["available"],
        json!({"dynamics": true, "salesforce": true})
    );

    // Our app: the answer is the connection, checked.
    let (status, ours) = s.put_dynamics(None).await;
    assert_eq!(status, 200, "{ours}");
    assert_eq!(ours["crm"], "dynamics");
    assert_eq!(ours["target"]["orgUrl"], s.dv.org_url.as_str());
    assert_eq!(ours["target"]["ownApp"], false);
    assert_eq!(ours["health"]["state"], "working");
    assert_eq!(ours["checked"]["ok"], true, "{ours}");
    let who = ours["checked"]["message"].as_str().unwrap();
    assert!(who.starts_with("UserId "), "{who}");
    assert_eq!(s.dv.count("/WhoAmI"), 1);
    assert!(
        s.raw(&s.f.a, "dynamics")
            .await
            .unwrap()
            .body
            .get("secret")
            .is_none()
    );

    // Their own app registration: the secret goes in sealed.
    let secret = s.dv.client_secret();
    let (status, own) = s.put_dynamics(Some(&secret)).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["target"]["ownApp"], true);
    assert_eq!(own["target"]["clientId"], dataverse::CLIENT_ID);
    assert_eq!(own["checked"]["ok"], true, "{own}");
    assert!(own["revision"].as_u64() > ours["revision"].as_u64());
    assert!(!mentions(&own, &secret));

    let doc = s.raw(&s.f.a, "dynamics").await.unwrap();
    let stored = serde_json::Value::Object(doc.to_stored_json());
    assert!(stored["secret"].is_object(), "{stored}");
    assert!(!mentions(&stored, &secret), "the stored document: {stored}");
    assert!(
        !s.store_bytes().contains(&secret),
        "the secret is in the store's file in plain text"
    );

    // Sealed for tenant A: the same document in tenant B's partition does
    // not open.
    let crm = &s.f.app.app.crm;
    let connection: Connection = doc.parse().unwrap();
    assert!(
        crm.connections()
            .connector(crm.shared(), &s.f.a, &connection)
            .await
            .is_ok()
    );
    let mut copy = Document::new(&s.f.b, &doc.kind, doc.id.clone(), &connection).unwrap();
    copy.etag = None;
    s.f.app
        .app
        .docs
        .upsert(Container::Tenants, &copy)
        .await
        .unwrap();
    let in_b = crm
        .connections()
        .get(&s.f.b, CrmKind::Dynamics)
        .await
        .unwrap()
        .expect("the copy is there");
    assert!(
        crm.connections()
            .connector(crm.shared(), &s.f.b, &in_b)
            .await
            .is_err(),
        "tenant B opened tenant A's sealed secret"
    );

    // What the admin tab shows: no secret, ever.
    let (_, listed) = s.admin("GET", "", None).await;
    assert_eq!(listed["connections"].as_array().unwrap().len(), 1);
    assert_eq!(listed["connections"][0]["target"]["ownApp"], true);
    assert!(!mentions(&listed, &secret));
    assert!(!mentions(&listed, "\"secret\""), "{listed}");
    assert!(!mentions(&listed, "tenantKey"), "{listed}");
    let audited = s.audited().await;
    assert_eq!(
        audited
            .iter()
            .filter(|a| *a == "crm.connection.saved")
            .count(),
        2,
        "{audited:?}"
    );
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
    // No CRM_EXTRA_HOSTS: only Dynamics' own domains.
    let s = setup(false).await;
    let good = "https://contoso.crm.dynamics.com";
    let cases = [
        (json!({"orgUrl": "https://evil.example.com"}), "orgUrl"),
        (json!({"orgUrl": s.dv.org_url.as_str()}), "orgUrl"),
        (
            json!({"orgUrl": "http://contoso.crm.dynamics.com"}),
            "orgUrl",
        ),
        (
            json!({"orgUrl": "https://contoso.crm.dynamics.com.evil.example.com"}),
            "orgUrl",
        ),
        (
            json!({"orgUrl": "https://user:pw@contoso.crm.dynamics.com"}),
            "orgUrl",
        ),
        (
            json!({"orgUrl": "https://contoso.crm.dynamics.com/?x=1"}),
            "orgUrl",
        ),
        (json!({"orgUrl": "not a url"}), "orgUrl"),
        (
            json!({"orgUrl": good, "clientId": dataverse::CLIENT_ID}),
            "clientSecret",
        ),
        (
            json!({"orgUrl": good, "clientSecret": "s3cr3t"}),
            "clientSecret",
        ),
        (
            json!({"orgUrl": good, "clientId": "not-a-guid", "clientSecret": "s"}),
            "clientId",
        ),
        (
            json!({"orgUrl": good, "writeBack": {"kind": "field", "field": "new_url; DROP"}}),
            "writeBack.field",
        ),
        (
            json!({"orgUrl": good, "writeBack": {"kind": "field", "field": "a.b"}}),
            "writeBack.field",
        ),
        (json!({"orgUrl": good, "tenant": "other"}), "tenant"),
        (json!({}), "orgUrl"),
    ];
    let before = s.snapshot().await;
    for (body, field) in cases {
        let (status, answer) = s.admin("PUT", "/dynamics", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        assert_eq!(s.snapshot().await, before, "{body} changed something");
    }
    for (path, body, field) in [
        (
            "/salesforce/connect",
            json!({"loginUrl": "https://evil.example.com"}),
            "loginUrl",
        ),
        (
            "/salesforce/connect",
            json!({"writeBack": {"kind": "field", "field": "Team-Url"}}),
            "writeBack.field",
        ),
        ("/salesforce/connect", json!({"state": "x"}), "state"),
        (
            "/dynamics/write-back",
            json!({"writeBack": {"kind": "field", "field": "x y"}}),
            "writeBack.field",
        ),
    ] {
        let (status, answer) = s
            .admin(
                if path.ends_with("connect") {
                    "POST"
                } else {
                    "PUT"
                },
                path,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(answer["field"], field, "{path} {body}: {answer}");
        assert_eq!(
            s.snapshot().await,
            before,
            "{path} {body} changed something"
        );
    }
    assert_eq!(s.dv.token_requests() + s.dv.requests().len(), 0);

    // The tab API's body limit.
    let token = s.f.token(&s.f.a, crate::tab_api::ADMIN);
    let padding = "x".repeat(MAX_BODY_BYTES + 1);
    let huge = json!({"orgUrl": good, "clientId": dataverse::CLIENT_ID, "clientSecret": padding});
    let (status, _) = send(
        &s.f,
        &token,
        "PUT",
        "admin/crm/dynamics",
        Some(("application/json", huge.to_string().into_bytes())),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(s.snapshot().await, before);

    // A member is not an admin.
    let (status, _) = s
        .call_as(MEMBER, "PUT", "/dynamics", Some(json!({"orgUrl": good})))
        .await;
    assert_eq!(status, 403);
    let (status, _) = s.call_as(MEMBER, "GET", "", None).await;
    assert_eq!(status, 403);
    assert_eq!(s.snapshot().await, before);
}
