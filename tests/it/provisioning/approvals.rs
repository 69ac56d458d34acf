//! Requests before provisioning: bad input refused with reasons, staged
//! and manager approval, reminders and escalation.

use super::*;

#[tokio::test]
async fn bad_requests_are_refused_with_reasons_and_change_nothing() {
    let w = world().await;
    let refused = |body: &Value| body["task"]["value"]["card"]["content"].to_string();
    let cases = [
        (
            form("request.submit", "Top confidential plans", None),
            "blocked word",
        ),
        (form("request.submit", &"n".repeat(35), None), "at most 40"),
        (
            json!({"data": {"action": "request.submit", "templateId": "nope", "displayName": "X"}}),
            "does not exist",
        ),
        (
            json!({"data": {"action": "request.submit", "templateId": "project", "displayName": "X", "members": "nobody@contoso.test"}}),
            "No one in your directory",
        ),
        (
            json!({"data": {"action": "request.submit", "templateId": "project", "displayName": "X", "owners": "not an address"}}),
            "not an email address",
        ),
    ];
    for (value, expected) in cases {
        let body = task_submit(&w, value).await;
        assert!(refused(&body).contains(expected), "{expected}: {body}");
    }
    // Another tenant's template cannot be named from this tenant.
    let other = w.bot.active_tenant().await;
    templates::save(
        w.bot.app.app.docs.as_ref(),
        &other,
        "theirs",
        &project_template(),
    )
    .await
    .unwrap();
    let body = task_submit(
        &w,
        json!({"data": {"action": "request.submit", "templateId": "theirs", "displayName": "X"}}),
    )
    .await;
    assert!(refused(&body).contains("does not exist"), "{body}");
    // A draft of someone else is not Bob's to submit.
    let body = task_submit(&w, form("request.submit", "Falcon", Some("req-0000"))).await;
    assert!(refused(&body).contains("no longer open"), "{body}");

    assert!(requests_of_bob(&w).await.is_empty());
    assert!(w.graph.teams(w.tenant.as_str()).is_empty());
    assert_eq!(w.bot.app.queue_len("provision-team").await, 0);
    // A decision by someone who is not an approver changes nothing either.
    let submitted = submit_checked(&w, "Falcon").await;
    assert!(submitted["task"]["value"].is_string(), "{submitted}");
    let id = requests_of_bob(&w).await.remove(0).id;
    let denied = approve(&w, CAROL, &id).await;
    assert_eq!(denied["statusCode"], 403);
    assert_eq!(requests_of_bob(&w).await[0].state, RequestState::Submitted);
}

#[tokio::test]
async fn staged_and_manager_approvals_go_in_turn_then_provision() {
    let w = world().await;
    let docs = w.bot.app.app.docs.clone();
    let staged = Template {
        approval: ApprovalRule::Stages {
            stages: vec![
                vec![Person::new(ALICE, "Alice")],
                vec![Person::new(CAROL, "Carol")],
            ],
        },
        ..project_template()
    };
    templates::save(docs.as_ref(), &w.tenant, "project", &staged)
        .await
        .unwrap();
    submit_checked(&w, "Falcon").await;
    let id = requests_of_bob(&w).await.remove(0).id;
    // Carol may not decide before Alice's stage is done.
    let early = approve(&w, CAROL, &id).await;
    assert_eq!(early["statusCode"], 403);
    let first = approve(&w, ALICE, &id).await;
    assert!(
        first["value"].to_string().contains("Waiting for approval"),
        "{first}"
    );
    // Carol now gets the card with the buttons.
    wait_until(Duration::from_secs(20), || async {
        w.bot.connector.sent().iter().any(|s| {
            s.path.contains(&format!("chat-with-{CAROL}"))
                && s.activity.to_string().contains("Approve")
        })
    })
    .await;
    approve(&w, CAROL, &id).await;
    wait_for_state(&w, &id, RequestState::Provisioned).await;

    // Manager approval: Bob's manager in the directory is Dave.
    let managed = Template {
        approval: ApprovalRule::Manager,
        ..project_template()
    };
    templates::save(docs.as_ref(), &w.tenant, "project", &managed)
        .await
        .unwrap();
    submit_checked(&w, "Osprey").await;
    let osprey = requests_of_bob(&w)
        .await
        .into_iter()
        .find(|r| r.requested_name == "Osprey")
        .unwrap();
    assert_eq!(
        osprey.template_version, 3,
        "made against the current version"
    );
    assert_eq!(osprey.approvers()[0].aad_object_id, DAVE);
    assert_eq!(osprey.approvers()[0].name, "Dave");
}

#[tokio::test]
async fn a_waiting_request_is_reminded_once_then_escalated_once() {
    let w = world().await;
    let app = &w.bot.app.app;
    app.tenants
        .update(&w.tenant, |t, _| {
            t.settings.reminder_after_hours = 24;
            t.settings.escalate_after_hours = Some(72);
            t.settings.escalate_to = Some(Person::new(DAVE, "Dave"));
            Ok(())
        })
        .await
        .unwrap();
    submit_checked(&w, "Falcon").await;
    let id = requests_of_bob(&w).await.remove(0).id;
    let to = |who: &'static str| {
        let sent = w.bot.connector.sent();
        sent.iter()
            .filter(|s| {
                s.path.contains(&format!("chat-with-{who}"))
                    && s.activity.to_string().contains("Approve")
            })
            .count()
    };
    wait_until(Duration::from_secs(20), || async { to(ALICE) == 1 }).await;

    w.bot.app.clock.advance(time::Duration::hours(23));
    follow_ups(&w).await;
    w.bot.app.clock.advance(time::Duration::hours(2));
    follow_ups(&w).await;
    follow_ups(&w).await;
    wait_until(Duration::from_secs(20), || async { to(ALICE) == 2 }).await;
    w.bot.app.drain("bot-outbox").await;
    assert_eq!(to(ALICE), 2, "one reminder, however many runs");
    assert_eq!(to(DAVE), 0);

    w.bot.app.clock.advance(time::Duration::hours(48));
    follow_ups(&w).await;
    follow_ups(&w).await;
    wait_until(Duration::from_secs(20), || async { to(DAVE) == 1 }).await;
    w.bot.app.drain("bot-outbox").await;
    assert_eq!((to(ALICE), to(DAVE)), (2, 1), "one escalation");
    // Dave may now decide.
    let decided = approve(&w, DAVE, &id).await;
    assert_eq!(decided["statusCode"], 200, "{decided}");
    let trail = audit::trail(app.docs.as_ref(), &w.tenant).await.unwrap();
    let count = |a: &str| trail.iter().filter(|e| e.action == a).count();
    assert_eq!(
        (count("request.reminded"), count("request.escalated")),
        (1, 1)
    );
}

#[tokio::test]
async fn a_reminder_whose_send_fails_is_sent_by_the_next_run_not_lost() {
    use crate::support::faulty_queues::{OUTBOX_SENDS_TO_FAIL, failing_outbox};
    use std::sync::atomic::Ordering;
    let w = world_with_queues(Some(failing_outbox)).await;
    let app = &w.bot.app.app;
    app.tenants
        .update(&w.tenant, |t, _| {
            t.settings.reminder_after_hours = 24;
            Ok(())
        })
        .await
        .unwrap();
    submit_checked(&w, "Falcon").await;
    let cards_to_alice = || {
        w.bot
            .connector
            .sent()
            .iter()
            .filter(|s| {
                s.path.contains(&format!("chat-with-{ALICE}"))
                    && s.activity.to_string().contains("Approve")
            })
            .count()
    };
    wait_until(Duration::from_secs(20), || async { cards_to_alice() == 1 }).await;

    w.bot.app.clock.advance(time::Duration::hours(25));
    OUTBOX_SENDS_TO_FAIL.store(1, Ordering::SeqCst);
    let log = follow_ups(&w).await;
    assert!(format!("{log:?}").contains("1 failed"), "{log:?}");
    assert_eq!(
        OUTBOX_SENDS_TO_FAIL.load(Ordering::SeqCst),
        0,
        "the send was tried"
    );
    let id = requests_of_bob(&w).await.remove(0).id;
    let request = requests::get(app.docs.as_ref(), &w.tenant, &id)
        .await
        .unwrap();
    assert!(!request.reminded, "not marked: the reminder never went out");

    let log = follow_ups(&w).await;
    assert!(format!("{log:?}").contains("1 reminded"), "{log:?}");
    wait_until(Duration::from_secs(20), || async { cards_to_alice() == 2 }).await;
    follow_ups(&w).await;
    w.bot.app.drain("bot-outbox").await;
    assert_eq!(cards_to_alice(), 2, "one reminder in all");
}
