//! Governance actions, driven as the Functions host drives them: asked for
//! through `actions::request`, run by `GovernanceAction` from the
//! `governance-action` queue against the Graph stand-in. Each action's
//! effect in Graph, in the inventory and in the audit trail; every
//! transition with the clock moved and the illegal ones refused without a
//! Graph call; one key, one action; Graph failing is retried, then the job
//! says it failed. `faults` stops a run after every checkpoint.

mod faults;

use std::time::Duration;

use salestim::governance::audit::{self, AuditEntry};
use salestim::governance::lifecycle::actions::{
    self, Action, ActionJob, ActionRequest, JobState, Requested,
};
use salestim::governance::lifecycle::machine::{Cause, LifecycleState};
use salestim::governance::lifecycle::policy::PolicyKind;
use salestim::governance::people::Person;
use salestim::governance::teams::{self, Renewal, TeamRecord};
use salestim::ids::TenantId;
use salestim::platform::clock::Clock;

use crate::inventory::{ANN, BOB, CID, GUS, World, tenant, world_with};
use crate::support::app::wait_until;

pub(crate) struct Setup {
    pub(crate) w: World,
    pub(crate) tenant: TenantId,
    /// Alpha: owned by Ann, with Bob and Gus (a guest).
    pub(crate) team: String,
}

/// A consented tenant with one team, in Graph and in the inventory.
pub(crate) async fn setup() -> Setup {
    let w = world_with(Vec::new()).await;
    let tenant = tenant(&w, "Contoso", 0).await;
    w.graph.set_operation_polls(1);
    let team = w
        .graph
        .add_team(tenant.as_str(), "Alpha", &[ANN], &[BOB, GUS]);
    let record = TeamRecord {
        group_id: team.clone(),
        display_name: "Alpha".into(),
        owners: vec![Person::new(ANN, "Ann")],
        member_ids: vec![ANN.into(), BOB.into(), GUS.into()],
        guest_ids: vec![GUS.into()],
        expires_at: Some(w.app.clock.now() + time::Duration::days(10)),
        renewal_days: Some(90),
        first_seen_at: Some(w.app.clock.now()),
        ..TeamRecord::default()
    };
    teams::put(w.app.app.docs.as_ref(), &tenant, &record)
        .await
        .unwrap();
    Setup { w, tenant, team }
}

pub(crate) fn cause(actor: &str, reason: &str) -> Cause {
    Cause {
        actor: actor.into(),
        policy: Some((PolicyKind::Expiry, 3)),
        reason: reason.into(),
    }
}

pub(crate) async fn ask(s: &Setup, action: Action, key: &str) -> Requested {
    ask_as(
        s,
        action,
        key,
        cause("system:SweepTenant", "the policy says so"),
    )
    .await
}

async fn ask_as(s: &Setup, action: Action, key: &str, cause: Cause) -> Requested {
    let app = &s.w.app.app;
    actions::request(
        app.docs.as_ref(),
        app.clock.as_ref(),
        app.queues.as_ref(),
        &s.tenant,
        ActionRequest {
            team_id: s.team.clone(),
            action,
            cause,
            key: key.into(),
        },
    )
    .await
    .expect("the request is recorded")
}

/// The job of `key`, once the local host has finished it.
pub(crate) async fn finished(s: &Setup, key: &str) -> ActionJob {
    let docs = s.w.app.app.docs.as_ref();
    wait_until(Duration::from_secs(30), || async {
        actions::get(docs, &s.tenant, key)
            .await
            .unwrap()
            .is_some_and(|j| j.is_finished())
    })
    .await;
    actions::get(docs, &s.tenant, key).await.unwrap().unwrap()
}

/// Asks for `action` and waits for it to be done.
async fn act(s: &Setup, action: Action, key: &str) -> ActionJob {
    let requested = ask(s, action, key).await;
    assert!(matches!(requested, Requested::Queued(_)), "{requested:?}");
    let job = finished(s, key).await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    job
}

pub(crate) async fn record(s: &Setup) -> TeamRecord {
    teams::get(s.w.app.app.docs.as_ref(), &s.tenant, &s.team)
        .await
        .unwrap()
}

pub(crate) async fn trail(s: &Setup, action: &str) -> Vec<AuditEntry> {
    let mut all = audit::trail(s.w.app.app.docs.as_ref(), &s.tenant)
        .await
        .unwrap();
    all.retain(|e| e.action == action);
    all
}

/// The team as the Graph stand-in has it.
pub(crate) fn snapshot(s: &Setup) -> crate::support::graph::TeamSnapshot {
    s.w.graph
        .teams(s.tenant.as_str())
        .into_iter()
        .find(|x| x.group_id == s.team)
        .expect("the team is in Graph")
}

fn has(list: &[String], user: &str) -> bool {
    list.iter().any(|u| u == user)
}

async fn set_lifecycle(s: &Setup, state: LifecycleState) {
    let mut team = record(s).await;
    team.lifecycle = state;
    teams::put(s.w.app.app.docs.as_ref(), &s.tenant, &team)
        .await
        .unwrap();
}

#[tokio::test]
async fn each_action_changes_graph_the_inventory_and_the_audit_trail() {
    let s = setup().await;
    let (t, g) = (s.tenant.as_str(), s.team.as_str());

    act(&s, Action::Archive, "k-archive").await;
    assert!(s.w.graph.is_archived(t, g));
    assert_eq!(record(&s).await.lifecycle, LifecycleState::Archived);
    let archived = trail(&s, "team.archived").await;
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].actor, "system:SweepTenant");
    assert_eq!(archived[0].details["policy"]["version"], 3);
    assert_eq!(archived[0].details["policy"]["kind"], "expiry");
    assert_eq!(archived[0].details["from"], "active");
    assert_eq!(archived[0].details["to"], "archived");
    assert_eq!(archived[0].details["reason"], "the policy says so");
    let posted = s.w.graph.requests();
    assert!(
        posted
            .iter()
            .any(|r| r.method == "POST" && r.path == format!("/teams/{g}/archive")),
        "archived through Teams"
    );

    act(&s, Action::Unarchive, "k-unarchive").await;
    assert!(!s.w.graph.is_archived(t, g));
    assert_eq!(record(&s).await.lifecycle, LifecycleState::Active);

    act(&s, Action::AddOwner { user: CID.into() }, "k-owner").await;
    let in_graph = snapshot(&s);
    assert!(has(&in_graph.owners, CID));
    assert!(record(&s).await.is_owner(CID));
    assert_eq!(
        record(&s).await.owners.last().unwrap(),
        &Person::new(CID, "Cid")
    );

    // Ann (an owner) decided the guest goes: the trail says so.
    let by_ann = cause("user:ann", "guest review: not needed any more");
    let requested = ask_as(
        &s,
        Action::RemoveGuest { user: GUS.into() },
        "k-guest",
        by_ann,
    )
    .await;
    assert!(matches!(requested, Requested::Queued(_)));
    assert_eq!(finished(&s, "k-guest").await.state, JobState::Done);
    let in_graph = snapshot(&s);
    assert!(!has(&in_graph.members, GUS));
    let team = record(&s).await;
    assert!(!team.is_member(GUS) && team.guest_ids.is_empty());
    let removed = trail(&s, "team.guestRemoved").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].actor, "user:ann");
    assert_eq!(removed[0].details["action"]["user"], GUS);

    s.w.graph.remove_member(t, g, BOB);
    act(&s, Action::ReAddMember { user: BOB.into() }, "k-bob").await;
    let in_graph = snapshot(&s);
    assert!(has(&in_graph.members, BOB));
    assert_eq!(trail(&s, "team.memberReAdded").await.len(), 1);

    act(&s, Action::SoftDelete, "k-delete").await;
    assert!(s.w.graph.is_soft_deleted(t, g));
    assert!(s.w.graph.teams(t).iter().all(|x| x.group_id != g));
    let team = record(&s).await;
    assert_eq!(team.lifecycle, LifecycleState::SoftDeleted);
    assert!(!team.is_present());

    act(&s, Action::Restore, "k-restore").await;
    assert!(!s.w.graph.is_soft_deleted(t, g));
    assert!(s.w.graph.teams(t).iter().any(|x| x.group_id == g));
    let team = record(&s).await;
    assert_eq!(
        team.lifecycle,
        LifecycleState::Active,
        "restored, then active"
    );
    assert!(team.is_present());
    for action in [
        "team.ownerAdded",
        "team.unarchived",
        "team.softDeleted",
        "team.restored",
    ] {
        assert_eq!(trail(&s, action).await.len(), 1, "{action}");
    }
    let done = actions::for_team(s.w.app.app.docs.as_ref(), &s.tenant, g)
        .await
        .unwrap();
    assert_eq!(done.len(), 7);
    assert!(done.iter().all(|j| j.state == JobState::Done));
}

#[tokio::test]
async fn every_transition_moves_with_the_clock_and_illegal_ones_are_refused_without_graph() {
    let s = setup().await;
    let clock = &s.w.app.clock;
    let docs = s.w.app.app.docs.as_ref();

    // Illegal from Active: nothing to renew, unarchive or restore.
    for (action, key) in [
        (Action::Renew, "i-renew"),
        (Action::Unarchive, "i-unarchive"),
        (Action::Restore, "i-restore"),
        (Action::RemoveGuest { user: BOB.into() }, "i-not-a-guest"),
    ] {
        let before = s.w.graph.requests().len();
        let requested = ask(&s, action.clone(), key).await;
        let Requested::Refused(job) = requested else {
            panic!("{action:?} was not refused: {requested:?}");
        };
        assert_eq!(job.state, JobState::Failed);
        let reason = job.failure.clone().unwrap();
        assert!(
            reason.contains("cannot") || reason.contains("not a guest"),
            "{reason}"
        );
        assert_eq!(s.w.graph.requests().len(), before, "no Graph call");
        assert_eq!(s.w.app.queue_len("governance-action").await, 0);
        // Recorded, and shown with the team's failed actions.
        let failed = actions::failed_for_team(docs, &s.tenant, &s.team)
            .await
            .unwrap();
        assert!(failed.iter().any(|j| j.key == key));
    }
    assert_eq!(record(&s).await.lifecycle, LifecycleState::Active);

    // Active -> Archived -> SoftDeleted -> Restored (-> Active), then Warned -> Renewed (-> Active)
    // and Warned -> Archived -> Active: each at the clock's time.
    s.w.graph.set_now(clock.now());
    let steps = [
        (None, Action::Archive, LifecycleState::Archived),
        (None, Action::SoftDelete, LifecycleState::SoftDeleted),
        (None, Action::Restore, LifecycleState::Active),
        (
            Some(LifecycleState::Warned),
            Action::Renew,
            LifecycleState::Active,
        ),
        (
            Some(LifecycleState::Warned),
            Action::Archive,
            LifecycleState::Archived,
        ),
        (None, Action::Unarchive, LifecycleState::Active),
    ];
    for (i, (start, action, expected)) in steps.into_iter().enumerate() {
        clock.advance(time::Duration::days(3));
        s.w.graph.set_now(clock.now());
        if let Some(start) = start {
            set_lifecycle(&s, start).await;
        }
        let from = record(&s).await.lifecycle;
        let job = act(&s, action.clone(), &format!("t-{i}")).await;
        let team = record(&s).await;
        assert_eq!(team.lifecycle, expected, "{action:?}");
        assert_eq!(team.lifecycle_since, Some(clock.now()), "{action:?}");
        let t = job.transition.unwrap();
        // A renewed or restored team is active at once; the job keeps the
        // transition its action made.
        let made = match action {
            Action::Renew => LifecycleState::Renewed,
            Action::Restore => LifecycleState::Restored,
            _ => expected,
        };
        assert_eq!((t.from, t.to, t.at), (from, made, clock.now()));
    }
    // Archived twice (from Active and from Warned), each audited at its time.
    let archived = trail(&s, "team.archived").await;
    assert_eq!(archived.len(), 2);
    assert_ne!(archived[0].at, archived[1].at);

    // An action the machine allowed when asked but not when run: refused
    // by the job, before Graph.
    set_lifecycle(&s, LifecycleState::Archived).await;
    let msg = faults::message(&s, Action::Archive, "late");
    let before = s.w.graph.requests().len();
    let runner = salestim::functions::governance_action::runner(&s.w.app.app, None);
    let graph = s.w.app.app.graph.as_ref().unwrap();
    let outcome = runner.run(graph, &msg).await.unwrap();
    let actions::Outcome::Failed(job) = outcome else {
        panic!("{outcome:?}");
    };
    assert!(job.failure.unwrap().contains("cannot Archive"));
    assert_eq!(s.w.graph.requests().len(), before, "no Graph call");
}

#[tokio::test]
async fn a_renewal_renews_the_group_in_entra_and_keeps_the_expiry_consistent() {
    let s = setup().await;
    let now = s.w.app.clock.now();
    s.w.graph.set_now(now);
    set_lifecycle(&s, LifecycleState::Warned).await;

    // No Entra policy: the team's own period, from its expiry.
    let before = record(&s).await.expires_at.unwrap();
    act(&s, Action::Renew, "renew-1").await;
    let team = record(&s).await;
    assert_eq!(
        team.lifecycle,
        LifecycleState::Active,
        "renewed, then active"
    );
    assert_eq!(team.renewal, Renewal::Renewed);
    assert_eq!(team.expires_at, Some(before + time::Duration::days(90)));
    let (renewed, expires) = s.w.graph.group_dates(s.tenant.as_str(), &s.team);
    assert!(renewed.is_some() && expires.is_none());

    // The tenant's Entra lifetime decides once there is one.
    s.w.graph.set_group_lifetime(s.tenant.as_str(), 180);
    s.w.app.clock.advance(time::Duration::days(100));
    let now = s.w.app.clock.now();
    s.w.graph.set_now(now);
    set_lifecycle(&s, LifecycleState::Warned).await;
    let job = act(&s, Action::Renew, "renew-2").await;
    assert_eq!(job.renewal.as_ref().unwrap().lifetime_days, Some(180));
    let team = record(&s).await;
    let expected = now + time::Duration::days(180);
    assert_eq!(
        team.expires_at.map(|t| t.unix_timestamp()),
        Some(expected.unix_timestamp())
    );
    assert_eq!(team.entra_expires_at, team.expires_at);
    let renewals = trail(&s, "team.renewed").await;
    assert_eq!(renewals.len(), 2);
    assert_eq!(renewals[1].details["groupLifetimeDays"], 180);
    let posted: Vec<_> =
        s.w.graph
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/renew"))
            .collect();
    assert_eq!(posted.len(), 2);
}

#[tokio::test]
async fn the_same_key_twice_does_one_thing() {
    let s = setup().await;
    let first = ask(&s, Action::Archive, "card:abc").await;
    let second = ask(&s, Action::Archive, "card:abc").await;
    assert!(matches!(first, Requested::Queued(_)), "{first:?}");
    assert!(matches!(second, Requested::Already(_)), "{second:?}");
    assert_eq!(finished(&s, "card:abc").await.state, JobState::Done);
    // Again after it is done, even with another action under that key.
    let third = ask(&s, Action::Unarchive, "card:abc").await;
    let Requested::Already(job) = third else {
        panic!("{third:?}");
    };
    assert_eq!((job.action, job.state), (Action::Archive, JobState::Done));
    s.w.app.drain("governance-action").await;
    let archives =
        s.w.graph
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/archive"))
            .count();
    assert_eq!(archives, 1);
    assert_eq!(trail(&s, "team.archived").await.len(), 1);
    assert_eq!(record(&s).await.lifecycle, LifecycleState::Archived);

    // Bad input writes nothing.
    let app = &s.w.app.app;
    for (team, key) in [("../groups", "k"), (s.team.as_str(), " ")] {
        let refused = actions::request(
            app.docs.as_ref(),
            app.clock.as_ref(),
            app.queues.as_ref(),
            &s.tenant,
            ActionRequest {
                team_id: team.into(),
                action: Action::Archive,
                cause: cause("system:x", "y"),
                key: key.into(),
            },
        )
        .await;
        assert!(refused.is_err(), "{team} {key:?}");
    }
    let all = actions::for_team(app.docs.as_ref(), &s.tenant, &s.team)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn a_graph_failure_is_retried_then_recorded_as_failed_and_shown() {
    let s = setup().await;
    s.w.graph
        .fail_next("POST", &format!("/teams/{}/archive", s.team), 503, 1000);
    let requested = ask(&s, Action::Archive, "doomed").await;
    assert!(matches!(requested, Requested::Queued(_)));
    let job = finished(&s, "doomed").await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.runs, 5, "maxDequeueCount runs, then the poison queue");
    let failure = job.failure.clone().unwrap();
    assert!(failure.contains("kept failing"), "{failure}");
    assert!(failure.contains("503"), "{failure}");
    assert!(!s.w.graph.is_archived(s.tenant.as_str(), &s.team));
    assert_eq!(record(&s).await.lifecycle, LifecycleState::Active);
    let failed = actions::failed_for_team(s.w.app.app.docs.as_ref(), &s.tenant, &s.team)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].key, "doomed");
    let audited = trail(&s, "team.actionFailed").await;
    assert_eq!(audited.len(), 1);
    assert!(
        audited[0].details["failure"]
            .as_str()
            .unwrap()
            .contains("kept failing")
    );
    s.w.app.drain("governance-action-poison").await;
}

#[tokio::test]
async fn a_refusal_from_graph_fails_at_once_and_another_tenants_team_is_out_of_reach() {
    let s = setup().await;
    s.w.graph
        .fail_next("POST", &format!("/teams/{}/archive", s.team), 403, 1);
    ask(&s, Action::Archive, "forbidden").await;
    let job = finished(&s, "forbidden").await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.runs, 1, "no retry loop for what retrying cannot fix");
    assert!(job.failure.unwrap().contains("consent"));
    assert_eq!(record(&s).await.lifecycle, LifecycleState::Active);

    // Fabrikam asks for Contoso's team: not in its inventory, refused.
    let other = tenant(&s.w, "Fabrikam", 0).await;
    let app = &s.w.app.app;
    let before = s.w.graph.requests().len();
    let requested = actions::request(
        app.docs.as_ref(),
        app.clock.as_ref(),
        app.queues.as_ref(),
        &other,
        ActionRequest {
            team_id: s.team.clone(),
            action: Action::SoftDelete,
            cause: cause("system:SweepTenant", "expired"),
            key: "cross".into(),
        },
    )
    .await
    .unwrap();
    let Requested::Refused(job) = requested else {
        panic!("{requested:?}");
    };
    assert!(job.failure.unwrap().contains("no team"));
    assert_eq!(s.w.graph.requests().len(), before);
    assert!(!s.w.graph.is_soft_deleted(s.tenant.as_str(), &s.team));
    assert!(
        actions::get(app.docs.as_ref(), &s.tenant, "cross")
            .await
            .unwrap()
            .is_none(),
        "nothing written in Contoso's partition"
    );
}
