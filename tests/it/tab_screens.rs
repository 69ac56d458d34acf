//! The tabs' screens doing their work through the API, as the web app
//! calls it: a request made in the Request tab waits for its approver, who
//! decides in the Approvals tab (a stale view is refused); the final name
//! must be the one shown; templates reach their audience only; a catalog
//! manager saves versions and icons; policies are diffed then saved under
//! their version; a role an admin gives applies at once; the audit trail
//! filters and exports; billing starts a Checkout Session bound to the
//! caller's tenant.

use salestim::bot::requests::{Mode, Submitted, submit_form};
use salestim::governance::audit;
use salestim::governance::people::Person;
use salestim::governance::requests::RequestForm;
use salestim::governance::templates::{self, Audience, Template};
use serde_json::{Value, json};

use crate::support::stripe::StripeStandIn;
use crate::tab_api::{ADMIN, APPROVER, CATALOG, MEMBER, POLICY, TEAM, call, png, send, setup};
use crate::tab_auth::{fixture, fixture_with};

#[tokio::test]
async fn a_request_made_in_the_tab_waits_for_its_approver_who_decides_on_what_they_saw() {
    let f = fixture().await;
    setup(&f).await;
    let member = f.token(&f.a, MEMBER);
    let approver = f.token(&f.a, APPROVER);
    let (status, preview) = call(
        &f,
        &member,
        "POST",
        "requests/preview",
        Some(json!({"templateId": "project", "displayName": "Apollo"})),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["finalName"], "Apollo");
    assert_eq!(preview["approvalPath"][0]["approvers"][0]["id"], APPROVER);
    let (status, made) = call(
        &f,
        &member,
        "POST",
        "requests",
        Some(json!({"templateId": "project", "displayName": "Apollo", "finalName": "Apollo"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["state"], "Submitted");
    let id = made["id"].as_str().unwrap();

    let (_, waiting) = call(&f, &approver, "GET", "approvals", None).await;
    let item = waiting["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .expect("listed");
    assert_eq!(item["requester"]["id"], MEMBER);
    // Nobody else waits on it.
    let (_, none) = call(&f, &member, "GET", "approvals", None).await;
    assert!(
        none["pending"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != id)
    );

    // A decision on a version the approver did not see changes nothing.
    let (status, stale) = call(
        &f,
        &approver,
        "POST",
        &format!("approvals/{id}"),
        Some(json!({"decision": "approve", "comment": "", "etag": "someone-else's"})),
    )
    .await;
    assert_eq!(status, 409, "{stale}");
    let (status, decided) = call(
        &f,
        &approver,
        "POST",
        &format!("approvals/{id}"),
        Some(json!({"decision": "approve", "comment": "go", "etag": item["etag"]})),
    )
    .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["state"], "Approved");
    // The second click, from a list not reloaded, is told what happened.
    let (status, again) = call(
        &f,
        &approver,
        "POST",
        &format!("approvals/{id}"),
        Some(json!({"decision": "reject", "comment": "no", "etag": item["etag"]})),
    )
    .await;
    assert_eq!(status, 409, "{again}");

    let trail = audit::trail(f.app.app.docs.as_ref(), &f.a).await.unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.action == "request.approved" && e.actor == format!("user:{APPROVER}"))
    );
    let (_, mine) = call(&f, &member, "GET", "my", None).await;
    let listed = mine["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap();
    assert_ne!(listed["state"], "Submitted", "{listed}");
}

#[tokio::test]
async fn a_name_the_requester_was_not_shown_is_not_submitted() {
    let f = fixture().await;
    setup(&f).await;
    let naming: salestim::governance::naming::NamingPolicy =
        serde_json::from_value(json!({"prefix": [{"text": "PRJ - "}]})).unwrap();
    f.app
        .app
        .tenants
        .update(&f.a, |t, _| {
            t.settings.naming = naming.clone();
            Ok(())
        })
        .await
        .unwrap();
    let member = f.token(&f.a, MEMBER);
    let body = |seen: Option<&str>| json!({"templateId": "project", "displayName": "Zeus", "finalName": seen});
    let (status, refused) = call(&f, &member, "POST", "requests", Some(body(Some("Zeus")))).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("PRJ - Zeus"),
        "{refused}"
    );
    let (status, made) = call(
        &f,
        &member,
        "POST",
        "requests",
        Some(body(Some("PRJ - Zeus"))),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["finalName"], "PRJ - Zeus");
}

#[tokio::test]
async fn a_template_for_some_groups_is_offered_to_nobody_else() {
    let f = fixture().await;
    setup(&f).await;
    let restricted = Template {
        name: "Board".into(),
        audience: Audience::Groups {
            groups: vec![Person::new(
                "00000000-0000-4000-8000-00000000b0a2",
                "Board members",
            )],
        },
        ..Template::default()
    };
    templates::save(f.app.app.docs.as_ref(), &f.a, "board", &restricted)
        .await
        .unwrap();
    let member = f.token(&f.a, MEMBER);
    let (_, catalog) = call(&f, &member, "GET", "catalog", None).await;
    let ids: Vec<&str> = catalog["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["project"]);
    let (status, refused) = call(
        &f,
        &member,
        "POST",
        "requests",
        Some(json!({"templateId": "board", "displayName": "Secret", "finalName": "Secret"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(refused["field"], "templateId");
    // The bot's form goes through the same flow, and is refused the same.
    let form = RequestForm {
        template_id: "board".into(),
        display_name: "Secret".into(),
        ..RequestForm::default()
    };
    let by_bot = submit_form(
        &f.app.app,
        &f.a,
        &Person::new(MEMBER, "Member"),
        &form,
        None,
        Mode::Submit,
        None,
    )
    .await
    .unwrap();
    assert!(matches!(by_bot, Submitted::Refused(_)));
}

#[tokio::test]
async fn a_catalog_manager_saves_versions_and_an_icon_that_the_catalog_serves() {
    let f = fixture().await;
    setup(&f).await;
    let catalog_manager = f.token(&f.a, CATALOG);
    let (status, saved) = call(&f, &catalog_manager, "PUT", "admin/templates/project",
        Some(json!({"template": {"name": "Project", "description": "Now with a description", "approval": {"kind": "none"}}}))).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 2);
    let (_, shown) = call(&f, &catalog_manager, "GET", "admin/templates/project", None).await;
    assert_eq!(shown["template"]["description"], "Now with a description");
    let versions: Vec<u64> = shown["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);

    let icon = png();
    let (status, uploaded) = send(
        &f,
        &catalog_manager,
        "POST",
        "admin/templates/project/icon",
        Some(("image/png", icon.clone())),
    )
    .await;
    assert_eq!(status, 200, "{uploaded}");
    assert_eq!(uploaded["version"], 3);
    let res = f
        .app
        .http
        .get(f.app.url("api/tab/catalog/project/icon"))
        .bearer_auth(f.token(&f.a, MEMBER))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().to_vec(), icon);
    let trail = audit::trail(f.app.app.docs.as_ref(), &f.a).await.unwrap();
    assert_eq!(
        trail
            .iter()
            .filter(|e| e.action == "template.saved" && e.actor == format!("user:{CATALOG}"))
            .count(),
        2
    );
}

#[tokio::test]
async fn policies_are_diffed_first_then_saved_under_the_version_that_was_diffed() {
    let f = fixture().await;
    setup(&f).await;
    let policy_manager = f.token(&f.a, POLICY);
    let proposal = json!({"defaults": {"expiry": {"lifetimeDays": 180}}});
    let (status, diff) = call(
        &f,
        &policy_manager,
        "POST",
        "admin/policies/diff",
        Some(json!({"policies": proposal})),
    )
    .await;
    assert_eq!(status, 200, "{diff}");
    assert!(
        diff["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"].as_str().unwrap().contains("lifetimeDays")),
        "{diff}"
    );
    let (_, current) = call(&f, &policy_manager, "GET", "admin/policies", None).await;
    assert_eq!(current["version"], 0, "a diff saves nothing");
    let (status, saved) = call(
        &f,
        &policy_manager,
        "PUT",
        "admin/policies",
        Some(json!({"policies": proposal, "version": 0})),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 1);
    let (status, stale) = call(
        &f,
        &policy_manager,
        "PUT",
        "admin/policies",
        Some(json!({"policies": {"defaults": {}}, "version": 0})),
    )
    .await;
    assert_eq!(status, 409, "{stale}");
}

#[tokio::test]
async fn a_role_an_admin_gives_applies_at_once_and_the_last_admin_stays() {
    let f = fixture().await;
    setup(&f).await;
    let admin = f.token(&f.a, ADMIN);
    let member = f.token(&f.a, MEMBER);
    let (_, me) = call(&f, &member, "GET", "me", None).await;
    assert_eq!(me["can"]["dashboard"], false);
    let (_, roles) = call(&f, &admin, "GET", "admin/roles", None).await;
    let mut assignments = roles["assignments"].as_array().unwrap().clone();
    assignments.push(
        json!({"principal": {"kind": "user", "id": MEMBER, "name": "Member"}, "role": "auditor"}),
    );
    let (status, saved) = call(
        &f,
        &admin,
        "PUT",
        "admin/roles",
        Some(json!({"assignments": assignments, "etag": roles["etag"]})),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let (_, me) = call(&f, &member, "GET", "me", None).await;
    assert_eq!(me["can"]["dashboard"], true, "{me}");
    assert!(me["roles"].as_array().unwrap().contains(&json!("auditor")));
    let (status, _) = call(&f, &member, "GET", "dashboard", None).await;
    assert_eq!(status, 200);
    // Saved under a version someone else has changed since: refused.
    let (status, _) = call(
        &f,
        &admin,
        "PUT",
        "admin/roles",
        Some(json!({"assignments": assignments, "etag": roles["etag"]})),
    )
    .await;
    assert_eq!(status, 409);
    let (status, last) = call(&f, &admin, "PUT", "admin/roles",
        Some(json!({"assignments": [{"principal": {"kind": "user", "id": MEMBER}, "role": "auditor"}]}))).await;
    assert_eq!(status, 400, "{last}");
}

#[tokio::test]
async fn the_audit_trail_filters_by_action_and_exports_the_same_rows_as_csv() {
    let f = fixture().await;
    setup(&f).await;
    let admin = f.token(&f.a, ADMIN);
    let (_, found) = call(&f, &admin, "GET", "audit?action=roles.&limit=50", None).await;
    let entries = found["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(
        entries
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("roles.")),
        "{found}"
    );
    let (_, all) = call(&f, &admin, "GET", "audit?limit=1", None).await;
    assert_eq!(all["entries"].as_array().unwrap().len(), 1);
    assert!(
        all["next"].is_string(),
        "more rows: a cursor to the next page"
    );
    let res = f
        .app
        .http
        .get(f.app.url("api/tab/audit.csv?action=roles."))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let text = res.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rows.headers().unwrap().iter().collect::<Vec<_>>(),
        ["at", "actor", "action", "target", "details"]
    );
    assert_eq!(rows.records().count(), entries.len());
    let (status, bad) = call(&f, &admin, "GET", "audit?from=yesterday", None).await;
    assert_eq!((status, bad["field"].clone()), (400, json!("from")));
}

#[tokio::test]
async fn subscribing_in_the_admin_tab_makes_a_checkout_session_bound_to_the_callers_tenant() {
    let stripe = StripeStandIn::start(&["price_seat"]).await;
    let f = fixture_with(vec![
        ("STRIPE_API_KEY", stripe.api_key.clone()),
        ("STRIPE_API_BASE", stripe.base_url.to_string()),
        ("STRIPE_PRICE_ID", "price_seat".into()),
    ])
    .await;
    setup(&f).await;
    let admin = f.token(&f.a, ADMIN);
    let (_, billing) = call(&f, &admin, "GET", "admin/billing", None).await;
    assert_eq!(
        (
            billing["configured"].clone(),
            billing["customerBound"].clone()
        ),
        (json!(true), json!(false))
    );
    let (status, checkout) = call(
        &f,
        &admin,
        "POST",
        "admin/billing/checkout",
        Some(json!({"seats": 25})),
    )
    .await;
    assert_eq!(status, 200, "{checkout}");
    assert!(
        checkout["url"]
            .as_str()
            .unwrap()
            .starts_with("https://checkout.stripe.com/")
    );
    let sessions = stripe.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].field("client_reference_id"), Some(f.a.as_str()));
    assert_eq!(sessions[0].field("line_items[0][quantity]"), Some("25"));
    // No customer is bound until the session completes: the portal waits.
    let (status, portal) = call(&f, &admin, "POST", "admin/billing/portal", Some(json!({}))).await;
    assert_eq!(status, 400, "{portal}");
    let trail = audit::trail(f.app.app.docs.as_ref(), &f.a).await.unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.action == "billing.checkout.created" && e.actor == format!("user:{ADMIN}"))
    );
}

#[tokio::test]
async fn an_owner_renews_once_from_the_tab() {
    let f = fixture().await;
    setup(&f).await;
    let member = f.token(&f.a, MEMBER);
    let (_, mine) = call(&f, &member, "GET", "my", None).await;
    let team = mine["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == TEAM)
        .cloned()
        .unwrap();
    assert_eq!(team["canRenew"], true);
    let (status, renewed) = call(
        &f,
        &member,
        "POST",
        &format!("teams/{TEAM}/renew"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["renewal"], "Renewed");
    assert_ne!(renewed["expiresAt"], team["expiresAt"]);
    let (_, again): (u16, Value) = call(
        &f,
        &member,
        "POST",
        &format!("teams/{TEAM}/renew"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        again["expiresAt"], renewed["expiresAt"],
        "a second click renews nothing more"
    );
}
