//! The composition root: every service is built once from the settings and
//! shared by all invocations. Each Azure service falls back to its embedded
//! default when its setting is absent.

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use crate::billing::Billing;
use crate::bot::auth::BotAuthenticator;
use crate::bot::connector::{ConnectorClient, ConnectorConfig};
use crate::bot::openid::KeySource;
use crate::bot::replies::Replies;
use crate::bot::{Bot, Inbound};
use crate::config::{RunMode, Settings};
use crate::governance::tenants::Tenants;
use crate::graph::{Graph, GraphConfig, RetryPolicy};
use crate::platform::blobs::Blobs;
use crate::platform::cache::Cache;
use crate::platform::clock::{Clock, SystemClock};
use crate::platform::documents::Documents;
use crate::platform::documents::cosmos::{CosmosAuth, CosmosDocuments};
use crate::platform::keys::Keys;
use crate::platform::keys::envelope::{self, Envelope};
use crate::platform::queues::Queues;
use crate::platform::storage_account::StorageAccount;
use crate::platform::{azure_credential, blobs, cache, documents, keys, queues};
use crate::tabs::TabAuthenticator;
use crate::tabs::files::TabFiles;
use crate::teams::links::AppLinks;

/// The platform services, built from settings or handed in by tests.
#[derive(Clone)]
pub struct Services {
    pub docs: Arc<dyn Documents>,
    pub blobs: Arc<dyn Blobs>,
    pub queues: Arc<dyn Queues>,
    pub cache: Arc<dyn Cache>,
    pub keys: Arc<dyn Keys>,
    pub clock: Arc<dyn Clock>,
    /// For outside services on the internet (Bot Framework, Graph, Stripe).
    pub http: reqwest::Client,
}

pub struct AppInner {
    pub settings: Settings,
    pub docs: Arc<dyn Documents>,
    pub blobs: Arc<dyn Blobs>,
    pub queues: Arc<dyn Queues>,
    pub cache: Arc<dyn Cache>,
    pub keys: Arc<dyn Keys>,
    pub clock: Arc<dyn Clock>,
    /// The shared client for outside services (Stripe's API among them).
    pub http: reqwest::Client,
    pub tenants: Tenants,
    pub billing: Billing,
    /// The bot, when `MicrosoftAppId` and `MicrosoftAppPassword` are set
    /// (or `SALESTIM_BOT_AUTH_DISABLED` under `handler local`).
    pub bot: Option<Bot>,
    /// The Stripe endpoint secrets (several while a secret is rolled).
    pub stripe_secrets: Option<Vec<SecretString>>,
    /// Stripe MACs over large bodies running on the blocking pool at once:
    /// one per CPU, so they can use the machine but never queue up threads
    /// beyond it.
    pub stripe_mac_slots: tokio::sync::Semaphore,
    /// Links into the product (its tabs and pages) for cards.
    pub links: AppLinks,
    /// Microsoft Graph in customer tenants, when the app has credentials
    /// (`GRAPH_CLIENT_ID`/`GRAPH_CLIENT_SECRET`, or the bot's identity).
    pub graph: Option<Graph>,
    /// Per-tenant secrets sealed under the tenant's data key.
    pub envelope: Arc<Envelope>,
    /// Who calls the tabs' API: Teams SSO tokens, and under `handler local`
    /// the development sign-in's.
    pub tab_auth: TabAuthenticator,
    /// The tabs' web app (its build folder, read on first use).
    pub tab_files: TabFiles,
    /// The health probe's kept verdict.
    pub probe: crate::platform::health::Probe,
    /// Tenants' CRM connections (Dynamics 365, Salesforce).
    pub crm: crate::crm::service::Crm,
}

/// A cheap handle on the app, cloned into every request.
#[derive(Clone)]
pub struct App(Arc<AppInner>);

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl App {
    /// Builds every service the settings name, or its embedded default.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let services = Services::from_settings(&settings).await?;
        Ok(App::with_services(settings, services))
    }

    /// With telemetry on, each store's calls are reported as dependencies.
    pub fn with_services(settings: Settings, s: Services) -> App {
        let s = if crate::telemetry::active() {
            let t = crate::telemetry::stores::Tracing::from_settings(&settings);
            Services {
                docs: t.docs(s.docs),
                blobs: t.blobs(s.blobs),
                queues: t.queues(s.queues),
                cache: t.cache(s.cache),
                keys: t.keys(s.keys),
                ..s
            }
        } else {
            s
        };
        let tenants = Tenants::new(s.docs.clone(), s.clock.clone());
        let billing = Billing::new(
            s.docs.clone(),
            tenants.clone(),
            s.cache.clone(),
            s.clock.clone(),
            settings.billing_grace_days,
        );
        let stripe_secrets = settings.stripe_webhook_secret.as_ref().map(|s| {
            s.expose_secret()
                .split(',')
                .map(|p| SecretString::from(p.trim().to_owned()))
                .filter(|p| !p.expose_secret().is_empty())
                .collect()
        });
        let bot = bot_from_settings(&settings, &s);
        let links = AppLinks::new(
            settings.teams_app_id.clone(),
            settings.public_hostname.as_deref(),
        );
        let graph = graph_from_settings(&settings, &s);
        let envelope = Arc::new(Envelope::with_cache(
            s.keys.clone(),
            s.clock.clone(),
            envelope::DEFAULT_CACHE_TTL,
            envelope::DEFAULT_CACHE_ENTRIES,
        ));
        let crm = crm_from_settings(&settings, &s, envelope.clone());
        let tab_auth = TabAuthenticator::new(&settings, s.http.clone());
        // The page's CSP admits Intercom's hosts only where the Messenger
        // can boot (its identity endpoint is configured).
        let tab_files = TabFiles::new(
            settings.tabs.files_dir.clone(),
            settings.support.app_id.is_some() && settings.intercom_identity_secret.is_some(),
        );
        App(Arc::new(AppInner {
            tab_auth,
            tab_files,
            probe: Default::default(),
            crm,
            graph,
            envelope,
            links,
            bot,
            settings,
            docs: s.docs,
            blobs: s.blobs,
            queues: s.queues,
            cache: s.cache,
            keys: s.keys,
            clock: s.clock,
            http: s.http,
            tenants,
            billing,
            stripe_secrets,
            stripe_mac_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            ),
        }))
    }
}

fn graph_from_settings(settings: &Settings, s: &Services) -> Option<Graph> {
    let (Some(client_id), Some(secret)) =
        (&settings.graph_client_id, &settings.graph_client_secret)
    else {
        return None;
    };
    let config = GraphConfig {
        base_url: settings.graph_base_url.clone(),
        authority_host: settings.entra_authority_host.clone(),
        client_id: client_id.clone(),
        client_secret: secret.clone(),
        retry: RetryPolicy::default(),
        pace: settings.graph_limits.pace,
    };
    Some(Graph::new(config, s.http.clone(), s.cache.clone()))
}

/// The CRM connectors' shared parts: our Entra app (the Graph one) for
/// Dataverse, our Salesforce connected app, one token cache.
fn crm_from_settings(
    settings: &Settings,
    s: &Services,
    envelope: Arc<Envelope>,
) -> crate::crm::service::Crm {
    let entra = match (&settings.graph_client_id, &settings.graph_client_secret) {
        (Some(client_id), Some(secret)) => Some(crate::crm::EntraApp {
            client_id: client_id.clone(),
            client_secret: secret.clone(),
        }),
        _ => None,
    };
    let salesforce = settings.crm.salesforce.as_ref().map(|sf| {
        // Under `handler local` without a public name: the local host.
        let origin = match &settings.public_hostname {
            Some(host) => format!("https://{host}"),
            None => format!("http://localhost:{}", settings.port),
        };
        crate::crm::SalesforceApp {
            client_id: sf.client_id.clone(),
            client_secret: sf.client_secret.clone(),
            login_url: sf.login_url.clone(),
            redirect_uri: url::Url::parse(&format!("{origin}/api/crm/salesforce/callback"))
                .expect("the public hostname was checked to make a URL"),
        }
    });
    let shared = crate::crm::Shared {
        http: s.http.clone(),
        tokens: Arc::new(crate::outbound::TokenCache::new(s.cache.clone())),
        counters: Arc::default(),
        authority_host: settings.crm.authority_host.clone(),
        entra,
        salesforce,
        retry: RetryPolicy::default(),
    };
    crate::crm::service::Crm::new(
        shared,
        s.docs.clone(),
        s.cache.clone(),
        s.clock.clone(),
        envelope,
        settings.crm.cache_ttl,
        settings.crm.extra_hosts.clone(),
    )
}

impl Services {
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Services> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let data_dir = &settings.data_dir;
        if needs_data_dir(settings) {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating SALESTIM_DATA_DIR {}", data_dir.display()))?;
        }
        let credential = || {
            azure_credential(settings.azure_client_id.as_deref())
                .context("creating the managed identity credential")
        };

        let docs: Arc<dyn Documents> = match &settings.cosmos {
            Some(c) => {
                let auth = match &c.key {
                    Some(key) => CosmosAuth::Key(key.clone()),
                    None => CosmosAuth::Token(credential()?),
                };
                Arc::new(
                    CosmosDocuments::connect(
                        c.endpoint.as_str(),
                        auth,
                        documents::cosmos::preferred_regions(
                            &settings.region,
                            &c.preferred_regions,
                        ),
                        &c.database,
                    )
                    .await
                    .context("COSMOS_ENDPOINT: connecting to Cosmos DB")?,
                )
            }
            None => Arc::new(
                documents::sqlite::SqliteDocuments::open(
                    &data_dir.join("documents.sqlite"),
                    clock.clone(),
                )
                .context("opening the embedded document store")?,
            ),
        };
        docs.ensure()
            .await
            .context("creating the document containers")?;

        let account = StorageAccount::from_settings(
            |name| settings.storage_value(name),
            |client_id| azure_credential(client_id.or(settings.azure_client_id.as_deref())),
        )
        .context("AzureWebJobsStorage")?;
        let (blobs, queues): (Arc<dyn Blobs>, Arc<dyn Queues>) = match account {
            Some(account) => (
                Arc::new(
                    blobs::azure::AzureBlobs::new(&account, Default::default())
                        .context("AzureWebJobsStorage: blob client")?,
                ),
                Arc::new(
                    queues::azure::AzureQueues::new(&account, Default::default())
                        .context("AzureWebJobsStorage: queue client")?,
                ),
            ),
            None => (
                Arc::new(blobs::files::FileBlobs::new(data_dir.join("blobs"))),
                Arc::new(
                    queues::local::LocalQueues::open(
                        &data_dir.join("queues.sqlite"),
                        clock.clone(),
                    )
                    .context("opening the local queues")?,
                ),
            ),
        };

        let cache: Arc<dyn Cache> = match &settings.redis_url {
            Some(url) => Arc::new(
                cache::redis::RedisCache::connect(
                    url.expose_secret(),
                    settings
                        .redis_entra
                        .then(|| credential().map(cache::entra::EntraCredentials::new))
                        .transpose()?,
                )
                .await
                .context("REDIS_URL: connecting to Redis")?,
            ),
            None => Arc::new(cache::memory::MemoryCache::new(clock.clone())),
        };

        let keys: Arc<dyn Keys> = match (&settings.keyvault_key_id, &settings.local_kek) {
            (Some(key_id), _) => Arc::new(
                keys::keyvault::KeyVaultKeys::new(key_id.as_str(), credential()?, None)
                    .context("KEYVAULT_KEY_ID")?,
            ),
            (None, Some(kek)) => Arc::new(
                keys::local::LocalKeys::from_base64(kek.expose_secret())
                    .context("SALESTIM_LOCAL_KEK")?,
            ),
            (None, None) => {
                debug_assert_eq!(
                    settings.mode,
                    RunMode::Local,
                    "the host mode requires a key setting"
                );
                Arc::new(
                    keys::local::LocalKeys::from_base64(&local_kek_file(data_dir)?)
                        .context("the generated local key")?,
                )
            }
        };

        let http = crate::outbound::http_client().context("building the HTTP client")?;
        Ok(Services {
            docs,
            blobs,
            queues,
            cache,
            keys,
            clock,
            http,
        })
    }
}

fn bot_from_settings(settings: &Settings, s: &Services) -> Option<Bot> {
    let b = &settings.bot;
    if b.auth_disabled {
        // Settings refuse this outside `handler local`; refuse it here too,
        // whoever built the settings.
        if settings.mode != RunMode::Local {
            tracing::error!(
                "SALESTIM_BOT_AUTH_DISABLED is ignored outside `handler local`: the bot stays off"
            );
            return None;
        }
        // Said by the server that takes activities (`handler local`), not
        // by every operator command that builds the app.
        return Some(Bot {
            inbound: Inbound::Disabled,
            connector: ConnectorClient::without_credentials(s.http.clone(), s.cache.clone()),
            replies: Replies::new(&settings.replies),
        });
    }
    let (app_id, password) = (b.app_id.clone()?, b.app_password.clone()?);
    let keys = KeySource::new(b.openid_metadata_url.clone(), s.http.clone());
    let mut auth = BotAuthenticator::new(app_id.clone(), b.token_issuer.clone(), keys);
    if let Some(entra) = &b.entra {
        let keys = KeySource::new(entra.openid_metadata_url.clone(), s.http.clone());
        auth = auth.with_entra(entra.issuers.clone(), keys);
    }
    let config = ConnectorConfig {
        app_id,
        app_password: password,
        login_url: b.login_url.clone(),
        oauth_scope: b.oauth_scope.clone(),
    };
    let connector = ConnectorClient::new(config, s.http.clone(), s.cache.clone());
    Some(Bot {
        inbound: Inbound::Token(auth),
        connector,
        replies: Replies::new(&settings.replies),
    })
}

fn needs_data_dir(settings: &Settings) -> bool {
    settings.cosmos.is_none()
        || settings.storage.is_empty()
        || (settings.keyvault_key_id.is_none() && settings.local_kek.is_none())
}

/// Under `handler local` with no key setting, a random key-encryption key is
/// made once and kept in the data directory (readable by its owner only).
fn local_kek_file(data_dir: &std::path::Path) -> anyhow::Result<String> {
    use base64::Engine;
    let path = data_dir.join("local-kek");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().to_owned());
    }
    let key: [u8; 32] = rand::random();
    let encoded = base64::engine::general_purpose::STANDARD.encode(key);
    std::fs::write(&path, &encoded).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    tracing::warn!(path = %path.display(), "generated a local key-encryption key (set KEYVAULT_KEY_ID in Azure)");
    Ok(encoded)
}
