//! The tabs' API, as its callers see it: the authorization matrix (every
//! endpoint of `tabs::api::ENDPOINTS` called by every role; a role the row
//! does not admit gets 403 and nothing in the tenant changes), every
//! endpoint refusing a bad token (expired, another audience, no
//! `access_as_user`, a v1 token, another tenant's key) with 401, another
//! tenant's ids answered 404, and bad input to every write endpoint
//! answered 400 naming the field, with nothing written.

use futures::TryStreamExt;
use salestim::governance::people::Person;
use salestim::governance::roles::{self, Assignment, Role};
use salestim::governance::teams::{self, Renewal, TeamRecord};
use salestim::governance::templates::{self, ApprovalRule, Template};
use salestim::governance::{audit, requests};
use salestim::ids::TenantId;
use salestim::tabs::api::{ENDPOINTS, Endpoint};
use serde_json::{Value, json};

use crate::tab_auth::{Fixture, fixture};

pub(crate) const ADMIN: &str = "00000000-0000-4000-8000-0000000000a1";
pub(crate) const CATALOG: &str = "00000000-0000-4000-8000-0000000000c1";
pub(crate) const POLICY: &str = "00000000-0000-4000-8000-0000000000b1";
pub(crate) const AUDITOR: &str = "00000000-0000-4000-8000-0000000000d1";
pub(crate) const APPROVER: &str = "00000000-0000-4000-8000-0000000000e1";
pub(crate) const MEMBER: &str = "00000000-0000-4000-8000-0000000000f1";
pub(crate) const TEAM: &str = "00000000-0000-4000-8000-00000000beef";

/// Each test user and the roles they hold in tenant A.
const USERS: [(&str, &[Role]); 6] = [
    (ADMIN, &[Role::Admin, Role::Member]),
    (CATALOG, &[Role::CatalogManager, Role::Member]),
    (POLICY, &[Role::PolicyManager, Role::Member]),
    (AUDITOR, &[Role::Auditor, Role::Member]),
    (APPROVER, &[Role::Approver, Role::Member]),
    (MEMBER, &[Role::Member]),
];

fn assign(id: &str, role: Role) -> Assignment {
    Assignment::user(id, role)
}

pub(crate) fn png() -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::new(16, 16)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Tenant A with its roles, a template approved by APPROVER, a team owned
/// by MEMBER and a request waiting for APPROVER; tenant B with ADMIN as its
/// admin and nothing else. Returns the waiting request's id.
pub(crate) async fn setup(f: &Fixture) -> String {
    let docs = f.app.app.docs.as_ref();
    let now = f.app.app.clock.now();
    let assigned: Vec<Assignment> = [
        (ADMIN, Role::Admin),
        (CATALOG, Role::CatalogManager),
        (POLICY, Role::PolicyManager),
        (AUDITOR, Role::Auditor),
    ]
    .iter()
    .map(|(id, role)| assign(id, *role))
    .collect();
    roles::replace(docs, &f.a, now, "test", &assigned, None)
        .await
        .unwrap();
    roles::replace(docs, &f.b, now, "test", &[assign(ADMIN, Role::Admin)], None)
        .await
        .unwrap();
    let project = Template {
        name: "Project".into(),
        approval: ApprovalRule::Named {
            approvers: vec![Person::new(APPROVER, "Approver")],
        },
        ..Template::default()
    };
    templates::save(docs, &f.a, "project", &project)
        .await
        .unwrap();
    let team = TeamRecord {
        group_id: TEAM.into(),
        display_name: "Matrix team".into(),
        owners: vec![Person::new(MEMBER, "Member")],
        member_ids: vec![MEMBER.into()],
        expires_at: Some(now + time::Duration::days(10)),
        renewal_days: Some(365),
        renewal: Renewal::Pending,
        ..TeamRecord::default()
    };
    teams::put(docs, &f.a, &team).await.unwrap();
    let res = call(
        f,
        &f.token(&f.a, MEMBER),
        "POST",
        "requests",
        Some(json!({"templateId": "project", "displayName": "Waiting", "finalName": "Waiting"})),
    )
    .await;
    assert_eq!(res.0, 201, "{}", res.1);
    res.1["id"].as_str().unwrap().to_owned()
}

/// A body and its content type.
type Body = Option<(&'static str, Vec<u8>)>;

/// A call with a bearer token: (status, body as JSON or Null).
pub(crate) async fn call(
    f: &Fixture,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    send(
        f,
        token,
        method,
        path,
        body.map(|b| ("application/json", b.to_string().into_bytes())),
    )
    .await
}

pub(crate) async fn send(
    f: &Fixture,
    token: &str,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    let url = f.app.url(&format!("api/tab/{path}"));
    let mut req = f
        .app
        .http
        .request(method.parse().unwrap(), url)
        .bearer_auth(token);
    if let Some((content_type, bytes)) = body {
        req = req.header("content-type", content_type).body(bytes);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Who may call what, as the product promises it (written out here, not
/// read from the table under test): everyone requests, looks after their
/// teams and decides what waits for them; admins and auditors see the
/// dashboard and the audit trail; catalog and policy managers change their
/// part; auditors read; only admins change settings, roles and billing.
fn promised(method: &str, path: &str) -> &'static [Role] {
    use Role::*;
    const EVERYONE: &[Role] = &[
        Admin,
        CatalogManager,
        PolicyManager,
        Auditor,
        Approver,
        Member,
    ];
    match (method, path) {
        (_, "me" | "catalog" | "catalog/{id}/icon" | "requests/preview" | "requests" | "my") => {
            EVERYONE
        }
        (_, "teams/{id}/renew" | "teams/{id}/let-expire" | "approvals" | "approvals/{id}") => {
            EVERYONE
        }
        ("GET", "dashboard" | "audit" | "audit.csv") => &[Admin, Auditor],
        ("GET", "admin/settings" | "admin/roles") => &[Admin, Auditor],
        ("PUT", "admin/settings" | "admin/roles") => &[Admin],
        ("GET", "admin/templates" | "admin/templates/{id}") => &[Admin, CatalogManager, Auditor],
        (_, "admin/templates/{id}" | "admin/templates/{id}/icon") => &[Admin, CatalogManager],
        ("GET", "admin/policies") => &[Admin, PolicyManager, Auditor],
        (_, "admin/policies" | "admin/policies/diff") => &[Admin, PolicyManager],
        (_, "admin/billing" | "admin/billing/checkout" | "admin/billing/portal") => &[Admin],
        ("GET", "admin/crm") => &[Admin, Auditor],
        (
            _,
            "admin/crm/dynamics"
            | "admin/crm/salesforce/connect"
            | "admin/crm/{crm}/write-back"
            | "admin/crm/{crm}/check"
            | "admin/crm/{crm}",
        ) => &[Admin],
        _ => panic!("{method} {path}: a new endpoint needs its promise written here"),
    }
}

/// A request each endpoint takes: its path with real ids, and a body.
fn sample(e: &Endpoint, request: &str) -> (String, Body) {
    let path = e
        .path
        .replace("catalog/{id}", "catalog/project")
        .replace("teams/{id}", &format!("teams/{TEAM}"))
        .replace("approvals/{id}", &format!("approvals/{request}"))
        .replace("templates/{id}", "templates/project")
        .replace("crm/{crm}", "crm/dynamics");
    let body = |v: Value| Some(("application/json", v.to_string().into_bytes()));
    let body = match (e.method, e.path) {
        ("GET", _) => None,
        (_, "requests/preview") => body(json!({"templateId": "project", "displayName": "Matrix"})),
        (_, "requests") => {
            body(json!({"templateId": "project", "displayName": "Matrix", "finalName": "Matrix"}))
        }
        (_, "approvals/{id}") => {
            body(json!({"decision": "reject", "comment": "no", "etag": "stale"}))
        }
        (_, "admin/settings") => body(json!({"settings": {"reminderAfterHours": 24}})),
        (_, "admin/templates/{id}") => {
            body(json!({"template": {"name": "Project", "approval": {"kind": "none"}}}))
        }
        (_, "admin/templates/{id}/icon") => Some(("image/png", png())),
        (_, "admin/policies/diff") => body(json!({"policies": {}})),
        (_, "admin/policies") => {
            body(json!({"policies": {"defaults": {"expiry": {}}}, "version": 0}))
        }
        // The fixture's assignments again: the endpoints after this one
        // are checked against the same roles.
        (_, "admin/roles") => body(json!({"assignments": [
            {"principal": {"kind": "user", "id": ADMIN}, "role": "admin"},
            {"principal": {"kind": "user", "id": CATALOG}, "role": "catalogManager"},
            {"principal": {"kind": "user", "id": POLICY}, "role": "policyManager"},
            {"principal": {"kind": "user", "id": AUDITOR}, "role": "auditor"},
        ]})),
        (_, "admin/billing/checkout") => body(json!({"seats": 3})),
        (_, "admin/crm/dynamics") => body(json!({"orgUrl": "https://contoso.crm.dynamics.com"})),
        (_, "admin/crm/{crm}/write-back") => body(json!({"writeBack": {"kind": "note"}})),
        _ => body(json!({})),
    };
    (path, body)
}

/// Everything a tenant holds that the tabs can change.
async fn snapshot(f: &Fixture, tenant: &TenantId) -> String {
    let docs = f.app.app.docs.as_ref();
    let tenant_doc = f.app.app.tenants.get(tenant).await.unwrap();
    let templates = templates::list(docs, tenant).await.unwrap();
    let roles = roles::get(docs, tenant).await.unwrap();
    let policies = salestim::governance::lifecycle::store::current(docs, tenant)
        .await
        .unwrap();
    let teams: Vec<TeamRecord> = teams::all(docs, tenant).try_collect().await.unwrap();
    let trail = audit::trail(docs, tenant).await.unwrap();
    let crm = f.app.app.crm.connections().all(tenant).await.unwrap();
    let mut waiting = Vec::new();
    for state in [
        requests::RequestState::Draft,
        requests::RequestState::Submitted,
        requests::RequestState::Approved,
        requests::RequestState::Rejected,
    ] {
        let found: Vec<_> = requests::in_state(docs, tenant, state)
            .try_collect()
            .await
            .unwrap();
        waiting.push(found.len());
    }
    format!(
        "{tenant_doc:?}{templates:?}{roles:?}{policies:?}{teams:?}{}{waiting:?}{crm:?}",
        trail.len()
    )
}

#[tokio::test]
async fn every_endpoint_admits_the_promised_roles_and_refuses_the_others_changing_nothing() {
    let f = fixture().await;
    let request = setup(&f).await;
    let mut checked = 0;
    for e in ENDPOINTS {
        for (user, held) in USERS {
            let admitted = held.iter().any(|r| promised(e.method, e.path).contains(r));
            let (path, body) = sample(e, &request);
            let before = snapshot(&f, &f.a).await;
            let (status, answer) = send(&f, &f.token(&f.a, user), e.method, &path, body).await;
            let by_role = answer["detail"]
                .as_str()
                .is_some_and(|d| d.contains("your roles"));
            if admitted {
                // Admitted: the screen runs (and may refuse on the thing's
                // own rule: only an owner renews, only an approver decides).
                assert!(
                    ![401, 405].contains(&status) && !by_role,
                    "{} {} as {held:?}: {status} {answer}",
                    e.method,
                    e.path
                );
            } else {
                assert_eq!(status, 403, "{} {} as {held:?}: {answer}", e.method, e.path);
                assert!(by_role, "{answer}");
                assert_eq!(
                    snapshot(&f, &f.a).await,
                    before,
                    "{} {} as {held:?} changed something",
                    e.method,
                    e.path
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ENDPOINTS.len() * USERS.len());
}

#[tokio::test]
async fn every_endpoint_refuses_a_bad_token_with_401_and_changes_nothing() {
    let f = fixture().await;
    let request = setup(&f).await;
    let now = f.app.now();
    let mut bad: Vec<(&str, String)> = Vec::new();
    let mut claims = f.claims(&f.a);
    claims["oid"] = ADMIN.into();
    let mut c = claims.clone();
    c["exp"] = (now - 600).into();
    c["nbf"] = (now - 4000).into();
    bad.push(("expired", f.signed(&c)));
    let mut c = claims.clone();
    c["aud"] = "api://elsewhere.example/11111111-2222-3333-4444-555555555555".into();
    bad.push(("another audience", f.signed(&c)));
    let mut c = claims.clone();
    c.as_object_mut().unwrap().remove("scp");
    bad.push(("no scope", f.signed(&c)));
    let mut c = claims.clone();
    c["ver"] = "1.0".into();
    c["iss"] = format!("https://sts.windows.net/{}/", f.a.as_str()).into();
    bad.push(("a v1 token", f.signed(&c)));
    // Tenant B's claims signed with A's key.
    let mut c = f.claims(&f.b);
    c["oid"] = ADMIN.into();
    bad.push(("another tenant's key", f.signed(&c)));
    let before = snapshot(&f, &f.a).await;
    for e in ENDPOINTS {
        let (path, body) = sample(e, &request);
        for (why, token) in &bad {
            let (status, answer) = send(&f, token, e.method, &path, body.clone()).await;
            assert_eq!(status, 401, "{} {} with {why}: {answer}", e.method, e.path);
        }
    }
    assert_eq!(snapshot(&f, &f.a).await, before);
}

#[tokio::test]
async fn another_tenants_admin_sees_their_own_tenant_and_none_of_this_ones_ids() {
    let f = fixture().await;
    let request = setup(&f).await;
    let before = snapshot(&f, &f.a).await;
    let b_admin = f.token(&f.b, ADMIN);
    for (method, path, body) in [
        ("GET", "admin/templates/project".to_owned(), None),
        ("GET", "catalog/project/icon".to_owned(), None),
        ("POST", format!("teams/{TEAM}/renew"), Some(json!({}))),
        (
            "POST",
            format!("approvals/{request}"),
            Some(json!({"decision": "approve", "comment": "", "etag": format!("{request}-0")})),
        ),
    ] {
        let (status, answer) = call(&f, &b_admin, method, &path, body).await;
        assert!(
            [400, 404].contains(&status),
            "{method} {path}: {status} {answer}"
        );
    }
    let (status, me) = call(&f, &b_admin, "GET", "me", None).await;
    assert_eq!(status, 200);
    assert_eq!(me["tenant"]["id"], f.b.as_str());
    let (_, catalog) = call(&f, &b_admin, "GET", "catalog", None).await;
    assert_eq!(
        catalog["templates"],
        json!([]),
        "B sees none of A's templates"
    );
    let (_, approvals) = call(&f, &f.token(&f.b, APPROVER), "GET", "approvals", None).await;
    assert_eq!(approvals["pending"], json!([]));
    assert_eq!(snapshot(&f, &f.a).await, before);
}

#[tokio::test]
async fn bad_input_to_every_write_endpoint_names_the_field_and_writes_nothing() {
    let f = fixture().await;
    let request = setup(&f).await;
    let admin = f.token(&f.a, ADMIN);
    let json_body = |v: Value| Some(("application/json", v.to_string().into_bytes()));
    let cases: Vec<(&str, String, Body, &str)> = vec![
        (
            "POST",
            "requests/preview".into(),
            json_body(json!({"displayName": "x"})),
            "templateId",
        ),
        (
            "POST",
            "requests".into(),
            json_body(json!({"templateId": "project", "displayName": "  "})),
            "displayName",
        ),
        (
            "POST",
            "requests".into(),
            json_body(json!({"templateId": "nope", "displayName": "x"})),
            "templateId",
        ),
        (
            "POST",
            "requests".into(),
            json_body(json!({"templateId": "project", "displayName": "x", "owners": ["bob"]})),
            "owners",
        ),
        (
            "POST",
            "requests".into(),
            json_body(json!({"templateId": "project", "displayName": "x", "extra": 1})),
            "extra",
        ),
        (
            "POST",
            "requests".into(),
            Some(("application/json", b"{not json".to_vec())),
            "body",
        ),
        (
            "POST",
            format!("approvals/{request}"),
            json_body(json!({"decision": "maybe", "etag": "x"})),
            "decision",
        ),
        (
            "POST",
            "teams/not-a-guid/renew".into(),
            json_body(json!({})),
            "id",
        ),
        (
            "PUT",
            "admin/settings".into(),
            json_body(json!({"settings": {"reminderAfterHours": "soon"}})),
            "settings.reminderAfterHours",
        ),
        (
            "PUT",
            "admin/templates/project".into(),
            json_body(json!({"template": {"name": ""}})),
            "template",
        ),
        (
            "PUT",
            "admin/templates/bad%20id".into(),
            json_body(json!({"template": {"name": "x"}})),
            "id",
        ),
        (
            "POST",
            "admin/templates/project/icon".into(),
            Some(("image/png", b"\x89PNG\r\n\x1a\nnot really".to_vec())),
            "icon",
        ),
        (
            "POST",
            "admin/templates/project/icon".into(),
            Some(("image/png", b"GIF89a".to_vec())),
            "icon",
        ),
        (
            "POST",
            "admin/policies/diff".into(),
            json_body(json!({"policies": {"defaults": {"expiry": {"lifetimeDays": "long"}}}})),
            "policies.defaults.expiry.lifetimeDays",
        ),
        (
            "PUT",
            "admin/policies".into(),
            json_body(json!({"policies": {}})),
            "version",
        ),
        (
            "PUT",
            "admin/roles".into(),
            json_body(json!({"assignments": []})),
            "assignments",
        ),
        (
            "PUT",
            "admin/roles".into(),
            json_body(
                json!({"assignments": [{"principal": {"kind": "user", "id": ADMIN}, "role": "admin"}, {"principal": {"kind": "user", "id": "x"}, "role": "auditor"}]}),
            ),
            "assignments[1].principal.id",
        ),
        (
            "POST",
            "admin/billing/checkout".into(),
            json_body(json!({"seats": 0})),
            "seats",
        ),
    ];
    for (method, path, body, field) in cases {
        let before = snapshot(&f, &f.a).await;
        let token = if path.starts_with("approvals") {
            f.token(&f.a, APPROVER)
        } else if path.starts_with("teams") || path.starts_with("requests") {
            f.token(&f.a, MEMBER)
        } else {
            admin.clone()
        };
        let (status, answer) = send(&f, &token, method, &path, body).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert_eq!(answer["field"], field, "{method} {path}: {answer}");
        assert_eq!(
            snapshot(&f, &f.a).await,
            before,
            "{method} {path} wrote something"
        );
    }
    // The wrong media type and an oversized body get their own statuses,
    // and write nothing either.
    let before = snapshot(&f, &f.a).await;
    let huge = vec![0u8; 600 * 1024];
    let (status, _) = send(
        &f,
        &admin,
        "POST",
        "admin/templates/project/icon",
        Some(("image/png", huge)),
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(snapshot(&f, &f.a).await, before);
    let (status, _) = send(
        &f,
        &admin,
        "POST",
        "admin/templates/project/icon",
        Some(("image/gif", png())),
    )
    .await;
    assert_eq!(status, 415);
    let (status, _) = send(
        &f,
        &admin,
        "POST",
        "requests",
        Some(("text/plain", b"{}".to_vec())),
    )
    .await;
    assert_eq!(status, 415);
}
