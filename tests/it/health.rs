//! The Traffic Manager probe: 200 with each dependency's state while the
//! document store answers; 503 when it does not.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::StatusCode;
use salestim::ids::TenantId;
use salestim::platform::documents::{Container, Document, Documents, ETag, Page, Query, Scope};
use salestim::platform::{PlatformError, PlatformResult};
use serde_json::Value;

use crate::support::app::{Options, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_reports_every_dependency_and_the_region() {
    let app = spawn_app().await;
    let res = app.get("api/health").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["region"], "test-region");
    for dep in ["documents", "queues", "blobs", "cache"] {
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
