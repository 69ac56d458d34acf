//! A sweep's Graph budget and the per-tenant governor, through
//! `SweepTenant`: a round that spends its budget stops between pages, keeps
//! where it was and is continued by the next run (never re-reading a page),
//! ends with the inventory an unbounded run gives, and marks no team
//! missing from a partial listing; a 429 storm on one tenant holds up that
//! tenant alone; every sweep request carries `x-ms-throttle-priority: Low`;
//! what each run cost is on its round.

use std::collections::BTreeSet;

use salestim::governance::lifecycle::state::{Phase, Round};
use salestim::governance::teams::Removal;

use super::*;

/// What a sync decides about a team, without ids or times.
type Shape = (
    String,
    Vec<Person>,
    BTreeSet<String>,
    Vec<String>,
    Option<Removal>,
);

fn shape(all: &[TeamRecord]) -> Vec<Shape> {
    all.iter()
        .map(|t| {
            (
                t.display_name.clone(),
                t.owners.clone(),
                t.member_ids.iter().cloned().collect(),
                t.guest_ids.clone(),
                t.removed.as_ref().map(|r| r.reason),
            )
        })
        .collect()
}

/// The stories' directory and 24 more teams, 6 plain groups and a big team
/// split over several objects; small pages. Returns Beta's group id.
async fn fill(w: &World, tenant: &TenantId) -> String {
    let t = tenant.as_str();
    let [_, beta, ..] = directory(w, tenant).await;
    let people: Vec<String> = (0..20)
        .map(|i| format!("0b000000-0000-4000-8000-{i:012}"))
        .collect();
    let refs: Vec<&str> = people.iter().map(String::as_str).collect();
    w.graph.add_team(t, "Big", &[ANN, BOB], &refs);
    for i in 0..24 {
        w.graph
            .add_team(t, &format!("Team {i:02}"), &[CID], &[refs[i % 20], GUS]);
        if i % 4 == 0 {
            w.graph
                .add_plain_group(t, &format!("Group {i:02}"), &[CID], &refs[..3]);
        }
    }
    w.graph.set_page_size(4);
    w.graph.set_delta_link_chunk(7);
    beta
}

/// `SweepTenant` until its round is over (at most `most` runs): each run's
/// round record.
async fn runs_until_done(w: &World, tenant: &TenantId, most: usize) -> Vec<Round> {
    let removed = |all: &[TeamRecord]| -> BTreeSet<String> {
        all.iter()
            .filter(|t| !t.is_present())
            .map(|t| t.group_id.clone())
            .collect()
    };
    let removed_before = removed(&inventory(w, tenant).await);
    let mut runs = Vec::new();
    for _ in 0..most {
        let line = sweep(w, tenant).await;
        let state = sync_state(w, tenant).await;
        let round = if line.contains("Full round") {
            state.last_full.clone()
        } else {
            state.last_incremental.clone()
        }
        .unwrap_or_else(|| panic!("a round: {line}"));
        assert_eq!(round.run as usize, runs.len() + 1, "{line}");
        assert!(state.lease.is_none());
        if round.complete {
            assert!(state.resume.is_none());
            assert!(!line.contains("stopped at its Graph budget"), "{line}");
            runs.push(round);
            return runs;
        }
        assert!(
            line.contains(&format!(
                "run {}, stopped at its Graph budget of 3; continues at the next run",
                round.run
            )),
            "{line}"
        );
        assert!(
            round.graph_requests >= 3,
            "the budget was reached: {round:?}"
        );
        assert!(state.resume.is_some(), "where it continues is kept");
        // A partial listing marks no team missing.
        let all = inventory(w, tenant).await;
        assert_eq!(
            removed(&all),
            removed_before,
            "run {}: {:?}",
            round.run,
            shape(&all)
        );
        runs.push(round);
    }
    panic!("the round did not end in {most} runs: {runs:#?}");
}

fn delta_pages(w: &World) -> usize {
    w.graph
        .requests()
        .iter()
        .filter(|s| s.path.ends_with("/delta"))
        .count()
}

#[tokio::test]
async fn a_round_that_spends_its_budget_stops_and_the_next_runs_continue_it_to_the_same_inventory()
{
    let unbounded = world().await;
    let bounded = world_with(vec![("SALESTIM_SWEEP_GRAPH_BUDGET", "3".into())]).await;
    let mut tenants = Vec::new();
    for w in [&unbounded, &bounded] {
        let t = tenant(w, "Budget", 20).await;
        let beta = fill(w, &t).await;
        tenants.push((t, beta));
    }
    let (t0, t1) = (&tenants[0].0, &tenants[1].0);

    // A first full sync: one run without a budget, several with one.
    let line = sweep(&unbounded, t0).await;
    assert!(line.contains("Full round (first sync)"), "{line}");
    let pages = delta_pages(&unbounded);
    let runs = runs_until_done(&bounded, t1, 40).await;
    assert!(runs.len() >= 4, "{runs:#?}");
    assert_eq!(
        delta_pages(&bounded),
        pages,
        "each run continued where the last stopped: no delta page read twice"
    );
    let expected = shape(&inventory(&unbounded, t0).await);
    assert_eq!(expected.len(), 28);
    assert_eq!(shape(&inventory(&bounded, t1).await), expected);
    // Each run's cost is its own, and they add up to what Graph saw.
    let total: u64 = runs.iter().map(|r| r.graph_requests).sum();
    assert_eq!(total, bounded.graph.count().http);
    let batched: u64 = runs.iter().map(|r| r.batched).sum();
    assert_eq!(batched, bounded.graph.count().batched);
    assert!(
        runs.iter().any(|r| r.looked_up > 0),
        "a run that continues the groups round looks up the people of its pages: {runs:#?}"
    );
    assert!(
        bounded
            .graph
            .requests()
            .iter()
            .all(|s| s.priority.as_deref() == Some("Low")),
        "every sweep request is low priority"
    );

    // A full resync over several runs, Beta deleted for good meanwhile:
    // Beta is marked missing once the listing is whole, and nobody before.
    for (w, (t, beta)) in [&unbounded, &bounded].into_iter().zip(&tenants) {
        w.graph.delete_group(t.as_str(), beta, true);
        w.graph.expire_delta_tokens(t.as_str(), DeltaExpiry::Gone);
        w.app.clock.advance(time::Duration::hours(6));
    }
    sweep(&unbounded, t0).await;
    bounded.graph.reset_counts();
    let runs = runs_until_done(&bounded, t1, 40).await;
    assert!(runs.len() >= 4, "{runs:#?}");
    assert!(runs.iter().all(|r| r.why.contains("a delta token expired")));
    assert_eq!(runs.last().unwrap().removed, 1, "{runs:#?}");
    let expected = shape(&inventory(&unbounded, t0).await);
    let beta = expected.iter().find(|s| s.0 == "Beta").unwrap();
    assert_eq!(beta.4, Some(Removal::Missing));
    assert_eq!(shape(&inventory(&bounded, t1).await), expected);

    // Then an incremental round, also continued over runs.
    for (w, t) in [(&unbounded, t0), (&bounded, t1)] {
        for i in 0..6 {
            w.graph
                .add_team(t.as_str(), &format!("New {i}"), &[ANN], &[GUS]);
        }
        w.app.clock.advance(time::Duration::hours(6));
    }
    let line = sweep(&unbounded, t0).await;
    assert!(line.contains("Incremental round"), "{line}");
    let runs = runs_until_done(&bounded, t1, 40).await;
    assert!(runs.len() >= 2, "{runs:#?}");
    let kept = sync_state(&bounded, t1).await;
    assert!(kept.groups_link.unwrap().contains("$deltatoken="));
    assert_eq!(
        shape(&inventory(&bounded, t1).await),
        shape(&inventory(&unbounded, t0).await)
    );
}

#[tokio::test]
async fn a_stopped_round_keeps_the_next_page_and_the_teams_it_saw() {
    let w = world_with(vec![("SALESTIM_SWEEP_GRAPH_BUDGET", "3".into())]).await;
    let tenant = tenant(&w, "Kept", 20).await;
    fill(&w, &tenant).await;
    // 24 users over pages of four: the first run stops in the users round.
    sweep(&w, &tenant).await;
    let resume = sync_state(&w, &tenant).await.resume.unwrap();
    let Phase::Users { next, groups } = &resume.phase else {
        panic!("{resume:?}");
    };
    assert!(next.contains("/users/delta?$skiptoken="), "{next}");
    assert!(groups.starts_with("/groups/delta?$select="), "{groups}");
    assert_eq!(resume.runs, 1);
    // Until the groups round has listed some teams.
    let resume = loop {
        sweep(&w, &tenant).await;
        let resume = sync_state(&w, &tenant).await.resume.unwrap();
        if !resume.seen.is_empty() {
            break resume;
        }
        assert!(resume.runs < 20, "{resume:?}");
    };
    let Phase::Groups { users_link, next } = &resume.phase else {
        panic!("{resume:?}");
    };
    assert!(users_link.contains("$deltatoken="), "{users_link}");
    assert!(next.contains("/groups/delta?$skiptoken="), "{next}");
    let all = inventory(&w, &tenant).await;
    let held: BTreeSet<String> = all.iter().map(|t| t.group_id.clone()).collect();
    let found: BTreeSet<String> = all
        .iter()
        .filter(|t| t.template_id.is_none())
        .map(|t| t.group_id.clone())
        .collect();
    let seen: BTreeSet<String> = resume.seen.iter().cloned().collect();
    assert!(seen.is_subset(&held), "{seen:?} {held:?}");
    assert!(
        found.is_subset(&seen),
        "every team the listing found so far is kept as seen"
    );
}

#[tokio::test]
async fn a_throttling_storm_on_one_tenant_does_not_hold_up_another_tenants_sweep() {
    let w = world().await;
    let (a, b) = (tenant(&w, "Stormy", 0).await, tenant(&w, "Calm", 0).await);
    directory(&w, &a).await;
    directory(&w, &b).await;
    w.graph.set_page_size(2);
    // A's first two requests are answered 429, Retry-After: 4.
    w.graph.throttle_tenant(a.as_str(), 2, 4);
    let stormy = sweep(&w, &a);
    let calm = async {
        while !w
            .graph
            .requests_of(a.as_str())
            .iter()
            .any(|s| s.status == 429)
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let line = sweep(&w, &b).await;
        (line, w.graph.requests_of(a.as_str()).len())
    };
    let (a_line, (b_line, a_meanwhile)) = tokio::join!(stormy, calm);
    assert!(b_line.contains("Full round"), "{b_line}");
    assert!(a_line.contains("Full round"), "{a_line}");
    assert_eq!(
        a_meanwhile, 1,
        "A waited out its Retry-After while B's whole sweep ran"
    );
    let (a_seen, b_seen) = (
        w.graph.requests_of(a.as_str()),
        w.graph.requests_of(b.as_str()),
    );
    assert!(b_seen.len() >= 4, "{b_seen:?}");
    assert!(b_seen.iter().all(|s| s.status == 200), "{b_seen:?}");
    assert_eq!(
        a_seen.iter().map(|s| s.status).take(3).collect::<Vec<_>>(),
        [429, 429, 200]
    );
    assert!(
        b_seen.iter().all(|s| s.at < a_seen[1].at),
        "every request of B's sweep went before A's second"
    );
    assert!(
        a_seen
            .iter()
            .chain(&b_seen)
            .all(|s| s.priority.as_deref() == Some("Low")),
        "sweep requests are low priority"
    );
    // What each sweep cost is on its round, and in its line.
    let round = sync_state(&w, &a).await.last_full.unwrap();
    assert_eq!(round.throttled, 2, "{round:?}");
    assert_eq!(round.graph_requests, a_seen.len() as u64);
    assert_eq!(round.batched, 0);
    assert!(
        a_line.contains(&format!(
            "{} Graph requests, 0 sub-requests (2 throttled)",
            a_seen.len()
        )),
        "{a_line}"
    );
    let round = sync_state(&w, &b).await.last_full.unwrap();
    assert_eq!(
        (round.throttled, round.graph_requests),
        (0, b_seen.len() as u64)
    );
}
