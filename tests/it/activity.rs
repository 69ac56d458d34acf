//! The Teams activity report feeding the inventory, driven as the Functions
//! host drives `SweepTenant`: after the sync, a tenant whose policies have
//! inactivity on gets the report read through Graph's 302 (the download
//! fetched without our token), joined on Team Id (concealed names join the
//! same), once a day; a throttled report never fails the sweep and is asked
//! again after its `Retry-After`; and the inactivity policy decides on its
//! boundary (N−1, N, N+1 days) from what the report said.

use salestim::governance::lifecycle::policy::PolicyKind;
use salestim::governance::lifecycle::recorded;
use salestim::governance::teams::ActivityFacts;
use salestim::ids::TenantId;
use salestim::platform::clock::Clock;
use serde_json::json;
use time::{Date, Duration};

use crate::inventory::{
    ANN, BOB, CID, World, inventory, store_policies, sweep, tenant, world_with,
};
use crate::support::graph::ReportCounts;

fn today(w: &World) -> Date {
    w.app.clock.now().date()
}

fn days_ago(w: &World, n: i64) -> Date {
    today(w) - Duration::days(n)
}

async fn activity_of(w: &World, tenant: &TenantId, name: &str) -> Option<ActivityFacts> {
    inventory(w, tenant)
        .await
        .into_iter()
        .find(|t| t.display_name == name)
        .unwrap_or_else(|| panic!("{name} in the inventory"))
        .activity
}

fn counts(calls: u64, downloads: u64, refused: u64) -> ReportCounts {
    ReportCounts {
        calls,
        downloads,
        refused,
    }
}

#[tokio::test]
async fn the_report_is_followed_without_the_token_and_joined_on_team_id_with_concealed_names() {
    let w = world_with(Vec::new()).await;
    let tenant = tenant(&w, "Contoso", 0).await;
    let t = tenant.as_str();
    let alpha = w.graph.add_team(t, "Alpha", &[ANN], &[BOB]);
    w.graph.add_team(t, "Beta", &[BOB], &[]);
    let report_date = days_ago(&w, 1);
    w.graph.set_report_date(t, &report_date.to_string());
    w.graph
        .set_last_activity(t, &alpha, Some(&days_ago(&w, 3).to_string()));
    w.graph.conceal_report_names(t, true);
    store_policies(
        &w,
        &tenant,
        json!({"defaults": {"inactivity": {"inactiveDays": 20}}}),
    )
    .await;

    let line = sweep(&w, &tenant).await;
    assert!(
        line.contains(&format!(
            "activity report (D30) of {report_date}: 2 teams joined, 2 changed, 0 rows skipped"
        )),
        "{line}"
    );
    assert!(line.contains("policies v1 over 2 teams"), "{line}");
    assert_eq!(
        w.graph.report_counts(),
        counts(1, 1, 0),
        "one report call, its download fetched without Authorization"
    );
    assert!(
        w.graph
            .requests()
            .iter()
            .any(|r| r.path == "/reports/getTeamsTeamActivityDetail(period='D30')"),
        "the shortest period covering 20 days"
    );
    assert_eq!(
        activity_of(&w, &tenant, "Alpha").await,
        Some(ActivityFacts {
            last_activity: Some(days_ago(&w, 3)),
            report_date,
            period_days: 30,
        })
    );
    assert_eq!(
        activity_of(&w, &tenant, "Beta").await,
        Some(ActivityFacts {
            last_activity: None,
            report_date,
            period_days: 30,
        }),
        "an empty date: no activity in the period"
    );

    // The trap avoided: a client that follows the redirect with the
    // request's headers is refused by the download.
    let http = reqwest::Client::new();
    let followed = http
        .get(format!(
            "{}/reports/getTeamsTeamActivityDetail(period='D7')",
            w.graph.base_url
        ))
        .bearer_auth(w.graph.issue_token(t))
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), 403);
    assert_eq!(w.graph.report_counts(), counts(2, 1, 1));
}

#[tokio::test]
async fn the_report_is_read_once_a_day_and_not_at_all_without_an_inactivity_policy() {
    let w = world_with(Vec::new()).await;
    let tenant = tenant(&w, "Contoso", 0).await;
    let t = tenant.as_str();
    let alpha = w.graph.add_team(t, "Alpha", &[ANN], &[]);
    w.graph.set_report_date(t, &today(&w).to_string());

    let line = sweep(&w, &tenant).await;
    assert!(
        line.contains("activity report not needed (no inactivity policy)"),
        "{line}"
    );
    store_policies(
        &w,
        &tenant,
        json!({"defaults": {"inactivity": {"enabled": false}},
            "templates": {}}),
    )
    .await;
    sweep(&w, &tenant).await;
    assert_eq!(w.graph.report_counts().calls, 0);

    store_policies(&w, &tenant, json!({"defaults": {"inactivity": {}}})).await;
    let line = sweep(&w, &tenant).await;
    assert!(line.contains("activity report (D90)"), "{line}");
    w.graph
        .set_last_activity(t, &alpha, Some(&days_ago(&w, 1).to_string()));
    let line = sweep(&w, &tenant).await;
    assert!(
        line.contains("activity report read today already"),
        "{line}"
    );
    assert_eq!(w.graph.report_counts().calls, 1);
    assert_eq!(
        activity_of(&w, &tenant, "Alpha")
            .await
            .unwrap()
            .last_activity,
        None,
        "not read again the same day"
    );

    w.app.clock.advance(Duration::days(1));
    let line = sweep(&w, &tenant).await;
    assert!(line.contains("1 teams joined, 1 changed"), "{line}");
    assert_eq!(w.graph.report_counts().calls, 2);
    assert_eq!(
        activity_of(&w, &tenant, "Alpha")
            .await
            .unwrap()
            .last_activity,
        Some(days_ago(&w, 2))
    );
    let line = sweep(&w, &tenant).await;
    assert!(line.contains("read today already"), "{line}");
    assert_eq!(w.graph.report_counts().calls, 2);
}

#[tokio::test]
async fn a_throttled_report_leaves_the_sweep_green_and_is_asked_again_after_its_retry_after() {
    let w = world_with(Vec::new()).await;
    let tenant = tenant(&w, "Contoso", 0).await;
    let t = tenant.as_str();
    w.graph.add_team(t, "Alpha", &[ANN], &[]);
    w.graph.set_report_date(t, &today(&w).to_string());
    store_policies(
        &w,
        &tenant,
        json!({"defaults": {"inactivity": {"inactiveDays": 7}, "minimumOwners": {}}}),
    )
    .await;
    w.graph.throttle_report(1, 120);

    let line = sweep(&w, &tenant).await;
    assert!(
        line.contains("activity report throttled (429); asked again after"),
        "{line}"
    );
    assert!(
        line.contains("policies v1 over 1 teams: 1 findings"),
        "the sweep carries on: {line}"
    );
    assert_eq!(w.graph.report_counts(), counts(1, 0, 0), "no retry inside");
    assert_eq!(activity_of(&w, &tenant, "Alpha").await, None);

    let line = sweep(&w, &tenant).await;
    assert!(line.contains("activity report throttled until"), "{line}");
    assert_eq!(w.graph.report_counts().calls, 1, "its Retry-After is kept");

    w.app.clock.advance(Duration::seconds(121));
    let line = sweep(&w, &tenant).await;
    assert!(line.contains("activity report (D7)"), "{line}");
    assert_eq!(w.graph.report_counts(), counts(2, 1, 0));
    assert!(activity_of(&w, &tenant, "Alpha").await.is_some());
}

#[tokio::test]
async fn the_inactivity_policy_decides_on_its_boundary_from_the_report() {
    let w = world_with(Vec::new()).await;
    let tenant = tenant(&w, "Contoso", 0).await;
    let t = tenant.as_str();
    let mut ids = Vec::new();
    for (name, idle, owner) in [("Under", 29, ANN), ("At", 30, BOB), ("Over", 31, CID)] {
        let id = w.graph.add_team(t, name, &[owner], &[]);
        w.graph
            .set_last_activity(t, &id, Some(&days_ago(&w, idle).to_string()));
        ids.push(id);
    }
    w.graph.set_report_date(t, &days_ago(&w, 1).to_string());
    store_policies(
        &w,
        &tenant,
        json!({"defaults": {"inactivity": {"inactiveDays": 30, "defaultAction": "archive"}}}),
    )
    .await;

    let line = sweep(&w, &tenant).await;
    assert!(
        line.contains("policies v1 over 3 teams: 2 findings (2 new"),
        "{line}"
    );
    let docs = w.app.app.docs.as_ref();
    let found = |i: usize| {
        let id = ids[i].clone();
        let tenant = tenant.clone();
        async move { recorded::of_team(docs, &tenant, &id).await.unwrap() }
    };
    assert!(found(0).await.is_empty(), "29 days idle: under 30");
    for (i, idle) in [(1, 30), (2, 31)] {
        let list = found(i).await;
        assert_eq!(list.len(), 1, "{list:?}");
        let f = &list[0].finding;
        assert_eq!(f.policy, PolicyKind::Inactivity);
        assert_eq!(f.facts[0].value, days_ago(&w, idle).to_string());
        assert_eq!(
            f.facts[0].source,
            format!("Teams activity report of {}", days_ago(&w, 1))
        );
        assert!(
            f.decision.contains(&format!("inactive for {idle} days")),
            "{f:?}"
        );
    }
}
