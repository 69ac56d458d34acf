//! The team inventory, driven as the Functions host drives it: the
//! `GovernanceSweep` timer fanning out, `SweepTenant` syncing one tenant
//! (and saying so once in its log line) from the Graph stand-in's `/users/delta` and `/groups/delta`. A full
//! sync finds exactly the teams (not the plain groups) with their owners,
//! members and guests; an incremental one reads only the changes, at a cost
//! that does not grow with the tenant; an expired token gives a full
//! resync; tenants stay apart; many small pages and 429s change nothing.
//! `delta_walk` tests the Graph client's delta walker on its own; `budget`
//! a sweep's Graph budget and the per-tenant governor.

mod budget;
mod delta_walk;

use std::collections::BTreeSet;

use salestim::governance::lifecycle::machine::LifecycleState;
use salestim::governance::lifecycle::state::{self, RoundKind, SyncState};
use salestim::governance::people::Person;
use salestim::governance::teams::{self, Removal, TeamRecord};
use salestim::ids::TenantId;
use salestim::platform::clock::Clock;
use serde_json::json;

use crate::support::app::{Options, TestApp, spawn_app_with};
use crate::support::graph::{CLIENT_ID, DeltaExpiry, GraphStandIn};
use crate::support::logs;

pub(crate) const ANN: &str = "0a000000-0000-4000-8000-00000000a001";
pub(crate) const BOB: &str = "0a000000-0000-4000-8000-00000000b002";
pub(crate) const CID: &str = "0a000000-0000-4000-8000-00000000c003";
pub(crate) const GUS: &str = "0a000000-0000-4000-8000-00000000d004";
const GIL: &str = "0a000000-0000-4000-8000-00000000e005";

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) graph: GraphStandIn,
}

async fn world() -> World {
    world_with(Vec::new()).await
}

/// The app with Graph credentials for the stand-in, and `extra` settings.
pub(crate) async fn world_with(extra: Vec<(&'static str, String)>) -> World {
    let graph = GraphStandIn::start().await;
    let mut settings = vec![
        ("GRAPH_BASE_URL", graph.base_url.to_string()),
        ("ENTRA_AUTHORITY_HOST", graph.authority_host.to_string()),
        ("GRAPH_CLIENT_ID", CLIENT_ID.into()),
        ("GRAPH_CLIENT_SECRET", graph.client_secret()),
    ];
    settings.extend(extra);
    let app = spawn_app_with(Options {
        settings,
        ..Options::default()
    })
    .await;
    World { app, graph }
}

/// A tenant that granted consent, with Ann, Bob and Cid (members of the
/// organisation), Gus (a guest) and `extra` more people.
pub(crate) async fn tenant(w: &World, name: &str, extra: usize) -> TenantId {
    let id = w.app.add_consented_tenant(name).await;
    let t = id.as_str();
    w.graph.add_tenant(t, true);
    for (user, display) in [(ANN, "Ann"), (BOB, "Bob"), (CID, "Cid")] {
        w.graph.add_user(t, user, display, None, None, None);
    }
    w.graph.add_guest(t, GUS, "Gus (guest)");
    for i in 0..extra {
        let user = format!("0b000000-0000-4000-8000-{i:012}");
        w.graph
            .add_user(t, &user, &format!("User {i}"), None, None, None);
    }
    id
}

/// `SweepTenant` for `tenant`, run now as its queue message would run it;
/// the log line says what it did.
pub(crate) async fn sweep(w: &World, tenant: &TenantId) -> String {
    let input = json!({"tenantId": tenant.as_str()}).to_string();
    let res = w.app.run_function("SweepTenant", &input).await;
    res.return_value.as_str().unwrap_or_default().to_owned()
}

/// Stores `policies` as the tenant's next version, as an admin would.
pub(crate) async fn store_policies(w: &World, tenant: &TenantId, policies: serde_json::Value) {
    use salestim::governance::lifecycle::{policy::Policies, store};
    let policies: Policies = serde_json::from_value(policies).expect("valid policies");
    store::save(
        w.app.app.docs.as_ref(),
        w.app.clock.as_ref(),
        tenant,
        &policies,
        None,
        &[],
        "admin",
    )
    .await
    .expect("the policies are stored");
}

pub(crate) async fn inventory(w: &World, tenant: &TenantId) -> Vec<TeamRecord> {
    use futures::TryStreamExt;
    let mut all: Vec<TeamRecord> = teams::all(w.app.app.docs.as_ref(), tenant)
        .try_collect()
        .await
        .unwrap();
    all.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    all
}

pub(crate) async fn sync_state(w: &World, tenant: &TenantId) -> SyncState {
    state::get(w.app.app.docs.as_ref(), tenant)
        .await
        .unwrap()
        .expect("a sync ran")
}

fn team<'a>(all: &'a [TeamRecord], name: &str) -> &'a TeamRecord {
    all.iter()
        .find(|t| t.display_name == name)
        .unwrap_or_else(|| panic!("{name} in {:?}", names(all)))
}

pub(crate) fn names(all: &[TeamRecord]) -> Vec<&str> {
    all.iter().map(|t| t.display_name.as_str()).collect()
}

fn ids(list: &[String]) -> BTreeSet<&str> {
    list.iter().map(String::as_str).collect()
}

fn set<'a>(list: &[&'a str]) -> BTreeSet<&'a str> {
    list.iter().copied().collect()
}

/// The tenant of the stories: two teams made outside SalesTim, one made by
/// SalesTim (its record written as provisioning writes it), one plain
/// group; returns the group ids (alpha, beta, gamma, plain).
async fn directory(w: &World, tenant: &TenantId) -> [String; 4] {
    let t = tenant.as_str();
    let alpha = w.graph.add_team(t, "Alpha", &[ANN], &[BOB, GUS]);
    let beta = w.graph.add_team(t, "Beta", &[BOB], &[]);
    let gamma = w.graph.add_team(t, "Gamma", &[CID], &[ANN]);
    let plain = w
        .graph
        .add_plain_group(t, "All staff", &[ANN], &[BOB, CID, GUS]);
    let now = w.app.clock.now();
    let made = TeamRecord {
        group_id: gamma.clone(),
        display_name: "Gamma".into(),
        owners: vec![Person::new(CID, "Cid")],
        template_id: Some("project".into()),
        expires_at: Some(now + time::Duration::days(180)),
        renewal_days: Some(180),
        member_ids: vec![ANN.into()],
        first_seen_at: Some(now),
        ..TeamRecord::default()
    };
    teams::put(w.app.app.docs.as_ref(), tenant, &made)
        .await
        .unwrap();
    [alpha, beta, gamma, plain]
}

#[tokio::test]
async fn a_full_sync_finds_exactly_the_teams_with_their_people_and_keeps_salestims_state() {
    let w = world().await;
    let tenant = tenant(&w, "Contoso", 20).await;
    let [alpha, _, gamma, plain] = directory(&w, &tenant).await;
    let before = teams::get(w.app.app.docs.as_ref(), &tenant, &gamma)
        .await
        .unwrap();

    let log = logs::capture();
    let line = sweep(&w, &tenant).await;
    assert!(line.contains("Full round (first sync)"), "{line}");
    let said = log.saying(&line);
    assert_eq!(said.len(), 1, "said once: {said:#?}");
    assert_eq!(said[0]["span"]["function"], "SweepTenant");
    assert_eq!(said[0]["span"]["tenant_id"], tenant.as_str());

    let all = inventory(&w, &tenant).await;
    assert_eq!(
        names(&all),
        ["Alpha", "Beta", "Gamma"],
        "the plain group is not a team"
    );
    assert!(all.iter().all(|t| t.group_id != plain));
    let a = team(&all, "Alpha");
    assert_eq!(a.group_id, alpha);
    assert_eq!(a.owners, [Person::new(ANN, "Ann")]);
    assert_eq!(ids(&a.member_ids), set(&[ANN, BOB, GUS]));
    assert_eq!(a.guest_ids, [GUS]);
    assert!(!a.from_template(), "made outside SalesTim");
    assert!(a.is_present() && a.first_seen_at.is_some());
    assert!(
        a.mail_nickname
            .as_deref()
            .is_some_and(|n| n.starts_with("Alpha"))
    );
    assert!(a.entra_created_at.is_some());
    let b = team(&all, "Beta");
    assert_eq!(b.owners, [Person::new(BOB, "Bob")]);
    assert!(b.guest_ids.is_empty());
    let g = team(&all, "Gamma");
    assert_eq!(
        g.template_id.as_deref(),
        Some("project"),
        "SalesTim's team keeps its template"
    );
    assert_eq!(
        (g.expires_at, g.renewal_days, g.renewal),
        (before.expires_at, before.renewal_days, before.renewal)
    );
    assert_eq!(g.owners, [Person::new(CID, "Cid")]);
    assert_eq!(ids(&g.member_ids), set(&[CID, ANN]));

    let state = sync_state(&w, &tenant).await;
    let full = state.last_full.expect("the full round is kept");
    assert_eq!(
        (full.kind, full.teams_seen, full.added),
        (RoundKind::Full, 3, 2)
    );
    assert_eq!((full.groups_read, full.users_read), (4, 24));
    assert!(state.groups_link.unwrap().contains("$deltatoken="));
    assert!(state.users_link.unwrap().contains("$deltatoken="));
    assert!(state.lease.is_none(), "the lease is given back");
    // One users page and one groups page: no call per team.
    let seen = w.graph.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(full.graph_requests, 2);
}

#[tokio::test]
async fn an_incremental_sync_updates_exactly_what_changed_at_a_cost_independent_of_the_tenant() {
    let w = world().await;
    let mut costs = Vec::new();
    for (name, filler) in [("Small", 0), ("Large", 150)] {
        let tenant = tenant(&w, name, filler * 3).await;
        let t = tenant.as_str();
        let [alpha, beta, gamma, plain] = directory(&w, &tenant).await;
        for i in 0..filler {
            let member = format!("0b000000-0000-4000-8000-{:012}", i * 3);
            w.graph
                .add_team(t, &format!("Filler {i:03}"), &[ANN], &[&member]);
            w.graph
                .add_plain_group(t, &format!("List {i:03}"), &[BOB], &[&member]);
        }
        w.graph.set_page_size(50);
        w.graph.reset_counts();
        sweep(&w, &tenant).await;
        let before = inventory(&w, &tenant).await;
        assert_eq!(before.len(), 3 + filler);
        let full = w.graph.count().http;

        w.graph.rename_group(t, &alpha, "Alpha Sales");
        w.graph.add_member(t, &beta, CID);
        w.graph.add_guest(t, GIL, "Gil (guest)");
        w.graph.add_member(t, &beta, GIL);
        w.graph.delete_group(t, &gamma, false);
        let delta = w.graph.add_team(t, "Delta", &[CID], &[GUS]);
        w.graph.add_member(t, &plain, GIL);
        w.graph.reset_counts();
        w.app.clock.advance(time::Duration::hours(6));

        let line = sweep(&w, &tenant).await;
        assert!(
            line.contains("Incremental round (kept delta links)"),
            "{line}"
        );
        let after = inventory(&w, &tenant).await;
        assert_eq!(after.len(), before.len() + 1);
        let a = team(&after, "Alpha Sales");
        assert_eq!(a.group_id, alpha);
        let b = team(&after, "Beta");
        assert_eq!(ids(&b.member_ids), set(&[BOB, CID, GIL]));
        assert_eq!(b.guest_ids, [GIL], "a guest added is counted");
        let g = team(&after, "Gamma");
        assert_eq!(g.removed.map(|r| r.reason), Some(Removal::SoftDeleted));
        // Deleted outside SalesTim: its lifecycle follows, audited.
        assert_eq!(g.lifecycle, LifecycleState::SoftDeleted);
        let followed: Vec<_> = salestim::governance::audit::trail(w.app.app.docs.as_ref(), &tenant)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.actor == "system:inventory")
            .collect();
        assert_eq!(followed.len(), 1, "{followed:?}");
        assert_eq!(followed[0].action, "team.softDeleted");
        assert_eq!(followed[0].details["groupId"], gamma.as_str());
        assert_eq!(g.template_id.as_deref(), Some("project"));
        let d = team(&after, "Delta");
        assert_eq!(d.group_id, delta);
        assert_eq!(d.owners, [Person::new(CID, "Cid")]);
        assert_eq!(ids(&d.member_ids), set(&[CID, GUS]));
        assert_eq!(d.guest_ids, [GUS]);
        assert!(!d.from_template());
        // Every other team is exactly as it was.
        let untouched = |t: &&TeamRecord| ![&alpha, &beta, &gamma].contains(&&t.group_id);
        let was: Vec<_> = before.iter().filter(untouched).collect();
        let now: Vec<_> = after
            .iter()
            .filter(untouched)
            .filter(|t| t.group_id != delta)
            .collect();
        assert_eq!(was, now);

        let round = sync_state(&w, &tenant).await.last_incremental.unwrap();
        assert_eq!(
            (round.added, round.changed, round.removed),
            (1, 2, 1),
            "{round:?}"
        );
        assert_eq!(round.graph_requests, w.graph.count().http);
        eprintln!(
            "{name}: full sync {full} Graph requests for {} teams, incremental {} for 5 changes",
            before.len(),
            round.graph_requests
        );
        costs.push((w.graph.requests(), round.graph_requests));
    }
    let (small, large) = (&costs[0], &costs[1]);
    assert_eq!(small.1, large.1, "{:?} vs {:?}", small.0, large.0);
    // Users and groups delta pages, Delta's members and owners read whole,
    // one $batch for Cid (added, not in the users round).
    assert!(large.1 <= 6, "{:?}", large.0);
}

#[tokio::test]
async fn an_expired_token_gives_a_full_resync_with_the_same_result() {
    let w = world().await;
    let tenant = tenant(&w, "Fabrikam", 5).await;
    let t = tenant.as_str();
    let [alpha, beta, gamma, _] = directory(&w, &tenant).await;
    sweep(&w, &tenant).await;

    for (how, status) in [
        (DeltaExpiry::Gone, "410"),
        (DeltaExpiry::SyncStateNotFound, "400"),
    ] {
        w.graph.add_member(t, &alpha, CID);
        w.graph.expire_delta_tokens(t, how);
        w.app.clock.advance(time::Duration::hours(6));
        let line = sweep(&w, &tenant).await;
        assert!(
            line.contains("Full round (a delta token expired (HTTP"),
            "{line}"
        );
        assert!(line.contains(status), "{line}");
        let all = inventory(&w, &tenant).await;
        assert!(ids(&team(&all, "Alpha").member_ids).contains(CID));
        w.graph.remove_member(t, &alpha, CID);
    }
    // Deleted for good while no token covered it: the full listing misses it.
    w.graph.delete_group(t, &beta, true);
    w.graph.rename_group(t, &gamma, "Gamma 2");
    w.graph.expire_delta_tokens(t, DeltaExpiry::Gone);
    sweep(&w, &tenant).await;
    let all = inventory(&w, &tenant).await;
    assert_eq!(names(&all), ["Alpha", "Beta", "Gamma 2"]);
    assert_eq!(
        team(&all, "Beta").removed.map(|r| r.reason),
        Some(Removal::Missing)
    );
    assert_eq!(team(&all, "Beta").lifecycle, LifecycleState::Purged);
    assert_eq!(
        team(&all, "Gamma 2").template_id.as_deref(),
        Some("project")
    );
    assert!(!ids(&team(&all, "Alpha").member_ids).contains(CID));
    // And the next round is incremental again.
    let line = sweep(&w, &tenant).await;
    assert!(line.contains("Incremental round"), "{line}");
}

#[tokio::test]
async fn the_timer_fans_out_per_tenant_and_a_sync_never_touches_another_tenants_inventory() {
    let w = world().await;
    let (a, b) = (tenant(&w, "A", 0).await, tenant(&w, "B", 0).await);
    let unconsented = w.app.add_tenant("Not yet").await;
    w.graph.add_tenant(unconsented.as_str(), true);
    let [alpha, ..] = directory(&w, &a).await;
    directory(&w, &b).await;

    let res = w.app.run_function("GovernanceSweep", "").await;
    let said = res.return_value.as_str().unwrap_or_default();
    assert!(said.contains("queued for 2 tenants, 0 failed"), "{said}");
    w.app.drain("sweep-tenant").await;
    let (a_teams, b_teams) = (inventory(&w, &a).await, inventory(&w, &b).await);
    assert_eq!(names(&a_teams), ["Alpha", "Beta", "Gamma"]);
    assert_eq!(names(&b_teams), ["Alpha", "Beta", "Gamma"]);
    assert!(
        a_teams
            .iter()
            .all(|t| b_teams.iter().all(|u| u.group_id != t.group_id))
    );
    assert!(
        state::get(w.app.app.docs.as_ref(), &unconsented)
            .await
            .unwrap()
            .is_none()
    );

    // The same period again (another region's timer): nothing is read.
    w.graph.reset_counts();
    w.app.run_function("GovernanceSweep", "").await;
    w.app.drain("sweep-tenant").await;
    assert_eq!(w.graph.count().http, 0, "{:?}", w.graph.requests());

    // A's changes, A's sync: B's inventory and state stay as they were.
    let b_state = sync_state(&w, &b).await;
    w.graph.rename_group(a.as_str(), &alpha, "Alpha renamed");
    sweep(&w, &a).await;
    assert_eq!(
        names(&inventory(&w, &a).await),
        ["Alpha renamed", "Beta", "Gamma"]
    );
    assert_eq!(inventory(&w, &b).await, b_teams);
    assert_eq!(sync_state(&w, &b).await, b_state);
}

#[tokio::test]
async fn many_small_pages_empty_pages_and_big_groups_split_over_pages_give_the_same_inventory() {
    let w = world().await;
    let tenant = tenant(&w, "Paged", 40).await;
    let t = tenant.as_str();
    let people: Vec<String> = (0..40)
        .map(|i| format!("0b000000-0000-4000-8000-{i:012}"))
        .collect();
    let refs: Vec<&str> = people.iter().map(String::as_str).collect();
    let big = w.graph.add_team(t, "Big", &[ANN, BOB], &refs);
    for i in 0..30 {
        w.graph
            .add_team(t, &format!("Team {i:02}"), &[CID], &[refs[i]]);
        if i % 3 == 0 {
            w.graph
                .add_plain_group(t, &format!("Group {i:02}"), &[CID], &refs[..5]);
        }
    }
    w.graph.set_page_size(4);
    w.graph.set_delta_link_chunk(7);
    w.graph.set_delta_empty_pages(2);
    sweep(&w, &tenant).await;
    let all = inventory(&w, &tenant).await;
    assert_eq!(all.len(), 31);
    let b = team(&all, "Big");
    assert_eq!(
        b.member_ids.len(),
        42,
        "every copy of the big group was merged"
    );
    assert_eq!(
        ids(&b
            .owners
            .iter()
            .map(|o| o.aad_object_id.clone())
            .collect::<Vec<_>>()),
        set(&[ANN, BOB])
    );
    assert!(
        all.iter()
            .filter(|t| t.display_name.starts_with("Team"))
            .all(|t| t.member_ids.len() == 2)
    );
    let full = sync_state(&w, &tenant).await.last_full.unwrap();
    assert!(full.graph_requests > 20, "{full:?}");

    w.graph.remove_member(t, &big, refs[0]);
    w.graph.add_member(t, &big, GUS);
    w.app.clock.advance(time::Duration::hours(6));
    sweep(&w, &tenant).await;
    let b = team(&inventory(&w, &tenant).await, "Big").clone();
    assert_eq!(b.member_ids.len(), 42);
    assert!(!b.member_ids.contains(&people[0]));
    assert_eq!(b.guest_ids, [GUS]);
}

#[tokio::test]
async fn throttled_delta_pages_are_waited_out_and_the_sync_completes() {
    let w = world().await;
    let tenant = tenant(&w, "Throttled", 10).await;
    directory(&w, &tenant).await;
    w.graph.set_page_size(2);
    w.graph.fail_next("GET", "/users/delta", 429, 1);
    w.graph.fail_next("GET", "/groups/delta", 429, 2);
    w.graph.set_throttle(0.1, 0);
    let line = sweep(&w, &tenant).await;
    assert!(line.contains("Full round"), "{line}");
    assert_eq!(
        names(&inventory(&w, &tenant).await),
        ["Alpha", "Beta", "Gamma"]
    );
    let full = sync_state(&w, &tenant).await.last_full.unwrap();
    assert!(full.throttled >= 3, "{full:?}");
    assert_eq!(full.throttled, w.graph.count().throttled);
    assert!(
        line.contains(&format!("({} throttled)", full.throttled)),
        "{line}"
    );
}

#[tokio::test]
async fn a_sweep_records_what_the_policies_find_and_resolves_what_a_change_fixes() {
    use salestim::governance::lifecycle::recorded;

    let w = world().await;
    let tenant = tenant(&w, "Contoso", 0).await;
    let [alpha, beta, gamma, _] = directory(&w, &tenant).await;
    let docs = w.app.app.docs.as_ref();
    let line = sweep(&w, &tenant).await;
    assert!(
        line.contains("no lifecycle policies stored: nothing evaluated"),
        "{line}"
    );

    store_policies(
        &w,
        &tenant,
        json!({"defaults": {"minimumOwners": {"minOwners": 2}, "guestReview": {}}}),
    )
    .await;
    w.app.clock.advance(time::Duration::hours(6));
    let line = sweep(&w, &tenant).await;
    // Each team has one owner; Alpha also has a guest (Gus).
    assert!(
        line.contains("policies v1 over 3 teams: 4 findings (4 new, 0 changed, 0 resolved)"),
        "{line}"
    );
    let alpha_found = recorded::of_team(docs, &tenant, &alpha).await.unwrap();
    assert_eq!(alpha_found.len(), 2);
    let owners = alpha_found
        .iter()
        .find(|r| r.policy == salestim::governance::lifecycle::policy::PolicyKind::MinimumOwners)
        .unwrap();
    assert_eq!(owners.finding.policy_version, 1);
    assert_eq!(owners.finding.facts[0].value, "1");
    assert!(!owners.finding.enforced, "dry-run until enforced");

    // Beta gets a second owner; Gamma is deleted in Entra.
    w.graph.add_owner(tenant.as_str(), &beta, ANN);
    w.graph.delete_group(tenant.as_str(), &gamma, false);
    w.app.clock.advance(time::Duration::hours(6));
    let line = sweep(&w, &tenant).await;
    assert!(
        line.contains("2 findings (0 new, 0 changed, 2 resolved)"),
        "{line}"
    );
    assert!(
        recorded::of_team(docs, &tenant, &beta)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        recorded::of_team(docs, &tenant, &gamma)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        recorded::of_team(docs, &tenant, &alpha)
            .await
            .unwrap()
            .len(),
        2
    );

    // Nothing changed: nothing written.
    w.app.clock.advance(time::Duration::hours(6));
    let line = sweep(&w, &tenant).await;
    assert!(
        line.contains("2 findings (0 new, 0 changed, 0 resolved)"),
        "{line}"
    );
}
