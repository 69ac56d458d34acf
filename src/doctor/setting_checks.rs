//! The settings, read by the handler's own parser (a value it refuses is a
//! failure naming the setting and why), then each Azure service's setting:
//! set, or absent and replaced by its local default. A local default is
//! right for `handler local` and wrong in Azure, where instances and
//! regions share nothing on disk: there it is a failure, or a warning where
//! the service still works on one instance (the cache, a key from a
//! setting, telemetry).

use std::path::Path;

use url::Url;

use super::{Check, Verdict};
use crate::config::{RunMode, STORAGE_SETTINGS, Settings};

/// The settings as the handler reads them. For Azure they are read as the
/// Functions host's, except that the host's port may be absent: the doctor
/// runs beside the host, not under it.
pub fn read(azure: bool, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, Check> {
    let mode = if azure { RunMode::Host } else { RunMode::Local };
    let port_or_any = |key: &str| match lookup(key) {
        None if azure && key == "FUNCTIONS_CUSTOMHANDLER_PORT" => Some("0".to_owned()),
        found => found,
    };
    Settings::from_lookup(mode, port_or_any).map_err(|e| {
        Check::fail(
            format!("setting {}", e.setting),
            format!("refused: {}", e.reason),
        )
    })
}

/// One row per service setting: what is used, or what stands in for it.
pub fn fallbacks(settings: &Settings, azure: bool) -> Vec<Check> {
    let data_dir = settings.data_dir.display();
    // Absent in Azure: `severity`; absent locally: fine.
    let absent = |name: &str, severity: Verdict, what: String| {
        let verdict = if azure { severity } else { Verdict::Ok };
        Check::new(
            format!("setting {name}"),
            verdict,
            format!("absent: {what}"),
        )
    };
    let mut rows = Vec::new();

    rows.push(match &settings.cosmos {
        Some(c) => Check::ok(
            "setting COSMOS_ENDPOINT",
            format!(
                "Cosmos DB {} (database {}, {})",
                host_of(&c.endpoint),
                c.database,
                if c.key.is_some() {
                    "account key"
                } else {
                    "managed identity"
                }
            ),
        ),
        None => absent(
            "COSMOS_ENDPOINT",
            Verdict::Fail,
            format!(
                "documents in SQLite under SALESTIM_DATA_DIR ({data_dir}), one instance's disk"
            ),
        ),
    });

    let storage: Vec<&str> = settings.storage.iter().map(|(name, _)| *name).collect();
    rows.push(if storage.is_empty() {
        absent(
            STORAGE_SETTINGS[0],
            Verdict::Fail,
            format!("queues and blobs on local disk under SALESTIM_DATA_DIR ({data_dir})"),
        )
    } else {
        Check::ok(
            format!("setting {}", STORAGE_SETTINGS[0]),
            format!("Azure Storage from {}", storage.join(", ")),
        )
    });

    rows.push(match &settings.redis_url {
        Some(_) => Check::ok("setting REDIS_URL", "Redis (its address is checked below)"),
        None => absent(
            "REDIS_URL",
            Verdict::Warn,
            "cache in each instance's memory: tokens and Graph pacing are not shared".into(),
        ),
    });

    rows.push(match (&settings.keyvault_key_id, &settings.local_kek) {
        (Some(key), _) => Check::ok("setting KEYVAULT_KEY_ID", format!("Key Vault key {key}")),
        (None, Some(_)) => absent(
            "KEYVAULT_KEY_ID",
            Verdict::Warn,
            "key-encryption key from SALESTIM_LOCAL_KEK: for a single-instance test deployment only"
                .into(),
        ),
        (None, None) => absent(
            "KEYVAULT_KEY_ID",
            Verdict::Fail,
            format!(
                "key-encryption key generated in {}",
                Path::new(&settings.data_dir).join("local-kek").display()
            ),
        ),
    });

    rows.push(
        match (&settings.graph_client_id, &settings.graph_client_secret) {
            (Some(id), Some(_)) => Check::ok(
                "setting GRAPH_CLIENT_ID",
                format!("Graph app {id} at {}", host_of(&settings.graph_base_url)),
            ),
            _ => absent(
                "GRAPH_CLIENT_ID",
                Verdict::Fail,
                "no Graph credentials (nor the bot's): nothing is provisioned or swept".into(),
            ),
        },
    );

    let bot = &settings.bot;
    rows.push(match (&bot.app_id, &bot.app_password, bot.auth_disabled) {
        (_, _, true) => Check::new(
            "setting SALESTIM_BOT_AUTH_DISABLED",
            Verdict::Warn,
            crate::config::AUTH_DISABLED_WARNING,
        ),
        (Some(id), Some(_), _) => Check::ok("setting MicrosoftAppId", format!("bot {id}")),
        _ => absent(
            "MicrosoftAppId",
            Verdict::Fail,
            "no bot identity (MicrosoftAppId and MicrosoftAppPassword): the bot is off".into(),
        ),
    });

    rows.push(match &settings.public_hostname {
        Some(host) => Check::ok("setting SALESTIM_PUBLIC_HOSTNAME", host.clone()),
        None => absent(
            "SALESTIM_PUBLIC_HOSTNAME",
            Verdict::Warn,
            "no change-notification subscriptions and no links on cards".into(),
        ),
    });

    rows.push(match &settings.telemetry {
        Some(t) => Check::ok(
            "setting APPLICATIONINSIGHTS_CONNECTION_STRING",
            format!(
                "exported to Application Insights (sampling {}, buffer {} spans)",
                t.sampling, t.buffer
            ),
        ),
        None => absent(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            Verdict::Warn,
            "logs go to stdout only".into(),
        ),
    });

    rows.push(match &settings.stripe_webhook_secret {
        Some(_) => Check::ok("setting STRIPE_WEBHOOK_SECRET", "set (not shown)"),
        None => absent(
            "STRIPE_WEBHOOK_SECRET",
            Verdict::Warn,
            "Stripe's webhooks are refused: subscriptions are not recorded".into(),
        ),
    });
    rows
}

/// The host (and port) of a URL: never its path, query or user info.
pub(crate) fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => "(no host)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn verdict_of(rows: &[Check], name: &str) -> Verdict {
        rows.iter()
            .find(|c| c.check == name)
            .unwrap_or_else(|| panic!("no row {name}: {rows:?}"))
            .verdict
    }

    #[test]
    fn a_refused_setting_is_a_failure_naming_it() {
        let err = read(false, &lookup(&[("REDIS_URL", "http://cache:6379")])).unwrap_err();
        assert_eq!(err.check, "setting REDIS_URL");
        assert_eq!(err.verdict, Verdict::Fail);
        assert!(err.reason.contains("redis://"), "{}", err.reason);
    }

    #[test]
    fn local_fallbacks_are_fine_locally_and_not_in_azure() {
        let settings = read(false, &lookup(&[])).unwrap();
        assert!(
            fallbacks(&settings, false)
                .iter()
                .all(|c| c.verdict == Verdict::Ok)
        );

        // For Azure, a key is required (the handler's own rule); the port is not.
        let err = read(true, &lookup(&[])).unwrap_err();
        assert_eq!(err.check, "setting KEYVAULT_KEY_ID");
        let kek = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let settings = read(true, &lookup(&[("SALESTIM_LOCAL_KEK", kek)])).unwrap();
        let rows = fallbacks(&settings, true);
        assert_eq!(verdict_of(&rows, "setting COSMOS_ENDPOINT"), Verdict::Fail);
        assert_eq!(
            verdict_of(&rows, "setting AzureWebJobsStorage"),
            Verdict::Fail
        );
        assert_eq!(verdict_of(&rows, "setting REDIS_URL"), Verdict::Warn);
        assert_eq!(verdict_of(&rows, "setting KEYVAULT_KEY_ID"), Verdict::Warn);
        let cosmos = rows
            .iter()
            .find(|c| c.check == "setting COSMOS_ENDPOINT")
            .unwrap();
        assert!(
            cosmos
                .reason
                .starts_with("absent: documents in SQLite under SALESTIM_DATA_DIR"),
            "{}",
            cosmos.reason
        );
    }

    #[test]
    fn rows_never_show_secrets() {
        let settings = read(
            false,
            &lookup(&[
                ("REDIS_URL", "rediss://:topsecretkey@cache.example:6380"),
                ("COSMOS_ENDPOINT", "https://acct.documents.azure.com:443/"),
                ("COSMOS_KEY", "cosmossecretkey"),
                ("STRIPE_WEBHOOK_SECRET", "whsec_hooksecret"),
            ]),
        )
        .unwrap();
        let text = format!("{:?}", fallbacks(&settings, true));
        for secret in ["topsecretkey", "cosmossecretkey", "hooksecret"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
