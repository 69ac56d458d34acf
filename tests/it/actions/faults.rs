//! A governance action stopped after every checkpoint, with Graph also
//! answering its write with a 504 after carrying it out: each kind of
//! action resumes, is taken as done after a read-back, and has exactly one
//! effect, one inventory change and one audit entry.

use salestim::functions::governance_action::runner;
use salestim::governance::lifecycle::actions::{self, Action, JobState, Outcome, Step};
use salestim::governance::lifecycle::machine::LifecycleState;
use salestim::jobs::governance_action::ActionMessage;
use salestim::platform::clock::Clock;

use super::{Setup, cause, record, set_lifecycle, setup, snapshot, trail};
use crate::inventory::{BOB, CID, GUS};

pub(crate) fn message(s: &Setup, action: Action, key: &str) -> ActionMessage {
    ActionMessage {
        tenant_id: s.tenant.clone(),
        team_id: s.team.clone(),
        action,
        cause: cause("system:SweepTenant", "the policy says so"),
        key: key.into(),
    }
}

/// Writes to `path` (ending) with `method` that had an effect: answered
/// 2xx, or the 504 the stand-in gives after carrying one out.
fn effects(s: &Setup, method: &str, path_end: &str) -> usize {
    s.w.graph
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_end))
        .filter(|r| r.status < 400 || r.status == 504)
        .count()
}

/// Runs the action, stopped after each checkpoint, until it is done; the
/// number of interruptions.
async fn run_interrupted(s: &Setup, action: Action, key: &str) -> u32 {
    let app = &s.w.app.app;
    let graph = app.graph.as_ref().unwrap();
    let msg = message(s, action, key);
    let gateway_failures = || {
        s.w.graph
            .requests()
            .iter()
            .filter(|r| r.status == 504)
            .count()
    };
    let before = gateway_failures();
    s.w.graph.fail_after_effect(1);
    let mut interrupted = 0;
    loop {
        match runner(app, Some(1)).run(graph, &msg).await {
            Err(actions::ActionError::Interrupted) => interrupted += 1,
            Err(e) => panic!("{key}, run {interrupted}: {e}"),
            Ok(Outcome::Done(job)) => {
                for step in [Step::Checked, Step::Requested, Step::Done, Step::Recorded] {
                    assert!(job.is_done(step), "{key}: {step:?}");
                }
                break;
            }
            Ok(Outcome::Failed(job)) => panic!("{key}: {:?}", job.failure),
        }
        assert!(interrupted < 10, "{key} makes progress");
    }
    assert_eq!(
        gateway_failures(),
        before + 1,
        "{key}: Graph said it failed"
    );
    // Run again: nothing more happens.
    let again = runner(app, None).run(graph, &msg).await.unwrap();
    assert!(matches!(again, Outcome::Done(_)));
    let job = actions::get(app.docs.as_ref(), &s.tenant, key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Done);
    interrupted
}

#[tokio::test]
async fn a_job_stopped_after_every_checkpoint_of_each_action_has_exactly_one_effect() {
    let s = setup().await;
    let (t, g) = (s.tenant.as_str(), s.team.as_str());
    s.w.graph.set_now(s.w.app.clock.now());

    assert_eq!(run_interrupted(&s, Action::Archive, "f-archive").await, 4);
    assert_eq!(effects(&s, "POST", "/archive"), 1);
    assert!(s.w.graph.is_archived(t, g));
    assert_eq!(record(&s).await.lifecycle, LifecycleState::Archived);

    run_interrupted(&s, Action::Unarchive, "f-unarchive").await;
    assert_eq!(effects(&s, "POST", "/unarchive"), 1);
    assert!(!s.w.graph.is_archived(t, g));

    run_interrupted(&s, Action::AddOwner { user: CID.into() }, "f-owner").await;
    assert_eq!(effects(&s, "POST", "/owners/$ref"), 1);
    let in_graph = snapshot(&s);
    assert_eq!(in_graph.owners.iter().filter(|o| *o == CID).count(), 1);
    assert_eq!(
        record(&s).await.owners.iter().filter(|o| o.is(CID)).count(),
        1
    );

    run_interrupted(&s, Action::RemoveGuest { user: GUS.into() }, "f-guest").await;
    assert_eq!(effects(&s, "DELETE", &format!("/members/{GUS}/$ref")), 1);
    assert!(!record(&s).await.is_member(GUS));

    s.w.graph.remove_member(t, g, BOB);
    run_interrupted(&s, Action::ReAddMember { user: BOB.into() }, "f-bob").await;
    assert_eq!(effects(&s, "POST", "/members/$ref"), 1);
    let in_graph = snapshot(&s);
    assert_eq!(in_graph.members.iter().filter(|m| *m == BOB).count(), 1);

    set_lifecycle(&s, LifecycleState::Warned).await;
    run_interrupted(&s, Action::Renew, "f-renew").await;
    assert_eq!(effects(&s, "POST", "/renew"), 1);
    assert_eq!(
        record(&s).await.lifecycle,
        LifecycleState::Active,
        "renewed, then active"
    );

    set_lifecycle(&s, LifecycleState::Active).await;
    run_interrupted(&s, Action::SoftDelete, "f-delete").await;
    assert_eq!(effects(&s, "DELETE", &format!("/groups/{g}")), 1);
    assert!(s.w.graph.is_soft_deleted(t, g));

    run_interrupted(&s, Action::Restore, "f-restore").await;
    assert_eq!(effects(&s, "POST", "/restore"), 1);
    assert!(!s.w.graph.is_soft_deleted(t, g));
    assert_eq!(record(&s).await.lifecycle, LifecycleState::Active);

    for action in [
        "team.archived",
        "team.unarchived",
        "team.ownerAdded",
        "team.guestRemoved",
        "team.memberReAdded",
        "team.renewed",
        "team.softDeleted",
        "team.restored",
    ] {
        assert_eq!(trail(&s, action).await.len(), 1, "{action}");
    }
}

#[tokio::test]
async fn an_archive_teams_is_still_working_on_comes_back_later_without_failing() {
    let s = setup().await;
    let app = &s.w.app.app;
    let graph = app.graph.as_ref().unwrap();
    s.w.graph.set_operation_polls(3);
    let msg = message(&s, Action::Archive, "slow");
    let mut r = runner(app, None);
    r.poll_budget = std::time::Duration::ZERO;
    let mut waits = 0;
    loop {
        match r.run(graph, &msg).await {
            Err(actions::ActionError::NotYet { why, retry_in }) => {
                assert!(why.contains("still working"), "{why}");
                assert!(retry_in.as_secs() > 0);
                waits += 1;
            }
            Ok(Outcome::Done(job)) => {
                assert_eq!(job.runs, waits + 1);
                break;
            }
            other => panic!("{other:?}"),
        }
        assert!(waits < 10, "the operation ends");
    }
    assert_eq!(waits, 3, "one poll per run while Teams says inProgress");
    assert_eq!(effects(&s, "POST", "/archive"), 1, "asked once");
    assert_eq!(record(&s).await.lifecycle, LifecycleState::Archived);

    // Past an hour of waiting, the action fails for good, with the reason.
    s.w.graph.set_operation_polls(100);
    let msg = message(&s, Action::Unarchive, "stuck");
    assert!(matches!(
        r.run(graph, &msg).await,
        Err(actions::ActionError::NotYet { .. })
    ));
    s.w.app.clock.advance(time::Duration::minutes(61));
    let Ok(Outcome::Failed(job)) = r.run(graph, &msg).await else {
        panic!("not failed");
    };
    assert!(job.failure.unwrap().contains("60 minutes"));
}
