//! Replies under pressure, end to end through the local host: sent inline
//! when the Connector answers, through the outbox when it throttles, fails
//! or is slow (once, never lost, never doubled), one reply per conversation
//! and activity, and a front door that says 429 when it has enough in hand.

use std::time::Duration;

use reqwest::StatusCode;
use salestim::ids::TenantId;
use salestim::platform::documents::{Container, Query};
use serde_json::{Value, json};

use crate::bot_messages::{Bot, card_texts, spawn_bot, spawn_bot_with};
use crate::support::app::wait_until;
use crate::support::raw_http::HeadFirst;

/// Lets the queues settle, then says how many activities the Connector took.
async fn settled(bot: &Bot) -> usize {
    bot.app.drain("bot-outbox").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    bot.app.drain("bot-outbox").await;
    bot.connector.sent().len()
}

/// Replies the Connector took, as recorded (a claim before a send names no
/// activity yet).
async fn deliveries_recorded(bot: &Bot, tenant: &TenantId) -> usize {
    bot.app
        .app
        .docs
        .query(
            Container::Events,
            tenant,
            &Query::of_type("outboxDelivered"),
        )
        .await
        .unwrap()
        .iter()
        .filter(|doc| doc.body.contains_key("activityId"))
        .count()
}

fn without_id(mut activity: Value, timestamp: &str) -> Value {
    activity.as_object_mut().unwrap().remove("id");
    activity["timestamp"] = json!(timestamp);
    activity
}

#[tokio::test]
async fn two_conversations_whose_activities_share_an_id_each_get_their_reply() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    let first = bot.activity(&tenant, "message", Some("help"));
    let mut second = bot.activity(&tenant, "message", Some("help"));
    second["id"] = first["id"].clone();
    second["conversation"]["id"] = json!("a:1another-personal-chat");
    second["from"]["aadObjectId"] = json!("00000000-0000-0000-0000-0000000000bb");
    for activity in [&first, &second] {
        let res = bot.post(activity, Some(&bot.token())).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(settled(&bot).await, 2, "one reply in each conversation");
    let paths: Vec<String> = bot.connector.sent().into_iter().map(|s| s.path).collect();
    assert!(paths[0].contains("a%3A1personal-chat"), "{paths:?}");
    assert!(paths[1].contains("a%3A1another-personal-chat"), "{paths:?}");
}

#[tokio::test]
async fn an_activity_without_an_id_is_answered_once_and_the_next_one_too() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    let base = bot.activity(&tenant, "message", Some("help"));
    let first = without_id(base.clone(), "2026-03-01T10:00:00.000Z");
    let next = without_id(base, "2026-03-01T10:00:05.000Z");

    assert_eq!(
        bot.post(&first, Some(&bot.token())).await.status(),
        StatusCode::OK
    );
    assert_eq!(settled(&bot).await, 1);
    let sent = bot.connector.sent();
    assert!(
        sent[0].path.ends_with("/activities"),
        "nothing to thread under: a new message, {}",
        sent[0].path
    );
    assert!(card_texts(&sent[0].activity).contains("my requests"));

    // Teams sends the same activity again (it did not see our 200).
    assert_eq!(
        bot.post(&first, Some(&bot.token())).await.status(),
        StatusCode::OK
    );
    assert_eq!(settled(&bot).await, 1, "the same activity is answered once");

    // Another message without an id is another message.
    assert_eq!(
        bot.post(&next, Some(&bot.token())).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        settled(&bot).await,
        2,
        "the next activity gets its own reply"
    );
}

#[tokio::test]
async fn a_reply_is_sent_inline_before_the_answer_and_a_repeated_activity_is_not_answered_twice() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    let activity = bot.activity(&tenant, "message", Some("help"));
    assert_eq!(
        bot.post(&activity, Some(&bot.token())).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        bot.connector.sent().len(),
        1,
        "the reply reached the Connector before Teams got its 200"
    );
    assert_eq!(bot.app.queue_len("bot-outbox").await, 0, "nothing queued");
    assert_eq!(
        deliveries_recorded(&bot, &tenant).await,
        1,
        "its key is recorded"
    );
    assert_eq!(
        bot.post(&activity, Some(&bot.token())).await.status(),
        StatusCode::OK
    );
    assert_eq!(settled(&bot).await, 1);
}

#[tokio::test]
async fn the_same_activity_repeated_while_its_answer_is_on_its_way_is_answered_once() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    let activity = bot.activity(&tenant, "message", Some("help"));
    bot.connector.slow_next(800);
    let token = bot.token();
    let first = bot.post(&activity, Some(&token));
    let repeated = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        bot.post(&activity, Some(&token)).await
    };
    let (first, repeated) = tokio::join!(first, repeated);
    assert_eq!(
        (first.status(), repeated.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(bot.connector.sent().len(), 1, "the first answer only");
    // The repeat left a copy in the outbox; due later, it finds the answer
    // delivered.
    bot.app.clock.advance(time::Duration::seconds(60));
    assert_eq!(settled(&bot).await, 1, "answered once");
    assert_eq!(deliveries_recorded(&bot, &tenant).await, 1);
}

#[tokio::test]
async fn a_reply_the_connector_throttles_is_queued_after_its_retry_after_and_delivered_once() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    bot.connector.fail_next(429, Some(30));
    let res = bot.say(&tenant, "help").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(bot.connector.sent().is_empty());
    assert_eq!(bot.app.queue_len("bot-outbox").await, 1, "kept, not lost");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        bot.connector.sent().is_empty(),
        "the Connector's Retry-After is honoured"
    );

    bot.app.clock.advance(time::Duration::seconds(31));
    let sent = bot.delivered(1).await;
    assert!(card_texts(&sent[0].activity).contains("my requests"));
    assert_eq!(settled(&bot).await, 1, "delivered once");
    assert_eq!(bot.app.queue_len("bot-outbox-poison").await, 0);
}

#[tokio::test]
async fn a_reply_the_connector_fails_is_delivered_through_the_outbox_once() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    bot.connector.fail_next(503, None);
    let res = bot.say(&tenant, "help").await;
    assert_eq!(res.status(), StatusCode::OK);
    bot.delivered(1).await;
    assert_eq!(settled(&bot).await, 1, "delivered once");
    assert_eq!(deliveries_recorded(&bot, &tenant).await, 1);
}

#[tokio::test]
async fn a_slow_connector_gets_the_reply_once_though_the_outbox_holds_a_copy() {
    let bot = spawn_bot_with(vec![("SALESTIM_BOT_REPLY_BUDGET_MS", "200".into())]).await;
    let tenant = bot.active_tenant().await;
    bot.connector.slow_next(1_500);
    let res = bot.say(&tenant, "help").await;
    assert_eq!(res.status(), StatusCode::OK, "answered within the budget");
    assert_eq!(
        bot.app.queue_len("bot-outbox").await,
        1,
        "a copy is queued before the answer, in case the attempt fails"
    );
    // The attempt runs on, lands and records its key...
    wait_until(Duration::from_secs(20), || async {
        deliveries_recorded(&bot, &tenant).await == 1
    })
    .await;
    // ...so the queued copy, once due, finds it delivered.
    bot.app.clock.advance(time::Duration::seconds(60));
    assert_eq!(settled(&bot).await, 1, "sent once");
    assert_eq!(bot.app.queue_len("bot-outbox-poison").await, 0);
}

#[tokio::test]
async fn a_bot_with_enough_in_hand_answers_429_with_retry_after_and_loses_nothing() {
    let bot = spawn_bot_with(vec![
        ("SALESTIM_BOT_MAX_IN_FLIGHT", "1".into()),
        ("SALESTIM_BOT_REPLY_BUDGET_MS", "5000".into()),
    ])
    .await;
    let tenant = bot.active_tenant().await;
    bot.connector.slow_next(1_500);
    let first = bot.activity(&tenant, "message", Some("help"));
    let token = bot.token();
    let held = bot.post(&first, Some(&token));
    let busy = async {
        // The first is in hand (the Connector is taking its time over it).
        wait_until(Duration::from_secs(20), || async {
            !bot.connector.sent().is_empty()
        })
        .await;
        bot.post(
            &bot.activity(&tenant, "message", Some("my teams")),
            Some(&token),
        )
        .await
    };
    // A third, sent head first, is refused before its body is sent.
    let refused_early = async {
        wait_until(Duration::from_secs(20), || async {
            !bot.connector.sent().is_empty()
        })
        .await;
        let body = serde_json::to_vec(&bot.activity(&tenant, "message", Some("help"))).unwrap();
        HeadFirst::post(&bot.app.handler, "/api/messages", &body)
            .header("authorization", format!("Bearer {token}"))
            .answered_before_the_body()
            .await
    };
    let (held, busy, refused_early) = tokio::join!(held, busy, refused_early);
    assert_eq!(refused_early.status, 429, "{}", refused_early.text());
    assert_eq!(refused_early.header("retry-after"), Some("1"));
    assert_eq!(busy.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        busy.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(held.status(), StatusCode::OK);

    // The refused one changed nothing; once the first is done, the next is taken.
    assert_eq!(settled(&bot).await, 1);
    let again = bot
        .post(
            &bot.activity(&tenant, "message", Some("help")),
            Some(&token),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(settled(&bot).await, 2);
}
