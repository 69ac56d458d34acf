//! The stores, each built on its own from the settings (the app's
//! composition root builds them all or fails: a doctor must report each
//! one, even when another is down), then pinged, and the key-encryption key
//! asked to wrap and unwrap a random data key. Building a store never
//! creates anything in Azure: Cosmos DB is only read; the local stores are
//! opened as `handler local` opens them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::http::{ClientOptions, RetryOptions};
use azure_security_keyvault_keys::KeyClientOptions;
use secrecy::ExposeSecret;

use super::setting_checks::host_of;
use super::{Check, Verdict, bounded};
use crate::config::Settings;
use crate::platform::blobs::Blobs;
use crate::platform::cache::Cache;
use crate::platform::clock::{Clock, SystemClock};
use crate::platform::documents::Documents;
use crate::platform::documents::cosmos::{CosmosAuth, CosmosDocuments};
use crate::platform::keys::Keys;
use crate::platform::queues::Queues;
use crate::platform::storage_account::StorageAccount;
use crate::platform::{PlatformResult, azure_credential, blobs, cache, documents, keys, queues};

/// A store as built: the service, or why it could not be built.
pub type Built<T> = Result<Arc<T>, String>;

/// One store and what it is ("Cosmos DB acct.documents.azure.com", "SQLite
/// in ./.salestim"), for the reasons.
pub struct Store<T: ?Sized> {
    pub what: String,
    pub built: Built<T>,
    /// The verdict when it could not be built: a failure, except for what
    /// is simply not there yet on a new machine.
    unbuilt: Verdict,
}

impl<T: ?Sized> Store<T> {
    pub fn new(what: impl Into<String>, built: Built<T>) -> Self {
        Store {
            what: what.into(),
            built,
            unbuilt: Verdict::Fail,
        }
    }

    fn not_yet(what: impl Into<String>, why: &str) -> Self {
        Store {
            unbuilt: Verdict::Warn,
            ..Store::new(what, Err(why.to_owned()))
        }
    }
}

pub struct Stores {
    pub documents: Store<dyn Documents>,
    pub queues: Store<dyn Queues>,
    pub blobs: Store<dyn Blobs>,
    pub cache: Store<dyn Cache>,
    pub keys: Store<dyn Keys>,
}

impl Stores {
    /// Each store the settings name, or its local default, built at once
    /// (each under `timeout`).
    pub async fn from_settings(settings: &Settings, timeout: Duration) -> Stores {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (documents, cache) = tokio::join!(
            documents_store(settings, clock.clone(), timeout),
            cache_store(settings, clock.clone(), timeout)
        );
        let (queues, blobs) = storage(settings, clock);
        Stores {
            documents,
            queues,
            blobs,
            cache,
            keys: keys_store(settings),
        }
    }

    /// A row per store (pinged), and the wrap and unwrap round trip.
    pub async fn check(&self, timeout: Duration) -> Vec<Check> {
        let (documents, queues, blobs, cache, keys, round_trip) = tokio::join!(
            ping("documents", &self.documents, timeout, |s| s.ping()),
            ping("queues", &self.queues, timeout, |s| s.ping()),
            ping("blobs", &self.blobs, timeout, |s| s.ping()),
            ping("cache", &self.cache, timeout, |s| s.ping()),
            ping("keys", &self.keys, timeout, |s| s.ping()),
            wrap_unwrap(&self.keys, timeout),
        );
        vec![documents, queues, blobs, cache, keys, round_trip]
    }
}

async fn ping<'a, T: ?Sized, F, Fut>(
    name: &str,
    store: &'a Store<T>,
    timeout: Duration,
    call: F,
) -> Check
where
    F: FnOnce(&'a T) -> Fut,
    Fut: Future<Output = PlatformResult<()>>,
{
    let service = match &store.built {
        Ok(service) => service,
        Err(why) => return Check::new(name, store.unbuilt, format!("{}: {why}", store.what)),
    };
    let started = Instant::now();
    match bounded(timeout, call(service.as_ref())).await {
        Ok(()) => Check::ok(
            name,
            format!(
                "{}: answered in {} ms",
                store.what,
                started.elapsed().as_millis()
            ),
        ),
        Err(why) => Check::fail(name, format!("{}: {why}", store.what)),
    }
}

/// A random data key wrapped and unwrapped, and the two compared.
async fn wrap_unwrap(keys: &Store<dyn Keys>, timeout: Duration) -> Check {
    const NAME: &str = "keys: wrap and unwrap";
    let service = match &keys.built {
        Ok(service) => service,
        Err(why) => return Check::new(NAME, keys.unbuilt, format!("{}: {why}", keys.what)),
    };
    let data_key: [u8; 32] = rand::random();
    let round_trip = async {
        let wrapped = service.wrap(&data_key).await?;
        let unwrapped = service.unwrap(&wrapped).await?;
        PlatformResult::Ok((wrapped.key_id, unwrapped))
    };
    match bounded(timeout, round_trip).await {
        Ok((_, unwrapped)) if unwrapped != data_key => Check::fail(
            NAME,
            format!(
                "{}: the unwrapped key differs from the one wrapped",
                keys.what
            ),
        ),
        Ok((key_id, _)) => Check::ok(
            NAME,
            format!("a random 32-byte data key came back unchanged (key {key_id})"),
        ),
        Err(why) => Check::fail(NAME, format!("{}: {why}", keys.what)),
    }
}

async fn documents_store(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    timeout: Duration,
) -> Store<dyn Documents> {
    match &settings.cosmos {
        Some(c) => {
            let what = format!("Cosmos DB {}", host_of(&c.endpoint));
            let auth = match &c.key {
                Some(key) => CosmosAuth::Key(key.clone()),
                None => match credential(settings) {
                    Ok(credential) => CosmosAuth::Token(credential),
                    Err(why) => return Store::new(what, Err(why)),
                },
            };
            let connect = CosmosDocuments::connect(
                c.endpoint.as_str(),
                auth,
                documents::cosmos::preferred_regions(&settings.region, &c.preferred_regions),
                &c.database,
            );
            let built = bounded(timeout, connect)
                .await
                .map(|d| Arc::new(d) as Arc<dyn Documents>);
            Store::new(what, built)
        }
        None => {
            let dir = &settings.data_dir;
            let what = format!("SQLite in {}", dir.display());
            let open = async {
                let docs =
                    documents::sqlite::SqliteDocuments::open(&dir.join("documents.sqlite"), clock)?;
                docs.ensure().await?;
                PlatformResult::Ok(Arc::new(docs) as Arc<dyn Documents>)
            };
            Store::new(what, bounded(timeout, open).await)
        }
    }
}

fn storage(settings: &Settings, clock: Arc<dyn Clock>) -> (Store<dyn Queues>, Store<dyn Blobs>) {
    let account = StorageAccount::from_settings(
        |name| settings.storage_value(name),
        |client_id| azure_credential(client_id.or(settings.azure_client_id.as_deref())),
    );
    let dir = &settings.data_dir;
    match account {
        Ok(Some(account)) => (
            Store::new(
                "Azure Storage queues",
                queues::azure::AzureQueues::new(&account, no_retries())
                    .map(|q| Arc::new(q) as Arc<dyn Queues>)
                    .map_err(|e| e.to_string()),
            ),
            Store::new(
                "Azure Storage blobs",
                blobs::azure::AzureBlobs::new(&account, no_retries())
                    .map(|b| Arc::new(b) as Arc<dyn Blobs>)
                    .map_err(|e| e.to_string()),
            ),
        ),
        Ok(None) => (
            Store::new(
                format!("local queues in {}", dir.display()),
                queues::local::LocalQueues::open(&dir.join("queues.sqlite"), clock)
                    .map(|q| Arc::new(q) as Arc<dyn Queues>)
                    .map_err(|e| e.to_string()),
            ),
            Store::new(
                format!("blob files in {}", dir.display()),
                Ok(Arc::new(blobs::files::FileBlobs::new(dir.join("blobs"))) as Arc<dyn Blobs>),
            ),
        ),
        Err(e) => (
            Store::new(
                "Azure Storage queues",
                Err(format!("AzureWebJobsStorage: {e}")),
            ),
            Store::new(
                "Azure Storage blobs",
                Err(format!("AzureWebJobsStorage: {e}")),
            ),
        ),
    }
}

async fn cache_store(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    timeout: Duration,
) -> Store<dyn Cache> {
    let Some(url) = &settings.redis_url else {
        return Store::new(
            "in-memory cache",
            Ok(Arc::new(cache::memory::MemoryCache::new(clock)) as Arc<dyn Cache>),
        );
    };
    // The URL holds the access key: only its host is ever shown.
    let what = match url::Url::parse(url.expose_secret()) {
        Ok(parsed) => format!("Redis at {}", host_of(&parsed)),
        Err(_) => "Redis".to_owned(),
    };
    let entra = if settings.redis_entra {
        match credential(settings) {
            Ok(credential) => Some(cache::entra::EntraCredentials::new(credential)),
            Err(why) => return Store::new(what, Err(why)),
        }
    } else {
        None
    };
    let built = bounded(
        timeout,
        cache::redis::RedisCache::connect(url.expose_secret(), entra),
    )
    .await
    .map(|c| Arc::new(c) as Arc<dyn Cache>);
    Store::new(what, built)
}

fn keys_store(settings: &Settings) -> Store<dyn Keys> {
    match (&settings.keyvault_key_id, &settings.local_kek) {
        (Some(key_id), _) => {
            let built = credential(settings).and_then(|credential| {
                keys::keyvault::KeyVaultKeys::new(
                    key_id.as_str(),
                    credential,
                    Some(KeyClientOptions {
                        client_options: no_retries(),
                        ..Default::default()
                    }),
                )
                .map(|k| Arc::new(k) as Arc<dyn Keys>)
                .map_err(|e| e.to_string())
            });
            Store::new(format!("Key Vault {}", host_of(key_id)), built)
        }
        (None, Some(kek)) => Store::new(
            "SALESTIM_LOCAL_KEK",
            keys::local::LocalKeys::from_base64(kek.expose_secret())
                .map(|k| Arc::new(k) as Arc<dyn Keys>)
                .map_err(|e| e.to_string()),
        ),
        (None, None) => {
            let path = settings.data_dir.join("local-kek");
            let what = format!("generated local key {}", path.display());
            let built = match std::fs::read_to_string(&path) {
                Ok(kek) => keys::local::LocalKeys::from_base64(&kek)
                    .map(|k| Arc::new(k) as Arc<dyn Keys>)
                    .map_err(|e| e.to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Store::not_yet(
                        what,
                        "not made yet (`handler local` makes it at its first start)",
                    );
                }
                Err(e) => Err(e.to_string()),
            };
            Store::new(what, built)
        }
    }
}

/// The SDK's own retries would turn a refused connection into the
/// doctor's timeout; without them the reason is what the service said.
fn no_retries() -> ClientOptions {
    ClientOptions {
        retry: RetryOptions::none(),
        ..Default::default()
    }
}

fn credential(
    settings: &Settings,
) -> Result<Arc<dyn azure_core::credentials::TokenCredential>, String> {
    azure_credential(settings.azure_client_id.as_deref())
        .map_err(|e| format!("the managed identity credential: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunMode;

    fn local_settings(dir: &std::path::Path) -> Settings {
        let dir = dir.display().to_string();
        Settings::from_lookup(RunMode::Local, |k| {
            (k == "SALESTIM_DATA_DIR").then(|| dir.clone())
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_local_key_not_made_yet_warns_and_a_made_one_wraps_and_unwraps() {
        let dir = tempfile::tempdir().unwrap();
        let settings = local_settings(dir.path());
        let timeout = Duration::from_secs(5);
        let keys = keys_store(&settings);
        let (ping_row, round_trip) = tokio::join!(
            ping("keys", &keys, timeout, |k| k.ping()),
            wrap_unwrap(&keys, timeout)
        );
        assert_eq!(ping_row.verdict, Verdict::Warn, "{ping_row:?}");
        assert!(
            ping_row
                .reason
                .ends_with("not made yet (`handler local` makes it at its first start)")
        );
        assert_eq!(round_trip.verdict, Verdict::Warn);

        std::fs::write(
            dir.path().join("local-kek"),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .unwrap();
        let keys = keys_store(&settings);
        let round_trip = wrap_unwrap(&keys, timeout).await;
        assert_eq!(round_trip.verdict, Verdict::Ok, "{round_trip:?}");

        // A key file that is not a key is a failure.
        std::fs::write(dir.path().join("local-kek"), "not base64").unwrap();
        let keys = keys_store(&settings);
        assert_eq!(wrap_unwrap(&keys, timeout).await.verdict, Verdict::Fail);
    }
}
