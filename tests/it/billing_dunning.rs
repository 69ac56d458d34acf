//! Dunning as the host runs it: the `BillingDunning` timer queues one
//! `tenant-work` message per tenant, the local host delivers them to
//! `TenantWork`, which suspends or restores that tenant alone. A tenant that
//! cannot be dunned is retried and poisoned on its own; the bot turns a
//! suspended tenant away at once.

use std::time::Duration;

use salestim::billing::subscription::Subscription;
use salestim::host::invoke::InvokeResponse;
use salestim::ids::TenantId;
use salestim::platform::documents::{Container, Document};
use salestim::platform::queues::QueueName;
use serde_json::json;

use crate::billing::{deliver, event, life, paying_tenant, subscription};
use crate::billing_binding::actions;
use crate::bot_messages::{card_texts, customer_of, spawn_bot};
use crate::support::app::{TestApp, spawn_app, wait_until};

const WORK: &str = "tenant-work";

/// Fires the timer, then waits until every tenant's message is handled.
async fn dunning(app: &TestApp) -> InvokeResponse {
    let res = app.run_function("BillingDunning", "").await;
    app.drain(WORK).await;
    res
}

/// What dunning did to `tenant`, from its audit trail.
async fn dunned(app: &TestApp, tenant: &TenantId) -> Vec<String> {
    let mut done = actions(app, tenant).await;
    done.retain(|a| a.starts_with("billing.tenant."));
    done
}

async fn put_subscription(app: &TestApp, tenant: &TenantId, body: &serde_json::Value) {
    let doc = Document::new(tenant, "subscription", "subscription", body).unwrap();
    app.app.docs.upsert(Container::Tenants, &doc).await.unwrap();
}

/// A tenant that paid, but whose suspension outlived the failed payment.
async fn paid_but_suspended(app: &TestApp) -> TenantId {
    let tenant = app.add_tenant("Paid").await;
    let sub = Subscription {
        stripe_subscription_id: Some("sub_paid".into()),
        status: Some("active".into()),
        seats: 5,
        suspended: true,
        suspended_at: Some(app.app.clock.now()),
        ..Subscription::default()
    };
    put_subscription(app, &tenant, &serde_json::to_value(&sub).unwrap()).await;
    tenant
}

#[tokio::test]
async fn the_timer_queues_each_tenant_which_is_suspended_past_grace_or_restored_once_paid() {
    let app = spawn_app().await;
    let late = paying_tenant(&app, "Late", "cus_1").await;
    deliver(&app, &life(&late, app.now() - 1000)).await;
    let paid = paid_but_suspended(&app).await;
    assert!(!app.app.billing.entitlement(&paid).await.unwrap().active);

    let res = dunning(&app).await;
    assert!(
        format!("{res:?}").contains("queued for 2 tenants, 0 failed"),
        "{res:?}"
    );
    assert!(
        app.app.billing.entitlement(&late).await.unwrap().active,
        "within grace"
    );
    assert_eq!(dunned(&app, &late).await, Vec::<String>::new());
    assert!(app.app.billing.entitlement(&paid).await.unwrap().active);
    assert_eq!(dunned(&app, &paid).await, ["billing.tenant.restored"]);

    app.clock.advance(time::Duration::days(8));
    dunning(&app).await;
    let e = app.app.billing.entitlement(&late).await.unwrap();
    assert!(!e.active && e.reason.contains("suspended"), "{e:?}");
    assert_eq!(dunned(&app, &late).await, ["billing.tenant.suspended"]);
    assert_eq!(
        dunned(&app, &paid).await,
        ["billing.tenant.restored"],
        "a restored tenant is left alone"
    );

    deliver(
        &app,
        &[
            event(
                "evt_paid_late",
                "invoice.paid",
                app.now(),
                json!({"id": "in_3", "customer": "cus_1"}),
            ),
            event(
                "evt_active_again",
                "customer.subscription.updated",
                app.now(),
                subscription(&late, "active", 25),
            ),
        ],
    )
    .await;
    assert!(app.app.billing.entitlement(&late).await.unwrap().active);
    dunning(&app).await;
    assert!(app.app.billing.entitlement(&late).await.unwrap().active);
    assert_eq!(
        dunned(&app, &late).await,
        ["billing.tenant.suspended"],
        "a payment restores at once; dunning has nothing left to do"
    );
    assert_eq!(app.queue_len("tenant-work-poison").await, 0);
}

#[tokio::test]
async fn a_tenant_whose_subscription_cannot_be_read_is_poisoned_alone_while_the_others_are_dunned()
{
    let app = spawn_app().await;
    let late = paying_tenant(&app, "Late", "cus_1").await;
    deliver(&app, &life(&late, app.now() - 1000)).await;
    let broken = app.add_tenant("Broken").await;
    put_subscription(&app, &broken, &json!({"seats": "many"})).await;
    let paid = paid_but_suspended(&app).await;

    app.clock.advance(time::Duration::days(8));
    let res = app.run_function("BillingDunning", "").await;
    assert!(
        format!("{res:?}").contains("queued for 3 tenants, 0 failed"),
        "{res:?}"
    );
    // The broken tenant's message is retried on its own, then poisoned.
    wait_until(Duration::from_secs(30), || async {
        app.queue_len("tenant-work-poison").await == 1
    })
    .await;
    app.drain(WORK).await;
    let poisoned = app
        .app
        .queues
        .receive(
            &QueueName::parse(WORK).unwrap().poison(),
            1,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(
        poisoned[0].text.contains(broken.as_str()),
        "{}",
        poisoned[0].text
    );
    assert_eq!(dunned(&app, &late).await, ["billing.tenant.suspended"]);
    assert!(!app.app.billing.entitlement(&late).await.unwrap().active);
    assert_eq!(dunned(&app, &paid).await, ["billing.tenant.restored"]);
    assert_eq!(dunned(&app, &broken).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_bot_turns_a_tenant_away_as_soon_as_dunning_suspends_it() {
    let bot = spawn_bot().await;
    let tenant = bot.active_tenant().await;
    // A payment failed eight days ago, past the grace period; Stripe still
    // says active, so only dunning closes the tenant.
    let failed = event(
        "evt_failed",
        "invoice.payment_failed",
        bot.app.now() - 8 * 24 * 3600,
        json!({"object": "invoice", "id": "in_2", "customer": customer_of(&tenant), "subscription": "sub_1"}),
    );
    deliver(&bot.app, &[failed]).await;
    let say = |n: usize| {
        let mut a = bot.activity(&tenant, "message", Some("help"));
        a["id"] = json!(format!("act-{n}"));
        a
    };
    // Served while the subscription says active: the answer is now cached.
    bot.post(&say(1), Some(&bot.token())).await;
    let sent = bot.delivered(1).await;
    assert!(card_texts(&sent[0].activity).contains("Here is what I can do"));

    dunning(&bot.app).await;
    assert_eq!(
        dunned(&bot.app, &tenant).await,
        ["billing.tenant.suspended"]
    );
    bot.post(&say(2), Some(&bot.token())).await;
    let sent = bot.delivered(2).await;
    assert!(
        card_texts(&sent[1].activity).contains("paused"),
        "the very next message, not a minute later: {}",
        card_texts(&sent[1].activity)
    );
}
