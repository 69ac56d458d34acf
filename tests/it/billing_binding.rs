//! Which tenant a Stripe subscription pays for: only a binding SalesTim made
//! (a Checkout Session it created, through a local stand-in of Stripe's
//! API, or an operator's `handler billing bind`) decides; what an event says
//! about a tenant (`metadata.tenantId`, `client_reference_id`) never does. A
//! bound customer never moves, a replaced subscription never cancels, and
//! events of a customer bound to no tenant wait, whole, for its binding.

use salestim::billing::checkout::StripeApi;
use salestim::billing::{CheckoutRequest, EventOutcome};
use salestim::governance::audit;
use salestim::ids::TenantId;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::billing::{deliver, event};
use crate::support::app::{TestApp, spawn_app};
use crate::support::stripe::StripeStandIn;

const PRICE: &str = "price_business";

/// A subscription object of `customer`, naming `hint` as its tenant in
/// metadata, as anyone opening a Payment Link can.
fn subscription(sub: &str, customer: &str, hint: &TenantId, status: &str, seats: u64) -> Value {
    json!({"id": sub, "object": "subscription", "customer": customer, "status": status, "cancel_at_period_end": false,
           "current_period_end": 1_900_000_000, "metadata": {"tenantId": hint.as_str()},
           "items": {"data": [{"quantity": seats, "price": {"id": PRICE, "lookup_key": "business"}}]}})
}

fn checkout_completed(
    id: &str,
    created: i64,
    session: &str,
    customer: &str,
    sub: &str,
    hint: &TenantId,
) -> Value {
    event(
        id,
        "checkout.session.completed",
        created,
        json!({"id": session, "object": "checkout.session", "mode": "subscription", "customer": customer, "subscription": sub,
               "client_reference_id": hint.as_str(), "metadata": {"tenantId": hint.as_str()}, "payment_status": "paid"}),
    )
}

async fn active(app: &TestApp, tenant: &TenantId) -> bool {
    app.app.billing.entitlement(tenant).await.unwrap().active
}

pub(crate) async fn actions(app: &TestApp, tenant: &TenantId) -> Vec<String> {
    audit::trail(app.app.docs.as_ref(), tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect()
}

/// A Checkout Session made for `tenant` through the stand-in, as the
/// `handler billing checkout` command makes it.
async fn our_checkout(app: &TestApp, stripe: &StripeStandIn, tenant: &TenantId) -> String {
    let api = StripeApi::new(
        reqwest::Client::new(),
        stripe.base_url.clone(),
        SecretString::from(stripe.api_key.clone()),
    );
    app.app
        .billing
        .start_checkout(
            &api,
            &CheckoutRequest {
                tenant,
                price: PRICE,
                seats: 10,
                success_url: "https://app.example/billing/done",
                cancel_url: "https://app.example/billing/canceled",
                actor: "operator:test",
            },
        )
        .await
        .expect("the checkout is created")
        .id
}

#[tokio::test]
async fn a_signed_event_naming_a_registered_tenant_does_not_activate_it() {
    let app = spawn_app().await;
    let victim = app.add_tenant("Victim").await;
    let t0 = app.now() - 60;
    // The attack from the issue: one signed customer.subscription.created
    // naming the tenant in metadata, and a checkout (a Payment Link's, not
    // ours) naming it in client_reference_id.
    deliver(
        &app,
        &[
            event(
                "evt_attack",
                "customer.subscription.created",
                t0,
                subscription("sub_x", "cus_attacker", &victim, "active", 50),
            ),
            checkout_completed(
                "evt_attack_co",
                t0,
                "cs_test_not_ours",
                "cus_attacker",
                "sub_x",
                &victim,
            ),
        ],
    )
    .await;
    assert!(!active(&app, &victim).await);
    assert!(
        app.app
            .billing
            .subscription(&victim)
            .await
            .unwrap()
            .is_none(),
        "nothing written for the tenant"
    );
    assert_eq!(
        app.queue_len("billing-events-poison").await,
        0,
        "kept, not poisoned"
    );
}

#[tokio::test]
async fn a_bound_customer_never_moves_to_another_tenant() {
    let app = spawn_app().await;
    let stripe = StripeStandIn::start(&[PRICE]).await;
    let owner = app.add_tenant("Owner").await;
    let other = app.add_tenant("Other").await;
    app.bind_customer(&owner, "cus_1").await;
    let t0 = app.now() - 60;
    deliver(
        &app,
        &[event(
            "evt_1",
            "customer.subscription.created",
            t0,
            subscription("sub_1", "cus_1", &owner, "active", 10),
        )],
    )
    .await;
    assert!(active(&app, &owner).await);

    // An event of cus_1 naming the other tenant still belongs to the owner.
    deliver(
        &app,
        &[event(
            "evt_2",
            "customer.subscription.updated",
            t0 + 1,
            subscription("sub_1", "cus_1", &other, "active", 12),
        )],
    )
    .await;
    assert!(!active(&app, &other).await);
    assert_eq!(app.app.billing.entitlement(&owner).await.unwrap().seats, 12);

    // An operator cannot move it.
    let customer = salestim::billing::binding::CustomerId::parse("cus_1").unwrap();
    let refused = app
        .app
        .billing
        .bind_customer(&other, &customer, "operator:test")
        .await;
    assert!(refused.unwrap_err().to_string().contains("never moves"));

    // Nor can a checkout of ours for the other tenant that cus_1 pays.
    let session = our_checkout(&app, &stripe, &other).await;
    deliver(
        &app,
        &[checkout_completed(
            "evt_3",
            t0 + 2,
            &session,
            "cus_1",
            "sub_2",
            &other,
        )],
    )
    .await;
    deliver(
        &app,
        &[event(
            "evt_4",
            "customer.subscription.deleted",
            t0 + 3,
            subscription("sub_1", "cus_1", &other, "canceled", 12),
        )],
    )
    .await;
    assert!(!active(&app, &other).await);
    // The deletion of sub_1 is the owner's own (its customer), so it applies there.
    assert!(
        !active(&app, &owner).await,
        "sub_1 was the owner's and it ended"
    );
    for tenant in [&owner, &other] {
        let refusals = actions(&app, tenant)
            .await
            .into_iter()
            .filter(|a| a == "billing.customer.binding_refused")
            .count();
        assert_eq!(
            refusals, 2,
            "the operator's and the checkout's refusals are in {tenant}'s trail"
        );
    }
}

#[tokio::test]
async fn a_replaced_subscriptions_late_deleted_never_cancels() {
    let app = spawn_app().await;
    let stripe = StripeStandIn::start(&[PRICE]).await;
    let tenant = app.add_tenant("Upgrader").await;
    let t0 = app.now() - 600;
    let first = our_checkout(&app, &stripe, &tenant).await;
    deliver(
        &app,
        &[
            checkout_completed("evt_c1", t0, &first, "cus_1", "sub_1", &tenant),
            event(
                "evt_s1",
                "customer.subscription.updated",
                t0 + 1,
                subscription("sub_1", "cus_1", &tenant, "active", 10),
            ),
        ],
    )
    .await;
    assert!(active(&app, &tenant).await);

    // A second checkout of ours replaces sub_1 with sub_2; its subscription
    // event arrives before its checkout event.
    let second = our_checkout(&app, &stripe, &tenant).await;
    deliver(
        &app,
        &[
            event(
                "evt_s2",
                "customer.subscription.created",
                t0 + 100,
                subscription("sub_2", "cus_2", &tenant, "active", 30),
            ),
            checkout_completed("evt_c2", t0 + 100, &second, "cus_2", "sub_2", &tenant),
        ],
    )
    .await;
    let sub = app
        .app
        .billing
        .subscription(&tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sub.stripe_subscription_id.as_deref(), Some("sub_2"));
    assert_eq!(
        app.app.billing.entitlement(&tenant).await.unwrap().seats,
        30,
        "sub_2's own event applied once it became current"
    );

    // sub_1's late cancellation, and an update of another subscription of
    // the tenant's customer, change nothing but the audit trail.
    let before = app.app.billing.subscription(&tenant).await.unwrap();
    deliver(
        &app,
        &[
            event(
                "evt_d1",
                "customer.subscription.deleted",
                t0 + 200,
                subscription("sub_1", "cus_1", &tenant, "canceled", 10),
            ),
            event(
                "evt_x",
                "customer.subscription.updated",
                t0 + 201,
                subscription("sub_other", "cus_2", &tenant, "unpaid", 1),
            ),
        ],
    )
    .await;
    assert_eq!(app.app.billing.subscription(&tenant).await.unwrap(), before);
    assert!(active(&app, &tenant).await);
    let trail = actions(&app, &tenant).await;
    assert!(
        trail.contains(&"billing.subscription.replaced".to_owned()),
        "{trail:?}"
    );
    assert_eq!(
        trail
            .iter()
            .filter(|a| *a == "billing.subscription.ignored")
            .count(),
        2,
        "{trail:?}"
    );
}

#[tokio::test]
async fn events_that_waited_are_applied_in_order_when_the_customer_is_bound() {
    let app = spawn_app().await;
    let tenant = app.add_tenant("Invoiced").await;
    let t0 = app.now() - 600;
    let events = [
        event(
            "evt_w1",
            "customer.subscription.created",
            t0,
            subscription("sub_9", "cus_9", &tenant, "incomplete", 5),
        ),
        event(
            "evt_w2",
            "customer.subscription.updated",
            t0 + 1,
            subscription("sub_9", "cus_9", &tenant, "active", 5),
        ),
        event(
            "evt_w3",
            "invoice.paid",
            t0 + 1,
            json!({"object": "invoice", "id": "in_1", "customer": "cus_9", "subscription": "sub_9"}),
        ),
        event(
            "evt_w4",
            "customer.subscription.updated",
            t0 + 60,
            subscription("sub_9", "cus_9", &tenant, "active", 40),
        ),
    ];
    // Delivered newest first: only the order of application is Stripe's.
    let reversed: Vec<Value> = events.iter().rev().cloned().collect();
    deliver(&app, &reversed).await;
    assert!(
        !active(&app, &tenant).await,
        "nothing applies before the binding"
    );

    app.bind_customer(&tenant, "cus_9").await;
    let e = app.app.billing.entitlement(&tenant).await.unwrap();
    assert!(e.active && e.seats == 40, "{e:?}");
    let sub = app
        .app
        .billing
        .subscription(&tenant)
        .await
        .unwrap()
        .unwrap();
    assert!(sub.last_paid_at.is_some());
    // Applied in order: none -> incomplete -> active (and 40 seats last).
    let changes = actions(&app, &tenant)
        .await
        .into_iter()
        .filter(|a| a == "billing.subscription.changed")
        .count();
    assert_eq!(changes, 2);
    // What waited is applied once: a second bind finds nothing left.
    let customer = salestim::billing::binding::CustomerId::parse("cus_9").unwrap();
    let again = app
        .app
        .billing
        .bind_customer(&tenant, &customer, "operator:test")
        .await
        .unwrap();
    assert_eq!((again.already, again.applied), (true, 0));
}

#[tokio::test]
async fn a_checkout_of_ours_binds_whoever_pays_it_and_nothing_else_does() {
    let app = spawn_app().await;
    let stripe = StripeStandIn::start(&[PRICE]).await;
    let tenant = app.add_tenant("Self-serve").await;
    let session = our_checkout(&app, &stripe, &tenant).await;
    let seen = &stripe.sessions()[0];
    assert_eq!(seen.id, session);
    assert_eq!(seen.field("mode"), Some("subscription"));
    assert_eq!(seen.field("line_items[0][quantity]"), Some("10"));
    assert_eq!(seen.field("client_reference_id"), Some(tenant.as_str()));
    assert!(
        seen.idempotency_key
            .as_deref()
            .is_some_and(|k| !k.is_empty())
    );

    let t0 = app.now() - 60;
    let sub = |id: &str, created: i64| {
        event(
            id,
            "customer.subscription.updated",
            created,
            subscription("sub_5", "cus_5", &tenant, "active", 10),
        )
    };
    // The subscription event first (Stripe does not order), then the checkout.
    deliver(&app, &[sub("evt_a", t0 + 1)]).await;
    assert!(!active(&app, &tenant).await);
    deliver(
        &app,
        &[checkout_completed(
            "evt_b", t0, &session, "cus_5", "sub_5", &tenant,
        )],
    )
    .await;
    let e = app.app.billing.entitlement(&tenant).await.unwrap();
    assert!(e.active && e.seats == 10, "{e:?}");
    assert!(
        actions(&app, &tenant)
            .await
            .contains(&"billing.customer.bound".to_owned())
    );

    // A bad price or key is Stripe's 400/401, reported, and records nothing.
    let api = StripeApi::new(
        reqwest::Client::new(),
        stripe.base_url.clone(),
        SecretString::from("sk_test_wrong".to_owned()),
    );
    let req = CheckoutRequest {
        tenant: &tenant,
        price: PRICE,
        seats: 1,
        success_url: "https://a.example/",
        cancel_url: "https://a.example/",
        actor: "t",
    };
    let err = app
        .app
        .billing
        .start_checkout(&api, &req)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(stripe.sessions().len(), 1);
    // What is not a Price id is refused before Stripe is asked.
    let asked = stripe.requests();
    let req = CheckoutRequest {
        price: "business&mode=payment",
        ..req
    };
    assert!(app.app.billing.start_checkout(&api, &req).await.is_err());
    assert_eq!(stripe.requests(), asked);
}

#[tokio::test]
async fn direct_processing_reports_a_waiting_event() {
    let app = spawn_app().await;
    let tenant = app.add_tenant("Direct").await;
    let body = serde_json::to_vec(&event("evt_d", "invoice.paid", app.now(), json!({"id": "in_1", "customer": "cus_d", "subscription": "sub_d", "metadata": {"tenantId": tenant.as_str()}}))).unwrap();
    let salestim::billing::event::Parsed::Handled(e) =
        salestim::billing::event::parse(&body).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        app.app.billing.process(&e, &body).await.unwrap(),
        EventOutcome::Waiting { kept: true }
    );
}

/// The operator's way, end to end: `handler tenant add` then `handler
/// billing bind` on the app's data make a tenant that already paid active
/// at once; `handler billing checkout` creates a session through Stripe's
/// API (the stand-in) and prints its URL.
#[tokio::test]
async fn operator_commands_bind_a_customer_and_start_a_checkout() {
    let app = spawn_app().await;
    let stripe = StripeStandIn::start(&[PRICE]).await;
    let tenant = TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let t0 = app.now() - 60;
    // The customer paid before anyone registered the tenant.
    deliver(
        &app,
        &[
            event("evt_o1", "customer.subscription.created", t0, subscription("sub_o", "cus_o", &tenant, "active", 7)),
            event("evt_o2", "invoice.paid", t0 + 1, json!({"object": "invoice", "id": "in_o", "customer": "cus_o", "subscription": "sub_o"})),
        ],
    )
    .await;
    let run = |args: Vec<String>| {
        let dir = app.data_dir().to_owned();
        let (base, key) = (stripe.base_url.to_string(), stripe.api_key.clone());
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"))
                .args(&args)
                .args(["--settings", "no-such-file.json"])
                .env_clear()
                .env("SALESTIM_DATA_DIR", &dir)
                .env(
                    "SALESTIM_LOCAL_KEK",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]),
                )
                .env("STRIPE_API_KEY", key)
                .env("STRIPE_API_BASE", base)
                .env("SALESTIM_PUBLIC_HOSTNAME", "app.salestim.example")
                .env("RUST_LOG", "warn")
                .output()
                .await
                .unwrap()
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let t = tenant.as_str();
    assert!(
        run(args(&["tenant", "add", t, "--name", "Late"]))
            .await
            .status
            .success()
    );
    let out = run(args(&["billing", "bind", t, "cus_o"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 waiting event(s) applied") && stdout.contains("active"),
        "{stdout}"
    );
    assert!(active(&app, &tenant).await);

    let out = run(args(&[
        "billing", "checkout", t, "--plan", PRICE, "--seats", "3",
    ]))
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = stripe.sessions();
    assert_eq!(seen.len(), 1);
    assert!(
        stdout.contains(&format!("https://checkout.stripe.com/c/pay/{}", seen[0].id)),
        "{stdout}"
    );
    assert_eq!(seen[0].field("line_items[0][price]"), Some(PRICE));
    assert_eq!(seen[0].field("line_items[0][quantity]"), Some("3"));
    assert_eq!(
        seen[0].field("success_url"),
        Some("https://app.salestim.example/billing/done?session_id={CHECKOUT_SESSION_ID}")
    );
    // The session is recorded: its completion binds its payer to the tenant.
    assert!(
        salestim::billing::binding::our_checkout(app.app.docs.as_ref(), &seen[0].id)
            .await
            .unwrap()
            .is_some()
    );

    // Moving cus_o elsewhere is refused with a reason, and a bad id is refused.
    let elsewhere = uuid::Uuid::new_v4().to_string();
    assert!(
        run(args(&["tenant", "add", &elsewhere, "--name", "Other"]))
            .await
            .status
            .success()
    );
    let out = run(args(&["billing", "bind", &elsewhere, "cus_o"])).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("never moves"));
    let out = run(args(&["billing", "bind", t, "cus_../x"])).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn the_customer_portal_opens_for_the_bound_customer_of_the_tenant_only() {
    let app = spawn_app().await;
    let stripe = StripeStandIn::start(&[PRICE]).await;
    let api = StripeApi::new(
        reqwest::Client::new(),
        stripe.base_url.clone(),
        SecretString::from(stripe.api_key.clone()),
    );
    let paying = app.add_tenant("Paying").await;
    let unbound = app.add_tenant("Unbound").await;
    stripe.add_customer("cus_portal");
    app.bind_customer(&paying, "cus_portal").await;
    deliver(
        &app,
        &[event(
            "evt_p1",
            "customer.subscription.created",
            app.now() - 10,
            subscription("sub_p", "cus_portal", &paying, "active", 5),
        )],
    )
    .await;

    let session = app
        .app
        .billing
        .open_portal(
            &api,
            &paying,
            "https://app.example.com/api/tabs/admin",
            "user:admin",
        )
        .await
        .expect("a portal session");
    assert!(session.url.starts_with("https://billing.stripe.com/"));
    let seen = stripe.portals();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].field("customer"), Some("cus_portal"));
    assert_eq!(
        seen[0].field("return_url"),
        Some("https://app.example.com/api/tabs/admin")
    );
    assert!(seen[0].idempotency_key.is_some());

    // A tenant no customer is bound to is told to subscribe; Stripe is not asked.
    let before = stripe.requests();
    let refused = app
        .app
        .billing
        .open_portal(&api, &unbound, "https://app.example.com/", "user:admin")
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("subscribe first"), "{refused}");
    assert_eq!(stripe.requests(), before);
}
