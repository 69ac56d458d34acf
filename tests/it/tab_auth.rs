//! The tabs' API sign-in: Teams SSO tokens checked against each tenant's
//! Entra ID keys (a stand-in serving several tenants), every refusal a 401
//! (403 for a tenant that has not signed up, 400 for a header too large to
//! be a token) with a log line; the on-behalf-of exchange.

use salestim::ids::TenantId;
use serde_json::{Value, json};

use crate::support::app::{Options, TestApp, spawn_app_with};
use crate::support::botframework::ChannelKey;
use crate::support::entra::Entra;
use crate::support::logs;
use crate::support::raw_http::HeadFirst;

const CLIENT_ID: &str = "5f6d1e0a-1111-4d5b-9c55-0123456789ab";
const HOST: &str = "salestim.example.com";
const OID: &str = "7d3e4f5a-6b7c-4d8e-9f01-23456789abcd";

pub(crate) struct Fixture {
    pub(crate) app: TestApp,
    pub(crate) entra: Entra,
    /// Onboarded, with its key published.
    pub(crate) a: TenantId,
    key_a: ChannelKey,
    /// Onboarded too, with a key of its own.
    pub(crate) b: TenantId,
    pub(crate) key_b: ChannelKey,
}

pub(crate) async fn fixture() -> Fixture {
    fixture_with(vec![]).await
}

pub(crate) async fn fixture_with(more: Vec<(&'static str, String)>) -> Fixture {
    let entra = Entra::start().await;
    let mut settings = vec![
        ("SALESTIM_TAB_CLIENT_ID", CLIENT_ID.into()),
        ("SALESTIM_TAB_CLIENT_SECRET", "tab-secret".into()),
        ("ENTRA_AUTHORITY_HOST", entra.authority.clone()),
        ("SALESTIM_PUBLIC_HOSTNAME", HOST.into()),
    ];
    settings.extend(more);
    let app = spawn_app_with(Options {
        settings,
        ..Options::default()
    })
    .await;
    let a = app.add_tenant("Fabrikam").await;
    let b = app.add_tenant("Northwind").await;
    let key_a = ChannelKey::entra("kid-a");
    entra.publish(a.as_str(), &key_a);
    let key_b = ChannelKey::entra("kid-b");
    entra.publish(b.as_str(), &key_b);
    Fixture {
        app,
        entra,
        a,
        key_a,
        b,
        key_b,
    }
}

impl Fixture {
    /// The claims of a good v2.0 token of `tenant`.
    pub(crate) fn claims(&self, tenant: &TenantId) -> Value {
        let now = self.app.now();
        json!({
            "aud": CLIENT_ID, "iss": self.entra.issuer(tenant.as_str()), "tid": tenant.as_str(),
            "oid": OID, "sub": "s", "scp": "access_as_user", "ver": "2.0", "azp": "5e3ce6c0-2b1f-4285-8d4b-75ee78787346",
            "iat": now, "nbf": now - 10, "exp": now + 3600,
            "name": "Ada Lovelace", "preferred_username": "ada@fabrikam.example",
        })
    }

    async fn me(&self, authorization: Option<String>) -> reqwest::Response {
        let mut req = self.app.http.get(self.app.url("api/tab/me"));
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        req.send().await.expect("the local host answers")
    }

    async fn me_with(&self, token: &str) -> reqwest::Response {
        self.me(Some(format!("Bearer {token}"))).await
    }

    /// A token signed with A's key from these claims.
    pub(crate) fn signed(&self, claims: &Value) -> String {
        self.key_a.sign(claims)
    }

    /// A good token of `oid` in `tenant` (A or B), signed with its key.
    pub(crate) fn token(&self, tenant: &TenantId, oid: &str) -> String {
        let mut claims = self.claims(tenant);
        claims["oid"] = oid.into();
        let key = if *tenant == self.a {
            &self.key_a
        } else {
            &self.key_b
        };
        key.sign(&claims)
    }
}

/// An unsigned or HMAC token with these claims (what a forger sends).
pub(crate) fn forged(alg: &str, claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let header = json!({"alg": alg, "typ": "JWT", "kid": "kid-a"});
    let signature = if alg == "none" { "" } else { "c2lnbmF0dXJl" };
    format!("{}.{}.{signature}", b64(&header), b64(claims))
}

async fn refused(res: reqwest::Response, status: u16, reason: &str) {
    assert_eq!(res.status().as_u16(), status, "{reason}");
    if status == 401 {
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer",
            "{reason}: a 401 says how to authenticate"
        );
    }
    let problem: Value = res.json().await.expect("a problem JSON");
    assert!(
        problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{reason}: {problem}"
    );
}

#[tokio::test]
async fn a_teams_token_signs_the_user_in_to_the_tenant_it_names() {
    let f = fixture().await;
    let res = f.me_with(&f.signed(&f.claims(&f.a))).await;
    assert_eq!(res.status(), 200);
    let me: Value = res.json().await.unwrap();
    assert_eq!(
        me["tenant"],
        json!({"id": f.a.as_str(), "name": "Fabrikam"})
    );
    assert_eq!(
        me["user"],
        json!({"id": OID, "name": "Ada Lovelace", "email": "ada@fabrikam.example"})
    );
    assert_eq!(me["roles"], json!(["member"]));
    assert_eq!(me["can"]["request"], true);
    assert_eq!(me["can"]["admin"], false);

    // The application ID URI is an audience too, and the keys were fetched
    // once for the tenant.
    let mut claims = f.claims(&f.a);
    claims["aud"] = json!(format!("api://{HOST}/{CLIENT_ID}"));
    assert_eq!(f.me_with(&f.signed(&claims)).await.status(), 200);
    assert_eq!(f.entra.fetches(f.a.as_str()), 2, "metadata and keys, once");

    // An unknown path under the API is 404, a known one with another method 405.
    let token = f.signed(&f.claims(&f.a));
    let res = f
        .app
        .http
        .get(f.app.url("api/tab/nothing-here"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = f
        .app
        .http
        .delete(f.app.url("api/tab/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn every_bad_token_is_refused_with_a_reason_and_a_log_line() {
    let f = fixture().await;
    let log = logs::capture();
    let good = f.claims(&f.a);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        change(&mut claims);
        claims
    };
    let cases: Vec<(&str, Option<String>, u16)> = vec![
        ("no header", None, 401),
        ("not a bearer", Some("Basic YTpi".into()), 401),
        ("malformed", Some("Bearer not.a.jwt".into()), 401),
        (
            "another tenant's token under this one's name",
            Some(format!(
                "Bearer {}",
                f.signed(&with(&|c| {
                    c["tid"] = json!(f.b.as_str());
                    c["iss"] = json!(f.entra.issuer(f.b.as_str()));
                }))
            )),
            401,
        ),
        (
            "issuer of another tenant",
            Some(format!(
                "Bearer {}",
                f.signed(&with(&|c| c["iss"] = json!(f.entra.issuer(f.b.as_str()))))
            )),
            401,
        ),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                f.signed(&with(&|c| c["aud"] = json!("api://elsewhere.example/x")))
            )),
            401,
        ),
        (
            "no scp",
            Some(format!(
                "Bearer {}",
                f.signed(&with(&|c| {
                    c.as_object_mut().unwrap().remove("scp");
                }))
            )),
            401,
        ),
        (
            "scp without access_as_user",
            Some(format!(
                "Bearer {}",
                f.signed(&with(&|c| c["scp"] = json!("User.Read access_as_admin")))
            )),
            401,
        ),
        (
            "a v1.0 token where v2.0 is expected",
            Some(format!(
                "Bearer {}",
                f.signed(&with(&|c| {
                    c["ver"] = json!("1.0");
                    c["iss"] = json!(format!("https://sts.windows.net/{}/", f.a));
                    c["aud"] = json!(format!("api://{HOST}/{CLIENT_ID}"));
                }))
            )),
            401,
        ),
        (
            "no user",
            Some(format!(
                "Bearer {}",
                f.signed(&with(&|c| {
                    c.as_object_mut().unwrap().remove("oid");
                }))
            )),
            401,
        ),
        (
            "alg none",
            Some(format!("Bearer {}", forged("none", &good))),
            401,
        ),
        (
            "HS256",
            Some(format!("Bearer {}", forged("HS256", &good))),
            401,
        ),
    ];
    for (reason, authorization, status) in cases {
        refused(f.me(authorization).await, status, reason).await;
    }
    let rejected = log.saying("request rejected");
    assert!(rejected.len() >= 12, "one line per refusal: {rejected:?}");
    assert!(
        rejected.iter().any(|l| l["fields"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("access_as_user")),
        "the log says why: {rejected:?}"
    );
    // A token naming B was checked with B's keys only (fetched once: an
    // unknown key id does not make every request fetch again).
    assert_eq!(f.entra.fetches(f.b.as_str()), 2);
}

#[tokio::test]
async fn a_token_is_good_only_while_it_lives_by_the_injected_clock() {
    let f = fixture().await;
    let token = f.signed(&f.claims(&f.a));
    assert_eq!(f.me_with(&token).await.status(), 200);
    f.app.clock.advance(time::Duration::hours(2));
    refused(f.me_with(&token).await, 401, "expired").await;

    let mut early = f.claims(&f.a);
    early["nbf"] = json!(f.app.now() + 3600);
    early["exp"] = json!(f.app.now() + 7200);
    refused(f.me_with(&f.signed(&early)).await, 401, "not yet valid").await;
}

#[tokio::test]
async fn a_tenant_that_has_not_signed_up_is_refused_without_fetching_anything() {
    let f = fixture().await;
    let stranger = TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let fetched = f.entra.all_fetches();
    let mut claims = f.claims(&stranger);
    claims["iss"] = json!(f.entra.issuer(stranger.as_str()));
    let res = f.me_with(&f.signed(&claims)).await;
    assert_eq!(res.status(), 403);
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not signed up")
    );
    assert_eq!(
        f.entra.all_fetches(),
        fetched,
        "no key fetched for a stranger"
    );
    assert_eq!(f.entra.fetches(stranger.as_str()), 0);
    assert!(
        !f.app.app.tenants.exists(&stranger).await.unwrap(),
        "nothing written"
    );
}

#[tokio::test]
async fn a_forged_or_oversized_header_is_answered_before_the_body() {
    let f = fixture().await;
    let body = vec![b'x'; 64 * 1024];
    let huge = format!("Bearer {}", "a".repeat(12 * 1024));
    let res = HeadFirst::post(&f.app.handler, "/api/tab/me", &body)
        .header("authorization", huge)
        .answered_before_the_body()
        .await;
    assert_eq!(res.status, 400, "{}", res.text());
    let res = HeadFirst::post(&f.app.handler, "/api/tab/me", &body)
        .header(
            "authorization",
            format!("Bearer {}", forged("HS256", &f.claims(&f.a))),
        )
        .answered_before_the_body()
        .await;
    assert_eq!(res.status, 401, "{}", res.text());
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn on_behalf_of_trades_the_users_token_and_turns_interaction_into_a_challenge() {
    let f = fixture().await;
    let token = f.signed(&f.claims(&f.a));
    let user = f
        .app
        .app
        .tab_auth
        .verify(
            Some(&format!("Bearer {token}")),
            &f.app.app.tenants,
            f.app.clock.as_ref(),
        )
        .await
        .expect("a good token");
    let scope = "https://graph.microsoft.com/.default";
    let got = salestim::tabs::auth::on_behalf_of(&f.app.app, &user, scope)
        .await
        .expect("a token");
    assert_eq!(got, "graph-token-as-the-user");
    let sent = f.entra.token_requests();
    let (tenant, form) = &sent[0];
    assert_eq!(tenant, f.a.as_str(), "asked of the user's own tenant");
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(form["requested_token_use"], "on_behalf_of");
    assert_eq!(form["assertion"], token);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], "tab-secret");
    assert_eq!(form["scope"], scope);

    let claims = r#"{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}"#;
    f.entra.answer_token(
        400,
        json!({"error": "interaction_required", "error_description": "AADSTS50079: Due to a configuration change made by your administrator, you must enroll in multi-factor authentication.",
               "error_codes": [50079], "claims": claims}),
    );
    let e = salestim::tabs::auth::on_behalf_of(&f.app.app, &user, scope)
        .await
        .unwrap_err();
    assert_eq!(e.status().as_u16(), 401);
    let challenge = e.www_authenticate().expect("a challenge").to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"interaction_required\""),
        "{challenge}"
    );
    let encoded = challenge
        .split("claims=\"")
        .nth(1)
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("the claims");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), claims);

    f.entra.answer_token(
        400,
        json!({"error": "invalid_grant", "error_description": "AADSTS65001: consent"}),
    );
    let e = salestim::tabs::auth::on_behalf_of(&f.app.app, &user, scope)
        .await
        .unwrap_err();
    assert_eq!(
        e.www_authenticate(),
        Some("Bearer error=\"interaction_required\"")
    );
}

#[tokio::test]
async fn a_v1_token_is_taken_only_where_v1_is_configured() {
    let f = fixture_with(vec![("SALESTIM_TAB_ACCEPT_V1", "true".into())]).await;
    let mut v1 = f.claims(&f.a);
    v1["ver"] = json!("1.0");
    v1["iss"] = json!(format!("https://sts.windows.net/{}/", f.a));
    v1["aud"] = json!(format!("api://{HOST}/{CLIENT_ID}"));
    assert_eq!(f.me_with(&f.signed(&v1)).await.status(), 200);
    // Its issuer is still the token's own tenant's, in the version it claims.
    let mut mixed = v1.clone();
    mixed["iss"] = json!(f.entra.issuer(f.a.as_str()));
    refused(
        f.me_with(&f.signed(&mixed)).await,
        401,
        "a v1 token with the v2 issuer",
    )
    .await;
    let mut other = v1.clone();
    other["iss"] = json!(format!("https://sts.windows.net/{}/", f.b));
    refused(
        f.me_with(&f.signed(&other)).await,
        401,
        "another tenant's v1 issuer",
    )
    .await;
}
