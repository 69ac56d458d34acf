//! `spawn_app()`: the real app on an ephemeral port with its own data
//! directory, driven by the real local host (the same code `handler local`
//! runs), with a clock the test moves. Helpers hide the JSON plumbing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use salestim::app::{App, Services};
use salestim::config::{RunMode, Settings};
use salestim::host::function_json::FunctionDef;
use salestim::host::host_json::HostJson;
use salestim::host::local::{LocalHost, LocalHostConfig, MAX_REQUEST_BYTES};
use salestim::ids::TenantId;
use salestim::platform::blobs::files::FileBlobs;
use salestim::platform::cache::memory::MemoryCache;
use salestim::platform::clock::ManualClock;
use salestim::platform::documents::Documents;
use salestim::platform::documents::sqlite::SqliteDocuments;
use salestim::platform::keys::Keys;
use salestim::platform::keys::local::LocalKeys;
use salestim::platform::queues::local::LocalQueues;
use salestim::platform::queues::{QueueName, Queues};
use sha2::Sha256;
use time::OffsetDateTime;
use tokio::sync::watch;
use url::Url;

pub const STRIPE_SECRET: &str = "whsec_test_secret_made_for_tests";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    /// The local host's front door (what `handler local` serves on 7071).
    pub base: Url,
    pub handler: Url,
    pub host: Option<LocalHost>,
    pub http: reqwest::Client,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// Wraps the app's queues (fault tests).
pub type WrapQueues = fn(Arc<dyn Queues>) -> Arc<dyn Queues>;

pub struct Options {
    pub stripe_secret: Option<&'static str>,
    /// Replaces the document store (for fault tests).
    pub docs: Option<Arc<dyn Documents>>,
    /// Wraps the local queues (for fault tests).
    pub queues: Option<WrapQueues>,
    /// Replaces the local key-encryption key (Key Vault tests).
    pub keys: Option<Arc<dyn Keys>>,
    pub host: HostJson,
    /// The bot's identity and endpoints: OpenID metadata URL, login URL and
    /// the HTTP client that reaches the stand-ins.
    pub bot: Option<BotOptions>,
    /// More settings, by name.
    pub settings: Vec<(&'static str, String)>,
    /// The local host's request size limit (the host's 100 MB).
    pub max_request_bytes: u64,
    /// Whom the settings are read for: `handler local` (the default), or
    /// the Functions host (the harness then sets its port and a key).
    pub mode: RunMode,
}

pub struct BotOptions {
    pub app_id: &'static str,
    pub secret: &'static str,
    pub openid_metadata_url: Url,
    /// `ToChannelFromBotLoginUrl`; `None` leaves it to the app type.
    pub login_url: Option<Url>,
    pub http: reqwest::Client,
    /// No identity at all and `SALESTIM_BOT_AUTH_DISABLED=true` (the local
    /// testing mode); `app_id` and `secret` are then not set.
    pub auth_disabled: bool,
    /// More settings (`MicrosoftAppType`, `ENTRA_AUTHORITY_HOST`, ...).
    pub settings: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        let mut host = HostJson::load(&repo_root().join("host.json")).expect("host.json parses");
        // Fast retries in tests; everything else as in host.json.
        host.visibility_timeout = Duration::ZERO;
        host.max_polling_interval = Duration::from_millis(200);
        Options {
            stripe_secret: Some(STRIPE_SECRET),
            docs: None,
            queues: None,
            keys: None,
            host,
            bot: None,
            settings: Vec::new(),
            max_request_bytes: MAX_REQUEST_BYTES,
            mode: RunMode::Local,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().expect("a temp dir");
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let mut values = vec![
        ("SALESTIM_DATA_DIR", dir.path().display().to_string()),
        ("REGION_NAME", "test-region".into()),
    ];
    if let Some(secret) = options.stripe_secret {
        values.push(("STRIPE_WEBHOOK_SECRET", secret.into()));
    }
    if let Some(bot) = &options.bot {
        if bot.auth_disabled {
            values.push(("SALESTIM_BOT_AUTH_DISABLED", "true".into()));
        } else {
            values.push(("MicrosoftAppId", bot.app_id.into()));
            values.push(("MicrosoftAppPassword", bot.secret.into()));
        }
        values.push((
            "ToBotFromChannelOpenIdMetadataUrl",
            bot.openid_metadata_url.to_string(),
        ));
        if let Some(login_url) = &bot.login_url {
            values.push(("ToChannelFromBotLoginUrl", login_url.to_string()));
        }
        values.extend(bot.settings.iter().cloned());
    }
    if options.mode == RunMode::Host {
        values.push(("FUNCTIONS_CUSTOMHANDLER_PORT", "0".into()));
        values.push((
            "SALESTIM_LOCAL_KEK",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]),
        ));
    }
    values.extend(options.settings);
    // A setting given in `options.settings` wins over the defaults above.
    let settings = Settings::from_lookup(options.mode, |k| {
        values
            .iter()
            .rfind(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
    })
    .expect("test settings are valid");
    let docs: Arc<dyn Documents> = match options.docs {
        Some(d) => d,
        None => Arc::new(
            SqliteDocuments::open(&dir.path().join("documents.sqlite"), clock.clone())
                .expect("sqlite opens"),
        ),
    };
    let _ = docs.ensure().await;
    let mut queues: Arc<dyn Queues> = Arc::new(
        LocalQueues::open(&dir.path().join("queues.sqlite"), clock.clone()).expect("queues open"),
    );
    if let Some(wrap) = options.queues {
        queues = wrap(queues);
    }
    let kek = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    let services = Services {
        docs,
        blobs: Arc::new(FileBlobs::new(dir.path().join("blobs"))),
        queues: queues.clone(),
        cache: Arc::new(MemoryCache::new(clock.clone())),
        keys: options
            .keys
            .unwrap_or_else(|| Arc::new(LocalKeys::from_base64(&kek).expect("a 32-byte key"))),
        clock: clock.clone(),
        http: options
            .bot
            .as_ref()
            .map(|b| b.http.clone())
            .unwrap_or_else(|| salestim::outbound::http_client().expect("the client builds")),
    };
    let app = App::with_services(settings, services);
    let (stop, rx) = watch::channel(false);
    let (addr, server) =
        salestim::server::bind(app.clone(), "127.0.0.1:0".parse().unwrap(), rx).expect("binds");
    tokio::spawn(server);
    let handler = Url::parse(&format!("http://{addr}/")).unwrap();
    let functions =
        FunctionDef::load_dir(&repo_root().join("functions")).expect("function.json files parse");
    let host = LocalHost::start(LocalHostConfig {
        functions,
        host: options.host,
        handler: handler.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        queues,
        max_request_bytes: options.max_request_bytes,
    })
    .await
    .expect("the local host starts");
    let base = Url::parse(&format!("http://{}/", host.addr)).unwrap();
    TestApp {
        app,
        clock,
        base,
        handler,
        host: Some(host),
        http: reqwest::Client::new(),
        stop,
        _dir: dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A `Stripe-Signature` computed here, independently of the product code.
pub fn stripe_signature(body: &[u8], secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl TestApp {
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path.trim_start_matches('/')).unwrap()
    }

    pub fn now(&self) -> i64 {
        use salestim::platform::clock::Clock;
        self.clock.now().unix_timestamp()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("the local host answers")
    }

    /// POSTs a Stripe event signed now with the configured secret.
    pub async fn stripe_event(&self, event: &serde_json::Value) -> reqwest::Response {
        let body = serde_json::to_vec(event).unwrap();
        let sig = stripe_signature(&body, STRIPE_SECRET, self.now());
        self.stripe_raw(body, Some(&sig)).await
    }

    pub async fn stripe_raw(&self, body: Vec<u8>, signature: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url("api/billing/stripe"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("stripe-signature", sig);
        }
        req.send().await.expect("the local host answers")
    }

    pub async fn add_tenant(&self, name: &str) -> TenantId {
        let id = TenantId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
        self.app.tenants.add(&id, name).await.expect("tenant added");
        id
    }

    /// A registered tenant whose admin granted consent (as `handler tenant
    /// set --consent granted` records it).
    pub async fn add_consented_tenant(&self, name: &str) -> TenantId {
        let id = self.add_tenant(name).await;
        self.app
            .tenants
            .update(&id, |t, now| {
                t.onboarding.admin_consent = true;
                t.onboarding.consented_at = Some(now);
                Ok(())
            })
            .await
            .expect("consent recorded");
        id
    }

    /// The data directory the app's embedded stores live in (what
    /// `SALESTIM_DATA_DIR` names for an operator command on the same data).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Binds a Stripe customer to `tenant` as an operator does: the only
    /// way besides a checkout of ours that its events reach the tenant.
    pub async fn bind_customer(&self, tenant: &TenantId, customer: &str) {
        let customer = salestim::billing::binding::CustomerId::parse(customer).expect("a cus_ id");
        self.app
            .billing
            .bind_customer(tenant, &customer, "operator:test")
            .await
            .expect("the customer binds");
    }

    pub async fn queue_len(&self, queue: &str) -> u64 {
        self.app
            .queues
            .count(&QueueName::parse(queue).unwrap())
            .await
            .unwrap()
    }

    /// Waits (bounded) until `queue` is empty: the local host has processed it.
    pub async fn drain(&self, queue: &str) {
        wait_until(Duration::from_secs(20), || async {
            self.queue_len(queue).await == 0
        })
        .await;
    }

    pub async fn run_function(
        &self,
        name: &str,
        input: &str,
    ) -> salestim::host::invoke::InvokeResponse {
        self.host
            .as_ref()
            .unwrap()
            .run_function(name, input)
            .await
            .expect("the function ran")
    }
}

/// Polls `check` until true, failing the test after `budget`.
pub async fn wait_until<F, Fut>(budget: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + budget;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {budget:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
