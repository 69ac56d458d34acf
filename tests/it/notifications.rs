//! Graph change notifications, driven as the Functions host and Graph
//! drive them: the `GraphSubscriptions` timer and its `GraphSubscription`
//! queue function make, check, renew and remake a tenant's `/groups`
//! subscription on the Graph stand-in (which calls the app back for the
//! validation handshake); the stand-in posts notifications to
//! `GraphNotifications` and `GraphLifecycle` through the local host. A real
//! notification costs exactly one incremental round of its tenant; input
//! that is not ours changes nothing.

use std::time::Duration;

use salestim::governance::lifecycle::state::{self, RoundKind};
use salestim::governance::lifecycle::subscriptions;
use salestim::ids::TenantId;
use salestim::platform::clock::Clock;
use serde_json::json;

use crate::inventory::{ANN, BOB, World, inventory, names, sweep, sync_state, tenant, world_with};
use crate::support::app::wait_until;
use crate::support::logs;

const HOST: &str = "notify.salestim.test";

/// The app with a public host name (the stand-in delivers its callbacks
/// for it to the local host).
async fn world() -> World {
    let w = world_with(vec![("SALESTIM_PUBLIC_HOSTNAME", HOST.into())]).await;
    w.graph.deliver_callbacks_to(&w.app.base);
    w
}

/// A tenant with one team (Alpha), synced in full once, and subscribed by
/// the timer; returns the tenant and Alpha's group id.
async fn subscribed(w: &World, name: &str) -> (TenantId, String) {
    let t = tenant(w, name, 0).await;
    let alpha = w.graph.add_team(t.as_str(), "Alpha", &[ANN], &[BOB]);
    assert!(sweep(w, &t).await.contains("Full round"));
    let said = upkeep(w, &t, "check").await;
    assert!(said.contains("made (none yet)"), "{said}");
    (t, alpha)
}

/// `GraphSubscription` for `tenant`, run now as its queue message would;
/// what it said.
async fn upkeep(w: &World, tenant: &TenantId, what: &str) -> String {
    let input = json!({"tenantId": tenant.as_str(), "upkeep": what}).to_string();
    let res = w.app.run_function("GraphSubscription", &input).await;
    let done = res.return_value.as_str().unwrap_or_default();
    // A skipped tenant is said in the invocation's logs.
    format!("{done}{}", res.logs.join("\n"))
}

/// POSTs a validation call to `path` with `token` in the query.
async fn validation(w: &World, path: &str, token: &str) -> reqwest::Response {
    let mut url = w.app.url(path);
    url.query_pairs_mut().append_pair("validationToken", token);
    w.app
        .http
        .post(url)
        .header("content-type", "text/plain; charset=utf-8")
        .send()
        .await
        .expect("the local host answers")
}

async fn post(w: &World, path: &str, body: Vec<u8>) -> reqwest::Response {
    w.app
        .http
        .post(w.app.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the local host answers")
}

/// Lets the local host deliver anything queued, then says that no round
/// ran: Graph saw no request and no sweep is waiting.
async fn nothing_happened(w: &World) {
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(w.app.queue_len("sweep-tenant").await, 0);
    assert_eq!(w.graph.count().http, 0, "{:?}", w.graph.requests());
}

fn item(sub: &str, tenant: &str, client_state: &str) -> serde_json::Value {
    json!({"subscriptionId": sub, "changeType": "updated", "tenantId": tenant,
        "clientState": client_state, "resource": "Groups/x",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Group", "id": "x"}})
}

#[tokio::test]
async fn the_handshake_echoes_the_token_as_text_and_a_long_token_is_refused() {
    let w = world().await;
    let token = "Validation: Testing client application reachability+/=?&é";
    let res = validation(&w, "api/graph/notifications", token).await;
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    assert_eq!(res.text().await.unwrap(), token);

    let long = "x".repeat(1025);
    for path in ["api/graph/notifications", "api/graph/lifecycle"] {
        let res = validation(&w, path, &long).await;
        assert_eq!(res.status(), 400, "{path}");
    }
    nothing_happened(&w).await;
}

#[tokio::test]
async fn a_notification_triggers_exactly_one_incremental_round_of_its_tenant() {
    let w = world().await;
    let (t, alpha) = subscribed(&w, "Contoso").await;
    let (other, other_alpha) = subscribed(&w, "Fabrikam").await;
    w.graph
        .rename_group(other.as_str(), &other_alpha, "Not notified");
    let subs = w.graph.subscriptions(t.as_str());
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].resource, "/groups");
    assert_eq!(subs[0].change_type, "updated,deleted");
    assert_eq!(
        subs[0].notification_url,
        format!("https://{HOST}/api/graph/notifications")
    );
    assert_eq!(
        subs[0].lifecycle_url,
        format!("https://{HOST}/api/graph/lifecycle")
    );
    assert!(subs[0].client_state.len() >= 32);
    let full = sync_state(&w, &t).await;

    w.graph.rename_group(t.as_str(), &alpha, "Alpha renamed");
    w.graph.reset_counts();
    // Graph may send several items for one change: still one round.
    let status = w
        .graph
        .notify_group_changes(t.as_str(), &[&alpha, &alpha])
        .await;
    assert_eq!(status, 202);
    wait_until(Duration::from_secs(20), || async {
        sync_state(&w, &t).await.last_incremental.is_some()
    })
    .await;
    w.app.drain("sweep-tenant").await;

    assert_eq!(names(&inventory(&w, &t).await), ["Alpha renamed"]);
    let state = sync_state(&w, &t).await;
    let round = state.last_incremental.expect("an incremental round ran");
    assert_eq!(round.kind, RoundKind::Incremental);
    assert_eq!(round.changed, 1);
    assert_eq!(
        round.graph_requests, 2,
        "one users and one groups delta page"
    );
    assert_eq!(state.last_full, full.last_full, "no full round");
    let seen = w.graph.requests();
    let deltas: Vec<_> = seen.iter().filter(|r| r.path.ends_with("/delta")).collect();
    assert_eq!(deltas.len(), 2, "one round: {seen:?}");
    assert_eq!(w.graph.count().http, 2, "{seen:?}");
    // The other tenant: untouched.
    assert!(sync_state(&w, &other).await.last_incremental.is_none());
    assert_eq!(names(&inventory(&w, &other).await), ["Alpha"]);
}

#[tokio::test]
async fn notifications_that_are_not_ours_change_nothing() {
    let w = world().await;
    let (a, alpha) = subscribed(&w, "Contoso").await;
    let (b, _) = subscribed(&w, "Fabrikam").await;
    let sub_a = w.graph.subscriptions(a.as_str()).remove(0);
    let sub_b = w.graph.subscriptions(b.as_str()).remove(0);
    w.graph.rename_group(a.as_str(), &alpha, "Alpha renamed");
    let before = inventory(&w, &a).await;
    w.graph.reset_counts();
    let log = logs::capture();

    let not_ours = [
        // A wrong clientState.
        item(&sub_a.id, a.as_str(), "guessed-client-state"),
        // A subscription we never made.
        item(
            "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            a.as_str(),
            &sub_a.client_state,
        ),
        // B's subscription claiming to be A's (with either secret).
        item(&sub_b.id, a.as_str(), &sub_b.client_state),
        item(&sub_b.id, a.as_str(), &sub_a.client_state),
        // A's subscription with B's secret.
        item(&sub_a.id, a.as_str(), &sub_b.client_state),
        // A tenant id that is not one.
        item(&sub_a.id, "../b", &sub_a.client_state),
    ];
    for one in &not_ours {
        let body = serde_json::to_vec(&json!({"value": [one]})).unwrap();
        let res = post(&w, "api/graph/notifications", body).await;
        assert_eq!(res.status(), 202, "{one}");
    }
    let body = serde_json::to_vec(&json!({"value": not_ours})).unwrap();
    assert_eq!(
        post(&w, "api/graph/notifications", body).await.status(),
        202
    );

    for malformed in [
        &b"{\"value\": 3}"[..],
        b"not json",
        b"{\"value\":[{}]}",
        b"",
    ] {
        let res = post(&w, "api/graph/notifications", malformed.to_vec()).await;
        assert_eq!(res.status(), 400, "{}", String::from_utf8_lossy(malformed));
    }
    let filler = "x".repeat(300 * 1024);
    let mut big = item(&sub_a.id, a.as_str(), &sub_a.client_state);
    big["filler"] = filler.into();
    let body = serde_json::to_vec(&json!({"value": [big]})).unwrap();
    assert_eq!(
        post(&w, "api/graph/notifications", body).await.status(),
        413
    );
    let res = post(&w, "api/graph/lifecycle", b"[]".to_vec()).await;
    assert_eq!(res.status(), 400);

    nothing_happened(&w).await;
    // Each refusal is said for the operator; no secret is.
    let wrong = log.saying("clientState is not the tenant's");
    // Each item alone, then all in one batch, where each claimed tenant,
    // subscription and verdict is said once.
    assert_eq!(wrong.len(), 2 + 1, "{wrong:#?}");
    assert_eq!(log.saying("a subscription we do not have").len(), 4 + 3);
    let everything = serde_json::to_string(&log.saying("")).unwrap();
    for secret in [&sub_a.client_state, &sub_b.client_state] {
        assert!(
            !everything.contains(secret.as_str()),
            "a secret in the logs"
        );
    }
    assert_eq!(inventory(&w, &a).await, before);
    assert!(sync_state(&w, &a).await.last_incremental.is_none());
    assert!(sync_state(&w, &b).await.last_incremental.is_none());
}

#[tokio::test]
async fn the_timer_makes_renews_and_remakes_the_subscription() {
    let w = world().await;
    let t = tenant(&w, "Contoso", 0).await;
    let res = w.app.run_function("GraphSubscriptions", "").await;
    let said = res.return_value.as_str().unwrap_or_default().to_owned();
    assert!(
        said.contains("a check queued for 1 tenants, 0 failed"),
        "{said}"
    );
    wait_until(Duration::from_secs(20), || async {
        w.graph.subscriptions(t.as_str()).len() == 1
    })
    .await;
    w.app.drain("graph-subscription").await;
    let made = w.graph.subscriptions(t.as_str()).remove(0);
    let ours = subscriptions::current(w.app.app.docs.as_ref(), &t)
        .await
        .unwrap()
        .expect("the state says which");
    assert_eq!(ours.id, made.id);

    // Five days on: two thirds of its life are left; it is only checked.
    let start = w.app.clock.now();
    w.app.clock.set(start + time::Duration::days(5));
    w.graph.set_now(start + time::Duration::days(5));
    let said = upkeep(&w, &t, "check").await;
    assert!(said.contains("still fine"), "{said}");
    assert_eq!(
        w.graph.subscriptions(t.as_str())[0].expires_at,
        made.expires_at
    );

    // Twenty days on: under a third left; renewed to a full life again.
    let later = start + time::Duration::days(20);
    w.app.clock.set(later);
    w.graph.set_now(later);
    let said = upkeep(&w, &t, "check").await;
    assert!(said.contains("renewed"), "{said}");
    let renewed = w.graph.subscriptions(t.as_str()).remove(0);
    assert_eq!(renewed.id, made.id);
    assert!(renewed.expires_at > later + time::Duration::days(28));

    // Graph forgot it (no event for groups): the check finds the 404.
    w.graph.forget_subscriptions(t.as_str());
    let said = upkeep(&w, &t, "check").await;
    assert!(said.contains("made (Graph forgot it (404))"), "{said}");
    let remade = w.graph.subscriptions(t.as_str()).remove(0);
    assert_ne!(remade.id, made.id);
    assert_eq!(
        remade.client_state, made.client_state,
        "the tenant's secret"
    );

    // The forgotten subscription's binding is gone with it.
    w.graph.reset_counts();
    let old = item(&made.id, t.as_str(), &made.client_state);
    let body = serde_json::to_vec(&json!({"value": [old]})).unwrap();
    assert_eq!(
        post(&w, "api/graph/notifications", body).await.status(),
        202
    );
    nothing_happened(&w).await;
}

#[tokio::test]
async fn a_reauthorization_request_renews_the_subscription_from_the_queue() {
    let w = world().await;
    let (t, _) = subscribed(&w, "Contoso").await;
    let made = w.graph.subscriptions(t.as_str()).remove(0);
    let later = w.app.clock.now() + time::Duration::days(1);
    w.app.clock.set(later);
    w.graph.set_now(later);
    w.graph.reset_counts();

    let status = w
        .graph
        .send_lifecycle(t.as_str(), "reauthorizationRequired")
        .await;
    assert_eq!(status, 202);
    wait_until(Duration::from_secs(20), || async {
        w.graph
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path == format!("/subscriptions/{}", made.id))
    })
    .await;
    w.app.drain("graph-subscription").await;
    wait_until(Duration::from_secs(20), || async {
        w.graph.subscriptions(t.as_str())[0].expires_at > made.expires_at
    })
    .await;
    assert_eq!(w.graph.subscriptions(t.as_str()).len(), 1);
}

#[tokio::test]
async fn no_subscription_without_a_public_host_or_an_endpoint_that_answers_the_handshake() {
    let w = world_with(Vec::new()).await;
    let t = tenant(&w, "Contoso", 0).await;
    let res = w.app.run_function("GraphSubscriptions", "").await;
    let said = res.return_value.as_str().unwrap_or_default().to_owned();
    assert!(
        said.contains("SALESTIM_PUBLIC_HOSTNAME is not set"),
        "{said}"
    );
    let said = upkeep(&w, &t, "check").await;
    assert!(
        said.contains("SALESTIM_PUBLIC_HOSTNAME is not set"),
        "{said}"
    );
    assert!(w.graph.subscriptions(t.as_str()).is_empty());
    assert_eq!(w.graph.count().http, 0);

    // Graph's validation call reaches something that is not our endpoint
    // (the stand-in itself answers 404): the create fails with 400.
    let w = world().await;
    w.graph.deliver_callbacks_to(&w.graph.authority_host);
    let t = tenant(&w, "Contoso", 0).await;
    let input = json!({"tenantId": t.as_str(), "upkeep": "check"}).to_string();
    let res = w
        .app
        .host
        .as_ref()
        .unwrap()
        .run_function("GraphSubscription", &input)
        .await;
    assert!(res.is_err(), "the invocation fails, so the host retries it");
    assert!(w.graph.subscriptions(t.as_str()).is_empty());
    let creates: Vec<_> = w
        .graph
        .requests()
        .into_iter()
        .filter(|r| r.path == "/subscriptions")
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(creates, [("POST".to_owned(), 400)]);
    let ours = subscriptions::current(w.app.app.docs.as_ref(), &t)
        .await
        .unwrap();
    assert_eq!(ours, None);
}

#[tokio::test]
async fn a_removed_subscription_is_made_again_and_the_gap_synced() {
    let w = world().await;
    let (t, alpha) = subscribed(&w, "Contoso").await;
    let gone = w.graph.subscriptions(t.as_str()).remove(0);
    w.graph.forget_subscriptions(t.as_str());
    w.graph.rename_group(t.as_str(), &alpha, "Alpha renamed");

    let removed = json!({"subscriptionId": gone.id, "tenantId": t.as_str(),
        "clientState": gone.client_state, "lifecycleEvent": "subscriptionRemoved"});
    let status = w
        .graph
        .post_to_app(&gone.lifecycle_url, &json!({"value": [removed]}))
        .await;
    assert_eq!(status, 202);
    wait_until(Duration::from_secs(20), || async {
        w.graph.subscriptions(t.as_str()).len() == 1
            && sync_state(&w, &t).await.last_incremental.is_some()
    })
    .await;
    w.app.drain("graph-subscription").await;
    w.app.drain("sweep-tenant").await;
    assert_ne!(w.graph.subscriptions(t.as_str())[0].id, gone.id);
    assert_eq!(names(&inventory(&w, &t).await), ["Alpha renamed"]);
}

#[tokio::test]
async fn a_notified_round_that_finds_a_sync_running_waits_for_it() {
    let w = world().await;
    let (t, _) = subscribed(&w, "Contoso").await;
    let now = w.app.clock.now();
    let docs = w.app.app.docs.as_ref();
    let held = state::claim(docs, &t, "another-sync", None, now)
        .await
        .unwrap();
    assert!(matches!(held, state::Claim::Run(_)));

    let input = json!({"tenantId": t.as_str(), "notified": true}).to_string();
    let res = w.app.run_function("SweepTenant", &input).await;
    let said = res.return_value.as_str().unwrap_or_default();
    assert!(
        said.contains("the notified round is queued again"),
        "{said}"
    );
    assert_eq!(
        w.app.queue_len("sweep-tenant").await,
        1,
        "visible in a minute"
    );
}

#[tokio::test]
async fn an_endpoint_too_slow_for_the_handshake_gets_no_subscription() {
    let w = world().await;
    // An endpoint that takes the connection and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = url::Url::parse(&format!("http://{}", silent.local_addr().unwrap())).unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            open.push(tcp);
        }
    });
    w.graph.deliver_callbacks_to(&origin);
    w.graph.set_validation_timeout(Duration::from_millis(300));
    let t = tenant(&w, "Contoso", 0).await;
    let input = json!({"tenantId": t.as_str(), "upkeep": "check"}).to_string();
    let host = w.app.host.as_ref().unwrap();
    assert!(
        host.run_function("GraphSubscription", &input)
            .await
            .is_err()
    );
    assert!(w.graph.subscriptions(t.as_str()).is_empty());
    let statuses: Vec<u16> = w
        .graph
        .requests()
        .iter()
        .filter(|r| r.path == "/subscriptions")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [400]);
    held.abort();
}
