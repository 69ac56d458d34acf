//! The Traffic Manager probe: 503 when the region cannot serve (document
//! store, Key Vault key or queues down); 200 otherwise, `degraded` with the
//! reasons when it serves with less (a Cosmos DB failover among them).

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::StatusCode;
use salestim::ids::TenantId;
use salestim::platform::documents::{Container, Document, Documents, ETag, Page, Query, Scope};
use salestim::platform::{PlatformError, PlatformResult};
use serde_json::Value;

use std::time::Duration;

use salestim::platform::documents::cosmos::{CosmosDocuments, preferred_regions};

use crate::keys::keyvault_keys;
use crate::support::app::{Options, spawn_app, spawn_app_with, wait_until};
use crate::support::cosmos::{NORTH_EUROPE, WEST_EUROPE, two_region_account};
use crate::support::faulty_queues::unreachable_queues;
use crate::support::keyvault::KeyVaultStandIn;

#[tokio::test]
async fn health_reports_every_dependency_and_the_region() {
    let app = spawn_app().await;
    let res = app.get("api/health").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["region"], "test-region");
    assert_eq!(body["reasons"], serde_json::json!([]));
    for dep in ["documents", "keys", "queues", "blobs", "cache"] {
        assert_eq!(body["checks"][dep]["status"], "up", "{dep}: {body}");
    }
}

/// A document store that cannot be reached.
struct Unreachable;

fn down<T>() -> PlatformResult<T> {
    Err(PlatformError::unavailable(
        "documents",
        "connection refused to secret-host.documents.azure.com",
    ))
}

#[async_trait]
impl Documents for Unreachable {
    async fn ensure(&self) -> PlatformResult<()> {
        down()
    }
    async fn get(&self, _: Container, _: &TenantId, _: &str) -> PlatformResult<Option<Document>> {
        down()
    }
    async fn create(&self, _: Container, _: &Document) -> PlatformResult<Document> {
        down()
    }
    async fn replace(&self, _: Container, _: &Document, _: &ETag) -> PlatformResult<Document> {
        down()
    }
    async fn upsert(&self, _: Container, _: &Document) -> PlatformResult<Document> {
        down()
    }
    async fn delete(&self, _: Container, _: &TenantId, _: &str) -> PlatformResult<bool> {
        down()
    }
    async fn query_page(
        &self,
        _: Container,
        _: Scope<'_>,
        _: &Query,
        _: Option<&str>,
    ) -> PlatformResult<Page> {
        down()
    }
    async fn ping(&self) -> PlatformResult<()> {
        down()
    }
}

#[tokio::test]
async fn health_answers_503_when_the_store_is_unreachable_and_leaks_no_host_name() {
    let app = spawn_app_with(Options {
        docs: Some(Arc::new(Unreachable)),
        ..Options::default()
    })
    .await;
    let res = app.get("api/health").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = res.text().await.unwrap();
    assert!(!text.contains("secret-host"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["documents"]["reason"], "unavailable");
    assert_eq!(body["checks"]["queues"]["status"], "up");
}

#[tokio::test]
async fn health_answers_503_when_the_queues_are_down() {
    let app = spawn_app_with(Options {
        queues: Some(unreachable_queues),
        ..Options::default()
    })
    .await;
    let res = app.get("api/health").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = res.text().await.unwrap();
    assert!(!text.contains("secret-account"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        body["reasons"],
        serde_json::json!(["queues down: unavailable"])
    );
    assert_eq!(body["checks"]["documents"]["status"], "up");
}

#[tokio::test]
async fn health_answers_503_when_the_key_vault_key_is_disabled_and_checks_once_for_many_probes() {
    let vault = KeyVaultStandIn::start().await;
    let app = spawn_app_with(Options {
        keys: Some(Arc::new(keyvault_keys(&vault, &vault.key_id()))),
        ..Options::default()
    })
    .await;
    let res = app.get("api/health").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["keys"]["status"], "up");

    // Many probes at once (Traffic Manager probes from many places): the
    // verdict of the last few seconds answers them all.
    let gets = vault.seen().gets;
    let probes = (0..20).map(|_| app.get("api/health"));
    for res in futures::future::join_all(probes).await {
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert!(
        vault.seen().gets - gets <= 1,
        "{} key reads",
        vault.seen().gets - gets
    );

    // An operator disables the key: every tenant's secrets are shut, so
    // the region must not take traffic (once the kept verdict ages out).
    vault.disable();
    wait_until(Duration::from_secs(15), || async {
        app.get("api/health").await.status() == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let body: Value = app.get("api/health").await.json().await.unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["reasons"], serde_json::json!(["keys down: error"]));
}

#[tokio::test]
async fn a_cosmos_region_outage_fails_over_reads_and_writes_and_health_says_degraded() {
    // This app runs in North Europe: it reads from North Europe first
    // (REGION_NAME first among the account's regions) and writes to the
    // account's write region, West Europe.
    let preferred = preferred_regions("northeurope", &[WEST_EUROPE.into(), NORTH_EUROPE.into()]);
    assert_eq!(preferred[0].as_str(), "northeurope");
    let (client, emulator) = two_region_account(preferred.clone()).await;
    let docs = Arc::new(
        CosmosDocuments::new(client, "salestim").with_preferred(preferred.first().cloned()),
    );
    docs.ensure().await.unwrap();
    let app = spawn_app_with(Options {
        docs: Some(docs.clone()),
        settings: vec![("REGION_NAME", "northeurope".into())],
        ..Options::default()
    })
    .await;
    let tenant = app.add_tenant("Contoso").await;
    let body: Value = app.get("api/health").await.json().await.unwrap();
    assert_eq!(body["status"], "healthy", "{body}");
    assert_eq!(body["checks"]["documents"]["status"], "up");

    // North Europe's Cosmos DB goes down (once what was written has
    // reached it: a write an outage catches before it replicates is the
    // account's recovery point, not something failover brings back).
    emulator.store().drain_pending_replications().await;
    emulator.store().set_region_offline(NORTH_EUROPE).unwrap();

    // Reads and writes go on, from West Europe, at the first attempt.
    let renamed = app
        .app
        .tenants
        .update(&tenant, |t, _| {
            t.display_name = "Contoso Ltd".into();
            Ok(())
        })
        .await
        .expect("a read and a write during the outage");
    assert_eq!(renamed.display_name, "Contoso Ltd");
    let read = app.app.tenants.get(&tenant).await.unwrap().unwrap();
    assert_eq!(read.display_name, "Contoso Ltd");

    // Health still serves (200) and says why it is degraded, once the kept
    // verdict ages out.
    wait_until(Duration::from_secs(15), || async {
        let body: Value = app.get("api/health").await.json().await.unwrap();
        body["status"] == "degraded"
    })
    .await;
    let res = app.get("api/health").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["documents"]["status"], "degraded");
    assert_eq!(
        body["reasons"],
        serde_json::json!([
            "documents degraded: served from westeurope, not northeurope (failover)"
        ])
    );
}
