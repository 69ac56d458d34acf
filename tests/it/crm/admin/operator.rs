//! `handler crm …` as an operator runs it: the real binary on a data
//! directory of its own, connecting the Dataverse stand-in with the
//! customer's app registration (its secret from the environment, never
//! printed), checking, changing the write-back, removing; bad flags exit
//! non-zero naming what is wrong.

use serde_json::Value;

use crate::admin::{Cli, TENANT};
use crate::support::dataverse::{CLIENT_ID, DataverseStandIn};

fn store_bytes(cli: &Cli) -> String {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(cli.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("documents"))
        {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test]
async fn an_operator_connects_checks_changes_and_removes_a_dynamics_connection() {
    let dv = DataverseStandIn::start().await;
    dv.add_tenant(TENANT, true);
    let secret = dv.client_secret();
    let mut cli = Cli::new();
    cli.set("CRM_AUTHORITY_HOST", dv.authority_host.to_string());
    cli.set("CRM_EXTRA_HOSTS", "127.0.0.1".into());
    cli.ok(&["tenant", "add", TENANT, "--name", "Contoso"])
        .await;

    let none = cli.ok(&["crm", "list", TENANT]).await;
    assert!(none.contains("has no CRM connection"), "{none}");

    // No app of ours here: the customer's, whose secret only the
    // environment carries.
    let org = dv.org_url.to_string();
    let connect = [
        "crm",
        "dynamics",
        TENANT,
        "--org-url",
        &org,
        "--client-id",
        CLIENT_ID,
    ];
    let (ok, _, err) = cli.run(&connect).await;
    assert!(!ok);
    assert!(err.contains("CRM_CLIENT_SECRET"), "{err}");
    let (ok, _, err) = cli
        .run(&["crm", "dynamics", TENANT, "--org-url", &org])
        .await;
    assert!(!ok);
    assert!(err.contains("clientId"), "{err}");
    assert_eq!(dv.token_requests(), 0);

    cli.set("CRM_CLIENT_SECRET", secret.clone());
    let (ok, out, err) = cli.run(&connect).await;
    assert!(ok, "{err}");
    assert!(!out.contains(&secret) && !err.contains(&secret));
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["target"]["orgUrl"], org);
    assert_eq!(summary["target"]["clientId"], CLIENT_ID);
    assert_eq!(summary["checked"]["ok"], true, "{summary} {err}");
    assert_eq!(dv.count("/WhoAmI"), 1);
    assert!(!store_bytes(&cli).contains(&secret));

    let checked: Value =
        serde_json::from_str(&cli.ok(&["crm", "check", TENANT, "dynamics"]).await).unwrap();
    assert_eq!(checked["checked"]["ok"], true, "{checked}");
    assert_eq!(dv.count("/WhoAmI"), 2);

    let changed: Value = serde_json::from_str(
        &cli.ok(&[
            "crm",
            "write-back",
            TENANT,
            "dynamics",
            "field:new_teamsurl__c",
        ])
        .await,
    )
    .unwrap();
    assert_eq!(changed["writeBack"]["field"], "new_teamsurl__c");

    // Bad write-backs are refused, naming what is wrong, and change nothing.
    let listed = cli.ok(&["crm", "list", TENANT]).await;
    assert!(!listed.contains(&secret));
    for (args, names) in [
        (
            vec!["crm", "write-back", TENANT, "dynamics", "field:new-url"],
            "writeBack.field",
        ),
        (
            vec!["crm", "write-back", TENANT, "dynamics", "everywhere"],
            "--write-back",
        ),
        (
            vec![
                "crm",
                "dynamics",
                TENANT,
                "--org-url",
                &org,
                "--write-back",
                "field:",
            ],
            "--write-back",
        ),
    ] {
        let (code, _, err) = cli.run_for_code(&args).await;
        assert_ne!(code, Some(0), "{args:?}");
        assert!(err.contains(names), "{args:?}: {err}");
        assert_eq!(cli.ok(&["crm", "list", TENANT]).await, listed, "{args:?}");
    }

    let removed = cli.ok(&["crm", "remove", TENANT, "dynamics"]).await;
    assert!(removed.contains("removed"), "{removed}");
    let none = cli.ok(&["crm", "list", TENANT]).await;
    assert!(none.contains("has no CRM connection"), "{none}");
    let (ok, _, err) = cli.run(&["crm", "remove", TENANT, "dynamics"]).await;
    assert!(!ok);
    assert!(err.contains("no Dynamics 365 connection"), "{err}");

    // Each change is in the tenant's audit trail, as the operator's.
    let docs = salestim::platform::documents::sqlite::SqliteDocuments::open(
        &cli.data_dir().join("documents.sqlite"),
        std::sync::Arc::new(salestim::platform::clock::SystemClock),
    )
    .unwrap();
    let tenant = salestim::ids::TenantId::parse(TENANT).unwrap();
    let trail = salestim::governance::audit::trail(&docs, &tenant)
        .await
        .unwrap();
    let actions: Vec<&str> = trail
        .iter()
        .filter(|e| e.action.starts_with("crm."))
        .map(|e| e.action.as_str())
        .collect();
    for action in [
        "crm.connection.saved",
        "crm.connection.checked",
        "crm.connection.removed",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(
        trail
            .iter()
            .filter(|e| e.action.starts_with("crm."))
            .all(|e| e.actor.starts_with("operator:")),
        "{trail:?}"
    );
}
