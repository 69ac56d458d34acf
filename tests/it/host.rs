//! The custom-handler contract: function.json and the route table agree both
//! ways; the local host sends the host's payloads and headers; the real
//! binary starts under both run modes and fails clearly on bad settings.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use salestim::host::function_json::{FunctionDef, Output, Trigger};
use salestim::host::host_json::HostJson;
use salestim::host::local::{LocalHost, LocalHostConfig, MAX_REQUEST_BYTES};
use salestim::platform::clock::SystemClock;
use salestim::platform::queues::local::LocalQueues;
use salestim::platform::queues::{QueueName, Queues};
use salestim::routes::{self, ROUTES};
use serde_json::{Value, json};
use warp::Filter;

use crate::support::app::{
    Options, STRIPE_SECRET, repo_root, spawn_app, spawn_app_with, stripe_signature, wait_until,
};

fn functions() -> Vec<FunctionDef> {
    FunctionDef::load_dir(&repo_root().join("functions")).expect("every function.json is valid")
}

#[test]
fn every_function_has_a_route_and_every_route_a_function() {
    let defs: BTreeMap<String, FunctionDef> = functions()
        .into_iter()
        .map(|f| (f.name.clone(), f))
        .collect();
    let routes: BTreeMap<&str, &routes::Route> = ROUTES.iter().map(|r| (r.function, r)).collect();
    let def_names: Vec<&str> = defs.keys().map(String::as_str).collect();
    let route_names: Vec<&str> = routes.keys().copied().collect();
    assert_eq!(
        def_names, route_names,
        "functions/ and src/routes.rs must name the same functions"
    );
    for (name, route) in routes {
        let def = &defs[name];
        match (&route.trigger, &def.trigger) {
            (
                routes::Trigger::Http {
                    methods, route: r, ..
                },
                Trigger::Http {
                    methods: m,
                    route: dr,
                    ..
                },
            ) => {
                assert_eq!(r, dr, "{name}: route");
                assert_eq!(
                    methods.to_vec(),
                    m.iter().map(String::as_str).collect::<Vec<_>>(),
                    "{name}: methods"
                );
                assert!(def.outputs.iter().any(|o| matches!(o, Output::Http { .. })));
            }
            (routes::Trigger::Timer { schedule, .. }, Trigger::Timer { schedule: s, .. }) => {
                assert_eq!(
                    format!("{s:?}"),
                    format!("Cron({schedule:?})"),
                    "{name}: schedule"
                );
            }
            (
                routes::Trigger::Queue { queue, .. },
                Trigger::Queue {
                    queue: q,
                    connection,
                    ..
                },
            ) => {
                assert_eq!(*queue, q.as_str(), "{name}: queue");
                assert_eq!(connection, "AzureWebJobsStorage");
            }
            _ => {
                panic!("{name}: the trigger kind differs between function.json and the route table")
            }
        }
    }
}

#[test]
fn host_json_is_what_the_app_needs() {
    let host = HostJson::load(&repo_root().join("host.json")).unwrap();
    assert_eq!(host.executable, "handler");
    assert!(
        host.forwarding,
        "raw bodies are needed for webhook signatures"
    );
    assert!(
        host.message_encoding_none,
        "the app enqueues plain JSON text"
    );
    assert_eq!(host.route_prefix, routes::ROUTE_PREFIX);
}

/// A stand-in handler that records what the local host sends it.
async fn recording_handler() -> (
    url::Url,
    Arc<Mutex<Vec<(String, BTreeMap<String, String>, Value)>>>,
    tokio::sync::watch::Sender<bool>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let filter = warp::path::full()
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(
            move |path: warp::path::FullPath,
                  headers: warp::http::HeaderMap,
                  body: bytes::Bytes| {
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let fail = body
                    .pointer("/Data/msg")
                    .and_then(Value::as_str)
                    .is_some_and(|m| m.contains("fail"));
                record
                    .lock()
                    .unwrap()
                    .push((path.as_str().to_owned(), headers, body));
                let reply =
                    warp::reply::json(&json!({"Outputs": {}, "Logs": [], "ReturnValue": null}));
                if fail {
                    warp::reply::with_status(reply, warp::http::StatusCode::INTERNAL_SERVER_ERROR)
                } else {
                    warp::reply::with_status(reply, warp::http::StatusCode::OK)
                }
            },
        );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let (addr, server) =
        salestim::server::serve_filter(filter, "127.0.0.1:0".parse().unwrap(), rx).unwrap();
    tokio::spawn(server);
    (
        url::Url::parse(&format!("http://{addr}/")).unwrap(),
        seen,
        tx,
    )
}

#[tokio::test]
async fn the_local_host_sends_queue_messages_in_the_hosts_shape_and_poisons_after_max_dequeue_count()
 {
    let (handler, seen, _stop) = recording_handler().await;
    let dir = tempfile::tempdir().unwrap();
    let queues: Arc<dyn Queues> =
        Arc::new(LocalQueues::open(&dir.path().join("q.sqlite"), Arc::new(SystemClock)).unwrap());
    let mut host = HostJson::load(&repo_root().join("host.json")).unwrap();
    host.visibility_timeout = Duration::ZERO;
    host.max_dequeue_count = 3;
    let local = LocalHost::start(LocalHostConfig {
        functions: functions(),
        host,
        handler,
        listen: "127.0.0.1:0".parse().unwrap(),
        queues: queues.clone(),
        max_request_bytes: MAX_REQUEST_BYTES,
    })
    .await
    .unwrap();
    let q = QueueName::parse("billing-events").unwrap();
    queues.send(&q, r#"{"hello":"world"}"#, None).await.unwrap();
    wait_until(Duration::from_secs(10), || async {
        queues.count(&q).await.unwrap() == 0
    })
    .await;
    {
        let seen = seen.lock().unwrap();
        let (path, headers, body) = seen
            .iter()
            .find(|(p, ..)| p == "/BillingEvents")
            .expect("BillingEvents invoked");
        assert_eq!(path, "/BillingEvents");
        assert!(headers.contains_key("x-azure-functions-invocationid"));
        assert!(headers["user-agent"].starts_with("Azure-Functions-Host/"));
        // Strings are JSON-encoded twice, numbers arrive as strings, as the host does.
        assert_eq!(
            body["Data"]["msg"],
            json!("\"{\\\"hello\\\":\\\"world\\\"}\"")
        );
        assert_eq!(body["Metadata"]["DequeueCount"], json!("1"));
        assert!(body["Metadata"]["Id"].as_str().unwrap().starts_with('"'));
        assert!(
            body["Metadata"]["InsertionTime"]
                .as_str()
                .unwrap()
                .ends_with("+00:00")
        );
        assert_eq!(body["Metadata"]["sys"]["MethodName"], "BillingEvents");
    }

    queues.send(&q, "please fail", None).await.unwrap();
    wait_until(Duration::from_secs(10), || async {
        queues.count(&q.poison()).await.unwrap() == 1
    })
    .await;
    let attempts: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, b)| {
            b.pointer("/Data/msg")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains("fail"))
        })
        .map(|(_, _, b)| b["Metadata"]["DequeueCount"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        attempts,
        ["1", "2", "3"],
        "exactly maxDequeueCount attempts, each counted"
    );
    assert_eq!(queues.count(&q).await.unwrap(), 0);
    local.shutdown().await;
}

#[tokio::test]
async fn timers_get_the_timer_info_payload() {
    let (handler, seen, _stop) = recording_handler().await;
    let dir = tempfile::tempdir().unwrap();
    let queues: Arc<dyn Queues> =
        Arc::new(LocalQueues::open(&dir.path().join("q.sqlite"), Arc::new(SystemClock)).unwrap());
    let host = HostJson::load(&repo_root().join("host.json")).unwrap();
    let local = LocalHost::start(LocalHostConfig {
        functions: functions(),
        host,
        handler,
        listen: "127.0.0.1:0".parse().unwrap(),
        queues,
        max_request_bytes: MAX_REQUEST_BYTES,
    })
    .await
    .unwrap();
    local.run_function("BillingDunning", "").await.unwrap();
    let seen = seen.lock().unwrap();
    let (_, _, body) = seen
        .iter()
        .find(|(p, ..)| p == "/BillingDunning")
        .expect("timer invoked");
    assert_eq!(body["Data"]["timer"]["IsPastDue"], false);
    assert_eq!(body["Data"]["timer"]["Schedule"]["AdjustForDST"], true);
    assert_eq!(body["Metadata"]["sys"]["MethodName"], "BillingDunning");
}

#[tokio::test]
async fn http_functions_are_forwarded_and_unknown_routes_are_404() {
    let app = spawn_app().await;
    let res = app.get("api/health").await;
    assert_eq!(res.status(), StatusCode::OK);
    for (method, path) in [
        ("GET", "api/nope"),
        ("GET", "health"),
        ("DELETE", "api/health"),
        ("GET", "api/billing/stripe"),
    ] {
        let res = app
            .http
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    // The handler itself says 405 for a known route with the wrong method.
    let res = app
        .http
        .delete(app.handler.join("api/health").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    // And answers the host's readiness poll.
    assert_eq!(
        app.http
            .get(app.handler.clone())
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // A malformed invocation payload is a failed invocation, not a crash.
    let res = app
        .http
        .post(app.handler.join("BillingEvents").unwrap())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_server_error());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_health(port: u16) -> reqwest::Response {
    let url = format!("http://127.0.0.1:{port}/api/health");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = reqwest::get(&url).await {
            return res;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the binary did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn interrupt(child: &tokio::process::Child) {
    let pid = child.id().expect("running") as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
}

#[tokio::test]
async fn the_binary_serves_the_host_on_its_port_and_stops_on_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"))
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("SALESTIM_DATA_DIR", dir.path())
        .env(
            "SALESTIM_LOCAL_KEK",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [1u8; 32]),
        )
        .env("REGION_NAME", "westeurope")
        .env("STRIPE_WEBHOOK_SECRET", "whsec_host_mode")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let res = wait_for_health(port).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["region"], "westeurope");
    assert_eq!(body["checks"]["documents"]["status"], "up");
    // A signed webhook is verified and enqueued at once (the queue exists
    // from the start; under the host nothing local consumes it).
    let event = br#"{"id":"evt_h","object":"event","type":"invoice.paid","created":1,"data":{"object":{"id":"in_1"}}}"#.to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/billing/stripe"))
        .header(
            "stripe-signature",
            crate::support::app::stripe_signature(&event, "whsec_host_mode", now),
        )
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let queues =
        LocalQueues::open(&dir.path().join("queues.sqlite"), Arc::new(SystemClock)).unwrap();
    assert_eq!(
        queues
            .count(&QueueName::parse("billing-events").unwrap())
            .await
            .unwrap(),
        1
    );
    interrupt(&child);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops on SIGINT")
        .unwrap();
    assert!(out.success());
    // JSON logs under the host.
    let mut stdout = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout)
        .await
        .unwrap();
    let first = stdout.lines().next().expect("a log line");
    assert!(
        serde_json::from_str::<Value>(first).is_ok(),
        "JSON logs: {first}"
    );
}

#[tokio::test]
async fn handler_local_runs_the_whole_app_and_keeps_queued_messages_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let start = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"))
            .arg("local")
            .current_dir(repo_root())
            .env_clear()
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("SALESTIM_DATA_DIR", dir.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .arg("--settings")
            .arg(dir.path().join("absent.settings.json"))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let child = start();
    assert_eq!(wait_for_health(port).await.status(), StatusCode::OK);
    interrupt(&child);
    let mut child = child;
    assert!(
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap()
            .unwrap()
            .success()
    );

    // A message queued while the app is down is processed after it starts:
    // an event of a customer bound to no tenant, which is kept and completed.
    let queues =
        LocalQueues::open(&dir.path().join("queues.sqlite"), Arc::new(SystemClock)).unwrap();
    let q = QueueName::parse("billing-events").unwrap();
    let event = json!({"id": "evt_restart", "object": "event", "type": "invoice.paid", "created": 1, "data": {"object": {"id": "in_1", "customer": "cus_nobody"}}});
    queues
        .send(
            &q,
            &json!({"eventId": "evt_restart", "type": "invoice.paid", "event": event}).to_string(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(queues.count(&q).await.unwrap(), 1);
    let mut child = start();
    assert_eq!(wait_for_health(port).await.status(), StatusCode::OK);
    wait_until(Duration::from_secs(20), || async {
        queues.count(&q).await.unwrap() == 0
    })
    .await;
    assert_eq!(queues.count(&q.poison()).await.unwrap(), 0);
    interrupt(&child);
    assert!(
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap()
            .unwrap()
            .success()
    );
}

#[tokio::test]
async fn missing_or_malformed_settings_stop_the_start_with_the_settings_name() {
    let run = |envs: Vec<(&'static str, &'static str)>| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"))
            .env_clear()
            .envs(envs)
            .output()
            .await
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(vec![]).await;
    assert!(!ok && err.contains("FUNCTIONS_CUSTOMHANDLER_PORT"), "{err}");
    let (ok, err) = run(vec![("FUNCTIONS_CUSTOMHANDLER_PORT", "70000")]).await;
    assert!(!ok && err.contains("FUNCTIONS_CUSTOMHANDLER_PORT"), "{err}");
    let (ok, err) = run(vec![
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "7000"),
        ("SALESTIM_LOCAL_KEK", "c2hvcnQ="),
        ("REDIS_URL", "http://x"),
    ])
    .await;
    assert!(!ok && err.contains("REDIS_URL"), "{err}");
}

/// A body of `mib` MiB, declared or chunked, in 64 KiB pieces.
fn oversized_body(mib: usize, declared: bool) -> reqwest::Body {
    if declared {
        return reqwest::Body::from(vec![b'x'; mib * 1024 * 1024]);
    }
    let chunks =
        (0..mib * 16).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 64 * 1024])));
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

/// Sends `rounds` requests of `mib` MiB to `url`, four at a time as a busy
/// front door sees them, and counts the answers by status ("no answer: ..."
/// when the connection was reset before the answer was read).
async fn answers_to_oversized(
    http: &reqwest::Client,
    url: url::Url,
    headers: &[(&'static str, String)],
    mib: usize,
    declared: bool,
    rounds: usize,
) -> BTreeMap<String, usize> {
    let answers = futures::stream::iter(0..rounds)
        .map(|_| {
            let mut request = http
                .post(url.clone())
                .header("content-type", "application/json")
                .body(oversized_body(mib, declared));
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            async move {
                match request.send().await {
                    Ok(res) => res.status().as_u16().to_string(),
                    Err(e) => format!("no answer: {e}"),
                }
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    let mut statuses = BTreeMap::new();
    for status in answers {
        *statuses.entry(status).or_insert(0) += 1;
    }
    statuses
}

fn framing(declared: bool) -> &'static str {
    if declared {
        "Content-Length"
    } else {
        "chunked"
    }
}

// Several threads: the race between the handler's answer and the rest of
// the body only shows when both ends really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_body_gets_its_answer_every_time_through_the_local_host_and_direct() {
    let app = spawn_app().await;
    // Fresh and well-formed: only the MAC, after the body, could refuse it.
    let signed = vec![(
        "stripe-signature",
        stripe_signature(b"", STRIPE_SECRET, app.now()),
    )];
    // (what, path, headers, declared, status through the local host, direct)
    let cases = [
        ("over the limit", "api/messages", vec![], true, "413", "413"),
        (
            "past the limit",
            "api/billing/stripe",
            signed,
            false,
            "413",
            "413",
        ),
        // The local host reads the whole body before it forwards it, with
        // its length, which the handler refuses before the head check.
        (
            "refused by its head",
            "api/billing/stripe",
            vec![],
            false,
            "413",
            "400",
        ),
    ];
    for (case, path, headers, declared, through_host, direct) in &cases {
        for (target, base, status) in [
            ("the local host", &app.base, through_host),
            ("the handler", &app.handler, direct),
        ] {
            let rounds = 30;
            let statuses = answers_to_oversized(
                &app.http,
                base.join(path).unwrap(),
                headers,
                8,
                *declared,
                rounds,
            )
            .await;
            assert_eq!(
                statuses,
                BTreeMap::from([(status.to_string(), rounds)]),
                "{target}, {path} {case}, {}",
                framing(*declared)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_local_hosts_own_413_reaches_a_client_still_sending() {
    // 20 MiB for the host's 100 MB: a refused 24 MiB body is over the
    // 16 MiB that a fixed drain bound would read, as any body over 100 MB
    // is; the bound is past the limit.
    let app = spawn_app_with(Options {
        max_request_bytes: 20 * 1024 * 1024,
        ..Options::default()
    })
    .await;
    for declared in [true, false] {
        let rounds = 12;
        let url = app.url("api/messages");
        let statuses = answers_to_oversized(&app.http, url, &[], 24, declared, rounds).await;
        assert_eq!(
            statuses,
            BTreeMap::from([("413".to_owned(), rounds)]),
            "{}",
            framing(declared)
        );
    }
}

/// A named request variant: its headers and the status it must get.
type Variant = (&'static str, Vec<(&'static str, String)>, u16);

/// What a web page open in the developer's browser can send without a
/// preflight: another origin, and no JSON content type.
fn browser_variants(own_origin: &str) -> Vec<Variant> {
    let json = ("content-type", "application/json".to_owned());
    vec![
        (
            "a fetch from another site",
            vec![json.clone(), ("origin", "https://evil.example".into())],
            403,
        ),
        (
            "a form from a sandboxed page",
            vec![json.clone(), ("origin", "null".into())],
            403,
        ),
        (
            "Sec-Fetch-Site cross-site",
            vec![json.clone(), ("sec-fetch-site", "cross-site".into())],
            403,
        ),
        (
            "Sec-Fetch-Site same-site (another port of 127.0.0.1)",
            vec![json.clone(), ("sec-fetch-site", "same-site".into())],
            403,
        ),
        (
            "a text/plain no-cors POST",
            vec![("content-type", "text/plain;charset=UTF-8".into())],
            415,
        ),
        (
            "a form POST",
            vec![("content-type", "application/x-www-form-urlencoded".into())],
            415,
        ),
        ("no content type", vec![], 415),
        // Even a page that looks like this host's own (DNS rebinding makes
        // another site's page same-origin): no page of ours posts here.
        (
            "the same origin",
            vec![json.clone(), ("origin", own_origin.to_owned())],
            403,
        ),
        (
            "Sec-Fetch-Site same-origin",
            vec![json.clone(), ("sec-fetch-site", "same-origin".into())],
            403,
        ),
        // A tool: curl, the Agents Playground, the Emulator (Node).
        ("a tool posting JSON", vec![json], 202),
    ]
}

#[tokio::test]
async fn the_admin_endpoint_refuses_what_a_web_page_could_send() {
    let app = spawn_app().await;
    let own = app.base.as_str().trim_end_matches('/').to_owned();
    for (name, headers, expected) in browser_variants(&own) {
        let mut request = app
            .http
            .post(app.url("admin/functions/RequestReminders"))
            .body(r#"{"input":""}"#);
        for (header, value) in headers {
            request = request.header(header, value);
        }
        let res = request.send().await.unwrap();
        assert_eq!(res.status().as_u16(), expected, "{name}");
    }
    // The handler's own invocation routes (reachable on 127.0.0.1 under
    // `handler local`) refuse a cross-site request too, before any work.
    let res = app
        .http
        .post(app.handler.join("BillingEvents").unwrap())
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(r#"{"Data":{},"Metadata":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_call_too_large_to_be_one_queue_message_gets_413() {
    let app = spawn_app().await;
    let input = "x".repeat(200 * 1024);
    for chunked in [false, true] {
        let body = json!({ "input": input }).to_string();
        let request = app
            .http
            .post(app.url("admin/functions/RequestReminders"))
            .header("content-type", "application/json");
        let request = if chunked {
            let chunks = futures::stream::iter(
                body.into_bytes()
                    .chunks(8 * 1024)
                    .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                    .collect::<Vec<_>>(),
            );
            request.body(reqwest::Body::wrap_stream(chunks))
        } else {
            request.body(body)
        };
        let res = request.send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "chunked: {chunked}"
        );
    }
}

#[tokio::test]
async fn without_bot_auth_the_bot_endpoint_refuses_what_a_web_page_could_send() {
    let app = crate::support::app::spawn_app_with(crate::support::app::Options {
        bot: Some(crate::support::app::BotOptions {
            app_id: "",
            secret: "",
            openid_metadata_url: "http://127.0.0.1:9/openid".parse().unwrap(),
            login_url: None,
            http: reqwest::Client::new(),
            auth_disabled: true,
            settings: vec![],
        }),
        ..Default::default()
    })
    .await;
    // A conversation update that names no tenant: a 400 once it is read,
    // so the refusals below are told apart from a body that got through.
    let activity = json!({"type": "conversationUpdate", "id": "1", "channelId": "msteams",
        "serviceUrl": "http://127.0.0.1:9/", "conversation": {"id": "a:1"}});
    for (target, base) in [("the local host", &app.base), ("the handler", &app.handler)] {
        let own = base.as_str().trim_end_matches('/').to_owned();
        for (name, headers, expected) in browser_variants(&own) {
            let mut request = app
                .http
                .post(base.join("api/messages").unwrap())
                .body(activity.to_string());
            for (header, value) in headers {
                request = request.header(header, value);
            }
            let res = request.send().await.unwrap();
            let expected = if expected == 202 { 400 } else { expected };
            assert_eq!(res.status().as_u16(), expected, "{target}: {name}");
        }
    }
}
