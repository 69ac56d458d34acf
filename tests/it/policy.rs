//! Lifecycle policies as code, as an operator runs them: `handler policy
//! show|diff|apply` on a tenant whose inventory holds teams made from a
//! template and outside SalesTim. A diff stores nothing and names the teams
//! whose findings change; apply stores the next version, keeps every
//! version, writes nothing for the same policies, and refuses bad input
//! (with its reasons) or a version that moved meanwhile.

use std::sync::Arc;

use salestim::governance::audit;
use salestim::governance::lifecycle::store::{self, PolicyError};
use salestim::governance::people::Person;
use salestim::governance::teams::{self, Renewal, TeamRecord, Visibility};
use salestim::ids::TenantId;
use salestim::platform::clock::SystemClock;
use salestim::platform::documents::sqlite::SqliteDocuments;
use serde_json::json;

use crate::admin::{Cli, TENANT, template};

fn team(id: &str, name: &str, template: Option<&str>, owners: usize) -> TeamRecord {
    TeamRecord {
        group_id: id.into(),
        display_name: name.into(),
        description: String::new(),
        web_url: None,
        owners: (0..owners)
            .map(|i| Person {
                aad_object_id: format!("00000000-0000-0000-0000-00000000000{i}"),
                name: format!("Owner {i}"),
            })
            .collect(),
        template_id: template.map(str::to_owned),
        expires_at: None,
        renewal_days: None,
        renewal: Renewal::Pending,
        visibility: Visibility::Private,
        member_ids: Vec::new(),
        ..TeamRecord::default()
    }
}

#[tokio::test]
async fn an_operator_reviews_a_policy_change_before_it_is_stored_and_every_version_is_kept() {
    let cli = Cli::new();
    cli.ok(&["tenant", "add", TENANT, "--name", "Contoso"])
        .await;
    let file = cli.file("project.json", template().to_string().as_bytes());
    cli.ok(&["template", "put", TENANT, "project", "--file", &file])
        .await;
    let tenant = TenantId::parse(TENANT).unwrap();
    {
        let docs = SqliteDocuments::open(
            &cli.data_dir().join("documents.sqlite"),
            Arc::new(SystemClock),
        )
        .unwrap();
        for t in [
            team("g-falcon", "Falcon", None, 1),
            team("g-orion", "PRJ-Orion", Some("project"), 0),
            team("g-vega", "Vega", None, 2),
        ] {
            teams::put(&docs, &tenant, &t).await.unwrap();
        }
    }

    let shown = cli.ok(&["policy", "show", TENANT]).await;
    assert!(shown.contains("no lifecycle policies yet"), "{shown}");

    let first = cli.file(
        "p1.json",
        json!({"defaults": {"minimumOwners": {"minOwners": 2}, "namingDrift": {}}})
            .to_string()
            .as_bytes(),
    );
    let diff = cli.ok(&["policy", "diff", TENANT, "--file", &first]).await;
    assert!(diff.contains("version 0 -> 1 (6 changes)"), "{diff}");
    assert!(
        diff.contains("defaults.minimumOwners.minOwners: (none) -> 2"),
        "{diff}"
    );
    assert!(diff.contains("teams whose findings change: 2"), "{diff}");
    assert!(
        diff.contains("Falcon (g-falcon): nothing -> minimumOwners (AskOwnerToNominate, dry-run)"),
        "{diff}"
    );
    assert!(
        diff.contains(
            "PRJ-Orion (g-orion): nothing -> minimumOwners (AskMembersToNominate, dry-run)"
        ),
        "{diff}"
    );
    assert!(
        !diff.contains("Vega"),
        "two owners and a compliant name: {diff}"
    );
    assert!(
        cli.ok(&["policy", "show", TENANT])
            .await
            .contains("no lifecycle policies yet"),
        "a diff stores nothing"
    );

    let applied = cli.ok(&["policy", "apply", TENANT, "--file", &first]).await;
    assert!(
        applied.contains("saved lifecycle policies version 1"),
        "{applied}"
    );
    let again = cli.ok(&["policy", "apply", TENANT, "--file", &first]).await;
    assert!(again.contains("nothing to save: version 1"), "{again}");

    // The template's teams keep one owner's worth of slack.
    let second = cli.file(
        "p2.json",
        json!({"defaults": {"minimumOwners": {"minOwners": 2}, "namingDrift": {}},
            "templates": {"project": {"minimumOwners": {"enabled": false}}}})
        .to_string()
        .as_bytes(),
    );
    let diff = cli.ok(&["policy", "diff", TENANT, "--file", &second]).await;
    assert!(diff.contains("teams whose findings change: 1"), "{diff}");
    assert!(
        diff.contains(
            "PRJ-Orion (g-orion): minimumOwners (AskMembersToNominate, dry-run) -> nothing"
        ),
        "{diff}"
    );
    let applied = cli
        .ok(&["policy", "apply", TENANT, "--file", &second])
        .await;
    assert!(
        applied.contains("saved lifecycle policies version 2"),
        "{applied}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["policy", "show", TENANT]).await).unwrap();
    assert_eq!(shown["version"], 2);
    assert_eq!(
        shown["policies"]["templates"]["project"]["minimumOwners"]["enabled"],
        false
    );

    // A dry-run sweep prints what version 2 finds, by policy and team.
    let swept = cli.ok(&["sweep", TENANT]).await;
    assert!(
        swept.contains("no Graph credentials here; read as kept"),
        "{swept}"
    );
    assert!(
        swept.contains(
            "dry run: policies v2 over 3 teams: 1 findings; nothing recorded, nothing done"
        ),
        "{swept}"
    );
    assert!(
        swept.contains("minimumOwners (1):\n  Falcon (g-falcon)"),
        "{swept}"
    );
    assert!(
        swept.contains("owners 1 (Graph directory (inventory sync)"),
        "{swept}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["sweep", TENANT, "--json"]).await).unwrap();
    assert_eq!(json["policyVersion"], 2);
    assert_eq!(json["findings"].as_array().unwrap().len(), 1);
    assert_eq!(json["findings"][0]["teamId"], "g-falcon");
    assert_eq!(json["findings"][0]["policyVersion"], 2);

    // Bad input: every reason, and nothing stored.
    let typo = cli.file(
        "typo.json",
        br#"{"defaults": {"expiry": {"lifetimDays": 30}}}"#,
    );
    let (ok, _, err) = cli.run(&["policy", "apply", TENANT, "--file", &typo]).await;
    assert!(!ok && err.contains("lifetimDays"), "{err}");
    let bad = cli.file(
        "bad.json",
        json!({"defaults": {"expiry": {"lifetimeDays": 10, "warnDays": 20}},
            "templates": {"ghost": {}}})
        .to_string()
        .as_bytes(),
    );
    let (ok, _, err) = cli.run(&["policy", "apply", TENANT, "--file", &bad]).await;
    assert!(!ok, "{err}");
    assert!(
        err.contains("warnDays (20) must be shorter than lifetimeDays (10)"),
        "{err}"
    );
    assert!(
        err.contains("templates.ghost: the tenant has no such template"),
        "{err}"
    );
    let (ok, _, err) = cli.run(&["policy", "show", "not-a-tenant"]).await;
    assert!(!ok && !err.is_empty());

    let docs = SqliteDocuments::open(
        &cli.data_dir().join("documents.sqlite"),
        Arc::new(SystemClock),
    )
    .unwrap();
    assert_eq!(
        store::current(&docs, &tenant)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    let v1 = store::version(&docs, &tenant, 1).await.unwrap().unwrap();
    assert!(
        v1.policies.templates.is_empty(),
        "version 1 is kept as it was"
    );
    assert_eq!(v1.saved_by, "operator:handler policy apply");
    let saves = audit::trail(&docs, &tenant)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "lifecyclePolicy.saved")
        .count();
    assert_eq!(saves, 2, "each stored version is audited once");

    // Someone who reviewed version 1 cannot store over version 2.
    let stale = store::save(
        &docs,
        &SystemClock,
        &tenant,
        &v1.policies,
        Some(1),
        &["project".to_owned()],
        "someone",
    )
    .await;
    assert!(
        matches!(stale, Err(PolicyError::Stale { current: 2 })),
        "{stale:?}"
    );
}

/// The CLI with tenant Contoso added.
async fn contoso() -> (Cli, TenantId) {
    let cli = Cli::new();
    cli.ok(&["tenant", "add", TENANT, "--name", "Contoso"])
        .await;
    (cli, TenantId::parse(TENANT).unwrap())
}

/// The CLI's document store, opened beside it.
fn store_of(cli: &Cli) -> SqliteDocuments {
    SqliteDocuments::open(
        &cli.data_dir().join("documents.sqlite"),
        Arc::new(SystemClock),
    )
    .unwrap()
}

#[tokio::test]
async fn sweep_apply_records_the_findings_and_makes_the_enforced_moves_once() {
    let (cli, tenant) = contoso().await;
    let docs = || store_of(&cli);
    for t in [
        team("g-falcon", "Falcon", None, 1),
        team("g-vega", "Vega", None, 2),
    ] {
        teams::put(&docs(), &tenant, &t).await.unwrap();
    }
    let dry = cli.file(
        "dry.json",
        json!({"defaults": {"minimumOwners": {"minOwners": 2}}})
            .to_string()
            .as_bytes(),
    );
    cli.ok(&["policy", "apply", TENANT, "--file", &dry]).await;
    let applied = cli.ok(&["sweep", TENANT, "--apply"]).await;
    assert!(
        applied.contains("applied: policies v1 over 2 teams: 1 findings (1 new"),
        "{applied}"
    );
    assert!(
        applied.contains("enforced: 0 due"),
        "dry-run policies only find: {applied}"
    );
    let kept = salestim::governance::lifecycle::recorded::of_team(&docs(), &tenant, "g-falcon")
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].acted.is_empty());

    let enforced = cli.file(
        "enforced.json",
        json!({"defaults": {"minimumOwners": {"minOwners": 2, "enforce": true}}})
            .to_string()
            .as_bytes(),
    );
    cli.ok(&["policy", "apply", TENANT, "--file", &enforced])
        .await;
    let applied = cli.ok(&["sweep", TENANT, "--apply", "--json"]).await;
    let json: serde_json::Value = serde_json::from_str(&applied).unwrap();
    assert_eq!(json["applied"]["due"], 1, "{json}");
    assert_eq!(json["applied"]["cards"], 1, "{json}");
    let again = cli.ok(&["sweep", TENANT, "--apply"]).await;
    assert!(
        again.contains("enforced: 1 due, 0 cards"),
        "asked once: {again}"
    );
    let kept = salestim::governance::lifecycle::recorded::of_team(&docs(), &tenant, "g-falcon")
        .await
        .unwrap();
    assert_eq!(kept[0].acted.len(), 1, "{:?}", kept[0].acted);
    assert_eq!(kept[0].finding.policy_version, 2);
}

#[tokio::test]
async fn an_operator_waives_a_policy_for_a_team_and_brings_back_an_archived_one() {
    use salestim::governance::lifecycle::machine::LifecycleState;
    let (cli, tenant) = contoso().await;
    let docs = || store_of(&cli);
    teams::put(&docs(), &tenant, &team("g-falcon", "Falcon", None, 1))
        .await
        .unwrap();
    let p = cli.file(
        "p.json",
        json!({"defaults": {"minimumOwners": {"minOwners": 2}}})
            .to_string()
            .as_bytes(),
    );
    cli.ok(&["policy", "apply", TENANT, "--file", &p]).await;
    let swept = cli.ok(&["sweep", TENANT, "--apply"]).await;
    assert!(swept.contains("1 findings (1 new"), "{swept}");

    // Bad input changes nothing.
    for bad in [
        vec![
            "team", "waive", TENANT, "g-falcon", "owners", "--days", "30", "--reason", "x",
        ],
        vec![
            "team",
            "waive",
            TENANT,
            "g-falcon",
            "minimumOwners",
            "--days",
            "400",
            "--reason",
            "x",
        ],
        vec![
            "team",
            "waive",
            TENANT,
            "g-falcon",
            "minimumOwners",
            "--days",
            "30",
            "--reason",
            " ",
        ],
        vec![
            "team",
            "waive",
            TENANT,
            "g-nope",
            "minimumOwners",
            "--days",
            "30",
            "--reason",
            "x",
        ],
    ] {
        let (ok, _, err) = cli.run(&bad).await;
        assert!(!ok && !err.is_empty(), "{bad:?}");
    }
    assert!(
        teams::get(&docs(), &tenant, "g-falcon")
            .await
            .unwrap()
            .waivers
            .is_empty()
    );

    let waived = cli
        .ok(&[
            "team",
            "waive",
            TENANT,
            "g-falcon",
            "minimumOwners",
            "--days",
            "30",
            "--reason",
            "owner on leave",
        ])
        .await;
    assert!(
        waived.contains("Falcon (g-falcon) is exempt from minimumOwners until"),
        "{waived}"
    );
    let swept = cli.ok(&["sweep", TENANT, "--apply"]).await;
    assert!(
        swept.contains("0 findings (0 new, 0 changed, 1 resolved)"),
        "{swept}"
    );
    let waivers: Vec<_> = audit::trail(&docs(), &tenant)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "team.waived")
        .collect();
    assert_eq!(waivers.len(), 1);
    assert_eq!(waivers[0].details["reason"], "owner on leave");

    // An active team cannot be unarchived; an archived one can, once a day.
    let (ok, _, err) = cli
        .run(&["team", "unarchive", TENANT, "g-falcon", "--reason", "back"])
        .await;
    assert!(!ok && err.contains("cannot unarchive"), "{err}");
    let mut archived = teams::get(&docs(), &tenant, "g-falcon").await.unwrap();
    archived.lifecycle = LifecycleState::Archived;
    teams::put(&docs(), &tenant, &archived).await.unwrap();
    let queued = cli
        .ok(&["team", "unarchive", TENANT, "g-falcon", "--reason", "back"])
        .await;
    assert!(
        queued.contains("unarchive of Falcon (g-falcon) queued"),
        "{queued}"
    );
    let again = cli
        .ok(&["team", "unarchive", TENANT, "g-falcon", "--reason", "back"])
        .await;
    assert!(again.contains("asked for already today"), "{again}");
    let (ok, _, err) = cli
        .run(&["team", "restore", TENANT, "g-falcon", "--reason", "oops"])
        .await;
    assert!(
        !ok && err.contains("cannot restore"),
        "only a soft-deleted team: {err}"
    );
}
