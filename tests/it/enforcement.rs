//! Lifecycle policies enforced, driven as Teams and the Functions host
//! drive the app: `SweepTenant` syncs the tenant from the Graph stand-in,
//! records the findings, and makes the due moves of the enforced ones:
//! cards in the owners' (or members', or contacts') chats with the bot,
//! the team warned, Graph actions queued as `governance-action` jobs that
//! the local host runs against the stand-in. The clock is moved across
//! each policy's boundaries. A dry-run policy does nothing; a move is made
//! once however many sweeps see it; the answers on the cards are checked
//! against the kept team and act once.

use std::time::Duration;

use reqwest::StatusCode;
use salestim::governance::audit;
use salestim::governance::lifecycle::machine::LifecycleState;
use salestim::governance::lifecycle::policy::{Policies, PolicyKind};
use salestim::governance::lifecycle::{recorded, store};
use salestim::governance::people::Person;
use salestim::governance::teams::{self, ActivityFacts, TeamRecord};
use salestim::governance::templates::{self, Template};
use salestim::platform::clock::Clock;
use salestim::teams::cards::verbs;
use serde_json::{Value, json};

use crate::bot_invokes::{ALICE, BOB, CAROL, DAVE, card_action, invoke};
use crate::inventory::GUS;
use crate::provisioning::{World, world};
use crate::support::app::wait_until;

/// Stores `policies` as the tenant's next version.
async fn policies(w: &World, policies: Value) -> u32 {
    let app = &w.bot.app.app;
    let parsed: Policies = serde_json::from_value(policies).expect("policies");
    let current = store::current(app.docs.as_ref(), &w.tenant)
        .await
        .unwrap()
        .map(|s| s.version);
    let templates = vec!["project".to_owned()];
    let saved = store::save(
        app.docs.as_ref(),
        app.clock.as_ref(),
        &w.tenant,
        &parsed,
        current,
        &templates,
        "operator:test",
    )
    .await
    .expect("the policies are saved");
    match saved {
        store::Saved::Version(v) | store::Saved::Unchanged(v) => v,
    }
}

/// `SweepTenant` for the world's tenant, as its queue message runs it;
/// then waits until the actions it queued have run.
async fn sweep(w: &World) -> String {
    let input = json!({"tenantId": w.tenant.as_str()}).to_string();
    let res = w.bot.app.run_function("SweepTenant", &input).await;
    w.bot.app.drain("governance-action").await;
    res.return_value.as_str().unwrap_or_default().to_owned()
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// The cards sent so far to `aad`'s chat with the bot.
fn cards_to(w: &World, aad: &str) -> Vec<Value> {
    w.bot
        .connector
        .sent()
        .into_iter()
        .filter(|s| s.path.contains(&format!("chat-with-{aad}")))
        .map(|s| s.activity["attachments"][0]["content"].clone())
        .filter(|c| !c.is_null())
        .collect()
}

fn headings(cards: &[Value]) -> Vec<String> {
    cards
        .iter()
        .map(|c| c["body"][0]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Waits until `aad` has `n` cards whose heading contains `text`.
async fn wait_for_cards(w: &World, aad: &str, text: &str, n: usize) -> Vec<Value> {
    wait_until(Duration::from_secs(20), || async {
        headings(&cards_to(w, aad))
            .iter()
            .filter(|h| h.contains(text))
            .count()
            >= n
    })
    .await;
    cards_to(w, aad)
        .into_iter()
        .filter(|c| {
            c["body"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .contains(text)
        })
        .collect()
}

/// The POSTs Graph was sent to a path ending in `path_end`.
fn posts(w: &World, path_end: &str) -> usize {
    w.graph
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(path_end))
        .count()
}

async fn team(w: &World, id: &str) -> TeamRecord {
    teams::get(w.bot.app.app.docs.as_ref(), &w.tenant, id)
        .await
        .expect("the team is kept")
}

async fn findings(w: &World, id: &str) -> Vec<recorded::RecordedFinding> {
    recorded::of_team(w.bot.app.app.docs.as_ref(), &w.tenant, id)
        .await
        .unwrap()
}

async fn trail(w: &World) -> Vec<audit::AuditEntry> {
    audit::trail(w.bot.app.app.docs.as_ref(), &w.tenant)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_dry_run_policy_only_finds_and_enforced_it_asks_once_and_the_named_owner_is_added() {
    let w = world().await;
    let t = w.tenant.as_str();
    let falcon = w.graph.add_team(t, "Falcon", &[ALICE], &[ALICE, BOB]);
    policies(&w, json!({"defaults": {"minimumOwners": {"minOwners": 2}}})).await;
    let line = sweep(&w).await;
    assert!(line.contains("1 findings (1 new"), "{line}");
    let kept = findings(&w, &falcon).await;
    assert_eq!(kept.len(), 1);
    assert!(!kept[0].finding.enforced && kept[0].acted.is_empty());
    let before = w.bot.connector.sent().len();

    // Enforcement on: Alice, the one owner, is asked, once.
    policies(
        &w,
        json!({"defaults": {"minimumOwners": {"minOwners": 2, "enforce": true}}}),
    )
    .await;
    let line = sweep(&w).await;
    assert!(line.contains("enforced: 1 due, 1 cards"), "{line}");
    let asked = wait_for_cards(&w, ALICE, "needs another owner", 1).await;
    assert_eq!(
        asked[0]["refresh"]["action"]["verb"],
        verbs::LIFECYCLE_REFRESH
    );
    assert!(
        asked[0].get("actions").is_none()
            || !asked[0]["actions"].to_string().contains("team.nominate"),
        "the sent card is everyone's view; the refresh shows the owner's"
    );
    sweep(&w).await;
    assert_eq!(
        w.bot.connector.sent().len(),
        before + 1,
        "a second sweep asks nothing more"
    );

    // Alice opens it: her view has the people picker; Bob's does not.
    let hers = card_action(
        &w.bot,
        &w.tenant,
        ALICE,
        verbs::LIFECYCLE_REFRESH,
        json!({"groupId": falcon, "card": "owners"}),
    )
    .await;
    assert!(
        hers["value"].to_string().contains("team.nominate"),
        "{hers}"
    );
    let his = card_action(
        &w.bot,
        &w.tenant,
        BOB,
        verbs::LIFECYCLE_REFRESH,
        json!({"groupId": falcon, "card": "owners"}),
    )
    .await;
    assert!(!his["value"].to_string().contains("team.nominate"), "{his}");

    // Bob, a member of a team that has an owner, may not name one.
    let value = json!({"action": {"type": "Action.Execute", "verb": verbs::TEAM_NOMINATE, "data": {"groupId": falcon, "card": "owners", "nominee": CAROL}}});
    let (status, body) = invoke(&w.bot, &w.tenant, BOB, "adaptiveCard/action", value).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["statusCode"], 403, "{body}");
    // Alice names Bob, twice (a replayed click): Bob is added once.
    for _ in 0..2 {
        card_action(
            &w.bot,
            &w.tenant,
            ALICE,
            verbs::TEAM_NOMINATE,
            json!({"groupId": falcon, "card": "owners", "nominee": BOB}),
        )
        .await;
    }
    w.bot.app.drain("governance-action").await;
    let snapshot = w
        .graph
        .teams(t)
        .into_iter()
        .find(|s| s.group_id == falcon)
        .unwrap();
    assert!(
        snapshot.owners.contains(&BOB.to_owned()),
        "{:?}",
        snapshot.owners
    );
    assert!(!snapshot.owners.contains(&CAROL.to_owned()));
    let line = sweep(&w).await;
    assert!(line.contains("1 resolved"), "{line}");
    assert!(findings(&w, &falcon).await.is_empty());
    let nominated: Vec<_> = trail(&w)
        .await
        .into_iter()
        .filter(|e| e.action == "team.ownerNominated")
        .collect();
    assert_eq!(nominated.len(), 1, "{nominated:?}");
    assert_eq!(nominated[0].actor, format!("user:{ALICE}"));
}

#[tokio::test]
async fn an_expiring_team_is_warned_archived_and_soft_deleted_on_its_boundaries_each_step_audited()
{
    let w = world().await;
    let t = w.tenant.as_str();
    let falcon = w
        .graph
        .add_team(t, "Falcon", &[ALICE, DAVE], &[ALICE, DAVE, BOB]);
    let version = policies(
        &w,
        json!({"defaults": {"expiry": {"lifetimeDays": 20, "warnDays": 5, "graceDays": 3, "enforce": true}}}),
    )
    .await;
    // The stand-in's groups were made on 2025-01-01: the story starts then.
    let start = time::macros::datetime!(2025-01-01 00:00 UTC);
    let clock = &w.bot.app.clock;
    clock.advance(start + time::Duration::hours(1) - clock.now());
    let line = sweep(&w).await;
    assert!(line.contains("0 findings"), "{line}");
    assert_eq!(team(&w, &falcon).await.entra_created_at, Some(start));
    let now = clock.now();
    let to = |day: i64| start + time::Duration::days(day) - now;

    // Day 14, N-1 before the warning: nothing.
    clock.advance(to(14));
    let line = sweep(&w).await;
    assert!(line.contains("0 findings"), "{line}");
    // Day 15: the renewal card to both owners, the team warned.
    clock.advance(days(1));
    sweep(&w).await;
    wait_for_cards(&w, ALICE, "expires soon", 1).await;
    wait_for_cards(&w, DAVE, "expires soon", 1).await;
    assert!(
        cards_to(&w, BOB)
            .iter()
            .all(|c| !c.to_string().contains("expires soon"))
    );
    assert_eq!(team(&w, &falcon).await.lifecycle, LifecycleState::Warned);
    // Day 19: nothing more.
    clock.advance(days(4));
    sweep(&w).await;
    assert_eq!(wait_for_cards(&w, ALICE, "expires soon", 1).await.len(), 1);
    assert_eq!(team(&w, &falcon).await.lifecycle, LifecycleState::Warned);
    // Day 20: expired without a renewal: archived in Teams.
    clock.advance(days(1));
    sweep(&w).await;
    let archived = team(&w, &falcon).await;
    assert_eq!(archived.lifecycle, LifecycleState::Archived);
    // Three days of grace later: soft-deleted, restorable.
    clock.advance(days(2));
    sweep(&w).await;
    assert_eq!(
        team(&w, &falcon).await.lifecycle,
        LifecycleState::Archived,
        "N-1"
    );
    clock.advance(days(1));
    sweep(&w).await;
    wait_until(Duration::from_secs(20), || async {
        team(&w, &falcon).await.lifecycle == LifecycleState::SoftDeleted
    })
    .await;

    let moves: Vec<(String, Value)> = trail(&w)
        .await
        .into_iter()
        .filter(|e| e.action.starts_with("team.") && e.details.get("to").is_some())
        .map(|e| (e.action, e.details))
        .collect();
    let names: Vec<&str> = moves.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        names,
        ["team.warned", "team.archived", "team.softDeleted"],
        "{moves:?}"
    );
    for (_, details) in &moves {
        assert_eq!(details["policy"]["kind"], "expiry", "{details}");
        assert_eq!(details["policy"]["version"], version, "{details}");
    }
}

#[tokio::test]
async fn unreviewed_guests_are_reminded_then_removed_by_the_default_and_nobody_is_named_as_deciding()
 {
    let w = world().await;
    let t = w.tenant.as_str();
    w.graph.add_guest(t, GUS, "Gus (guest)");
    let falcon = w.graph.add_team(t, "Falcon", &[ALICE], &[ALICE, BOB, GUS]);
    policies(
        &w,
        json!({"defaults": {"guestReview": {"everyDays": 90, "answerDays": 4, "defaultAction": "remove", "enforce": true}}}),
    )
    .await;
    sweep(&w).await;
    let asked = wait_for_cards(&w, ALICE, "Review the guests", 1).await;
    assert!(asked[0].to_string().contains("Gus (guest)"), "{}", asked[0]);
    let review = team(&w, &falcon)
        .await
        .guest_review
        .expect("a review is open");
    assert_eq!(review.guests, vec![Person::new(GUS, "Gus (guest)")]);

    let clock = &w.bot.app.clock;
    clock.advance(days(2));
    sweep(&w).await;
    wait_for_cards(&w, ALICE, "Review the guests", 2).await;
    clock.advance(days(1));
    sweep(&w).await;
    let snapshot = w
        .graph
        .teams(t)
        .into_iter()
        .find(|s| s.group_id == falcon)
        .unwrap();
    assert!(
        snapshot.members.contains(&GUS.to_owned()),
        "N-1: still there"
    );
    clock.advance(days(1));
    sweep(&w).await;
    let snapshot = w
        .graph
        .teams(t)
        .into_iter()
        .find(|s| s.group_id == falcon)
        .unwrap();
    assert!(!snapshot.members.contains(&GUS.to_owned()), "N: removed");
    assert!(snapshot.members.contains(&BOB.to_owned()));
    let answer = team(&w, &falcon)
        .await
        .guest_review
        .unwrap()
        .answer
        .unwrap();
    assert_eq!(answer.by, None);
    assert_eq!(answer.removed, vec![GUS.to_owned()]);
    let line = sweep(&w).await;
    assert!(line.contains("resolved"), "{line}");
}

#[tokio::test]
async fn an_owner_reviews_guests_on_the_card_once_and_a_member_cannot() {
    let w = world().await;
    let t = w.tenant.as_str();
    w.graph.add_guest(t, GUS, "Gus (guest)");
    let falcon = w.graph.add_team(t, "Falcon", &[ALICE], &[ALICE, BOB, GUS]);
    policies(&w, json!({"defaults": {"guestReview": {"enforce": true}}})).await;
    sweep(&w).await;
    wait_for_cards(&w, ALICE, "Review the guests", 1).await;
    let remove = json!({"groupId": falcon, "card": "guests", format!("guest.{GUS}"): "remove"});

    let value = json!({"action": {"type": "Action.Execute", "verb": verbs::TEAM_REVIEW_GUESTS, "data": remove}});
    let (_, body) = invoke(&w.bot, &w.tenant, BOB, "adaptiveCard/action", value).await;
    assert_eq!(body["statusCode"], 403, "{body}");
    assert!(
        team(&w, &falcon)
            .await
            .guest_review
            .unwrap()
            .answer
            .is_none()
    );

    let answered = card_action(
        &w.bot,
        &w.tenant,
        ALICE,
        verbs::TEAM_REVIEW_GUESTS,
        remove.clone(),
    )
    .await;
    assert!(
        answered["value"].to_string().contains("0 kept, 1 removed"),
        "{answered}"
    );
    // The same click again: nothing more.
    card_action(&w.bot, &w.tenant, ALICE, verbs::TEAM_REVIEW_GUESTS, remove).await;
    w.bot.app.drain("governance-action").await;
    let snapshot = w
        .graph
        .teams(t)
        .into_iter()
        .find(|s| s.group_id == falcon)
        .unwrap();
    assert!(!snapshot.members.contains(&GUS.to_owned()));
    let reviewed: Vec<_> = trail(&w)
        .await
        .into_iter()
        .filter(|e| e.action == "team.guestsReviewed")
        .collect();
    assert_eq!(reviewed.len(), 1);
    assert_eq!(reviewed[0].actor, format!("user:{ALICE}"));
    assert_eq!(reviewed[0].details["removed"], json!([GUS]));
}

#[tokio::test]
async fn an_owner_keeps_an_inactive_team_and_the_policy_leaves_it_alone_for_the_period() {
    let w = world().await;
    let t = w.tenant.as_str();
    let falcon = w.graph.add_team(t, "Falcon", &[ALICE], &[ALICE, BOB]);
    policies(
        &w,
        json!({"defaults": {"inactivity": {"inactiveDays": 30, "answerDays": 10, "defaultAction": "archive", "enforce": true}}}),
    )
    .await;
    sweep(&w).await;
    // The activity report says nothing happened for 40 days.
    let today = w.bot.app.clock.now().date();
    let mut kept = team(&w, &falcon).await;
    kept.activity = Some(ActivityFacts {
        last_activity: Some(today - time::Duration::days(40)),
        report_date: today,
        period_days: 90,
    });
    teams::put(w.bot.app.app.docs.as_ref(), &w.tenant, &kept)
        .await
        .unwrap();
    sweep(&w).await;
    wait_for_cards(&w, ALICE, "looks inactive", 1).await;
    assert_eq!(team(&w, &falcon).await.lifecycle, LifecycleState::Warned);

    let kept = card_action(
        &w.bot,
        &w.tenant,
        ALICE,
        verbs::TEAM_KEEP,
        json!({"groupId": falcon, "card": "inactive"}),
    )
    .await;
    assert!(kept["value"].to_string().contains("Kept until"), "{kept}");
    let after = team(&w, &falcon).await;
    assert_eq!(after.lifecycle, LifecycleState::Active);
    assert_eq!(after.waivers.len(), 1);
    assert_eq!(after.waivers[0].policy, PolicyKind::Inactivity);
    let line = sweep(&w).await;
    assert!(line.contains("resolved"), "{line}");
    // Past the answer period nothing is archived: the owner answered.
    w.bot.app.clock.advance(days(11));
    sweep(&w).await;
    assert_eq!(team(&w, &falcon).await.lifecycle, LifecycleState::Active);
    let snapshot = w
        .graph
        .teams(t)
        .into_iter()
        .find(|s| s.group_id == falcon)
        .unwrap();
    assert!(snapshot.is_team);
}

#[tokio::test]
async fn a_permanent_member_removed_is_added_back_and_the_owners_are_told() {
    let w = world().await;
    let t = w.tenant.as_str();
    let app = &w.bot.app.app;
    let mut template: Template = templates::get(app.docs.as_ref(), &w.tenant, "project")
        .await
        .unwrap()
        .unwrap()
        .template;
    template.permanent = vec![CAROL.into()];
    templates::save(app.docs.as_ref(), &w.tenant, "project", &template)
        .await
        .unwrap();
    let falcon = w.graph.add_team(t, "PRJ-Falcon", &[ALICE], &[ALICE, CAROL]);
    policies(
        &w,
        json!({"defaults": {"permanentMembers": {"enforce": true}}}),
    )
    .await;
    sweep(&w).await;
    // The inventory learns the team was made from the template.
    let mut kept = team(&w, &falcon).await;
    kept.template_id = Some("project".into());
    teams::put(app.docs.as_ref(), &w.tenant, &kept)
        .await
        .unwrap();
    let line = sweep(&w).await;
    assert!(line.contains("0 findings"), "{line}");

    w.graph.remove_member(t, &falcon, CAROL);
    sweep(&w).await;
    let snapshot = w
        .graph
        .teams(t)
        .into_iter()
        .find(|s| s.group_id == falcon)
        .unwrap();
    assert!(
        snapshot.members.contains(&CAROL.to_owned()),
        "{:?}",
        snapshot.members
    );
    wait_for_cards(&w, ALICE, "Permanent members", 1).await;
    let line = sweep(&w).await;
    assert!(line.contains("resolved"), "{line}");
}

#[tokio::test]
async fn an_owner_renews_on_the_card_and_the_team_is_renewed_in_entra_and_active_again() {
    let w = world().await;
    let t = w.tenant.as_str();
    let falcon = w.graph.add_team(t, "Falcon", &[ALICE], &[ALICE, BOB]);
    policies(
        &w,
        json!({"defaults": {"expiry": {"lifetimeDays": 20, "warnDays": 5, "graceDays": 3, "enforce": true}}}),
    )
    .await;
    let start = time::macros::datetime!(2025-01-01 00:00 UTC);
    let clock = &w.bot.app.clock;
    clock.advance(start + time::Duration::days(16) - clock.now());
    w.graph.set_now(clock.now());
    sweep(&w).await;
    wait_for_cards(&w, ALICE, "expires soon", 1).await;
    assert_eq!(team(&w, &falcon).await.lifecycle, LifecycleState::Warned);

    // Bob, a member, cannot; Alice renews, twice (a replayed click).
    let value = json!({"action": {"type": "Action.Execute", "verb": verbs::TEAM_RENEW, "data": {"groupId": falcon}}});
    let (_, body) = invoke(&w.bot, &w.tenant, BOB, "adaptiveCard/action", value).await;
    assert_eq!(body["statusCode"], 403, "{body}");
    for _ in 0..2 {
        let card = card_action(
            &w.bot,
            &w.tenant,
            ALICE,
            verbs::TEAM_RENEW,
            json!({"groupId": falcon}),
        )
        .await;
        assert!(card["value"].to_string().contains("Renewed"), "{card}");
    }
    w.bot.app.drain("governance-action").await;
    let renewals = posts(&w, &format!("/groups/{falcon}/renew"));
    assert_eq!(renewals, 1, "Entra renews the group once");
    let renewed = team(&w, &falcon).await;
    assert_eq!(renewed.lifecycle, LifecycleState::Active);
    let line = sweep(&w).await;
    assert!(line.contains("resolved"), "{line}");
}

#[tokio::test]
async fn an_action_whose_message_was_lost_midway_is_queued_again_after_two_quiet_hours() {
    use salestim::functions::governance_action::runner;
    use salestim::governance::lifecycle::actions::{self, ActionError};
    use salestim::governance::lifecycle::machine::Cause;
    use salestim::jobs::governance_action::{Action, ActionMessage};

    let w = world().await;
    let t = w.tenant.as_str();
    let falcon = w.graph.add_team(t, "Falcon", &[ALICE], &[ALICE, BOB]);
    sweep(&w).await;
    let app = &w.bot.app.app;
    let message = ActionMessage {
        tenant_id: w.tenant.clone(),
        team_id: falcon.clone(),
        action: Action::Archive,
        cause: Cause {
            actor: "system:SweepTenant".into(),
            policy: Some((PolicyKind::Expiry, 1)),
            reason: "expired".into(),
        },
        key: "lost-archive".into(),
    };
    // The run stops after two checkpoints and no message is left for it.
    let graph = app.graph.as_ref().unwrap();
    let stopped = runner(app, Some(2)).run(graph, &message).await;
    assert!(
        matches!(stopped, Err(ActionError::Interrupted)),
        "{stopped:?}"
    );
    let follow_ups = || async {
        crate::provisioning::follow_ups(&w)
            .await
            .return_value
            .to_string()
    };
    w.bot.app.clock.advance(time::Duration::hours(1));
    w.graph.set_now(w.bot.app.clock.now());
    let log = follow_ups().await;
    assert!(
        log.contains("0 governance actions queued again"),
        "an archive may wait that long: {log}"
    );
    w.bot.app.clock.advance(time::Duration::hours(2));
    w.graph.set_now(w.bot.app.clock.now());
    let log = follow_ups().await;
    assert!(log.contains("1 governance actions queued again"), "{log}");
    w.bot.app.drain("governance-action").await;
    let job = actions::get(app.docs.as_ref(), &w.tenant, "lost-archive")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, actions::JobState::Done, "{job:?}");
    assert_eq!(team(&w, &falcon).await.lifecycle, LifecycleState::Archived);
    let archives = posts(&w, "/archive");
    assert_eq!(archives, 1, "asked of Graph once");
    // A job that ended is left alone.
    w.bot.app.clock.advance(time::Duration::hours(3));
    let log = follow_ups().await;
    assert!(log.contains("0 governance actions queued again"), "{log}");
}

#[tokio::test]
async fn an_owner_archives_an_inactive_team_on_its_card_once_and_a_member_cannot() {
    let w = world().await;
    let t = w.tenant.as_str();
    let falcon = w.graph.add_team(t, "Falcon", &[ALICE], &[ALICE, BOB]);
    policies(
        &w,
        json!({"defaults": {"inactivity": {"inactiveDays": 30, "enforce": true}}}),
    )
    .await;
    sweep(&w).await;
    let today = w.bot.app.clock.now().date();
    let mut kept = team(&w, &falcon).await;
    kept.activity = Some(ActivityFacts {
        last_activity: None,
        report_date: today,
        period_days: 90,
    });
    teams::put(w.bot.app.app.docs.as_ref(), &w.tenant, &kept)
        .await
        .unwrap();
    sweep(&w).await;
    wait_for_cards(&w, ALICE, "looks inactive", 1).await;

    let data = json!({"groupId": falcon, "card": "inactive"});
    let value =
        json!({"action": {"type": "Action.Execute", "verb": verbs::TEAM_ARCHIVE, "data": data}});
    let (_, body) = invoke(&w.bot, &w.tenant, BOB, "adaptiveCard/action", value).await;
    assert_eq!(body["statusCode"], 403, "{body}");
    for _ in 0..2 {
        card_action(&w.bot, &w.tenant, ALICE, verbs::TEAM_ARCHIVE, data.clone()).await;
    }
    w.bot.app.drain("governance-action").await;
    wait_until(Duration::from_secs(20), || async {
        team(&w, &falcon).await.lifecycle == LifecycleState::Archived
    })
    .await;
    let archives = posts(&w, "/archive");
    assert_eq!(archives, 1, "archived once");
    let archived: Vec<_> = trail(&w)
        .await
        .into_iter()
        .filter(|e| e.action == "team.archived")
        .collect();
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].actor, format!("user:{ALICE}"));
    // The card now says so, to anyone.
    let card = card_action(&w.bot, &w.tenant, ALICE, verbs::LIFECYCLE_REFRESH, data).await;
    assert!(
        card["value"].to_string().contains("archived (read-only)"),
        "{card}"
    );
}
