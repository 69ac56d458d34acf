//! Connecting Salesforce through the web-server flow, as the admin's
//! browser goes: the admin tab's authorize URL at the org's login host,
//! Salesforce's redirect to our callback with a code and the state, the
//! refresh token sealed in the connection of the tenant the state was made
//! for. Everything else the callback may receive connects nothing: a state
//! used, unknown or expired, the admin saying no, a code Salesforce
//! refuses, parameters naming another tenant.

use salestim::ids::TenantId;
use salestim::platform::documents::Container;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::{Setup, setup};
use crate::support::salesforce::{CLIENT_ID, REDIRECT_URI};
use crate::tab_api::ADMIN;

/// The callback's answer: (status, content type, page).
async fn callback(s: &Setup, pairs: &[(&str, &str)]) -> (u16, String, String) {
    let mut url = s.f.app.url("api/crm/salesforce/callback");
    url.query_pairs_mut().extend_pairs(pairs);
    let res = s.f.app.http.get(url).send().await.unwrap();
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, res.text().await.unwrap())
}

/// Starts connecting as `token`'s admin: the authorize URL's query.
async fn start(s: &Setup, token: &str) -> Vec<(String, String)> {
    let (status, answer) = crate::tab_api::call(
        &s.f,
        token,
        "POST",
        "admin/crm/salesforce/connect",
        Some(json!({"writeBack": {"kind": "field", "field": "Teams_Url__c"}})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let url = Url::parse(answer["authorizeUrl"].as_str().unwrap()).unwrap();
    assert_eq!(url.origin().ascii_serialization(), s.sf.origin);
    assert_eq!(url.path(), "/services/oauth2/authorize");
    url.query_pairs().into_owned().collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> &'a str {
    let values: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(values.len(), 1, "{name} in {query:?}");
    values[0]
}

async fn state_for(s: &Setup, tenant: &TenantId) -> String {
    // ADMIN is both tenants' admin.
    let token = s.f.token(tenant, ADMIN);
    param(&start(s, &token).await, "state").to_owned()
}

/// Both tenants' Salesforce connections, raw.
async fn stored(s: &Setup) -> (Option<Value>, Option<Value>) {
    let body = |d: Option<salestim::platform::documents::Document>| {
        d.map(|d| Value::Object(d.to_stored_json()))
    };
    (
        body(s.raw(&s.f.a, "salesforce").await),
        body(s.raw(&s.f.b, "salesforce").await),
    )
}

fn assert_page(page: &(u16, String, String), status: u16, says: &str) {
    assert_eq!(page.0, status, "{}", page.2);
    assert!(page.1.starts_with("text/html"), "{}", page.1);
    assert!(page.2.contains(says), "{}", page.2);
}

#[tokio::test]
async fn the_web_server_flow_connects_the_tenant_the_state_was_made_for_once() {
    let s = setup(true).await;
    let admin = s.f.token(&s.f.a, ADMIN);
    let query = start(&s, &admin).await;
    assert_eq!(param(&query, "response_type"), "code");
    assert_eq!(param(&query, "client_id"), CLIENT_ID);
    assert_eq!(param(&query, "redirect_uri"), REDIRECT_URI);
    assert_eq!(param(&query, "scope"), "api refresh_token");
    let state = param(&query, "state").to_owned();
    assert!(state.len() >= 40, "{state}");
    assert!(
        s.audited()
            .await
            .contains(&"crm.connection.started".to_owned())
    );

    // Only the state's hash is kept, for ten minutes.
    let pending_id = format!("state-{}", hex::encode(Sha256::digest(state.as_bytes())));
    let pending =
        s.f.app
            .app
            .docs
            .get(
                Container::Tenants,
                &TenantId::system("crm_oauth"),
                &pending_id,
            )
            .await
            .unwrap()
            .expect("the pending connection under the state's hash");
    assert_eq!(pending.ttl, Some(600));
    assert!(
        !Value::Object(pending.to_stored_json())
            .to_string()
            .contains(&state)
    );
    assert!(!s.store_bytes().contains(&state));

    // Salesforce sends the admin back; the extra parameters naming tenant
    // B are nobody's to choose.
    let b = s.f.b.to_string();
    let page = callback(
        &s,
        &[
            ("code", &s.sf.mint_code()),
            ("state", &state),
            ("tenant", &b),
            ("tid", &b),
            ("tenantId", &b),
        ],
    )
    .await;
    assert_page(&page, 200, "Salesforce is connected");
    let (in_a, in_b) = stored(&s).await;
    let in_a = in_a.expect("tenant A is connected");
    assert!(in_b.is_none(), "tenant B was connected: {in_b:?}");
    assert_eq!(
        in_a["writeBack"],
        json!({"kind": "field", "field": "Teams_Url__c"})
    );
    assert_eq!(in_a["target"]["instanceUrl"], format!("{}/", s.sf.origin));
    assert!(in_a["secret"].is_object());
    let refresh = s.sf.refresh_tokens();
    assert_eq!(refresh.len(), 1);
    assert!(!in_a.to_string().contains(&refresh[0]));
    assert!(!s.store_bytes().contains(&refresh[0]));
    let (status, checked) = s.admin("POST", "/salesforce/check", None).await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["checked"]["ok"], true, "{checked}");

    // The same state again connects nothing, with a good code too.
    let before = s.snapshot().await;
    let exchanges = s.sf.token_requests("authorization_code");
    let page = callback(&s, &[("code", &s.sf.mint_code()), ("state", &state)]).await;
    assert_page(&page, 400, "Salesforce was not connected");
    assert_eq!(s.snapshot().await, before);
    assert_eq!(s.sf.token_requests("authorization_code"), exchanges);

    // A state made by tenant B's admin connects B, whatever else is said.
    let state_b = state_for(&s, &s.f.b).await;
    let a = s.f.a.to_string();
    let page = callback(
        &s,
        &[
            ("code", &s.sf.mint_code()),
            ("state", &state_b),
            ("tenant", &a),
        ],
    )
    .await;
    assert_page(&page, 200, "Salesforce is connected");
    assert_eq!(s.snapshot().await, before, "tenant A changed");
    assert!(stored(&s).await.1.is_some());
}

#[tokio::test]
async fn a_callback_without_a_usable_state_or_code_connects_nothing() {
    let s = setup(true).await;
    let nothing = (None, None);
    let exchanges = || s.sf.token_requests("authorization_code");

    // Unknown state, missing parameters.
    for pairs in [
        vec![("code", s.sf.mint_code()), ("state", "made-up".to_owned())],
        vec![("code", s.sf.mint_code())],
        vec![("state", state_for(&s, &s.f.a).await)],
    ] {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = callback(&s, &pairs).await;
        assert_page(&page, 400, "Salesforce was not connected");
        assert_eq!(stored(&s).await, nothing, "{pairs:?}");
    }
    assert_eq!(exchanges(), 0);

    // The admin said no; what Salesforce says is shown, escaped.
    let state = state_for(&s, &s.f.a).await;
    let page = callback(&s, &[("error", "access_denied"), ("state", &state)]).await;
    assert_page(&page, 400, "access_denied");
    let page = callback(
        &s,
        &[("error", "<script>alert(1)</script>"), ("state", &state)],
    )
    .await;
    assert_page(&page, 400, "&lt;script&gt;alert(1)&lt;/script&gt;");
    assert!(!page.2.contains("<script>"), "{}", page.2);
    assert_eq!(stored(&s).await, nothing);

    // A code Salesforce refuses: a 502 page, and the state is spent.
    let page = callback(&s, &[("code", "not-a-code"), ("state", &state)]).await;
    assert_page(&page, 502, "Salesforce was not connected");
    assert_eq!(exchanges(), 1);
    assert_eq!(stored(&s).await, nothing);
    let page = callback(&s, &[("code", &s.sf.mint_code()), ("state", &state)]).await;
    assert_page(&page, 400, "used already");
    assert_eq!(exchanges(), 1);

    // Ten minutes on, a state is no more: the store forgets it (its TTL)...
    let state = state_for(&s, &s.f.a).await;
    s.f.app.clock.advance(time::Duration::minutes(11));
    let page = callback(&s, &[("code", &s.sf.mint_code()), ("state", &state)]).await;
    assert_page(&page, 400, "Salesforce was not connected");
    assert_eq!(stored(&s).await, nothing);

    // ... and a pending connection the store still has (a Cosmos TTL
    // sweep runs late) has expired by its own date.
    let state = state_for(&s, &s.f.a).await;
    let partition = TenantId::system("crm_oauth");
    let id = format!("state-{}", hex::encode(Sha256::digest(state.as_bytes())));
    let docs = s.f.app.app.docs.as_ref();
    let mut late = docs
        .get(Container::Tenants, &partition, &id)
        .await
        .unwrap()
        .unwrap();
    late.ttl = None;
    late.etag = None;
    docs.upsert(Container::Tenants, &late).await.unwrap();
    s.f.app.clock.advance(time::Duration::minutes(11));
    let page = callback(&s, &[("code", &s.sf.mint_code()), ("state", &state)]).await;
    assert_page(&page, 400, "expired");
    assert_eq!(stored(&s).await, nothing);
    assert_eq!(exchanges(), 1);
}
