//! Telemetry to Application Insights, against the ingestion stand-in: the
//! app's dependencies, events, warnings and metrics arrive as envelopes of
//! the right shape, under the operation of the host's `traceparent`, and
//! carry no secret; with the endpoint down invocations go on and the drops
//! are counted; without the setting nothing is sent; and the binary sends
//! what it holds when it is stopped.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use salestim::config::TelemetrySettings;
use salestim::telemetry::Telemetry;
use serde_json::{Value, json};

use crate::bot_invokes::{ALICE, BOB, user_activity};
use crate::provisioning::{approve, approved_request, requests_of_bob, submit_checked, world};
use crate::support::connector::SECRET as BOT_SECRET;
use crate::support::ingestion::{IngestionStandIn, Mode};
use crate::support::logs;

/// A W3C `traceparent` as the host sends it, and its trace and span ids.
fn host_trace() -> (String, String, String) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    (format!("00-{trace}-{span}-01"), trace, span)
}

/// As the settings hand them over (the connection string without its
/// trailing `;`).
fn settings(stand_in: &IngestionStandIn, buffer: usize) -> TelemetrySettings {
    TelemetrySettings {
        connection_string: stand_in
            .connection_string()
            .trim_end_matches(';')
            .to_owned(),
        sampling: 1.0,
        buffer,
    }
}

async fn flush(telemetry: &Telemetry) {
    let telemetry = telemetry.clone();
    tokio::task::spawn_blocking(move || telemetry.flush())
        .await
        .unwrap();
}

fn base(e: &Value) -> &Value {
    &e["data"]["baseData"]
}

fn in_operation<'a>(envelopes: &'a [Value], trace: &str) -> Vec<&'a Value> {
    envelopes
        .iter()
        .filter(|e| e["tags"]["ai.operation.id"] == trace)
        .collect()
}

/// `d.hh:mm:ss.ffffff`, Application Insights' duration.
fn is_duration(text: &str) -> bool {
    regex::Regex::new(r"^\d+\.\d{2}:\d{2}:\d{2}\.\d{6}$")
        .unwrap()
        .is_match(text)
}

#[tokio::test]
async fn invocations_send_their_dependencies_events_and_warnings_under_the_host_operation() {
    let stand_in = IngestionStandIn::start(Mode::Accept);
    let telemetry =
        Telemetry::start_with(&settings(&stand_in, 2048), "test-region", stand_in.client())
            .unwrap();
    let log = logs::capture_with_telemetry(&telemetry);
    let w = world().await;
    let app = &w.bot.app;
    let tenant = w.tenant.clone();

    // A: a bot message, forwarded by the host: the reply goes out through
    // the Connector, inline.
    let (traceparent_a, trace_a, _) = host_trace();
    let mut hello = user_activity(&w.bot, &tenant, BOB, "Bob", "message");
    hello["text"] = json!("help");
    let sent_before = w.bot.connector.sent().len();
    let res = app
        .http
        .post(app.url("api/messages"))
        .bearer_auth(w.bot.token())
        .header("traceparent", &traceparent_a)
        .json(&hello)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    w.bot.delivered(sent_before + 1).await;

    // B: a provisioning run, invoked by the host with its trace and
    // invocation id, with one 429 from Graph on the way.
    let request = approved_request(&w, "Osprey").await;
    w.graph.throttle_tenant(tenant.as_str(), 1, 0);
    let (traceparent_b, trace_b, host_span_b) = host_trace();
    let invocation_b = uuid::Uuid::new_v4().to_string();
    // Queued three seconds ago by the app's clock (which the test holds).
    let inserted = {
        use salestim::platform::clock::Clock;
        app.clock.now() - Duration::from_secs(3)
    };
    let message = json!({"tenantId": tenant.as_str(), "requestId": request.id}).to_string();
    let res = invoke(
        &app.handler,
        "ProvisionTeam",
        &traceparent_b,
        &invocation_b,
        json!({"Data": {"msg": message}, "Metadata": {"DequeueCount": "1", "Id": "m1",
            "InsertionTime": inserted.format(&time::format_description::well_known::Rfc3339).unwrap()}}),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );

    // C: a message that is no job: refused, with a warning.
    let (traceparent_c, trace_c, _) = host_trace();
    let res = invoke(
        &app.handler,
        "ProvisionTeam",
        &traceparent_c,
        &uuid::Uuid::new_v4().to_string(),
        json!({"Data": {"msg": "not a job"}, "Metadata": {"DequeueCount": "1"}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);

    // A decision on a card (no trace from the host: an operation of its own).
    submit_checked(&w, "Falcon").await;
    let falcon = requests_of_bob(&w)
        .await
        .into_iter()
        .find(|r| r.display_name.contains("Falcon"))
        .unwrap();
    approve(&w, ALICE, &falcon.id).await;

    flush(&telemetry).await;
    drop(log);
    assert!(stand_in.refused().is_empty(), "{:#?}", stand_in.refused());
    let envelopes = stand_in.envelopes();
    assert!(
        envelopes
            .iter()
            .all(|e| e["iKey"] == stand_in.ikey.as_str()),
        "every envelope carries the key"
    );
    assert!(
        stand_in.of_kind("Request").is_empty(),
        "the host sends the requests"
    );
    let dependencies = stand_in.of_kind("RemoteDependency");
    for d in &dependencies {
        let b = base(d);
        assert!(is_duration(b["duration"].as_str().unwrap()), "{d}");
        assert!(b["id"].as_str().is_some_and(|id| id.len() == 16), "{d}");
        assert!(b["success"].is_boolean(), "{d}");
        if b["type"] != "InProc" {
            assert!(b["target"].as_str().is_some_and(|t| !t.is_empty()), "{d}");
            assert!(b["resultCode"].is_string(), "{d}");
        }
    }

    // A: the activity's invocation under the host's operation, and in it
    // a store call and the inline reply's Connector call.
    let a = in_operation(&dependencies, &trace_a);
    let taken_in = a
        .iter()
        .find(|d| base(d)["type"] == "InProc")
        .unwrap_or_else(|| panic!("the activity's invocation in {a:#?}"));
    assert_eq!(base(taken_in)["name"], "BotMessages");
    let under_it = |d: &&&Value| d["tags"]["ai.operation.parentId"] == base(taken_in)["id"];
    assert!(
        a.iter()
            .filter(under_it)
            .any(|d| base(d)["type"] == "SQLite"),
        "a document store call in {a:#?}"
    );
    let connector = a
        .iter()
        .filter(under_it)
        .find(|d| {
            base(d)["type"] == "HTTP"
                && base(d)["name"]
                    .as_str()
                    .unwrap()
                    .contains("/v3/conversations/{id}/activities")
        })
        .unwrap_or_else(|| panic!("a Connector dependency in {a:#?}"));
    assert_eq!(base(connector)["success"], true);
    assert!(
        base(connector)["name"]
            .as_str()
            .unwrap()
            .starts_with("POST ")
    );
    assert_eq!(base(connector)["properties"]["tenant"], tenant.as_str());

    // B: the invocation hangs under the host's span, Graph under it.
    let b = in_operation(&dependencies, &trace_b);
    let invocation = b
        .iter()
        .find(|d| base(d)["name"] == "ProvisionTeam")
        .unwrap_or_else(|| panic!("the invocation in {b:#?}"));
    assert_eq!(base(invocation)["type"], "InProc");
    assert_eq!(
        invocation["tags"]["ai.operation.parentId"],
        host_span_b.as_str()
    );
    let props = &base(invocation)["properties"];
    assert_eq!(props["invocation_id"], invocation_b.as_str());
    assert_eq!(props["tenant_id"], tenant.as_str());
    let invocation_id = base(invocation)["id"].as_str().unwrap();
    let graph: Vec<_> = b.iter().filter(|d| base(d)["type"] == "HTTP").collect();
    assert!(graph.len() > 3, "Graph calls in {b:#?}");
    for g in &graph {
        assert_eq!(g["tags"]["ai.operation.parentId"], invocation_id, "{g}");
        assert_eq!(base(g)["target"], "127.0.0.1", "{g}");
        assert_eq!(base(g)["properties"]["tenant"], tenant.as_str(), "{g}");
    }
    let throttled: Vec<_> = graph
        .iter()
        .filter(|g| base(g)["resultCode"] == "429")
        .collect();
    assert_eq!(throttled.len(), 1, "{graph:#?}");
    assert_eq!(base(throttled[0])["success"], false);
    assert!(
        b.iter()
            .any(|d| base(d)["type"] == "SQLite" && base(d)["name"] == "get requests"),
        "{b:#?}"
    );
    let events = stand_in.of_kind("Event");
    let provisioned = in_operation(&events, &trace_b);
    assert_eq!(provisioned.len(), 1, "{events:#?}");
    assert_eq!(base(provisioned[0])["name"], "TeamProvisioned");
    assert_eq!(
        base(provisioned[0])["properties"]["tenant"],
        tenant.as_str()
    );
    assert_eq!(
        base(provisioned[0])["properties"]["requestId"],
        request.id.as_str()
    );
    let decided = events
        .iter()
        .find(|e| base(e)["name"] == "RequestDecided")
        .unwrap_or_else(|| panic!("a decision in {events:#?}"));
    assert_eq!(base(decided)["properties"]["requestId"], falcon.id.as_str());
    assert_eq!(base(decided)["properties"]["decision"], "request.approved");
    assert_eq!(base(decided)["properties"]["tenant"], tenant.as_str());

    // C: the warning, under its operation.
    let messages = stand_in.of_kind("Message");
    let warning = in_operation(&messages, &trace_c);
    assert_eq!(warning.len(), 1, "{messages:#?}");
    assert_eq!(base(warning[0])["message"], "request rejected");
    assert_eq!(base(warning[0])["severityLevel"], 2);

    // Metrics: Graph per tenant, with its 429, and the queue's lag.
    let metrics = stand_in.of_kind("Metric");
    let metric = |name: &str, key: &str, value: &str| {
        metrics
            .iter()
            .find(|m| base(m)["metrics"][0]["name"] == name && base(m)["properties"][key] == value)
    };
    let requests = metric("graph_requests", "tenant", tenant.as_str())
        .unwrap_or_else(|| panic!("graph_requests in {metrics:#?}"));
    assert!(base(requests)["metrics"][0]["value"].as_f64().unwrap() > 3.0);
    assert!(metric("graph_throttled", "tenant", tenant.as_str()).is_some());
    let lag = metric("queue_lag_ms", "queue", "provision-team")
        .unwrap_or_else(|| panic!("queue_lag_ms in {metrics:#?}"));
    assert_eq!(
        base(lag)["metrics"][0]["max"].as_f64(),
        Some(3000.0),
        "the message queued 3 s before: {lag}"
    );

    // Nothing secret left.
    let sent = String::from_utf8_lossy(&stand_in.bytes()).to_string();
    for secret in [
        BOT_SECRET.to_owned(),
        w.graph.client_secret(),
        "gtok-".to_owned(),
        "Bearer".to_owned(),
        "eyJ".to_owned(),
        "sig=".to_owned(),
        crate::support::app::STRIPE_SECRET.to_owned(),
    ] {
        assert!(!sent.contains(&secret), "{secret:?} was sent");
    }
}

async fn invoke(
    handler: &url::Url,
    function: &str,
    traceparent: &str,
    invocation_id: &str,
    body: Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(handler.join(function).unwrap())
        .header("traceparent", traceparent)
        .header("x-azure-functions-invocationid", invocation_id)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_the_endpoint_down_invocations_complete_and_drops_are_counted() {
    let stand_in = IngestionStandIn::start(Mode::Unavailable);
    // Room for four spans: the first batch waits on the endpoint's 503s
    // (the exporter retries for up to 35 s), the rest find no room.
    let telemetry =
        Telemetry::start_with(&settings(&stand_in, 4), "test-region", stand_in.client()).unwrap();
    let log = logs::capture_with_telemetry(&telemetry);
    let app = crate::support::app::spawn_app().await;
    for _ in 0..10 {
        let (traceparent, _, _) = host_trace();
        let res = app
            .http
            .get(app.url("api/health"))
            .header("traceparent", traceparent)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    crate::support::app::wait_until(Duration::from_secs(10), || async {
        telemetry.dropped() > 0 && stand_in.posts() > 0
    })
    .await;
    drop(log);
    assert!(stand_in.envelopes().is_empty());
    // Its export thread is still retrying; shutting it down would wait for
    // that. The process's end stops it.
    std::mem::forget(telemetry);
}

#[tokio::test]
async fn a_malformed_or_oversized_traceparent_is_ignored() {
    let stand_in = IngestionStandIn::start(Mode::Accept);
    let telemetry =
        Telemetry::start_with(&settings(&stand_in, 2048), "test-region", stand_in.client())
            .unwrap();
    let log = logs::capture_with_telemetry(&telemetry);
    let app = crate::support::app::spawn_app().await;
    let zeros = format!("00-{}-{}-01", "0".repeat(32), "0".repeat(16));
    let oversized = format!("00-{}-{}-01", "a".repeat(4096), "b".repeat(16));
    let bad = [
        "garbage",
        "00-xyz-abc-01",
        zeros.as_str(),
        oversized.as_str(),
    ];
    for traceparent in bad {
        let res = app
            .http
            .get(app.url("api/health"))
            .header("traceparent", traceparent)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{traceparent:.40}");
    }
    flush(&telemetry).await;
    drop(log);
    // Each invocation started a trace of its own: a valid operation id, none
    // taken from what the caller sent.
    let invocations: Vec<Value> = stand_in
        .of_kind("RemoteDependency")
        .into_iter()
        .filter(|d| base(d)["type"] == "InProc" && base(d)["name"] == "Health")
        .collect();
    assert_eq!(invocations.len(), bad.len());
    let ids: std::collections::HashSet<&str> = invocations
        .iter()
        .map(|d| d["tags"]["ai.operation.id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), bad.len(), "{ids:?}");
    for id in ids {
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id != "0".repeat(32),
            "{id}"
        );
        assert!(!id.contains("aaaa"), "{id}");
    }
}

#[tokio::test]
async fn without_the_setting_nothing_is_sent() {
    let stand_in = IngestionStandIn::start(Mode::Accept);
    let log = logs::capture();
    let app = crate::support::app::spawn_app_with(crate::support::app::Options {
        settings: vec![],
        ..Default::default()
    })
    .await;
    assert!(app.app.settings.telemetry.is_none());
    assert!(!salestim::telemetry::active());
    let (traceparent, _, _) = host_trace();
    let res = app
        .http
        .get(app.url("api/health"))
        .header("traceparent", traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    drop(log);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stand_in.posts(), 0);
}

#[tokio::test]
async fn the_binary_sends_what_it_holds_when_it_is_stopped() {
    let stand_in = IngestionStandIn::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &stand_in.pki.ca_pem).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"))
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("SALESTIM_DATA_DIR", dir.path())
        .env(
            "SALESTIM_LOCAL_KEK",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [1u8; 32]),
        )
        .env(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            stand_in.connection_string(),
        )
        // The handler's client trusts the system's roots, read from here.
        .env("SSL_CERT_FILE", &ca_file)
        // No timed export: what arrives is what the shutdown sent.
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/health");
    let (traceparent, trace, _) = host_trace();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let res = loop {
        match reqwest::Client::new()
            .get(&url)
            .header("traceparent", &traceparent)
            .send()
            .await
        {
            Ok(res) => break res,
            Err(_) => {
                assert!(tokio::time::Instant::now() < deadline, "the binary came up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(stand_in.posts(), 0, "held until an export is due");
    let pid = child.id().expect("running") as i32;
    // SAFETY: a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the binary stops")
        .unwrap();
    assert!(status.success(), "{status}");
    let dependencies = stand_in.of_kind("RemoteDependency");
    let health = in_operation(&dependencies, &trace);
    assert!(
        health.iter().any(|d| base(d)["name"] == "Health"),
        "the Health invocation of {trace} in {dependencies:#?}"
    );
    assert!(
        health.iter().any(|d| base(d)["name"] == "ping"),
        "its store pings in {dependencies:#?}"
    );
}
