//! Provisioning under faults: a job stopped after every checkpoint (with
//! Graph failing after creating), a 429 storm, no consent, a job that
//! keeps failing until its message is poisoned, a lapsed subscription.

use super::*;

#[tokio::test]
async fn a_job_stopped_after_every_checkpoint_resumes_and_makes_one_team() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    // Graph also reports the group's creation as failed, having made it.
    w.graph.fail_after_create(1);
    let mut interrupted = 0;
    let outcome = loop {
        match run_once(&w, &request.id, Some(1)).await {
            Err(provisioning::ProvisionError::Interrupted) => interrupted += 1,
            Err(e) => panic!("run {interrupted}: {e}"),
            Ok(outcome) => break outcome,
        }
        assert!(interrupted < 30, "the job makes progress");
    };
    assert!(matches!(outcome, Outcome::Provisioned(_)), "{outcome:?}");
    // Name, Group, Team, Ready, Members, Guests, Channels, Apps, Tabs,
    // Picture, Verify, Inventory, CrmLink: one run each, then the last.
    assert!(interrupted >= 13, "{interrupted} interruptions");
    assert_project_team(&only_team(&w));
    let job = provisioning::get_job(w.bot.app.app.docs.as_ref(), &w.tenant, &request.id)
        .await
        .unwrap()
        .unwrap();
    for step in [
        Step::Name,
        Step::Group,
        Step::Team,
        Step::Ready,
        Step::Members,
        Step::Guests,
        Step::Channels,
        Step::Apps,
        Step::Tabs,
        Step::Picture,
        Step::Verify,
        Step::Inventory,
        Step::CrmLink,
    ] {
        assert!(job.is_done(step), "{step:?}");
    }
    // Running the finished job again changes nothing.
    let again = run_once(&w, &request.id, None).await.unwrap();
    assert!(matches!(again, Outcome::Provisioned(_)));
    assert_eq!(w.graph.teams(w.tenant.as_str()).len(), 1);
}

#[tokio::test]
async fn a_throttling_storm_is_waited_out_and_the_team_is_complete() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    w.graph.set_throttle(0.3, 0);
    let outcome = run_once(&w, &request.id, None).await.unwrap();
    assert!(matches!(outcome, Outcome::Provisioned(_)), "{outcome:?}");
    assert_project_team(&only_team(&w));
    assert!(w.graph.count().throttled > 0);
    let stats = w.bot.app.app.graph.as_ref().unwrap().stats();
    assert!(stats.retries > 0 && stats.throttled > 0, "{stats:?}");
    // The bot and provisioning are interactive: never low priority.
    let seen = w.graph.requests();
    assert!(seen.len() > 10, "{seen:?}");
    assert!(seen.iter().all(|s| s.priority.is_none()), "{seen:?}");
}

#[tokio::test]
async fn a_tenant_without_consent_fails_with_a_reason_and_no_retry_loop() {
    let w = world().await;
    w.graph.add_tenant(w.tenant.as_str(), false);
    let request = approved_request(&w, "Falcon").await;
    provision_team::start(&w.bot.app.app, &w.tenant, &request.id)
        .await
        .unwrap();
    let failed = wait_for_state(&w, &request.id, RequestState::Failed).await;
    let reason = failed.outcome.unwrap().reason.unwrap();
    assert!(reason.contains("consent"), "{reason}");
    assert!(w.graph.teams(w.tenant.as_str()).is_empty());
    w.bot.app.drain("provision-team").await;
    assert_eq!(
        w.bot.app.queue_len("provision-team-poison").await,
        0,
        "failed for good, not retried into poison"
    );
    let before = w.graph.count().http;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.graph.count().http, before, "no retry loop");
    // The requester hears why.
    wait_until(Duration::from_secs(20), || async {
        w.bot
            .connector
            .sent()
            .iter()
            .any(|s| s.activity.to_string().contains("consent"))
    })
    .await;
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_poisoned_and_its_request_failed() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    w.graph.fail_next("POST", "/groups", 503, 1000);
    provision_team::start(&w.bot.app.app, &w.tenant, &request.id)
        .await
        .unwrap();
    let failed = wait_for_state(&w, &request.id, RequestState::Failed).await;
    let reason = failed.outcome.unwrap().reason.unwrap();
    assert!(reason.contains("kept failing"), "{reason}");
    let job = provisioning::get_job(w.bot.app.app.docs.as_ref(), &w.tenant, &request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.runs, 5, "maxDequeueCount runs, then the poison queue");
    assert!(w.graph.teams(w.tenant.as_str()).is_empty());

    // A message nobody can read ends in the poison queue and changes nothing.
    let queue = salestim::platform::queues::QueueName::parse("provision-team").unwrap();
    w.bot
        .app
        .app
        .queues
        .send(&queue, "{not json", None)
        .await
        .unwrap();
    w.bot.app.drain("provision-team").await;
    w.bot.app.drain("provision-team-poison").await;
    assert_eq!(requests_of_bob(&w).await.len(), 1);
}

#[tokio::test]
async fn a_tenant_whose_subscription_lapsed_gets_no_team() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    let now = w.bot.app.now();
    let event = json!({"id": format!("evt_{}", uuid::Uuid::new_v4().simple()), "object": "event",
        "type": "customer.subscription.deleted", "created": now + 10,
        "data": {"object": {"id": "sub_1", "customer": crate::bot_messages::customer_of(&w.tenant), "status": "canceled",
            "items": {"data": [{"quantity": 10, "price": {"id": "p"}}]}}}});
    assert_eq!(
        w.bot.app.stripe_event(&event).await.status(),
        StatusCode::OK
    );
    w.bot.app.drain("billing-events").await;
    let outcome = run_once(&w, &request.id, None).await.unwrap();
    let Outcome::Failed(failed) = outcome else {
        panic!("{outcome:?}")
    };
    let reason = failed.outcome.unwrap().reason.unwrap();
    assert!(reason.contains("subscription is not active"), "{reason}");
    assert!(w.graph.teams(w.tenant.as_str()).is_empty());
    assert_eq!(w.graph.count().http, 0, "Graph is not even asked");
}

/// Moves the clock on by `step` until request `id` is in `state`: delayed
/// messages come due on the app's clock.
async fn advance_until(w: &World, id: &str, step: Duration, state: RequestState) {
    let docs = w.bot.app.app.docs.clone();
    for _ in 0..200 {
        if requests::get(docs.as_ref(), &w.tenant, id)
            .await
            .is_ok_and(|r| r.state == state)
        {
            return;
        }
        w.bot
            .app
            .clock
            .advance(time::Duration::try_from(step).unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("request {id} never became {state:?}");
}

/// A request queued for provisioning while Teams answers 404 for its new
/// group the next `times` times.
async fn queued_with_invisible_group(times: usize) -> (World, requests::TeamRequest) {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    w.graph.fail_next("POST", "/teams", 404, times);
    provision_team::start(&w.bot.app.app, &w.tenant, &request.id)
        .await
        .unwrap();
    (w, request)
}

#[tokio::test]
async fn a_new_group_teams_cannot_see_yet_is_asked_again_without_using_up_retries() {
    // Teams answers 404 for the new group seven times (replication delay):
    // more than the queue's maxDequeueCount of 5.
    let (w, request) = queued_with_invisible_group(7).await;
    advance_until(
        &w,
        &request.id,
        Duration::from_secs(16),
        RequestState::Provisioned,
    )
    .await;
    assert_project_team(&only_team(&w));
    let job = provisioning::get_job(w.bot.app.app.docs.as_ref(), &w.tenant, &request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.runs, 8, "seven waits, then the run that made it");
    w.bot.app.drain("provision-team").await;
    assert_eq!(w.bot.app.queue_len("provision-team-poison").await, 0);
}

#[tokio::test]
async fn a_group_teams_never_sees_fails_after_fifteen_minutes_with_a_reason() {
    let (w, request) = queued_with_invisible_group(10_000).await;
    advance_until(
        &w,
        &request.id,
        Duration::from_secs(60),
        RequestState::Failed,
    )
    .await;
    let failed = requests::get(w.bot.app.app.docs.as_ref(), &w.tenant, &request.id)
        .await
        .unwrap();
    let reason = failed.outcome.unwrap().reason.unwrap();
    assert!(reason.contains("after 15 minutes"), "{reason}");
    // The group exists but never became a team; the request says so.
    let groups = w.graph.teams(w.tenant.as_str());
    assert_eq!(groups.len(), 1);
    assert!(!groups[0].is_team);
    w.bot.app.drain("provision-team").await;
    assert_eq!(
        w.bot.app.queue_len("provision-team").await,
        0,
        "no more runs"
    );
}

#[tokio::test]
async fn an_approved_request_nobody_provisions_is_queued_again_by_the_timer() {
    let w = world().await;
    // Approved, but the app stopped before queueing its job.
    let request = approved_request(&w, "Falcon").await;
    let log = follow_ups(&w).await;
    assert!(
        format!("{log:?}").contains("0 provisioning queued again"),
        "{log:?}"
    );
    assert_eq!(w.bot.app.queue_len("provision-team").await, 0, "not yet");
    w.bot.app.clock.advance(time::Duration::minutes(16));
    let log = follow_ups(&w).await;
    assert!(
        format!("{log:?}").contains("1 provisioning queued again"),
        "{log:?}"
    );
    wait_for_state(&w, &request.id, RequestState::Provisioned).await;
    assert_project_team(&only_team(&w));
    // A job that ran to its end is left alone.
    w.bot.app.clock.advance(time::Duration::hours(3));
    let log = follow_ups(&w).await;
    assert!(
        format!("{log:?}").contains("0 provisioning queued again"),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_job_whose_message_was_lost_midway_is_queued_again_after_two_quiet_hours() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    // The run stops after three checkpoints and no message is left for it.
    let stopped = run_once(&w, &request.id, Some(3)).await;
    assert!(matches!(
        stopped,
        Err(provisioning::ProvisionError::Interrupted)
    ));
    w.bot.app.clock.advance(time::Duration::hours(1));
    let log = follow_ups(&w).await;
    assert!(
        format!("{log:?}").contains("0 provisioning queued again"),
        "a job may wait that long: {log:?}"
    );
    w.bot.app.clock.advance(time::Duration::hours(2));
    let log = follow_ups(&w).await;
    assert!(
        format!("{log:?}").contains("1 provisioning queued again"),
        "{log:?}"
    );
    wait_for_state(&w, &request.id, RequestState::Provisioned).await;
    assert_project_team(&only_team(&w));
}

#[tokio::test]
async fn a_tab_write_that_failed_is_sent_again_without_doubling_the_others() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    // One of the two tab writes fails; the other tab is added.
    w.graph.fail_next("POST", "/tabs", 500, 1);
    let first = run_once(&w, &request.id, None).await;
    assert!(
        matches!(first, Err(provisioning::ProvisionError::Transient(_))),
        "{first:?}"
    );
    let outcome = run_once(&w, &request.id, None).await.unwrap();
    assert!(matches!(outcome, Outcome::Provisioned(_)), "{outcome:?}");
    let team = only_team(&w);
    assert_project_team(&team);
    let tabs: Vec<(&str, &str)> = team
        .channels
        .iter()
        .flat_map(|c| {
            c.tabs
                .iter()
                .map(|t| (c.display_name.as_str(), t.0.as_str()))
        })
        .collect();
    assert_eq!(
        tabs,
        [("General", "Wiki"), ("Planning", "Board")],
        "each tab once: {tabs:?}"
    );
}

#[tokio::test]
async fn a_channel_write_that_failed_is_sent_again_after_reading_what_the_team_has() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    w.graph.fail_next("POST", "/channels", 500, 1);
    let first = run_once(&w, &request.id, None).await;
    assert!(
        matches!(first, Err(provisioning::ProvisionError::Transient(_))),
        "{first:?}"
    );
    let job = provisioning::get_job(w.bot.app.app.docs.as_ref(), &w.tenant, &request.id)
        .await
        .unwrap()
        .unwrap();
    assert!(job.fill_sent && !job.is_done(Step::Channels));
    w.graph.reset_counts();
    let outcome = run_once(&w, &request.id, None).await.unwrap();
    assert!(matches!(outcome, Outcome::Provisioned(_)), "{outcome:?}");
    let team = only_team(&w);
    assert_project_team(&team);
    // The second run read the team before writing again.
    let seen = w.graph.requests();
    let read = seen
        .iter()
        .position(|s| s.method == "GET" && s.path.ends_with("/channels"))
        .expect("the channels are read");
    let wrote = seen
        .iter()
        .position(|s| s.method == "POST" && s.path.ends_with("/channels"))
        .expect("the missing channel is created");
    assert!(read < wrote, "{seen:?}");
}

#[tokio::test]
async fn the_reminder_timer_queues_each_tenant_and_a_broken_one_holds_up_nobody() {
    use salestim::platform::documents::{Container, Document};
    let w = world().await;
    let app = &w.bot.app.app;
    app.tenants
        .update(&w.tenant, |t, _| {
            t.settings.reminder_after_hours = 24;
            Ok(())
        })
        .await
        .unwrap();
    submit_checked(&w, "Falcon").await;
    let id = requests_of_bob(&w).await.remove(0).id;
    // A tenant whose document cannot be read: its follow-up fails, alone.
    let broken = TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let garbage = Document::new(&broken, "tenant", "tenant", &json!({"displayName": 7})).unwrap();
    app.docs.upsert(Container::Tenants, &garbage).await.unwrap();

    w.bot.app.clock.advance(time::Duration::hours(25));
    let log = w.bot.app.run_function("RequestReminders", "").await;
    assert!(
        format!("{log:?}").contains("queued for 2 tenants, 0 failed"),
        "{log:?}"
    );
    wait_until(Duration::from_secs(20), || async {
        requests::get(app.docs.as_ref(), &w.tenant, &id)
            .await
            .unwrap()
            .reminded
    })
    .await;
    // The broken tenant's message is retried on its own, then poisoned.
    wait_until(Duration::from_secs(30), || async {
        w.bot.app.queue_len("tenant-work-poison").await == 1
    })
    .await;
    assert_eq!(w.bot.app.queue_len("tenant-work").await, 0);
}
