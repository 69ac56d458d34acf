//! Settings: one typed struct, read once at start from the environment
//! (the app settings of the function app). Names are the ones Functions and
//! Bot Framework users already know; `local.settings.json.example` lists
//! them all. A malformed value fails the start with the setting's name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

mod bot;
mod crm;
mod graph;
mod replies;
mod tabs;
mod telemetry;
pub use bot::{AUTH_DISABLED_WARNING, AppType, BotSettings, EntraTrust};
pub use crm::{CrmSettings, SalesforceSettings};
pub use graph::{DEFAULT_SWEEP_BUDGET, GraphLimits};
pub use replies::ReplySettings;
pub use tabs::{SupportSettings, TabSettings};
pub use telemetry::TelemetrySettings;

/// Who runs the binary: the Functions host, or a developer's `handler local`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    Host,
    Local,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("setting {setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        reason: reason.into(),
    }
}

/// The storage settings as given: `AzureWebJobsStorage` (a connection
/// string) or its identity-based forms (`AzureWebJobsStorage__accountName`,
/// `__blobServiceUri`, `__queueServiceUri`, `__clientId`).
/// `platform::storage_account` parses them (and names what is wrong).
pub const STORAGE_SETTINGS: [&str; 5] = [
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__clientId",
];

#[derive(Clone, Debug)]
pub struct CosmosSettings {
    pub endpoint: Url,
    /// Absent: managed identity.
    pub key: Option<SecretString>,
    pub database: String,
    pub preferred_regions: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: RunMode,
    /// `FUNCTIONS_CUSTOMHANDLER_PORT`; under `handler local` this is the
    /// public port of the local host (7071 by default).
    pub port: u16,
    pub data_dir: PathBuf,
    pub region: String,
    /// This process among the region's instances (`WEBSITE_INSTANCE_ID`
    /// on Azure, else made up at start): with the region, it names who
    /// holds a timer's lease.
    pub instance: String,
    /// How long a timer's lease lasts unless its holder renews it
    /// (`SALESTIM_TIMER_LEASE_SECS`, 5 to 3600, default 60): how long a
    /// region that died holding it keeps the others waiting.
    pub timer_lease: std::time::Duration,
    /// The storage settings that are set (see [`STORAGE_SETTINGS`]); empty
    /// means local queues and blob files.
    pub storage: Vec<(&'static str, SecretString)>,
    pub cosmos: Option<CosmosSettings>,
    pub redis_url: Option<SecretString>,
    /// Sign in to Redis with the managed identity (Azure Managed Redis)
    /// rather than a password in the URL (`REDIS_ENTRA_AUTH`; by default
    /// when the URL has no password and names an Azure Redis host).
    pub redis_entra: bool,
    pub keyvault_key_id: Option<Url>,
    pub local_kek: Option<SecretString>,
    /// Client id of a user-assigned managed identity (`AZURE_CLIENT_ID`).
    pub azure_client_id: Option<String>,
    /// `APPLICATIONINSIGHTS_CONNECTION_STRING` and its companions; `None`:
    /// no telemetry is exported.
    pub telemetry: Option<TelemetrySettings>,
    pub crm: CrmSettings,
    pub bot: BotSettings,
    pub graph_base_url: Url,
    pub entra_authority_host: Url,
    /// The app registration that acts in customer tenants through Graph
    /// (`GRAPH_CLIENT_ID`, `GRAPH_CLIENT_SECRET`); the bot's own identity
    /// when absent, as most Teams apps use one registration for both.
    pub graph_client_id: Option<String>,
    pub graph_client_secret: Option<SecretString>,
    /// Each tenant's Graph pace and a sweep's Graph budget.
    pub graph_limits: GraphLimits,
    pub stripe_webhook_secret: Option<SecretString>,
    /// Stripe's secret (`sk_...`) or restricted (`rk_...`) API key, for
    /// creating Checkout Sessions.
    pub stripe_api_key: Option<SecretString>,
    /// `STRIPE_API_BASE`: Stripe's REST API (a stand-in in tests).
    pub stripe_api_base: Url,
    /// `STRIPE_PRICE_ID`: the Price (`price_...`, per seat) the admin tab's
    /// Subscribe button sells.
    pub stripe_price_id: Option<String>,
    /// Where Stripe Checkout sends the payer back (`STRIPE_CHECKOUT_SUCCESS_URL`,
    /// `STRIPE_CHECKOUT_CANCEL_URL`); derived from `SALESTIM_PUBLIC_HOSTNAME`
    /// when absent.
    pub stripe_checkout_success_url: Option<Url>,
    pub stripe_checkout_cancel_url: Option<Url>,
    pub intercom_identity_secret: Option<SecretString>,
    /// The Teams app's manifest id (`TEAMS_APP_ID`), for deep links into its tabs.
    pub teams_app_id: Option<String>,
    /// The public host name (`SALESTIM_PUBLIC_HOSTNAME`) of the app's pages,
    /// for links on cards and for recognising our own links when unfurling.
    pub public_hostname: Option<String>,
    /// Days a tenant keeps working after a failed payment.
    pub billing_grace_days: u32,
    /// How the bot answers under load (inline budget, in-flight bound).
    pub replies: ReplySettings,
    /// The tabs' sign-in: Teams SSO, on-behalf-of, the development sign-in.
    pub tabs: TabSettings,
    /// The Intercom Messenger's identity verification.
    pub support: SupportSettings,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env(mode: RunMode) -> Result<Self, ConfigError> {
        Self::from_lookup(mode, |key| std::env::var(key).ok())
    }

    /// Reads the settings through `lookup` (the environment, possibly layered
    /// over `local.settings.json`). Empty values count as absent.
    pub fn from_lookup(
        mode: RunMode,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let secret = |key: &str| get(key).map(SecretString::from);
        let url = |key: &'static str, default: &str| -> Result<Url, ConfigError> {
            let raw = get(key).unwrap_or_else(|| default.to_owned());
            parse_url(key, &raw)
        };

        let port = match get("FUNCTIONS_CUSTOMHANDLER_PORT") {
            Some(p) => p.parse().map_err(|_| {
                invalid(
                    "FUNCTIONS_CUSTOMHANDLER_PORT",
                    format!("not a port number: {p:?}"),
                )
            })?,
            None if mode == RunMode::Local => 7071,
            None => {
                return Err(invalid(
                    "FUNCTIONS_CUSTOMHANDLER_PORT",
                    "is set by the Functions host; run `handler local` to run without it",
                ));
            }
        };

        let storage = STORAGE_SETTINGS
            .iter()
            .filter_map(|&name| secret(name).map(|v| (name, v)))
            .collect();

        let cosmos = match get("COSMOS_ENDPOINT") {
            Some(endpoint) => Some(CosmosSettings {
                endpoint: parse_url("COSMOS_ENDPOINT", &endpoint)?,
                key: secret("COSMOS_KEY"),
                database: get("COSMOS_DATABASE").unwrap_or_else(|| "salestim".into()),
                preferred_regions: get("COSMOS_PREFERRED_REGIONS")
                    .map(|r| {
                        r.split(',')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            None => None,
        };

        let redis_url = secret("REDIS_URL");
        if let Some(u) = &redis_url {
            let u = u.expose_secret();
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                return Err(invalid(
                    "REDIS_URL",
                    "must start with redis:// or rediss:// (Azure Cache for Redis: rediss://:<key>@<name>.redis.cache.windows.net:6380)",
                ));
            }
        }

        let redis_entra = match get("REDIS_ENTRA_AUTH").as_deref() {
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(invalid(
                    "REDIS_ENTRA_AUTH",
                    format!("must be true or false, not {other:?}"),
                ));
            }
            None => redis_url
                .as_ref()
                .is_some_and(|u| azure_redis_without_password(u.expose_secret())),
        };

        let keyvault_key_id = get("KEYVAULT_KEY_ID")
            .map(|u| parse_url("KEYVAULT_KEY_ID", &u))
            .transpose()?;
        if let Some(k) = &keyvault_key_id
            && (k.scheme() != "https" || !k.path().starts_with("/keys/"))
        {
            return Err(invalid(
                "KEYVAULT_KEY_ID",
                "must be https://<vault>.vault.azure.net/keys/<name>[/<version>]",
            ));
        }
        let local_kek = secret("SALESTIM_LOCAL_KEK");
        if keyvault_key_id.is_none() && local_kek.is_none() && mode == RunMode::Host {
            return Err(invalid(
                "KEYVAULT_KEY_ID",
                "is required under the Functions host (or SALESTIM_LOCAL_KEK, a base64 32-byte key, for a single-instance test deployment)",
            ));
        }

        let entra_authority_host =
            url("ENTRA_AUTHORITY_HOST", "https://login.microsoftonline.com")?;
        let bot = bot::from_lookup(mode, &get, &entra_authority_host)?;
        let replies = replies::from_lookup(&get)?;
        let graph_limits = graph::from_lookup(&get)?;
        let crm = crm::from_lookup(&get, &entra_authority_host)?;
        let (tabs, support) = tabs::from_lookup(mode, &get)?;

        let teams_app_id = get("TEAMS_APP_ID");
        if let Some(id) = &teams_app_id
            && uuid::Uuid::parse_str(id).is_err()
        {
            return Err(invalid(
                "TEAMS_APP_ID",
                "must be the Teams app's GUID (the manifest id)",
            ));
        }
        let public_hostname = get("SALESTIM_PUBLIC_HOSTNAME");
        if let Some(host) = &public_hostname
            && (host.contains(['/', ':', '@', ' '])
                || url::Url::parse(&format!("https://{host}/")).is_err())
        {
            return Err(invalid(
                "SALESTIM_PUBLIC_HOSTNAME",
                "must be a bare host name such as salestim.example.com",
            ));
        }

        let stripe_webhook_secret = secret("STRIPE_WEBHOOK_SECRET");
        if let Some(s) = &stripe_webhook_secret
            && !s.expose_secret().starts_with("whsec_")
        {
            return Err(invalid(
                "STRIPE_WEBHOOK_SECRET",
                "must be the endpoint's signing secret (whsec_...), not an API key",
            ));
        }

        let stripe_api_key = secret("STRIPE_API_KEY");
        if let Some(k) = &stripe_api_key
            && !(k.expose_secret().starts_with("sk_") || k.expose_secret().starts_with("rk_"))
        {
            return Err(invalid(
                "STRIPE_API_KEY",
                "must be a secret (sk_...) or restricted (rk_...) Stripe API key",
            ));
        }
        let stripe_price_id = get("STRIPE_PRICE_ID");
        if let Some(p) = &stripe_price_id
            && !(p.starts_with("price_")
                && p.len() <= 200
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(invalid(
                "STRIPE_PRICE_ID",
                "must be a Stripe Price id (price_...)",
            ));
        }
        let checkout_url = |key: &'static str, path: &str| -> Result<Option<Url>, ConfigError> {
            match (get(key), &public_hostname) {
                (Some(u), _) => parse_url(key, &u).map(Some),
                (None, Some(host)) => parse_url(key, &format!("https://{host}{path}")).map(Some),
                (None, None) => Ok(None),
            }
        };
        let stripe_checkout_success_url = checkout_url(
            "STRIPE_CHECKOUT_SUCCESS_URL",
            "/billing/done?session_id={CHECKOUT_SESSION_ID}",
        )?;
        let stripe_checkout_cancel_url =
            checkout_url("STRIPE_CHECKOUT_CANCEL_URL", "/billing/canceled")?;

        let billing_grace_days = match get("SALESTIM_BILLING_GRACE_DAYS") {
            Some(d) => d.parse::<u32>().ok().filter(|d| *d <= 90).ok_or_else(|| {
                invalid(
                    "SALESTIM_BILLING_GRACE_DAYS",
                    format!("must be a whole number of days from 0 to 90, not {d:?}"),
                )
            })?,
            None => 7,
        };

        let timer_lease = match get("SALESTIM_TIMER_LEASE_SECS") {
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|s| (5..=3600).contains(s))
                .ok_or_else(|| {
                    invalid(
                        "SALESTIM_TIMER_LEASE_SECS",
                        format!("must be a whole number of seconds from 5 to 3600, not {s:?}"),
                    )
                })?,
            None => 60,
        };
        let instance = get("WEBSITE_INSTANCE_ID")
            .map(|id| id.chars().take(12).collect())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());

        Ok(Settings {
            mode,
            port,
            data_dir: PathBuf::from(
                get("SALESTIM_DATA_DIR").unwrap_or_else(|| "./.salestim".into()),
            ),
            region: get("REGION_NAME").unwrap_or_else(|| "local".into()),
            instance,
            timer_lease: std::time::Duration::from_secs(timer_lease),
            storage,
            cosmos,
            redis_url,
            redis_entra,
            keyvault_key_id,
            local_kek,
            azure_client_id: get("AZURE_CLIENT_ID"),
            telemetry: telemetry::from_lookup(&get)?,
            crm,
            bot,
            graph_base_url: url("GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0")?,
            graph_client_id: get("GRAPH_CLIENT_ID").or_else(|| get("MicrosoftAppId")),
            graph_client_secret: secret("GRAPH_CLIENT_SECRET")
                .or_else(|| secret("MicrosoftAppPassword")),
            graph_limits,
            entra_authority_host,
            stripe_webhook_secret,
            stripe_api_key,
            stripe_api_base: url("STRIPE_API_BASE", "https://api.stripe.com")?,
            stripe_checkout_success_url,
            stripe_checkout_cancel_url,
            stripe_price_id,
            intercom_identity_secret: secret("INTERCOM_IDENTITY_SECRET"),
            teams_app_id,
            public_hostname,
            billing_grace_days,
            replies,
            tabs,
            support,
        })
    }

    /// What start-up must say loudly: settings that weaken the service.
    pub fn startup_warnings(&self) -> Vec<&'static str> {
        let mut warnings = Vec::new();
        if self.bot.auth_disabled {
            warnings.push(AUTH_DISABLED_WARNING);
        }
        warnings
    }

    /// One of the storage settings ([`STORAGE_SETTINGS`]) by name, when set.
    pub fn storage_value(&self, name: &str) -> Option<String> {
        self.storage
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.expose_secret().to_owned())
    }
}

/// An Azure Redis host named without a password: its sign-in is Entra ID.
fn azure_redis_without_password(url: &str) -> bool {
    Url::parse(url).is_ok_and(|u| {
        u.password().is_none()
            && u.host_str().is_some_and(|h| {
                h.ends_with(".redis.azure.net") || h.ends_with(".redis.cache.windows.net")
            })
    })
}

fn parse_url(setting: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| invalid(setting, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(setting, "must be an http(s) URL"));
    }
    Ok(url)
}

/// The `Values` of a `local.settings.json` (as `func start` reads them), or an
/// empty map when the file does not exist.
pub fn read_local_settings(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(invalid("local.settings.json", e.to_string())),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid("local.settings.json", e.to_string()))?;
    let values = json
        .get("Values")
        .and_then(|v| v.as_object())
        .ok_or_else(|| invalid("local.settings.json", "has no \"Values\" object"))?;
    values
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k.clone(), s.clone())),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                Ok((k.clone(), v.to_string()))
            }
            _ => Err(invalid(
                "local.settings.json",
                format!("Values.{k} must be a string"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings from these pairs (shared with the submodules' tests).
    pub(super) fn settings(mode: RunMode, pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(mode, |k| map.get(k).cloned())
    }

    #[test]
    fn local_mode_runs_on_embedded_defaults() {
        let s = settings(RunMode::Local, &[]).unwrap();
        assert_eq!(s.port, 7071);
        assert!(s.storage.is_empty() && s.cosmos.is_none() && s.redis_url.is_none());
        assert_eq!(s.region, "local");
        assert_eq!(
            s.graph_base_url.as_str(),
            "https://graph.microsoft.com/v1.0"
        );
        assert_eq!(s.billing_grace_days, 7);
        assert_eq!(s.stripe_api_base.as_str(), "https://api.stripe.com/");
        assert!(s.stripe_checkout_success_url.is_none());
    }

    #[test]
    fn checkout_return_pages_default_to_the_public_host() {
        let s = settings(
            RunMode::Local,
            &[("SALESTIM_PUBLIC_HOSTNAME", "app.salestim.example")],
        )
        .unwrap();
        assert_eq!(
            s.stripe_checkout_success_url.unwrap().as_str(),
            "https://app.salestim.example/billing/done?session_id={CHECKOUT_SESSION_ID}"
        );
        assert_eq!(
            s.stripe_checkout_cancel_url.unwrap().as_str(),
            "https://app.salestim.example/billing/canceled"
        );
    }

    #[test]
    fn the_host_mode_needs_its_port_and_a_key_encryption_key() {
        let err = settings(RunMode::Host, &[]).unwrap_err();
        assert_eq!(err.setting, "FUNCTIONS_CUSTOMHANDLER_PORT");
        let err = settings(RunMode::Host, &[("FUNCTIONS_CUSTOMHANDLER_PORT", "4000")]).unwrap_err();
        assert_eq!(err.setting, "KEYVAULT_KEY_ID");
        let ok = settings(
            RunMode::Host,
            &[
                ("FUNCTIONS_CUSTOMHANDLER_PORT", "4000"),
                (
                    "KEYVAULT_KEY_ID",
                    "https://v.vault.azure.net/keys/tenant-kek",
                ),
            ],
        )
        .unwrap();
        assert_eq!(ok.port, 4000);
    }

    #[test]
    fn malformed_values_name_their_setting() {
        let cases: [(&str, &str); 12] = [
            ("STRIPE_API_KEY", "whsec_123"),
            ("STRIPE_API_BASE", "not a url"),
            ("STRIPE_CHECKOUT_SUCCESS_URL", "ftp://x"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "seventy"),
            ("COSMOS_ENDPOINT", "not a url"),
            ("REDIS_URL", "http://cache:6379"),
            ("KEYVAULT_KEY_ID", "http://v.vault.azure.net/keys/k"),
            ("MicrosoftAppType", "Personal"),
            ("STRIPE_WEBHOOK_SECRET", "sk_test_123"),
            ("SALESTIM_BILLING_GRACE_DAYS", "-1"),
            ("GRAPH_BASE_URL", "ftp://graph"),
            ("ToBotFromEmulatorOpenIdMetadataUrl", "not a url"),
        ];
        for (setting, value) in cases {
            let err = settings(RunMode::Local, &[(setting, value)]).unwrap_err();
            assert_eq!(err.setting, setting, "{err}");
        }
        let err = settings(RunMode::Local, &[("MicrosoftAppType", "SingleTenant")]).unwrap_err();
        assert_eq!(err.setting, "MicrosoftAppTenantId");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = settings(
            RunMode::Local,
            &[("STRIPE_WEBHOOK_SECRET", "whsec_supersecretvalue")],
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("supersecretvalue"));
    }

    #[test]
    fn local_settings_values_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("local.settings.json");
        assert!(read_local_settings(&path).unwrap().is_empty());
        std::fs::write(
            &path,
            r#"{"IsEncrypted":false,"Values":{"REGION_NAME":"laptop","X":1}}"#,
        )
        .unwrap();
        let values = read_local_settings(&path).unwrap();
        assert_eq!(values["REGION_NAME"], "laptop");
        assert_eq!(values["X"], "1");
        std::fs::write(&path, r#"{"Values":{"A":{"b":1}}}"#).unwrap();
        assert!(read_local_settings(&path).is_err());
    }
}
