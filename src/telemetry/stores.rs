//! One wrapper per platform trait, applied at the composition root when
//! telemetry is on ([`Tracing`]): each call of the trait becomes a
//! dependency span ([`dependency::store`]) named after the operation and
//! its container or queue, never a document id, blob name or cache key.
//! The backends stay untouched, and with telemetry off nothing is wrapped.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::config::Settings;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::blobs::{Blob, Blobs};
use crate::platform::cache::Cache;
use crate::platform::documents::{
    Container, Document, Documents, ETag, Page, Query, Scope, Serving,
};
use crate::platform::keys::{Keys, WrappedKey};
use crate::platform::queues::{QueueMessage, QueueName, Queues};
use crate::platform::storage_account::StorageAccount;

use super::dependency::{self, Target};

/// Wraps each store in its tracing wrapper, with the type and host the
/// settings name for it (the composition root calls these).
pub struct Tracing(Targets);

impl Tracing {
    pub fn from_settings(settings: &Settings) -> Self {
        Tracing(Targets::from_settings(settings))
    }

    pub fn docs(&self, inner: Arc<dyn Documents>) -> Arc<dyn Documents> {
        Arc::new(Traced(inner, self.0.docs.clone()))
    }

    pub fn blobs(&self, inner: Arc<dyn Blobs>) -> Arc<dyn Blobs> {
        Arc::new(Traced(inner, self.0.blobs.clone()))
    }

    pub fn queues(&self, inner: Arc<dyn Queues>) -> Arc<dyn Queues> {
        Arc::new(Traced(inner, self.0.queues.clone()))
    }

    pub fn cache(&self, inner: Arc<dyn Cache>) -> Arc<dyn Cache> {
        Arc::new(Traced(inner, self.0.cache.clone()))
    }

    pub fn keys(&self, inner: Arc<dyn Keys>) -> Arc<dyn Keys> {
        Arc::new(Traced(inner, self.0.keys.clone()))
    }
}

struct Targets {
    docs: Target,
    blobs: Target,
    queues: Target,
    cache: Target,
    keys: Target,
}

impl Targets {
    /// Only hosts: never a URL's user, password or query (a Redis URL
    /// carries its password, a storage URL may carry a SAS).
    fn from_settings(settings: &Settings) -> Targets {
        use secrecy::ExposeSecret;
        let local = |kind| Target {
            kind,
            host: "local".into(),
        };
        let host_of = |url: &str| {
            url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        };
        let (blob_host, queue_host) = storage_hosts(settings);
        let at = |kind, host: Option<String>, embedded| match host {
            Some(host) => Target { kind, host },
            None => local(embedded),
        };
        Targets {
            docs: at(
                "Azure DocumentDB",
                settings
                    .cosmos
                    .as_ref()
                    .and_then(|c| c.endpoint.host_str().map(str::to_owned)),
                "SQLite",
            ),
            blobs: at("Azure blob", blob_host, "files"),
            queues: at("Azure queue", queue_host, "SQLite"),
            cache: at(
                "Redis",
                settings
                    .redis_url
                    .as_ref()
                    .and_then(|u| host_of(u.expose_secret())),
                "memory",
            ),
            keys: at(
                "Azure Key Vault",
                settings
                    .keyvault_key_id
                    .as_ref()
                    .and_then(|u| u.host_str().map(str::to_owned)),
                "local",
            ),
        }
    }
}

/// The blob and queue hosts of `AzureWebJobsStorage` in any of its forms
/// (a connection string, service URIs, or an account name).
fn storage_hosts(settings: &Settings) -> (Option<String>, Option<String>) {
    let value = |name: &str| settings.storage_value(name);
    let host = |url: &url::Url| url.host_str().map(str::to_owned);
    if let Some(raw) = value("AzureWebJobsStorage") {
        return match StorageAccount::parse_connection_string(&raw) {
            Ok(account) => (
                host(account.blob_endpoint()),
                host(account.queue_endpoint()),
            ),
            Err(_) => (None, None),
        };
    }
    let uri =
        |name: &str| value(name).and_then(|u| url::Url::parse(&u).ok().and_then(|u| host(&u)));
    let named = |service: &str| {
        value("AzureWebJobsStorage__accountName").map(|a| format!("{a}.{service}.core.windows.net"))
    };
    (
        uri("AzureWebJobsStorage__blobServiceUri").or_else(|| named("blob")),
        uri("AzureWebJobsStorage__queueServiceUri").or_else(|| named("queue")),
    )
}

/// A backend and what its calls are reported as.
struct Traced<T: ?Sized>(Arc<T>, Target);

#[async_trait]
impl Documents for Traced<dyn Documents> {
    async fn ensure(&self) -> PlatformResult<()> {
        dependency::store(&self.1, "ensure", "", self.0.ensure()).await
    }

    async fn get(
        &self,
        container: Container,
        tenant: &TenantId,
        id: &str,
    ) -> PlatformResult<Option<Document>> {
        let call = self.0.get(container, tenant, id);
        dependency::store(&self.1, "get", container.name(), call).await
    }

    async fn create(&self, container: Container, doc: &Document) -> PlatformResult<Document> {
        let call = self.0.create(container, doc);
        dependency::store(&self.1, "create", container.name(), call).await
    }

    async fn replace(
        &self,
        container: Container,
        doc: &Document,
        if_match: &ETag,
    ) -> PlatformResult<Document> {
        let call = self.0.replace(container, doc, if_match);
        dependency::store(&self.1, "replace", container.name(), call).await
    }

    async fn upsert(&self, container: Container, doc: &Document) -> PlatformResult<Document> {
        let call = self.0.upsert(container, doc);
        dependency::store(&self.1, "upsert", container.name(), call).await
    }

    async fn delete(
        &self,
        container: Container,
        tenant: &TenantId,
        id: &str,
    ) -> PlatformResult<bool> {
        let call = self.0.delete(container, tenant, id);
        dependency::store(&self.1, "delete", container.name(), call).await
    }

    async fn query_page(
        &self,
        container: Container,
        scope: Scope<'_>,
        query: &Query,
        continuation: Option<&str>,
    ) -> PlatformResult<Page> {
        let call = self.0.query_page(container, scope, query, continuation);
        dependency::store(&self.1, "query", container.name(), call).await
    }

    async fn ping(&self) -> PlatformResult<()> {
        dependency::store(&self.1, "ping", "", self.0.ping()).await
    }

    fn serving(&self) -> Option<Serving> {
        self.0.serving()
    }
}

#[async_trait]
impl Queues for Traced<dyn Queues> {
    async fn ensure(&self, queue: &QueueName) -> PlatformResult<()> {
        dependency::store(&self.1, "ensure", queue.as_str(), self.0.ensure(queue)).await
    }

    async fn send(
        &self,
        queue: &QueueName,
        text: &str,
        delay: Option<Duration>,
    ) -> PlatformResult<String> {
        let call = self.0.send(queue, text, delay);
        dependency::store(&self.1, "send", queue.as_str(), call).await
    }

    async fn receive(
        &self,
        queue: &QueueName,
        max: u32,
        visibility: Duration,
    ) -> PlatformResult<Vec<QueueMessage>> {
        let call = self.0.receive(queue, max, visibility);
        dependency::store(&self.1, "receive", queue.as_str(), call).await
    }

    async fn delete(&self, queue: &QueueName, id: &str, pop_receipt: &str) -> PlatformResult<()> {
        let call = self.0.delete(queue, id, pop_receipt);
        dependency::store(&self.1, "delete", queue.as_str(), call).await
    }

    async fn release(
        &self,
        queue: &QueueName,
        id: &str,
        pop_receipt: &str,
        visibility: Duration,
    ) -> PlatformResult<String> {
        let call = self.0.release(queue, id, pop_receipt, visibility);
        dependency::store(&self.1, "release", queue.as_str(), call).await
    }

    async fn count(&self, queue: &QueueName) -> PlatformResult<u64> {
        dependency::store(&self.1, "count", queue.as_str(), self.0.count(queue)).await
    }

    async fn ping(&self) -> PlatformResult<()> {
        dependency::store(&self.1, "ping", "", self.0.ping()).await
    }

    /// Waiting for a message is no call of its own (the local queues'
    /// wake-up); passed through untraced.
    async fn wait(&self, queue: &QueueName, max: Duration) {
        self.0.wait(queue, max).await;
    }
}

#[async_trait]
impl Blobs for Traced<dyn Blobs> {
    async fn put(
        &self,
        container: &str,
        name: &str,
        data: Bytes,
        content_type: &str,
    ) -> PlatformResult<()> {
        let call = self.0.put(container, name, data, content_type);
        dependency::store(&self.1, "put", container, call).await
    }

    async fn get(&self, container: &str, name: &str) -> PlatformResult<Option<Blob>> {
        dependency::store(&self.1, "get", container, self.0.get(container, name)).await
    }

    async fn delete(&self, container: &str, name: &str) -> PlatformResult<bool> {
        dependency::store(&self.1, "delete", container, self.0.delete(container, name)).await
    }

    async fn list(&self, container: &str, prefix: &str) -> PlatformResult<Vec<String>> {
        dependency::store(&self.1, "list", container, self.0.list(container, prefix)).await
    }

    async fn ping(&self) -> PlatformResult<()> {
        dependency::store(&self.1, "ping", "", self.0.ping()).await
    }
}

#[async_trait]
impl Cache for Traced<dyn Cache> {
    async fn get(&self, key: &str) -> PlatformResult<Option<Vec<u8>>> {
        dependency::store(&self.1, "get", "", self.0.get(key)).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> PlatformResult<()> {
        dependency::store(&self.1, "set", "", self.0.set(key, value, ttl)).await
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> PlatformResult<bool> {
        let call = self.0.set_if_absent(key, value, ttl);
        dependency::store(&self.1, "set_if_absent", "", call).await
    }

    async fn delete(&self, key: &str) -> PlatformResult<bool> {
        dependency::store(&self.1, "delete", "", self.0.delete(key)).await
    }

    async fn ping(&self) -> PlatformResult<()> {
        dependency::store(&self.1, "ping", "", self.0.ping()).await
    }
}

#[async_trait]
impl Keys for Traced<dyn Keys> {
    async fn wrap(&self, data_key: &[u8]) -> PlatformResult<WrappedKey> {
        dependency::store(&self.1, "wrap", "", self.0.wrap(data_key)).await
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> PlatformResult<Vec<u8>> {
        dependency::store(&self.1, "unwrap", "", self.0.unwrap(wrapped)).await
    }

    async fn ping(&self) -> PlatformResult<()> {
        dependency::store(&self.1, "ping", "", self.0.ping()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunMode;

    fn settings(values: &[(&str, &str)]) -> Settings {
        Settings::from_lookup(RunMode::Local, |k| {
            values
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid settings")
    }

    #[test]
    fn targets_are_hosts_never_a_key_password_or_signature() {
        let t = Targets::from_settings(&settings(&[
            (
                "AzureWebJobsStorage",
                "BlobEndpoint=https://acct.blob.core.windows.net/;QueueEndpoint=https://acct.queue.core.windows.net/;SharedAccessSignature=sv=2024-11-04&ss=bq&sig=c2VjcmV0",
            ),
            (
                "REDIS_URL",
                "rediss://:p4ssw0rd@cache.westeurope.redis.azure.net:10000",
            ),
            ("KEYVAULT_KEY_ID", "https://vault1.vault.azure.net/keys/kek"),
            ("COSMOS_ENDPOINT", "https://docs1.documents.azure.com:443/"),
            ("COSMOS_KEY", "a2V5"),
        ]));
        let seen: Vec<(&str, &str)> = [&t.docs, &t.blobs, &t.queues, &t.cache, &t.keys]
            .iter()
            .map(|t| (t.kind, t.host.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("Azure DocumentDB", "docs1.documents.azure.com"),
                ("Azure blob", "acct.blob.core.windows.net"),
                ("Azure queue", "acct.queue.core.windows.net"),
                ("Redis", "cache.westeurope.redis.azure.net"),
                ("Azure Key Vault", "vault1.vault.azure.net"),
            ]
        );
    }

    #[test]
    fn identity_based_storage_and_embedded_stores_are_named_too() {
        let t = Targets::from_settings(&settings(&[("AzureWebJobsStorage__accountName", "acct2")]));
        assert_eq!(t.blobs.host, "acct2.blob.core.windows.net");
        assert_eq!(t.queues.host, "acct2.queue.core.windows.net");
        assert_eq!((t.docs.kind, t.docs.host.as_str()), ("SQLite", "local"));
        assert_eq!((t.cache.kind, t.keys.kind), ("memory", "local"));
    }
}
