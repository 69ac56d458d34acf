//! Two regions at once: two apps, each driven by its own local host with
//! its own (regional) queues, sharing one document store (as every region
//! shares the global Cosmos DB account). Timers fire in both, as every
//! region's host fires them; a webhook may land in either.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use salestim::functions::timer_lease;
use salestim::host::invoke::{InvokeRequest, InvokeResponse};
use salestim::ids::TenantId;
use salestim::platform::PlatformError;
use salestim::platform::clock::{Clock, SystemClock};
use salestim::platform::documents::Documents;
use salestim::platform::documents::sqlite::SqliteDocuments;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::billing::{event, life, subscription};
use crate::support::app::{Options, TestApp, WrapQueues, spawn_app_with, wait_until};
use crate::support::faulty_queues::hanging_tenant_work;

const TENANTS: usize = 3;

/// Two regions sharing `dir`'s document store.
struct Regions {
    west: TestApp,
    north: TestApp,
    _dir: tempfile::TempDir,
}

fn shared_docs(dir: &tempfile::TempDir) -> Arc<dyn Documents> {
    // Each region opens the store itself, as two processes would.
    Arc::new(
        SqliteDocuments::open(&dir.path().join("global.sqlite"), Arc::new(SystemClock))
            .expect("the shared store opens"),
    )
}

async fn region(name: &str, docs: Arc<dyn Documents>, queues: Option<WrapQueues>) -> TestApp {
    spawn_app_with(Options {
        docs: Some(docs),
        queues,
        settings: vec![
            ("REGION_NAME", name.to_owned()),
            ("SALESTIM_TIMER_LEASE_SECS", "5".to_owned()),
            (
                "SALESTIM_PUBLIC_HOSTNAME",
                "salestim.example.com".to_owned(),
            ),
        ],
        ..Options::default()
    })
    .await
}

impl Regions {
    async fn new() -> Regions {
        Self::with_west_queues(None).await
    }

    async fn with_west_queues(wrap: Option<WrapQueues>) -> Regions {
        let dir = tempfile::tempdir().unwrap();
        let west = region("westeurope", shared_docs(&dir), wrap).await;
        let north = region("northeurope", shared_docs(&dir), None).await;
        // Both regions' clocks agree (each region keeps its own).
        north.clock.set(west.clock.now());
        Regions {
            west,
            north,
            _dir: dir,
        }
    }

    fn advance(&self, by: time::Duration) {
        self.west.clock.advance(by);
        self.north.clock.advance(by);
    }

    async fn onboarded_tenants(&self, n: usize) -> Vec<TenantId> {
        let mut out = Vec::new();
        for i in 0..n {
            out.push(self.west.add_consented_tenant(&format!("Tenant {i}")).await);
        }
        out
    }
}

/// The timer payload the Functions host sends on a scheduled firing (with
/// the monitor's `ScheduleStatus`), at the app's clock.
fn scheduled(app: &TestApp) -> Value {
    let now = app.clock.now();
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap();
    json!({"Data": {"timer": {"Schedule": {"AdjustForDST": true},
        "ScheduleStatus": {"Last": fmt(now - time::Duration::minutes(30)), "Next": fmt(now + time::Duration::minutes(30)), "LastUpdated": fmt(now)},
        "IsPastDue": false}}, "Metadata": {}})
}

/// Fires `function` in `app`'s region as its host does on schedule; the
/// summary it returned.
async fn fire(app: &TestApp, function: &str) -> String {
    Firing::of(app).fire(function).await
}

fn ran(summary: &str) -> bool {
    summary.contains(": ran in region")
}

#[tokio::test]
async fn every_timer_runs_once_per_period_across_two_regions() {
    let r = Regions::new().await;
    r.onboarded_tenants(TENANTS).await;
    // Every timer whose work must happen once per period.
    let timers = [
        "RequestReminders",
        "BillingDunning",
        "GovernanceSweep",
        "GraphSubscriptions",
    ];
    for period in 0..2 {
        for function in timers {
            // Both regions' hosts fire at the same moment.
            let (west, north) = tokio::join!(fire(&r.west, function), fire(&r.north, function));
            let runs: Vec<&String> = [&west, &north].into_iter().filter(|s| ran(s)).collect();
            assert_eq!(runs.len(), 1, "{function}: west {west:?}, north {north:?}");
            assert!(
                runs[0].contains(&format!("queued for {TENANTS} tenants")),
                "{function}: {}",
                runs[0]
            );
            let other = if ran(&west) { &north } else { &west };
            assert!(other.contains("already done in region"), "{other}");

            // The lease says which region ran which period.
            let lease = timer_lease::read(r.west.app.docs.as_ref(), function)
                .await
                .unwrap();
            let done = lease.done.expect("the period is marked done");
            let ran_in = if ran(&west) {
                "westeurope"
            } else {
                "northeurope"
            };
            assert_eq!(done.region, ran_in);
            assert!(lease.holder.is_none(), "the lease was given back");

            // A host that fires late for the same period finds it done.
            assert!(
                fire(&r.north, function)
                    .await
                    .contains("already done in region"),
                "{function} period {period}"
            );
        }
        // Every timer's next period (the longest schedule is a day).
        r.advance(time::Duration::days(1));
    }
}

#[tokio::test]
async fn a_region_that_dies_holding_the_lease_hands_over_once_it_runs_out() {
    let r = Regions::with_west_queues(Some(hanging_tenant_work)).await;
    r.onboarded_tenants(TENANTS).await;
    let function = "RequestReminders";

    // West takes the lease and gets stuck in its run, renewing the lease...
    let request: InvokeRequest = serde_json::from_value(scheduled(&r.west)).unwrap();
    let west = tokio::spawn(salestim::functions::request_reminders::run(
        r.west.app.clone(),
        request,
    ));
    let docs = r.north.app.docs.clone();
    wait_until(Duration::from_secs(10), || async {
        timer_lease::read(docs.as_ref(), function)
            .await
            .unwrap()
            .holder
            .is_some_and(|h| h.region == "westeurope")
    })
    .await;
    // ...then dies: its run stops where it is, the lease neither renewed
    // nor given back.
    west.abort();
    let _ = west.await;
    let left = timer_lease::read(docs.as_ref(), function)
        .await
        .unwrap()
        .holder
        .unwrap();

    // North fires for the same period and stands by while the lease lives.
    let north = tokio::spawn({
        let app = Firing::of(&r.north);
        async move { app.fire(function).await }
    });
    let poll = timer_lease::poll(Duration::from_secs(5));
    tokio::time::sleep(poll * 3).await;
    assert!(
        !north.is_finished(),
        "north must wait for the lease to run out"
    );
    assert_eq!(
        timer_lease::read(docs.as_ref(), function)
            .await
            .unwrap()
            .holder
            .unwrap()
            .id,
        left.id
    );

    // The lease runs out (north's clock passes its end): north takes over.
    r.north.clock.set(left.until + time::Duration::seconds(1));
    let summary = tokio::time::timeout(Duration::from_secs(30), north)
        .await
        .expect("north takes over")
        .unwrap();
    assert!(summary.contains("ran in region northeurope"), "{summary}");
    assert!(
        summary.contains(&format!("taken over from {}", left.id)),
        "{summary}"
    );
    assert!(summary.contains(&format!("queued for {TENANTS} tenants")));
    let lease = timer_lease::read(docs.as_ref(), function).await.unwrap();
    assert_eq!(lease.done.unwrap().region, "northeurope");
    assert!(lease.holder.is_none());
}

/// A scheduled firing of a region's timer, ready to send (it can move
/// into a spawned task).
struct Firing {
    http: reqwest::Client,
    handler: url::Url,
    body: Value,
}

impl Firing {
    fn of(app: &TestApp) -> Self {
        Firing {
            http: app.http.clone(),
            handler: app.handler.clone(),
            body: scheduled(app),
        }
    }

    async fn fire(self, function: &str) -> String {
        let res = self
            .http
            .post(self.handler.join(function).unwrap())
            .json(&self.body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{function}");
        let body: InvokeResponse = res.json().await.unwrap();
        body.return_value.as_str().unwrap_or_default().to_owned()
    }
}

#[tokio::test]
async fn a_failed_run_gives_the_lease_back_without_marking_its_period() {
    let r = Regions::new().await;
    let function = "BillingDunning";
    let fail = timer_lease::once(
        &r.west.app,
        function,
        salestim::functions::billing_dunning::SCHEDULE,
        &serde_json::from_value(scheduled(&r.west)["Data"]["timer"].clone()).unwrap(),
        || async {
            Err::<String, _>(salestim::error::AppError::Platform(
                PlatformError::unavailable("queues", "down"),
            ))
        },
    )
    .await;
    assert!(fail.is_err());
    let lease = timer_lease::read(r.west.app.docs.as_ref(), function)
        .await
        .unwrap();
    assert!(lease.holder.is_none() && lease.done.is_none(), "{lease:?}");
    // So the other region's firing for the same period runs it.
    assert!(ran(&fire(&r.north, function).await));
}

#[tokio::test]
async fn a_stripe_event_delivered_to_both_regions_applies_once() {
    let r = Regions::new().await;
    let tenant = r.west.add_tenant("Contoso").await;
    r.west.bind_customer(&tenant, "cus_1").await;
    let t0 = r.west.now() - 300;
    let events = life(&tenant, t0);
    // Stripe retries a delivery it thinks failed; Traffic Manager may send
    // the retry to the other region. Each event lands in both at once.
    for e in &events[..3] {
        let (a, b) = tokio::join!(r.west.stripe_event(e), r.north.stripe_event(e));
        assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    }
    r.west.drain("billing-events").await;
    r.north.drain("billing-events").await;
    let changed = subscription_changes(&r.west, &tenant).await;
    // none -> active (checkout) -> incomplete -> active: three changes, once each.
    assert_eq!(changed, 3);
    let sub = r
        .north
        .app
        .billing
        .subscription(&tenant)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::to_value(&sub).unwrap()["status"], "active");
    // A late copy of an applied event, in either region, changes nothing.
    let late = event(
        "evt_active",
        "customer.subscription.updated",
        t0 + 1,
        subscription(&tenant, "active", 10),
    );
    assert_eq!(r.north.stripe_event(&late).await.status(), StatusCode::OK);
    r.north.drain("billing-events").await;
    assert_eq!(subscription_changes(&r.north, &tenant).await, 3);
}

async fn subscription_changes(app: &TestApp, tenant: &TenantId) -> usize {
    let trail = salestim::governance::audit::trail(app.app.docs.as_ref(), tenant)
        .await
        .unwrap();
    trail
        .iter()
        .filter(|a| a.action == "billing.subscription.changed")
        .count()
}
