//! The Graph client against the stateful Graph stand-in: one cached token
//! per tenant, token and consent failures reported for good, paging,
//! throttling honoured within bounds, `$batch` packing, ordering, inner
//! retries and failed dependencies, and a team made from a group.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use salestim::graph::{BatchRequest, Graph, GraphConfig, GraphError, RetryPolicy};
use salestim::ids::TenantId;
use salestim::platform::cache::memory::MemoryCache;
use salestim::platform::clock::SystemClock;
use secrecy::SecretString;
use serde_json::json;

use crate::support::graph::{CLIENT_ID, GraphStandIn};

/// Small waits, so a test never sleeps on back-off.
fn fast(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(5),
    }
}

fn client_with(standin: &GraphStandIn, secret: String, retry: RetryPolicy) -> Graph {
    let config = GraphConfig {
        base_url: standin.base_url.clone(),
        authority_host: standin.authority_host.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(secret),
        retry,
        pace: Default::default(),
    };
    Graph::new(
        config,
        reqwest::Client::new(),
        Arc::new(MemoryCache::new(Arc::new(SystemClock))),
    )
}

fn client(standin: &GraphStandIn) -> Graph {
    client_with(standin, standin.client_secret(), fast(4))
}

/// A consented tenant with users `u0..u{users}`.
fn tenant(standin: &GraphStandIn, users: usize) -> TenantId {
    let id = TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    standin.add_tenant(id.as_str(), true);
    for i in 0..users {
        standin.add_user(
            id.as_str(),
            &format!("u{i}"),
            &format!("User {i}"),
            Some("Sales"),
            Some("FR"),
            None,
        );
    }
    id
}

fn group_body(nick: &str, owner: &str) -> serde_json::Value {
    json!({"displayName": nick, "mailNickname": nick, "description": "d", "groupTypes": ["Unified"],
        "mailEnabled": true, "securityEnabled": false, "visibility": "Private",
        "owners@odata.bind": [format!("https://graph.microsoft.com/v1.0/users('{owner}')")]})
}

#[tokio::test]
async fn one_token_per_tenant_is_fetched_and_reused() {
    let standin = GraphStandIn::start().await;
    let (a, b) = (tenant(&standin, 1), tenant(&standin, 1));
    let graph = client(&standin);
    for t in [&a, &a, &b, &b] {
        let user = graph.get(t, "/users/u0").await.unwrap();
        assert_eq!(user["displayName"], "User 0");
    }
    assert_eq!(graph.stats().tokens, 2);
    assert_eq!(standin.count().tokens, 2);
    assert_eq!(graph.stats().requests, 4);
}

#[tokio::test]
async fn a_token_endpoint_that_throttles_or_fails_for_a_moment_still_gives_the_token() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 1);
    standin.fail_next("POST", "/oauth2/v2.0/token", 429, 1);
    standin.fail_next("POST", "/oauth2/v2.0/token", 503, 1);
    let graph = client(&standin);
    let user = graph.get(&t, "/users/u0").await.unwrap();
    assert_eq!(user["displayName"], "User 0");
    assert_eq!(standin.count().tokens, 3, "two refusals, then the token");
    assert_eq!(graph.stats().tokens, 1, "one fetch, sent three times");

    // Past its attempts the failure is transient: the queue tries later.
    let t = tenant(&standin, 1);
    standin.fail_next("POST", "/oauth2/v2.0/token", 503, 3);
    let err = client(&standin).get(&t, "/users/u0").await.unwrap_err();
    assert!(
        matches!(
            &err,
            GraphError::Token {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_unknown_tenant_or_a_wrong_secret_is_a_token_error_for_good() {
    let standin = GraphStandIn::start().await;
    let unknown = TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let err = client(&standin)
        .get(&unknown, "/users/u0")
        .await
        .unwrap_err();
    let GraphError::Token {
        status, message, ..
    } = &err
    else {
        panic!("a token error: {err:?}")
    };
    assert_eq!(*status, Some(400));
    assert!(message.starts_with("AADSTS90002"), "{message}");
    assert!(!err.is_transient());

    let known = tenant(&standin, 1);
    let wrong = client_with(&standin, "not-the-secret".into(), fast(4));
    let err = wrong.get(&known, "/users/u0").await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Token { code, .. } if code == "invalid_client"),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(
        standin.count().http,
        0,
        "nothing reaches Graph without a token"
    );
}

#[tokio::test]
async fn a_tenant_that_has_not_consented_is_refused_for_good() {
    let standin = GraphStandIn::start().await;
    let id = TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    standin.add_tenant(id.as_str(), false);
    let err = client(&standin).get(&id, "/groups").await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Http { status: 403, code, .. } if code == "Authorization_RequestDenied"),
        "{err:?}"
    );
    assert!(!err.is_transient() && !err.is_not_found());
}

#[tokio::test]
async fn get_all_follows_next_links_across_pages_and_filters_work() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 1);
    let graph = client(&standin);
    for i in 0..5 {
        let res = graph
            .send(
                &t,
                Method::POST,
                "/groups",
                Some(&group_body(&format!("g{i}"), "u0")),
            )
            .await
            .unwrap();
        assert_eq!(res.status, 201);
    }
    standin.set_page_size(2);
    standin.reset_counts();
    let all = graph
        .get_all(&t, "/groups?$select=id,mailNickname")
        .await
        .unwrap();
    let nicks: Vec<_> = all
        .iter()
        .map(|g| g["mailNickname"].as_str().unwrap())
        .collect();
    assert_eq!(nicks, ["g0", "g1", "g2", "g3", "g4"]);
    assert!(all[0].get("displayName").is_none(), "$select honoured");
    let pages = standin.requests();
    assert_eq!(pages.len(), 3);
    assert!(pages[2].query.contains("$skiptoken=4"), "{:?}", pages[2]);

    let found = graph
        .get(&t, "/groups?$filter=mailNickname eq 'g3'&$select=id")
        .await
        .unwrap();
    assert_eq!(found["value"].as_array().unwrap().len(), 1);
    let err = graph
        .send(&t, Method::POST, "/groups", Some(&group_body("g3", "u0")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GraphError::Http { status: 400, message, .. } if message.contains("mailNickname already exists"))
    );
}

#[tokio::test]
async fn a_429_with_retry_after_zero_is_retried_and_counted() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 1);
    let graph = client(&standin);
    standin.fail_next("GET", "/users/u0", 429, 2);
    graph.get(&t, "/users/u0").await.unwrap();
    let stats = graph.stats();
    assert_eq!((stats.requests, stats.throttled, stats.retries), (3, 2, 2));
    assert_eq!(standin.count().throttled, 2);

    standin.fail_next("GET", "/users/u0", 503, 1);
    standin.fail_next("GET", "/users/u0", 504, 1);
    graph.get(&t, "/users/u0").await.unwrap();
    assert_eq!(graph.stats().throttled, 3, "503 is a throttle, 504 is not");

    standin.fail_next("GET", "/users/u0", 500, 1);
    let err = graph.get(&t, "/users/u0").await.unwrap_err();
    assert!(
        err.is_transient() && err.status() == Some(500),
        "500 is not retried in the call: {err:?}"
    );
}

#[tokio::test]
async fn a_retry_after_of_one_second_is_waited_out() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 1);
    let graph = client(&standin);
    standin.set_throttle(1.0, 1);
    let call = tokio::spawn({
        let (graph, t) = (graph.clone(), t.clone());
        async move { graph.get(&t, "/users/u0").await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    standin.set_throttle(0.0, 0);
    call.await.unwrap().unwrap();
    let seen = standin.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].status, 429);
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_throttle_storm_beyond_the_policy_gives_a_transient_throttled_error() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 1);
    let graph = client_with(&standin, standin.client_secret(), fast(3));
    standin.set_throttle(1.0, 0);
    let err = graph.get(&t, "/users/u0").await.unwrap_err();
    assert!(
        matches!(
            err,
            GraphError::Throttled {
                status: 429,
                attempts: 3
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(standin.count().http, 3);

    // A Retry-After beyond the policy's limit is not waited out.
    standin.set_throttle(1.0, 3600);
    let err = graph.get(&t, "/users/u0").await.unwrap_err();
    assert!(
        matches!(err, GraphError::Throttled { attempts: 1, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_batch_of_45_goes_in_three_posts_and_answers_in_request_order() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 45);
    let graph = client(&standin);
    let requests = (0..45)
        .map(|i| BatchRequest::get(format!("r{i}"), format!("/users/u{i}")))
        .collect();
    let answers = graph.batch(&t, requests).await.unwrap();
    assert_eq!(answers.len(), 45);
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer.id, format!("r{i}"));
        assert!(answer.is_success());
        assert_eq!(answer.body["id"], format!("u{i}"));
    }
    let counts = standin.count();
    assert_eq!((counts.http, counts.batched), (3, 45));
    let stats = graph.stats();
    assert_eq!((stats.requests, stats.batched), (3, 45));
}

#[tokio::test]
async fn throttled_sub_requests_are_sent_again_until_they_pass() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 20);
    let graph = client_with(&standin, standin.client_secret(), fast(12));
    standin.set_throttle(0.3, 0);
    let requests = (0..20)
        .map(|i| BatchRequest::get(i.to_string(), format!("/users/u{i}")))
        .collect();
    let answers = graph.batch(&t, requests).await.unwrap();
    assert!(answers.iter().all(|a| a.is_success()), "{answers:?}");
    let (stats, counts) = (graph.stats(), standin.count());
    assert!(stats.throttled > 0);
    assert_eq!(stats.throttled, counts.throttled);
    assert_eq!(stats.batched, counts.batched);
    assert!(counts.batched > 20);
}

#[tokio::test]
async fn a_failed_dependency_is_answered_424_and_returned_for_the_caller() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 1);
    let graph = client(&standin);
    let requests = vec![
        BatchRequest::post("bad", "/groups", json!({"displayName": "no nickname"})),
        BatchRequest::get("after", "/users/u0").depends_on("bad"),
        BatchRequest::get("alone", "/users/u0"),
        BatchRequest::get("missing", "/users/nobody"),
    ];
    let answers = graph.batch(&t, requests).await.unwrap();
    let statuses: Vec<_> = answers.iter().map(|a| (a.id.as_str(), a.status)).collect();
    assert_eq!(
        statuses,
        [
            ("bad", 400),
            ("after", 424),
            ("alone", 200),
            ("missing", 404)
        ]
    );
    assert!(matches!(
        answers[0].error(),
        Some(GraphError::Http { status: 400, .. })
    ));
    assert!(answers[3].error().unwrap().is_not_found());
    assert!(answers[2].error().is_none());
}

#[tokio::test]
async fn a_team_is_made_from_a_group_once_its_operation_succeeds() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 2);
    let graph = client(&standin);
    let group = graph
        .send(
            &t,
            Method::POST,
            "/groups",
            Some(&group_body("sales", "u0")),
        )
        .await
        .unwrap();
    let group_id = group.body["id"].as_str().unwrap().to_owned();
    let team_body = json!({
        "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
        "group@odata.bind": format!("https://graph.microsoft.com/v1.0/groups('{group_id}')"),
    });
    let created = graph
        .send(&t, Method::POST, "/teams", Some(&team_body))
        .await
        .unwrap();
    assert_eq!(created.status, 202);
    assert_eq!(
        created.content_location.as_deref(),
        Some(format!("/teams('{group_id}')").as_str())
    );
    let operation = created.location.unwrap();
    let team_path = format!("/teams/{group_id}");
    assert!(graph.get(&t, &team_path).await.unwrap_err().is_not_found());
    let first = graph.get(&t, &operation).await.unwrap();
    assert_eq!(first["status"], "inProgress");
    let second = graph.get(&t, &operation).await.unwrap();
    assert_eq!(
        (
            second["status"].as_str(),
            second["targetResourceId"].as_str()
        ),
        (Some("succeeded"), Some(group_id.as_str()))
    );
    assert_eq!(
        graph.get(&t, &team_path).await.unwrap()["displayName"],
        "sales"
    );
    let again = graph
        .send(&t, Method::POST, "/teams", Some(&team_body))
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(409));

    let photo = graph
        .put_bytes(
            &t,
            &format!("/groups/{group_id}/photo/$value"),
            "image/png",
            vec![0x89, b'P', b'N', b'G'],
        )
        .await
        .unwrap();
    assert_eq!(photo.status, 204);
    let channels = graph
        .get_all(&t, &format!("{team_path}/channels"))
        .await
        .unwrap();
    assert_eq!(channels[0]["displayName"], "General");

    let snapshot = standin.teams(t.as_str());
    assert_eq!(snapshot.len(), 1);
    let team = &snapshot[0];
    assert!(team.is_team);
    assert_eq!(team.owners, ["u0"]);
    assert_eq!(team.members, ["u0"], "owners are members of a team");
    assert_eq!(team.photo, Some(("image/png".to_owned(), 4)));
    assert_eq!(team.channels.len(), 1);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_fetch_and_a_refused_token_is_replaced_once() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 1);
    let graph = client(&standin);
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (graph, t) = (graph.clone(), t.clone());
            tokio::spawn(async move { graph.get(&t, "/users/u0").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(standin.count().tokens, 1);

    standin.revoke_tokens();
    graph.get(&t, "/users/u0").await.unwrap();
    assert_eq!(standin.count().tokens, 2);
    let statuses: Vec<_> = standin
        .requests()
        .iter()
        .rev()
        .take(2)
        .map(|s| s.status)
        .collect();
    assert_eq!(statuses, [200, 401]);
}

#[tokio::test]
async fn the_stand_in_builds_teams_the_way_graph_does() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 3);
    standin.add_catalog_app(t.as_str(), "app-1", "Our app");
    standin.set_operation_polls(0);
    let graph = client(&standin);
    let direct = json!({
        "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
        "displayName": "Sales & Co", "description": "d", "visibility": "public",
        "guestSettings": {"allowCreateUpdateChannels": false},
        "members": [{"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"],
            "user@odata.bind": "https://graph.microsoft.com/v1.0/users('u0')"}],
    });
    // Graph sometimes reports a failure for a team it did create.
    standin.fail_after_create(1);
    let err = graph
        .send(&t, Method::POST, "/teams", Some(&direct))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(504));
    let made = standin.teams(t.as_str());
    assert_eq!(made.len(), 1);
    assert_eq!(
        (made[0].mail_nickname.as_str(), made[0].visibility.as_str()),
        ("SalesCo", "Public")
    );
    assert_eq!(made[0].allow_guests, Some(false));
    let team = format!("/teams/{}", made[0].group_id);

    let add = json!({"values": [
        {"@odata.type": "microsoft.graph.aadUserConversationMember", "roles": [],
            "user@odata.bind": "https://graph.microsoft.com/v1.0/users('u1')"},
        {"@odata.type": "microsoft.graph.aadUserConversationMember", "roles": [],
            "user@odata.bind": "https://graph.microsoft.com/v1.0/users('ghost')"}]});
    let added = graph
        .send(&t, Method::POST, &format!("{team}/members/add"), Some(&add))
        .await
        .unwrap();
    assert!(added.body["value"][0]["error"].is_null());
    assert_eq!(added.body["value"][1]["error"]["code"], "NotFound");

    let channel = json!({"displayName": "Deals", "description": "d", "membershipType": "standard"});
    let made = graph
        .send(
            &t,
            Method::POST,
            &format!("{team}/channels"),
            Some(&channel),
        )
        .await
        .unwrap();
    let channel_id = made.body["id"].as_str().unwrap().to_owned();
    let dup = json!({"displayName": "deals"});
    let err = graph
        .send(&t, Method::POST, &format!("{team}/channels"), Some(&dup))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GraphError::Http { code, .. } if code == "NameAlreadyExists"),
        "{err:?}"
    );

    let tab = json!({"displayName": "Wiki page",
        "teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps('com.microsoft.teamspace.tab.web')",
        "configuration": {"contentUrl": "https://example.test", "websiteUrl": "https://example.test"}});
    let tabs = format!("{team}/channels/{channel_id}/tabs");
    graph
        .send(&t, Method::POST, &tabs, Some(&tab))
        .await
        .unwrap();
    let listed = graph
        .get_all(&t, &format!("{tabs}?$expand=teamsApp"))
        .await
        .unwrap();
    assert_eq!(
        listed[0]["teamsApp"]["id"],
        "com.microsoft.teamspace.tab.web"
    );

    let install = |app: &str| json!({"teamsApp@odata.bind": format!("https://graph.microsoft.com/v1.0/appCatalogs/teamsApps('{app}')")});
    let apps = format!("{team}/installedApps");
    graph
        .send(&t, Method::POST, &apps, Some(&install("app-1")))
        .await
        .unwrap();
    let again = graph
        .send(&t, Method::POST, &apps, Some(&install("app-1")))
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(409));
    let unknown = graph
        .send(&t, Method::POST, &apps, Some(&install("nope")))
        .await
        .unwrap_err();
    assert!(unknown.is_not_found());

    let snapshot = &standin.teams(t.as_str())[0];
    assert_eq!(snapshot.members, ["u0", "u1"]);
    assert_eq!(
        snapshot.installed_apps.len(),
        2,
        "the built-in app and ours"
    );
    let deals = &snapshot.channels[1];
    assert_eq!(
        deals.tabs,
        [(
            "Wiki page".to_owned(),
            "https://example.test".to_owned(),
            "com.microsoft.teamspace.tab.web".to_owned()
        )]
    );

    // Inner throttles carry their own Retry-After.
    standin.fail_next("GET", "/users/u2", 429, 10);
    let answers = graph
        .batch(&t, vec![BatchRequest::get("1", "/users/u2")])
        .await
        .unwrap();
    assert_eq!(answers[0].status, 429);
    assert_eq!(answers[0].header("Retry-After"), Some("0"));
    assert!(matches!(
        answers[0].error(),
        Some(GraphError::Throttled { status: 429, .. })
    ));
}

#[tokio::test]
async fn gateway_failures_are_retried_for_reads_but_not_for_creates() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 1);
    let graph = client(&standin);
    standin.fail_next("GET", "/users/u0", 504, 1);
    graph.get(&t, "/users/u0").await.unwrap();
    standin.fail_after_create(1);
    let err = graph
        .send(&t, Method::POST, "/groups", Some(&group_body("once", "u0")))
        .await
        .unwrap_err();
    assert!(err.is_transient() && err.status() == Some(504), "{err:?}");
    assert_eq!(
        standin.teams(t.as_str()).len(),
        1,
        "created once, not twice"
    );
}

#[tokio::test]
async fn a_user_found_is_looked_up_once_for_ten_minutes_and_one_not_found_each_time() {
    use salestim::graph::users;
    use salestim::platform::clock::ManualClock;
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin, 1);
    standin.set_upn(t.as_str(), "u0", "ann@contoso.test");
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let config = GraphConfig {
        base_url: standin.base_url.clone(),
        authority_host: standin.authority_host.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(standin.client_secret()),
        retry: fast(4),
        pace: Default::default(),
    };
    let graph = Graph::new(
        config,
        reqwest::Client::new(),
        Arc::new(MemoryCache::new(clock.clone())),
    );
    for typed in ["ann@contoso.test", "Ann@Contoso.test"] {
        let found = users::user(&graph, &t, typed).await.unwrap().unwrap();
        assert_eq!((found.id.as_str(), found.country()), ("u0", Some("FR")));
    }
    assert_eq!(graph.stats().requests, 1, "the second lookup is cached");
    for _ in 0..2 {
        assert!(
            users::user(&graph, &t, "nobody@contoso.test")
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(
        graph.stats().requests,
        3,
        "an address not found is asked again"
    );
    clock.advance(time::Duration::minutes(11));
    users::user(&graph, &t, "ann@contoso.test").await.unwrap();
    assert_eq!(graph.stats().requests, 4, "asked again after ten minutes");
}

#[tokio::test]
async fn a_retry_after_pauses_every_request_of_its_tenant_and_no_other_tenants() {
    let standin = GraphStandIn::start().await;
    let (a, b) = (tenant(&standin, 1), tenant(&standin, 1));
    let graph = client(&standin);
    standin.throttle_tenant(a.as_str(), 1, 2);
    let throttled = async {
        let (a, graph) = (&a, &graph);
        graph.get(a, "/users/u0").await.unwrap();
    };
    let meanwhile = async {
        while !standin
            .requests_of(a.as_str())
            .iter()
            .any(|s| s.status == 429)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Another request of A (a sweep's, low priority), and five of B.
        let sweep = graph.low_priority();
        let second = async { sweep.get(&a, "/users/u0").await.unwrap() };
        let others = async {
            for _ in 0..5 {
                graph.get(&b, "/users/u0").await.unwrap();
            }
        };
        tokio::join!(second, others);
    };
    tokio::join!(throttled, meanwhile);

    let a_seen = standin.requests_of(a.as_str());
    let statuses: Vec<u16> = a_seen.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [429, 200, 200]);
    let b_seen = standin.requests_of(b.as_str());
    assert_eq!(b_seen.len(), 5);
    assert!(b_seen.iter().all(|s| s.status == 200));
    // The pause held A's other request, not B's: every one of B's went
    // before A's next.
    let a_next = a_seen[1].at.min(a_seen[2].at);
    assert!(
        b_seen.iter().all(|s| s.at < a_next),
        "{a_seen:?} {b_seen:?}"
    );
    // Only the low-priority handle says so.
    let low: Vec<_> = a_seen
        .iter()
        .chain(&b_seen)
        .filter(|s| s.priority.as_deref() == Some("Low"))
        .collect();
    assert_eq!(low.len(), 1, "{a_seen:?}");
    assert!(b_seen.iter().all(|s| s.priority.is_none()));
}
