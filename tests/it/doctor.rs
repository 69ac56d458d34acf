//! `handler doctor` against the local stand-ins. In process, every store on
//! its Azure implementation (Cosmos DB's emulator, Azurite, Redis, the Key
//! Vault stand-in) and every identity on its stand-in: all ok. Then the
//! binary, as an operator runs it: all ok; a Graph permission the tenant
//! did not grant; a client secret expired or about to; a store that cannot
//! be reached; each with its row, its verdict and the exit code, as a table
//! and as JSON.

use std::sync::Arc;

use salestim::config::{RunMode, Settings};
use salestim::doctor::stores::{Store, Stores};
use salestim::doctor::{self, Check, Options, Verdict};
use salestim::governance::tenants::Tenants;
use salestim::ids::TenantId;
use salestim::platform::blobs::Blobs;
use salestim::platform::blobs::azure::AzureBlobs;
use salestim::platform::cache::Cache;
use salestim::platform::cache::redis::RedisCache;
use salestim::platform::clock::SystemClock;
use salestim::platform::documents::Documents;
use salestim::platform::documents::cosmos::CosmosDocuments;
use salestim::platform::keys::Keys;
use salestim::platform::keys::keyvault::KeyVaultKeys;
use salestim::platform::queues::Queues;
use salestim::platform::queues::azure::AzureQueues;
use salestim::platform::storage_account::StorageAccount;
use serde_json::Value;
use time::OffsetDateTime;

use crate::admin::Cli;
use crate::support::azurite::{azurite, test_client_options};
use crate::support::connector::{self, ConnectorStandIn};
use crate::support::graph::{CLIENT_ID, GRANTED, GraphStandIn};
use crate::support::keyvault::{FakeCredential, KeyVaultStandIn};
use crate::support::redis::{self, RedisServer};

/// The tenant that holds the app registrations (the publisher's).
const HOME: &str = "6d3f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
/// A customer tenant, onboarded with consent.
const CUSTOMER: &str = "3f1c2b7a-9d4e-4c5b-8a6f-0e1d2c3b4a59";
/// A customer tenant registered without consent: never asked for a token.
const PENDING: &str = "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b";
const KEK: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// RFC 3339, as Graph writes `endDateTime`.
fn in_days(days: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::days(days))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A Graph stand-in with the home tenant (holding the app's registration,
/// its secret valid for a year) and the two customers.
async fn graph() -> GraphStandIn {
    let graph = GraphStandIn::start().await;
    graph.add_tenant(HOME, true);
    graph.add_tenant(CUSTOMER, true);
    graph.add_tenant(PENDING, false);
    let secret = graph.client_secret();
    graph.add_registration(HOME, CLIENT_ID, &[("prod", &secret, &in_days(365))], &[]);
    graph
}

fn row<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.check == name)
        .unwrap_or_else(|| panic!("no row {name:?} in {checks:#?}"))
}

#[tokio::test]
async fn every_stand_in_configured_every_check_is_ok() {
    let graph = graph().await;
    let bot = ConnectorStandIn::start().await;
    graph.add_registration(
        HOME,
        connector::APP_ID,
        &[("bot", connector::SECRET, &in_days(200))],
        &[("bot signing", &in_days(400))],
    );
    let vault = KeyVaultStandIn::start().await;
    let redis_url = redis::shared_url();
    let storage = azurite().connection_string();
    let values: Vec<(&str, String)> = vec![
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "0".into()),
        (
            "COSMOS_ENDPOINT",
            "https://salestim-emulator.documents.azure.com/".into(),
        ),
        ("AzureWebJobsStorage", storage.clone()),
        ("REDIS_URL", redis_url.clone()),
        ("KEYVAULT_KEY_ID", vault.key_id()),
        ("GRAPH_CLIENT_ID", CLIENT_ID.into()),
        ("GRAPH_CLIENT_SECRET", graph.client_secret()),
        ("GRAPH_BASE_URL", graph.base_url.to_string()),
        ("ENTRA_AUTHORITY_HOST", graph.authority_host.to_string()),
        ("MicrosoftAppId", connector::APP_ID.into()),
        ("MicrosoftAppPassword", connector::SECRET.into()),
        ("MicrosoftAppTenantId", HOME.into()),
        ("ToChannelFromBotLoginUrl", bot.login_url.to_string()),
        ("SALESTIM_PUBLIC_HOSTNAME", "salestim.example".into()),
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=00000000-0000-0000-0000-000000000000".into(),
        ),
        ("STRIPE_WEBHOOK_SECRET", "whsec_doctor".into()),
    ];
    let settings = Settings::from_lookup(RunMode::Host, |k| {
        values.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("valid settings");

    let cosmos = CosmosDocuments::new(crate::support::cosmos::emulator_client().await, "salestim");
    cosmos.ensure().await.unwrap();
    let docs: Arc<dyn Documents> = Arc::new(cosmos);
    onboard(&docs).await;
    let account = StorageAccount::parse_connection_string(&storage).unwrap();
    let credential = Arc::new(FakeCredential::default());
    let stores = Stores {
        documents: Store::new("Cosmos DB (emulator)", Ok(docs)),
        queues: Store::new(
            "Azure Storage queues (Azurite)",
            Ok(
                Arc::new(AzureQueues::new(&account, test_client_options()).unwrap())
                    as Arc<dyn Queues>,
            ),
        ),
        blobs: Store::new(
            "Azure Storage blobs (Azurite)",
            Ok(
                Arc::new(AzureBlobs::new(&account, test_client_options()).unwrap())
                    as Arc<dyn Blobs>,
            ),
        ),
        cache: Store::new(
            "Redis",
            Ok(Arc::new(RedisCache::connect(&redis_url, None).await.unwrap()) as Arc<dyn Cache>),
        ),
        keys: Store::new(
            "Key Vault (stand-in)",
            Ok(Arc::new(
                KeyVaultKeys::new(&vault.key_id(), credential, Some(vault.client_options()))
                    .unwrap(),
            ) as Arc<dyn Keys>),
        ),
    };
    let report = doctor::run_with(
        &settings,
        true,
        stores,
        bot.client.clone(),
        &Options::default(),
        OffsetDateTime::now_utc(),
    )
    .await;
    println!("{}", report.table());
    let not_ok: Vec<&Check> = report
        .checks
        .iter()
        .filter(|c| c.verdict != Verdict::Ok)
        .collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    for name in [
        "settings",
        "documents",
        "queues",
        "blobs",
        "cache",
        "keys",
        "keys: wrap and unwrap",
        "tenants",
        &format!("tenant {CUSTOMER}: Graph token"),
        &format!("tenant {CUSTOMER}: Graph permissions"),
        "bot: Connector token",
        &format!("app {CLIENT_ID} (Graph): credentials"),
        &format!("app {} (bot): credentials", connector::APP_ID),
    ] {
        row(&report.checks, name);
    }
    assert_eq!(
        row(&report.checks, "tenants").reason,
        "1 onboarded, 1 without admin consent (not checked)"
    );
    assert!(
        !report.checks.iter().any(|c| c.check.contains(PENDING)),
        "a tenant without consent is not checked"
    );
    assert!(
        row(
            &report.checks,
            &format!("app {} (bot): credentials", connector::APP_ID)
        )
        .reason
        .contains("certificate \"bot signing\" valid until"),
    );
    // The real wrap went through the vault.
    assert!(vault.seen().wraps >= 1 && vault.seen().unwraps >= 1);
}

/// Registers the customers in `docs`, one with admin consent.
async fn onboard(docs: &Arc<dyn Documents>) {
    let tenants = Tenants::new(docs.clone(), Arc::new(SystemClock));
    for (id, name) in [(CUSTOMER, "Contoso"), (PENDING, "Fabrikam")] {
        tenants
            .add(&TenantId::parse(id).unwrap(), name)
            .await
            .unwrap();
    }
    tenants
        .update(&TenantId::parse(CUSTOMER).unwrap(), |t, now| {
            t.onboarding.admin_consent = true;
            t.onboarding.consented_at = Some(now);
            Ok(())
        })
        .await
        .unwrap();
}

/// The `handler` binary on a data directory of its own, with the settings
/// of a deployment whose stores are Azurite and Redis, whose Graph and bot
/// identity (one registration) are the Graph stand-in's.
struct Operator {
    cli: Cli,
    graph: GraphStandIn,
}

impl Operator {
    async fn start() -> Operator {
        let graph = graph().await;
        let mut cli = Cli::new();
        for (name, value) in [
            ("AzureWebJobsStorage", azurite().connection_string()),
            ("REDIS_URL", redis::shared_url()),
            ("SALESTIM_LOCAL_KEK", KEK.into()),
            ("MicrosoftAppId", CLIENT_ID.into()),
            ("MicrosoftAppPassword", graph.client_secret()),
            ("MicrosoftAppTenantId", HOME.into()),
            (
                "ToChannelFromBotLoginUrl",
                format!("{}{HOME}", graph.authority_host),
            ),
            ("GRAPH_BASE_URL", graph.base_url.to_string()),
            ("ENTRA_AUTHORITY_HOST", graph.authority_host.to_string()),
        ] {
            cli.set(name, value);
        }
        for (id, name) in [(CUSTOMER, "Contoso"), (PENDING, "Fabrikam")] {
            cli.ok(&["tenant", "add", id, "--name", name]).await;
        }
        cli.ok(&["tenant", "set", CUSTOMER, "--consent", "granted"])
            .await;
        Operator { cli, graph }
    }

    /// `handler <args>`: (exit code, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        self.cli.run_for_code(args).await
    }

    /// `handler doctor --json`: (exit code, the report).
    async fn doctor_json(&self) -> (Option<i32>, Value) {
        let (code, out, err) = self.run(&["doctor", "--json", "--timeout", "5"]).await;
        let json: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
        self.assert_no_secret(&out);
        (code, json)
    }

    fn assert_no_secret(&self, out: &str) {
        let graph_secret = self.graph.client_secret();
        for secret in [graph_secret.as_str(), azurite().key.as_str(), KEK] {
            assert!(!out.contains(secret), "a secret printed: {out}");
        }
        assert!(!out.contains("eyJ"), "a token printed: {out}");
        assert!(!out.contains("sig="), "a SAS printed: {out}");
    }
}

/// The row `name` of a JSON report: (verdict, reason).
fn json_row(report: &Value, name: &str) -> (String, String) {
    let row = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no row {name:?} in {report:#}"));
    (
        row["verdict"].as_str().unwrap().to_owned(),
        row["reason"].as_str().unwrap().to_owned(),
    )
}

/// The line of the table for `name`, its columns squeezed to one space.
fn table_line(table: &str, name: &str) -> String {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{name}  ")))
        .unwrap_or_else(|| panic!("no line {name:?} in\n{table}"));
    let (check, rest) = line.split_at(name.len());
    format!(
        "{check} {}",
        rest.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

#[tokio::test]
async fn the_binary_prints_one_table_and_exits_zero_when_all_is_well() {
    let operator = Operator::start().await;
    let (code, table, err) = operator.run(&["doctor"]).await;
    println!("{table}");
    assert_eq!(code, Some(0), "{table}\n{err}");
    operator.assert_no_secret(&table);
    assert!(table.starts_with("CHECK "), "{table}");
    assert!(table.lines().next().unwrap().ends_with("VERDICT  REASON"));
    assert_eq!(
        table_line(&table, &format!("tenant {CUSTOMER}: Graph permissions")),
        format!(
            "tenant {CUSTOMER}: Graph permissions ok every feature's permissions granted (provisioning, requests, tab access by group, inventory sync, activity report, lifecycle actions)"
        )
    );
    assert!(
        table_line(&table, "cache").starts_with("cache ok Redis at 127.0.0.1:"),
        "{table}"
    );
    assert!(
        table_line(&table, "queues").starts_with("queues ok Azure Storage queues: answered in")
    );
    assert!(
        table_line(&table, "keys: wrap and unwrap")
            .starts_with("keys: wrap and unwrap ok a random 32-byte data key came back unchanged")
    );
    assert!(
        table_line(&table, "bot: Connector token")
            .starts_with("bot: Connector token ok issued by 127.0.0.1:")
    );
    assert_eq!(
        table_line(
            &table,
            &format!("app {CLIENT_ID} (Graph and bot): credentials")
        ),
        format!(
            "app {CLIENT_ID} (Graph and bot): credentials ok secret \"prod\" valid until {}",
            &in_days(365)[..10]
        )
    );
    // Locally, the local fallbacks are fine.
    assert!(table_line(&table, "setting COSMOS_ENDPOINT").starts_with(
        "setting COSMOS_ENDPOINT ok absent: documents in SQLite under SALESTIM_DATA_DIR"
    ));
    assert!(
        table
            .trim_end()
            .ends_with(" ok, 0 warn, 0 fail (local settings)"),
        "{table}"
    );

    // For Azure, the same fallbacks fail, named.
    let (code, table, _) = operator.run(&["doctor", "--azure"]).await;
    assert_eq!(code, Some(1), "{table}");
    assert!(table_line(&table, "setting COSMOS_ENDPOINT").starts_with(
        "setting COSMOS_ENDPOINT fail absent: documents in SQLite under SALESTIM_DATA_DIR"
    ));
    assert!(table_line(&table, "setting KEYVAULT_KEY_ID").starts_with(
        "setting KEYVAULT_KEY_ID warn absent: key-encryption key from SALESTIM_LOCAL_KEK"
    ));
}

#[tokio::test]
async fn a_permission_the_tenant_did_not_grant_fails_naming_feature_and_permission() {
    let operator = Operator::start().await;
    let fewer: Vec<&str> = GRANTED
        .iter()
        .copied()
        .filter(|p| !matches!(*p, "Reports.Read.All" | "TeamMember.ReadWrite.All"))
        .collect();
    operator.graph.set_roles(CUSTOMER, &fewer);
    let (code, report) = operator.doctor_json().await;
    assert_eq!(code, Some(1));
    assert_eq!(report["mode"], "local");
    assert_eq!(report["ok"], false);
    assert_eq!(report["counts"]["fail"], 1, "{report:#}");
    for check in report["checks"].as_array().unwrap() {
        let keys: Vec<&str> = check
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["check", "reason", "verdict"]);
    }
    assert_eq!(
        json_row(&report, &format!("tenant {CUSTOMER}: Graph permissions")),
        (
            "fail".into(),
            "missing: provisioning needs TeamMember.ReadWrite.All; activity report needs Reports.Read.All"
                .into()
        )
    );
    assert_eq!(
        json_row(&report, &format!("tenant {CUSTOMER}: Graph token")).0,
        "ok"
    );

    // The table says the same, and the process exits non-zero.
    let (code, table, err) = operator.run(&["doctor"]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("doctor: 1 checks failed"), "{err}");
    assert_eq!(
        table_line(&table, &format!("tenant {CUSTOMER}: Graph permissions")),
        format!(
            "tenant {CUSTOMER}: Graph permissions fail missing: provisioning needs TeamMember.ReadWrite.All; activity report needs Reports.Read.All"
        )
    );

    // A wrong secret: no token anywhere, said with Entra's reason.
    let mut operator = operator;
    operator
        .cli
        .set("MicrosoftAppPassword", "a-secret-entra-refuses".into());
    let (code, report) = operator.doctor_json().await;
    assert_eq!(code, Some(1));
    let (verdict, reason) = json_row(&report, &format!("tenant {CUSTOMER}: Graph token"));
    assert_eq!(verdict, "fail");
    assert!(
        reason.starts_with("none: invalid_client: AADSTS7000215"),
        "{reason}"
    );
    assert_eq!(
        json_row(&report, &format!("tenant {CUSTOMER}: Graph permissions")),
        ("fail".into(), "not checked: no token".into())
    );
    assert_eq!(json_row(&report, "bot: Connector token").0, "fail");
    assert!(!report.to_string().contains("a-secret-entra-refuses"));
}

#[tokio::test]
async fn an_expired_secret_fails_one_expiring_soon_warns_and_an_unreadable_registration_warns() {
    let operator = Operator::start().await;
    let secret = operator.graph.client_secret();
    let name = format!("app {CLIENT_ID} (Graph and bot): credentials");

    operator.graph.add_registration(
        HOME,
        CLIENT_ID,
        &[
            ("old", "zzz-retired", &in_days(-400)),
            ("prod", &secret, &in_days(-1)),
        ],
        &[],
    );
    let (code, report) = operator.doctor_json().await;
    assert_eq!(code, Some(1));
    assert_eq!(
        json_row(&report, &name),
        (
            "fail".into(),
            format!("secret \"prod\" expired on {}", &in_days(-1)[..10])
        )
    );

    operator.graph.add_registration(
        HOME,
        CLIENT_ID,
        &[("prod", &secret, &in_days(12))],
        &[("signing", &in_days(90))],
    );
    let (code, report) = operator.doctor_json().await;
    assert_eq!(code, Some(0), "{report:#}");
    let (verdict, reason) = json_row(&report, &name);
    assert_eq!(verdict, "warn");
    assert!(
        reason.starts_with(&format!(
            "secret \"prod\" expires on {} (in 1",
            &in_days(12)[..10]
        )),
        "{reason}"
    );
    assert!(reason.ends_with(&format!(
        "certificate \"signing\" valid until {}",
        &in_days(90)[..10]
    )));

    let without: Vec<&str> = GRANTED
        .iter()
        .copied()
        .filter(|p| *p != "Application.Read.All")
        .collect();
    operator.graph.set_roles(HOME, &without);
    let (code, report) = operator.doctor_json().await;
    assert_eq!(code, Some(0));
    assert_eq!(
        json_row(&report, &name),
        (
            "warn".into(),
            "not read: Graph answered 403 Authorization_RequestDenied (reading a registration needs Application.Read.All in its tenant)".into()
        )
    );

    // --home-tenant names another tenant: one that does not hold it, or no
    // tenant at all.
    let json = |out: &str| -> Value { serde_json::from_str(out).unwrap() };
    let (_, out, _) = operator
        .run(&["doctor", "--json", "--home-tenant", CUSTOMER])
        .await;
    assert_eq!(
        json_row(&json(&out), &name),
        (
            "warn".into(),
            "not read: Graph has no such registration in the home tenant".into()
        )
    );
    let (_, out, _) = operator
        .run(&["doctor", "--json", "--home-tenant", "../common"])
        .await;
    assert_eq!(
        json_row(&json(&out), &name),
        (
            "warn".into(),
            "not read: \"../common\" is not a tenant id or domain".into()
        )
    );
}

#[tokio::test]
async fn an_unreachable_store_fails_naming_the_service() {
    let mut operator = Operator::start().await;
    let mut dead = RedisServer::start();
    dead.kill();
    operator.cli.set("REDIS_URL", dead.url());
    let closed = redis::free_port();
    let storage = format!(
        "DefaultEndpointsProtocol=http;AccountName=salestimtest;AccountKey={};BlobEndpoint=http://127.0.0.1:{closed}/salestimtest;QueueEndpoint=http://127.0.0.1:{closed}/salestimtest;",
        azurite().key
    );
    operator.cli.set("AzureWebJobsStorage", storage);
    let (code, table, _) = operator.run(&["doctor", "--timeout", "5"]).await;
    println!("{table}");
    assert_eq!(code, Some(1), "{table}");
    operator.assert_no_secret(&table);
    let cache = table_line(&table, "cache");
    assert!(
        cache.starts_with(&format!("cache fail Redis at 127.0.0.1:{}: ", dead.port())),
        "{cache}"
    );
    for service in ["queues", "blobs"] {
        let line = table_line(&table, service);
        assert!(
            line.starts_with(&format!("{service} fail Azure Storage {service}: ")),
            "{line}"
        );
        assert!(line.contains("Connection refused"), "{line}");
    }
    // The others still answer, and are said to.
    assert!(table_line(&table, "documents").starts_with("documents ok SQLite in"));
    assert!(table_line(&table, &format!("tenant {CUSTOMER}: Graph permissions")).contains(" ok "));
    assert!(
        table.trim_end().ends_with("3 fail (local settings)"),
        "{table}"
    );
}

#[tokio::test]
async fn a_setting_the_handler_refuses_is_a_failure_naming_it() {
    let mut cli = Cli::new();
    cli.set("REDIS_URL", "http://cache.example:6379".into());
    let (code, table, _) = cli.run_for_code(&["doctor"]).await;
    assert_eq!(code, Some(1), "{table}");
    assert!(
        table_line(&table, "setting REDIS_URL")
            .starts_with("setting REDIS_URL fail refused: must start with redis:// or rediss://"),
        "{table}"
    );
    assert!(
        table
            .trim_end()
            .ends_with("0 ok, 0 warn, 1 fail (local settings)")
    );

    // For Azure (asked for, or the host's port in the environment), the
    // handler's own rule: a key-encryption key is required.
    let mut cli = Cli::new();
    for args in [&["doctor", "--azure", "--json"][..], &["doctor", "--json"]] {
        let (code, json, _) = cli.run_for_code(args).await;
        assert_eq!(code, Some(1));
        let report: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(report["mode"], "azure");
        let (verdict, reason) = json_row(&report, "setting KEYVAULT_KEY_ID");
        assert_eq!(verdict, "fail");
        assert!(
            reason.starts_with("refused: is required under the Functions host"),
            "{reason}"
        );
        cli.set("FUNCTIONS_CUSTOMHANDLER_PORT", "7071".into());
    }
}
