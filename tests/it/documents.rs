//! The documents store: one conformance suite ([`conformance::suite`]) run
//! against every implementation — SQLite in a temporary folder, Cosmos DB on
//! the SDK's in-memory emulator, and a real Cosmos DB account when
//! `COSMOS_ENDPOINT` and `COSMOS_KEY` are set — plus what only one backend can
//! show (TTL expiry under a moved clock, container settings).

mod conformance;

use std::sync::Arc;

use azure_data_cosmos::models::{ContainerProperties, ThroughputProperties, TimeToLive};
use azure_data_cosmos::options::CreateContainerOptions;
use salestim::ids::TenantId;
use salestim::platform::PlatformError;
use salestim::platform::clock::ManualClock;
use salestim::platform::documents::cosmos::{CosmosAuth, CosmosDocuments};
use salestim::platform::documents::sqlite::SqliteDocuments;
use salestim::platform::documents::{self, Container, Document, Documents, Query, Scope};
use secrecy::SecretString;
use serde_json::json;
use time::{Duration, macros::datetime};

use crate::support::cosmos::{emulator_client, throttling_emulator_client};

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(datetime!(2025-03-01 09:00 UTC)))
}

fn tenant() -> TenantId {
    TenantId::parse(&uuid::Uuid::new_v4().to_string()).expect("a v4 uuid is a tenant id")
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested").join("documents.db");
    let store = SqliteDocuments::open(&path, manual_clock()).expect("open sqlite");
    conformance::suite(&store).await;
    assert!(
        path.exists(),
        "the database file is where it was asked to be"
    );
}

#[tokio::test]
async fn sqlite_in_memory_conforms() {
    let store = SqliteDocuments::in_memory(manual_clock()).expect("in-memory sqlite");
    conformance::suite(&store).await;
}

#[tokio::test]
async fn cosmos_emulator_conforms() {
    let store = CosmosDocuments::new(emulator_client().await, "salestim");
    conformance::suite(&store).await;
}

/// Runs only against a real account; everything it writes uses fresh tenant
/// ids and a per-run type, and is deleted again.
#[tokio::test]
async fn cosmos_account_conforms() {
    let (Ok(endpoint), Ok(key)) = (
        std::env::var("COSMOS_ENDPOINT"),
        std::env::var("COSMOS_KEY"),
    ) else {
        eprintln!("cosmos_account_conforms: not run (COSMOS_ENDPOINT and COSMOS_KEY are not set)");
        return;
    };
    let database =
        std::env::var("COSMOS_DATABASE").unwrap_or_else(|_| "salestim-conformance".into());
    let regions: Vec<String> = std::env::var("COSMOS_PREFERRED_REGIONS")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let store = CosmosDocuments::connect(
        &endpoint,
        CosmosAuth::Key(SecretString::from(key)),
        salestim::platform::documents::cosmos::preferred_regions("local", &regions),
        &database,
    )
    .await
    .expect("connect to the Cosmos DB account");
    conformance::suite(&store).await;
}

#[tokio::test]
async fn sqlite_ttl_hides_then_purges_expired_documents() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("documents.db");
    let clock = manual_clock();
    let store = SqliteDocuments::open(&path, clock.clone()).expect("open sqlite");
    let a = tenant();
    let kind = "processed";
    let doc = |id: &str| {
        Document::new(&a, kind, id, &json!({ "source": "stripe" }))
            .expect("object body")
            .with_ttl(60)
    };
    store
        .create(Container::Events, &doc("evt-1"))
        .await
        .expect("create");
    let refreshed = store
        .create(Container::Events, &doc("evt-2"))
        .await
        .expect("create");

    clock.advance(Duration::seconds(50));
    // A write restarts the TTL, as Cosmos DB counts it from the last write.
    let etag = refreshed.etag.clone().expect("etag");
    store
        .replace(Container::Events, &doc("evt-2"), &etag)
        .await
        .expect("replace before expiry");
    clock.advance(Duration::seconds(9));
    assert!(
        store
            .get(Container::Events, &a, "evt-1")
            .await
            .expect("get")
            .is_some()
    );

    clock.advance(Duration::seconds(2)); // evt-1 is 61 s old, evt-2 was written 11 s ago
    assert_eq!(
        store
            .get(Container::Events, &a, "evt-1")
            .await
            .expect("get"),
        None
    );
    let dyn_store: &dyn Documents = &store;
    let ids: Vec<String> = dyn_store
        .query(Container::Events, &a, &Query::of_type(kind))
        .await
        .expect("query")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["evt-2"]);
    let all = documents::collect(
        &store,
        Container::Events,
        Scope::AllTenants,
        &Query::of_type(kind),
    )
    .await
    .expect("query all");
    assert_eq!(all.len(), 1);
    let stale = store.replace(Container::Events, &doc("evt-1"), &etag).await;
    assert!(matches!(stale, Err(PlatformError::NotFound)), "{stale:?}");
    assert!(
        !store
            .delete(Container::Events, &a, "evt-1")
            .await
            .expect("delete")
    );

    // An expired id is free again.
    store
        .create(Container::Events, &doc("evt-1"))
        .await
        .expect("re-create after expiry");

    clock.advance(Duration::seconds(120));
    store.ping().await.expect("ping sweeps expired rows");
    let conn = rusqlite::Connection::open(&path).expect("open file directly");
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM documents", [], |r| r.get(0))
        .expect("count rows");
    assert_eq!(rows, 0, "expired rows are purged, not just hidden");
}

#[tokio::test]
async fn sqlite_keeps_documents_across_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("documents.db");
    let a = tenant();
    let doc = Document::new(&a, "tenant", "settings", &json!({ "plan": "pro" })).expect("doc");
    let written = {
        let store = SqliteDocuments::open(&path, manual_clock()).expect("open");
        store
            .create(Container::Tenants, &doc)
            .await
            .expect("create")
    };
    let store = SqliteDocuments::open(&path, manual_clock()).expect("reopen");
    let read = store
        .get(Container::Tenants, &a, "settings")
        .await
        .expect("get");
    assert_eq!(read, Some(written));
}

/// Per-item `ttl` only works in a container with TTL on; the embedded store
/// honours it everywhere, so every container gets default TTL -1.
#[tokio::test]
async fn cosmos_ensure_turns_on_ttl_in_every_container() {
    let client = emulator_client().await;
    let store = CosmosDocuments::new(client.clone(), "salestim");
    store.ensure().await.expect("ensure");
    let db = client.database_client("salestim");
    for container in Container::ALL {
        let props: ContainerProperties = db
            .container_client(container.name(), None)
            .await
            .expect("container exists")
            .read(None)
            .await
            .expect("read container")
            .into_model()
            .expect("container properties");
        assert_eq!(
            props.default_ttl,
            TimeToLive::NoDefault,
            "{}",
            container.name()
        );
        assert_eq!(
            props.partition_key.paths(),
            ["/tenantId"],
            "{}",
            container.name()
        );
    }
}

#[tokio::test]
async fn cosmos_ensure_fixes_a_container_created_without_ttl() {
    let client = emulator_client().await;
    client
        .create_database("salestim", None)
        .await
        .expect("create db");
    let db = client.database_client("salestim");
    db.create_container(ContainerProperties::new("events", "/tenantId".into()), None)
        .await
        .expect("create events without TTL");
    CosmosDocuments::new(client.clone(), "salestim")
        .ensure()
        .await
        .expect("ensure");
    let props: ContainerProperties = db
        .container_client("events", None)
        .await
        .expect("events exists")
        .read(None)
        .await
        .expect("read")
        .into_model()
        .expect("properties");
    assert_eq!(props.default_ttl, TimeToLive::NoDefault);
}

#[tokio::test]
async fn cosmos_calls_before_ensure_fail_clearly() {
    let store = CosmosDocuments::new(emulator_client().await, "missing");
    let err = store
        .get(Container::Teams, &tenant(), "x")
        .await
        .expect_err("no database yet");
    assert!(
        !matches!(err, PlatformError::NotFound),
        "a missing container is not a missing document: {err:?}"
    );
    assert!(
        store.ping().await.is_err(),
        "ping reports the missing database"
    );
}

/// Throttling surfaces as `Throttled` with the service's retry-after once the
/// SDK's own (bounded) retries give up.
#[tokio::test]
async fn cosmos_throttling_is_reported_with_retry_after() {
    let client = throttling_emulator_client().await;
    client
        .create_database("salestim", None)
        .await
        .expect("create db");
    let options =
        CreateContainerOptions::default().with_throughput(ThroughputProperties::manual(400));
    let props = ContainerProperties::new("audit", "/tenantId".into());
    client
        .database_client("salestim")
        .create_container(props, Some(options))
        .await
        .expect("create a 400 RU/s container");
    let store = CosmosDocuments::new(client, "salestim");
    store
        .ensure()
        .await
        .expect("ensure keeps the existing container");
    let a = tenant();
    let body = json!({ "text": "x".repeat(2_000) });
    let mut outcome = None;
    for i in 0..1_000 {
        let doc = Document::new(&a, "entry", format!("e-{i}"), &body).expect("doc");
        if let Err(err) = store.create(Container::Audit, &doc).await {
            outcome = Some(err);
            break;
        }
    }
    match outcome {
        Some(PlatformError::Throttled { retry_after, .. }) => {
            assert!(retry_after.is_some(), "the service said when to come back")
        }
        other => panic!("expected Throttled within 1000 writes at 400 RU/s, got {other:?}"),
    }
}

#[tokio::test]
async fn cosmos_connect_reports_an_unreachable_account_as_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free loopback port")
        .port();
    let key = SecretString::from(uuid::Uuid::new_v4().simple().to_string());
    let result = CosmosDocuments::connect(
        &format!("https://127.0.0.1:{port}/"),
        CosmosAuth::Key(key),
        salestim::platform::documents::cosmos::preferred_regions("westeurope", &[]),
        "salestim",
    )
    .await;
    assert!(
        matches!(result, Err(PlatformError::Unavailable { .. })),
        "{:?}",
        result.err()
    );
}
