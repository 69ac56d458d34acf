//! The Graph client's delta walker against the stand-in's `/groups/delta`
//! and `/users/delta`: pages handed out one by one through empty ones to a
//! deltaLink, a later round with only the changes (`@removed` included),
//! `$deltatoken=latest`, and expired tokens as an outcome, not an error.

use std::sync::Arc;
use std::time::Duration;

use salestim::graph::delta::{self, DeltaWalk, Step};
use salestim::graph::{Graph, GraphConfig, RetryPolicy, Tally};
use salestim::ids::TenantId;
use salestim::platform::cache::memory::MemoryCache;
use salestim::platform::clock::SystemClock;
use secrecy::SecretString;
use serde_json::Value;

use super::{ANN, BOB, CID, GUS};
use crate::support::graph::{CLIENT_ID, DeltaExpiry, GraphStandIn};

fn client(standin: &GraphStandIn) -> Graph {
    let config = GraphConfig {
        base_url: standin.base_url.clone(),
        authority_host: standin.authority_host.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(standin.client_secret()),
        retry: RetryPolicy {
            max_attempts: 4,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(5),
        },
        pace: Default::default(),
    };
    Graph::new(
        config,
        reqwest::Client::new(),
        Arc::new(MemoryCache::new(Arc::new(SystemClock))),
    )
}

fn tenant(standin: &GraphStandIn) -> TenantId {
    let id = TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let t = id.as_str();
    standin.add_tenant(t, true);
    for (user, name) in [(ANN, "Ann"), (BOB, "Bob"), (CID, "Cid")] {
        standin.add_user(t, user, name, None, None, None);
    }
    standin.add_guest(t, GUS, "Gus");
    id
}

/// Every page of a round, and its deltaLink (or what expired).
async fn round(
    graph: &Graph,
    tenant: &TenantId,
    link: &str,
) -> (Vec<Vec<Value>>, Result<String, delta::Expired>) {
    let mut walk = DeltaWalk::start(graph, tenant, link);
    let mut pages = Vec::new();
    loop {
        match walk.next().await.unwrap() {
            Step::Page(items) => pages.push(items),
            Step::Done { delta_link } => return (pages, Ok(delta_link)),
            Step::Expired(e) => return (pages, Err(e)),
        }
    }
}

const GROUPS: &str =
    "/groups/delta?$select=id,displayName,resourceProvisioningOptions,members,owners";

#[tokio::test]
async fn a_round_is_walked_page_by_page_through_empty_pages_and_the_next_reads_only_changes() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin);
    let graph = client(&standin);
    let sales = standin.add_team(t.as_str(), "Sales", &[ANN], &[BOB]);
    let list = standin.add_plain_group(t.as_str(), "List", &[BOB], &[CID]);
    for i in 0..3 {
        standin.add_team(t.as_str(), &format!("T{i}"), &[CID], &[]);
    }
    standin.set_page_size(2);
    standin.set_delta_empty_pages(1);

    let (pages, link) = round(&graph, &t, GROUPS).await;
    let link = link.expect("a deltaLink");
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [0, 2, 2, 1]);
    let first = &pages[1][0];
    assert_eq!(first["displayName"], "Sales");
    assert_eq!(first["resourceProvisioningOptions"][0], "Team");
    assert!(first.get("description").is_none(), "only what was selected");
    let members: Vec<_> = delta::links(first, "members")
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(members, [ANN, BOB]);
    assert_eq!(delta::links(first, "owners")[0].id, ANN);
    for seen in standin.requests().iter().skip(1) {
        assert!(
            !seen.query.contains("$select"),
            "params go on the first call only: {seen:?}"
        );
    }

    // Nothing changed: an empty round (after its empty page).
    let (pages, again) = round(&graph, &t, &link).await;
    assert!(pages.iter().all(Vec::is_empty));
    let link = again.unwrap();

    standin.rename_group(t.as_str(), &sales, "Sales EMEA");
    standin.add_member(t.as_str(), &sales, CID);
    standin.remove_member(t.as_str(), &sales, BOB);
    standin.delete_group(t.as_str(), &list, false);
    standin.set_upn(t.as_str(), ANN, "ann@contoso.test");
    let (pages, _) = round(&graph, &t, &link).await;
    let items: Vec<&Value> = pages.iter().flatten().collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0]["displayName"], "Sales EMEA");
    let links = delta::links(items[0], "members");
    assert_eq!(
        links
            .iter()
            .map(|l| (l.id.as_str(), l.removed))
            .collect::<Vec<_>>(),
        [(CID, false), (BOB, true)]
    );
    assert_eq!(delta::removed(items[1]), Some(delta::Reason::Changed));
}

#[tokio::test]
async fn latest_gives_a_link_without_data_and_users_carry_their_type() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin);
    let graph = client(&standin);
    standin.add_team(t.as_str(), "Before", &[ANN], &[]);
    let (pages, link) = round(
        &graph,
        &t,
        "/groups/delta?$deltatoken=latest&$select=id,displayName",
    )
    .await;
    assert!(pages.iter().all(Vec::is_empty));
    standin.add_team(t.as_str(), "After", &[ANN], &[]);
    let (pages, _) = round(&graph, &t, &link.unwrap()).await;
    let names: Vec<_> = pages
        .iter()
        .flatten()
        .map(|g| g["displayName"].clone())
        .collect();
    assert_eq!(names, ["After"], "sync from now");

    let (pages, _) = round(&graph, &t, "/users/delta?$select=id,userType,displayName").await;
    let guests: Vec<_> = pages
        .iter()
        .flatten()
        .filter(|u| u["userType"] == "Guest")
        .map(|u| u["id"].clone())
        .collect();
    assert_eq!(guests, [GUS]);
}

#[tokio::test]
async fn an_expired_token_is_an_outcome_410_with_a_location_or_sync_state_not_found() {
    let standin = GraphStandIn::start().await;
    let t = tenant(&standin);
    let tally = Arc::new(Tally::default());
    let graph = client(&standin).tallied(tally.clone());
    standin.add_team(t.as_str(), "Sales", &[ANN], &[]);
    let (_, link) = round(&graph, &t, GROUPS).await;
    let link = link.unwrap();

    standin.expire_delta_tokens(t.as_str(), DeltaExpiry::SyncStateNotFound);
    let (pages, outcome) = round(&graph, &t, &link).await;
    assert!(pages.is_empty());
    let expired = outcome.unwrap_err();
    assert_eq!(
        (expired.status, expired.code.as_str()),
        (400, "syncStateNotFound")
    );

    standin.expire_delta_tokens(t.as_str(), DeltaExpiry::Gone);
    let (_, outcome) = round(&graph, &t, &link).await;
    assert_eq!(outcome.unwrap_err().status, 410);
    // As Graph says it: a Location to start again from (raw, with a token).
    let res = reqwest::Client::new()
        .get(&link)
        .bearer_auth(standin.issue_token(t.as_str()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    let location = res.headers()["location"].to_str().unwrap();
    assert!(
        location.ends_with("/v1.0/groups/delta?$deltatoken="),
        "{location}"
    );

    // A fresh round works, and the tally counted this handle's requests.
    let (pages, outcome) = round(&graph, &t, GROUPS).await;
    assert!(outcome.is_ok());
    assert_eq!(pages.concat().len(), 1);
    assert_eq!(tally.stats().requests, 4);
}
