//! Team requests end to end, driven as Teams and the Functions host drive
//! the app: the form (with its final name), approval on the card, the
//! `ProvisionTeam` queue function creating the team on the Graph stand-in,
//! the requester told. Then the faults: a job stopped after every
//! checkpoint, Graph failing after creating, a 429 storm, no consent, a
//! poisoned message; and the bad input that must change nothing.

use std::time::Duration;

use reqwest::StatusCode;
use salestim::functions::provision_team;
use salestim::governance::naming::{Attribute, NamingPolicy, Part};
use salestim::governance::people::Person;
use salestim::governance::provisioning::{self, Outcome, Step};
use salestim::governance::requests::{self, RequestForm, RequestState, RequesterInfo};
use salestim::governance::templates::{
    self, ApprovalRule, ChannelSpec, ICON_CONTAINER, LifecycleRef, TabSpec, Template,
};
use salestim::governance::tenants::TenantSettings;
use salestim::governance::{audit, teams};
use salestim::ids::TenantId;
use salestim::platform::clock::Clock;
use serde_json::{Value, json};

use crate::bot_invokes::{
    ALICE, BOB, CAROL, DAVE, HOST, TEAMS_APP, card_action, invoke, user_activity,
};
use crate::bot_messages::{Bot, spawn_bot_with};
use crate::support::app::wait_until;
use crate::support::graph::{CLIENT_ID, GraphStandIn, TeamSnapshot};

const CRM_APP: &str = "com.contoso.crm";

struct World {
    bot: Bot,
    graph: GraphStandIn,
    tenant: TenantId,
}

fn project_template() -> Template {
    Template {
        name: "Project".into(),
        description: "A team for a customer project".into(),
        code: "PRJ".into(),
        channels: vec![
            ChannelSpec {
                name: "Planning".into(),
                description: "Plans and milestones".into(),
                private: false,
            },
            ChannelSpec {
                name: "Leadership".into(),
                description: String::new(),
                private: true,
            },
        ],
        tabs: vec![
            TabSpec {
                channel: "General".into(),
                name: "Wiki".into(),
                url: "https://wiki.contoso.test/projects".into(),
            },
            TabSpec {
                channel: "Planning".into(),
                name: "Board".into(),
                url: "https://board.contoso.test/".into(),
            },
        ],
        apps: vec![CRM_APP.into()],
        owners: vec![Person::new(DAVE, "Dave")],
        members: vec![Person::new(CAROL, "Carol")],
        allow_guests: false,
        naming: Some(NamingPolicy {
            prefix: vec![
                Part::Attribute(Attribute::TemplateCode),
                Part::Text("-".into()),
            ],
            ..NamingPolicy::default()
        }),
        approval: ApprovalRule::Named {
            approvers: vec![Person::new(ALICE, "Alice")],
        },
        lifecycle: LifecycleRef {
            policy: String::new(),
            expiry_days: Some(180),
        },
        ..Template::default()
    }
}

/// A paying tenant that granted consent, its directory on the Graph
/// stand-in, a "project" template with everything in it, and chats with
/// the bot for Alice, Bob, Carol and Dave.
async fn world() -> World {
    let graph = GraphStandIn::start().await;
    let bot = spawn_bot_with(vec![
        ("SALESTIM_PUBLIC_HOSTNAME", HOST.into()),
        ("TEAMS_APP_ID", TEAMS_APP.into()),
        ("GRAPH_BASE_URL", graph.base_url.to_string()),
        ("ENTRA_AUTHORITY_HOST", graph.authority_host.to_string()),
        ("GRAPH_CLIENT_ID", CLIENT_ID.into()),
        ("GRAPH_CLIENT_SECRET", graph.client_secret()),
    ])
    .await;
    let tenant = bot.active_tenant().await;
    let app = &bot.app.app;
    app.tenants
        .update(&tenant, |t, now| {
            t.onboarding.admin_consent = true;
            t.onboarding.consented_at = Some(now);
            t.settings = TenantSettings {
                naming: NamingPolicy {
                    suffix: vec![
                        Part::Text(" (".into()),
                        Part::Attribute(Attribute::Country),
                        Part::Text(")".into()),
                    ],
                    blocked_words: vec![salestim::governance::naming::BlockedWord {
                        word: "confidential".into(),
                        whole_word: false,
                    }],
                    max_length: 40,
                    ..NamingPolicy::default()
                },
                ..TenantSettings::default()
            };
            Ok(())
        })
        .await
        .unwrap();
    graph.add_tenant(tenant.as_str(), true);
    for (id, name, manager) in [
        (ALICE, "Alice", None),
        (BOB, "Bob", Some(DAVE)),
        (CAROL, "Carol", None),
        (DAVE, "Dave", None),
    ] {
        graph.add_user(
            tenant.as_str(),
            id,
            name,
            Some("Sales"),
            Some("FR"),
            manager,
        );
    }
    graph.set_upn(tenant.as_str(), CAROL, "carol@contoso.test");
    graph.add_catalog_app(tenant.as_str(), CRM_APP, "Contoso CRM");
    let icon = format!("{tenant}/project");
    app.blobs
        .put(
            ICON_CONTAINER,
            &icon,
            b"\x89PNG\r\n\x1a\nicon".to_vec().into(),
            "image/png",
        )
        .await
        .unwrap();
    let template = Template {
        icon: Some(icon),
        ..project_template()
    };
    templates::save(app.docs.as_ref(), &tenant, "project", &template)
        .await
        .unwrap();
    for (aad, name) in [
        (ALICE, "Alice"),
        (BOB, "Bob"),
        (CAROL, "Carol"),
        (DAVE, "Dave"),
    ] {
        let mut hello = user_activity(&bot, &tenant, aad, name, "message");
        hello["text"] = json!("help");
        assert_eq!(
            bot.post(&hello, Some(&bot.token())).await.status(),
            StatusCode::OK
        );
    }
    bot.delivered(4).await;
    World { bot, graph, tenant }
}

fn form(action: &str, name: &str, draft: Option<&str>) -> Value {
    let mut data = json!({"action": action, "templateId": "project", "displayName": name,
        "description": "Launch of Falcon", "justification": "Customer project",
        "owners": "", "members": "carol@contoso.test"});
    if let Some(d) = draft {
        data["draftId"] = json!(d);
    }
    json!({"data": data})
}

async fn task_submit(w: &World, value: Value) -> Value {
    let (status, body) = invoke(&w.bot, &w.tenant, BOB, "task/submit", value).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn requests_of_bob(w: &World) -> Vec<requests::TeamRequest> {
    requests::list_for_requester(w.bot.app.app.docs.as_ref(), &w.tenant, BOB, 50)
        .await
        .unwrap()
}

async fn wait_for_state(w: &World, id: &str, state: RequestState) -> requests::TeamRequest {
    let docs = w.bot.app.app.docs.clone();
    let tenant = w.tenant.clone();
    wait_until(Duration::from_secs(40), || {
        let (docs, tenant) = (docs.clone(), tenant.clone());
        async move {
            requests::get(docs.as_ref(), &tenant, id)
                .await
                .is_ok_and(|r| r.state == state)
        }
    })
    .await;
    requests::get(w.bot.app.app.docs.as_ref(), &w.tenant, id)
        .await
        .unwrap()
}

fn only_team(w: &World) -> TeamSnapshot {
    let teams = w.graph.teams(w.tenant.as_str());
    assert_eq!(teams.len(), 1, "exactly one team: {teams:?}");
    teams.into_iter().next().unwrap()
}

/// The team the "project" template makes for Bob's "Falcon", checked field by field.
fn assert_project_team(team: &TeamSnapshot) {
    assert!(team.is_team);
    assert_eq!(team.display_name, "PRJ-Falcon (FR)");
    assert_eq!(team.mail_nickname, "PRJ-FalconFR");
    assert_eq!(team.visibility, "Private");
    let mut owners = team.owners.clone();
    owners.sort();
    assert_eq!(owners, [BOB, DAVE]);
    for who in [BOB, DAVE, CAROL] {
        assert!(
            team.members.iter().any(|m| m == who),
            "{who} in {:?}",
            team.members
        );
    }
    let channel = |name: &str| {
        team.channels
            .iter()
            .find(|c| c.display_name == name)
            .unwrap_or_else(|| panic!("channel {name} in {:?}", team.channels))
    };
    assert_eq!(team.channels.len(), 3, "{:?}", team.channels);
    assert_eq!(channel("Leadership").membership_type, "private");
    assert_eq!(channel("Planning").description, "Plans and milestones");
    let tab = |c: &str, name: &str| channel(c).tabs.iter().find(|t| t.0 == name).cloned();
    assert_eq!(
        tab("General", "Wiki").map(|t| (t.1, t.2)),
        Some((
            "https://wiki.contoso.test/projects".into(),
            "com.microsoft.teamspace.tab.web".into()
        ))
    );
    assert!(tab("Planning", "Board").is_some());
    assert!(
        team.installed_apps.iter().any(|a| a == CRM_APP),
        "{:?}",
        team.installed_apps
    );
    assert_eq!(team.photo.as_ref().map(|p| p.0.as_str()), Some("image/png"));
    assert_eq!(team.allow_guests, Some(false));
}

#[tokio::test]
async fn a_requested_team_is_created_exactly_as_its_template_says() {
    let w = world().await;
    // Bob checks the name first: the policies make it "PRJ-Falcon (FR)".
    let preview = task_submit(&w, form("request.preview", "  Falcon ", None)).await;
    let card = &preview["task"]["value"]["card"]["content"];
    assert!(card.to_string().contains("PRJ-Falcon (FR)"), "{card}");
    let draft = card["actions"][1]["data"]["draftId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        requests_of_bob(&w).await.is_empty(),
        "a draft is not listed as a request"
    );

    let done = task_submit(&w, form("request.submit", "Falcon", Some(&draft))).await;
    assert!(
        done["task"]["value"]
            .as_str()
            .unwrap()
            .contains("sent for approval"),
        "{done}"
    );
    let request = requests_of_bob(&w).await.remove(0);
    assert_eq!(request.id, draft, "the draft became the request");
    assert_eq!(request.display_name, "PRJ-Falcon (FR)");
    assert_eq!(request.template_version, 1);
    assert_eq!(request.members[0].aad_object_id, CAROL);
    w.graph.reset_counts();

    // Alice approves on the card; the queue function creates the team.
    let approved = card_action(
        &w.bot,
        &w.tenant,
        ALICE,
        "request.approve",
        json!({"requestId": request.id}),
    )
    .await;
    assert_eq!(approved["statusCode"], 200, "{approved}");
    let created = wait_for_state(&w, &request.id, RequestState::Provisioned).await;
    let team = only_team(&w);
    assert_project_team(&team);
    let outcome = created.outcome.as_ref().unwrap();
    assert_eq!(outcome.group_id.as_deref(), Some(team.group_id.as_str()));
    assert!(outcome.web_url.as_deref().unwrap().starts_with("https://"));

    // Bob is told, with a link to the team.
    let docs = w.bot.app.app.docs.clone();
    let tenant = w.tenant.clone();
    let rid = request.id.clone();
    wait_until(Duration::from_secs(20), || {
        let (docs, tenant, rid) = (docs.clone(), tenant.clone(), rid.clone());
        async move {
            provisioning::get_job(docs.as_ref(), &tenant, &rid)
                .await
                .unwrap()
                .is_some_and(|j| j.is_done(Step::Notify))
        }
    })
    .await;
    let told = || {
        w.bot
            .connector
            .sent()
            .iter()
            .filter(|s| s.path.contains(&format!("chat-with-{BOB}")))
            .map(|s| s.activity.to_string())
            .find(|a| a.contains("Open the team"))
    };
    wait_until(Duration::from_secs(20), || async { told().is_some() }).await;
    let told = told().expect("Bob gets the card with the team's link");
    assert!(told.contains("Created"), "{told}");

    // The inventory knows the team, with its owners and expiry.
    let record = teams::get(w.bot.app.app.docs.as_ref(), &w.tenant, &team.group_id)
        .await
        .unwrap();
    assert_eq!(record.display_name, "PRJ-Falcon (FR)");
    assert!(record.is_owner(BOB) && record.is_owner(DAVE));
    let days = (record.expires_at.unwrap() - w.bot.app.clock.now()).whole_days();
    assert!((179..=180).contains(&days), "{days}");

    let job = provisioning::get_job(w.bot.app.app.docs.as_ref(), &w.tenant, &request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.runs, 1);
    let trail = audit::trail(w.bot.app.app.docs.as_ref(), &w.tenant)
        .await
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "request.submitted",
        "request.approved",
        "request.provisioning",
        "request.provisioned",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let counts = w.graph.count();
    println!(
        "one team: {} Graph requests ({} inside batches), {} token",
        counts.http, counts.batched, counts.tokens
    );
}

/// An approved request made straight in the domain (no queue message), so
/// the test drives each provisioning run itself.
async fn approved_request(w: &World, name: &str) -> requests::TeamRequest {
    let app = &w.bot.app.app;
    let template = Template {
        approval: ApprovalRule::None,
        icon: Some(format!("{}/project", w.tenant)),
        ..project_template()
    };
    templates::save(app.docs.as_ref(), &w.tenant, "open", &template)
        .await
        .unwrap();
    let form = RequestForm {
        template_id: "open".into(),
        display_name: name.into(),
        members: vec![CAROL.into()],
        ..RequestForm::default()
    };
    let info = RequesterInfo {
        country: Some("FR".into()),
        ..RequesterInfo::default()
    };
    let settings = app.tenants.get(&w.tenant).await.unwrap().unwrap().settings;
    let request = requests::submit(
        app.docs.as_ref(),
        app.clock.as_ref(),
        &w.tenant,
        &settings,
        &Person::new(BOB, "Bob"),
        &form,
        &info,
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(request.state, RequestState::Approved);
    request
}

async fn run_once(
    w: &World,
    request: &str,
    checkpoints: Option<u32>,
) -> Result<Outcome, provisioning::ProvisionError> {
    let app = &w.bot.app.app;
    let p = provision_team::provisioner(app, &w.tenant, checkpoints)
        .await
        .unwrap();
    p.run(&w.tenant, request).await
}

#[tokio::test]
async fn a_job_stopped_after_every_checkpoint_resumes_and_makes_one_team() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    // Graph also reports the group's creation as failed, having made it.
    w.graph.fail_after_create(1);
    let mut interrupted = 0;
    let outcome = loop {
        match run_once(&w, &request.id, Some(1)).await {
            Err(provisioning::ProvisionError::Interrupted) => interrupted += 1,
            Err(e) => panic!("run {interrupted}: {e}"),
            Ok(outcome) => break outcome,
        }
        assert!(interrupted < 30, "the job makes progress");
    };
    assert!(matches!(outcome, Outcome::Provisioned(_)), "{outcome:?}");
    // Name, Group, Team, Ready, Members, Guests, Channels, Apps, Tabs,
    // Picture, Verify, Inventory, CrmLink: one run each, then the last.
    assert!(interrupted >= 13, "{interrupted} interruptions");
    assert_project_team(&only_team(&w));
    let job = provisioning::get_job(w.bot.app.app.docs.as_ref(), &w.tenant, &request.id)
        .await
        .unwrap()
        .unwrap();
    for step in [
        Step::Name,
        Step::Group,
        Step::Team,
        Step::Ready,
        Step::Members,
        Step::Guests,
        Step::Channels,
        Step::Apps,
        Step::Tabs,
        Step::Picture,
        Step::Verify,
        Step::Inventory,
        Step::CrmLink,
    ] {
        assert!(job.is_done(step), "{step:?}");
    }
    // Running the finished job again changes nothing.
    let again = run_once(&w, &request.id, None).await.unwrap();
    assert!(matches!(again, Outcome::Provisioned(_)));
    assert_eq!(w.graph.teams(w.tenant.as_str()).len(), 1);
}

#[tokio::test]
async fn a_throttling_storm_is_waited_out_and_the_team_is_complete() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    w.graph.set_throttle(0.3, 0);
    let outcome = run_once(&w, &request.id, None).await.unwrap();
    assert!(matches!(outcome, Outcome::Provisioned(_)), "{outcome:?}");
    assert_project_team(&only_team(&w));
    assert!(w.graph.count().throttled > 0);
    let stats = w.bot.app.app.graph.as_ref().unwrap().stats();
    assert!(stats.retries > 0 && stats.throttled > 0, "{stats:?}");
}

#[tokio::test]
async fn a_tenant_without_consent_fails_with_a_reason_and_no_retry_loop() {
    let w = world().await;
    w.graph.add_tenant(w.tenant.as_str(), false);
    let request = approved_request(&w, "Falcon").await;
    provision_team::start(&w.bot.app.app, &w.tenant, &request.id)
        .await
        .unwrap();
    let failed = wait_for_state(&w, &request.id, RequestState::Failed).await;
    let reason = failed.outcome.unwrap().reason.unwrap();
    assert!(reason.contains("consent"), "{reason}");
    assert!(w.graph.teams(w.tenant.as_str()).is_empty());
    w.bot.app.drain("provision-team").await;
    assert_eq!(
        w.bot.app.queue_len("provision-team-poison").await,
        0,
        "failed for good, not retried into poison"
    );
    let before = w.graph.count().http;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.graph.count().http, before, "no retry loop");
    // The requester hears why.
    wait_until(Duration::from_secs(20), || async {
        w.bot
            .connector
            .sent()
            .iter()
            .any(|s| s.activity.to_string().contains("consent"))
    })
    .await;
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_poisoned_and_its_request_failed() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    w.graph.fail_next("POST", "/groups", 503, 1000);
    provision_team::start(&w.bot.app.app, &w.tenant, &request.id)
        .await
        .unwrap();
    let failed = wait_for_state(&w, &request.id, RequestState::Failed).await;
    let reason = failed.outcome.unwrap().reason.unwrap();
    assert!(reason.contains("kept failing"), "{reason}");
    let job = provisioning::get_job(w.bot.app.app.docs.as_ref(), &w.tenant, &request.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.runs, 5, "maxDequeueCount runs, then the poison queue");
    assert!(w.graph.teams(w.tenant.as_str()).is_empty());

    // A message nobody can read ends in the poison queue and changes nothing.
    let queue = salestim::platform::queues::QueueName::parse("provision-team").unwrap();
    w.bot
        .app
        .app
        .queues
        .send(&queue, "{not json", None)
        .await
        .unwrap();
    w.bot.app.drain("provision-team").await;
    w.bot.app.drain("provision-team-poison").await;
    assert_eq!(requests_of_bob(&w).await.len(), 1);
}

#[tokio::test]
async fn bad_requests_are_refused_with_reasons_and_change_nothing() {
    let w = world().await;
    let refused = |body: &Value| body["task"]["value"]["card"]["content"].to_string();
    let cases = [
        (
            form("request.submit", "Top confidential plans", None),
            "blocked word",
        ),
        (form("request.submit", &"n".repeat(35), None), "at most 40"),
        (
            json!({"data": {"action": "request.submit", "templateId": "nope", "displayName": "X"}}),
            "does not exist",
        ),
        (
            json!({"data": {"action": "request.submit", "templateId": "project", "displayName": "X", "members": "nobody@contoso.test"}}),
            "No one in your directory",
        ),
        (
            json!({"data": {"action": "request.submit", "templateId": "project", "displayName": "X", "owners": "not an address"}}),
            "not an email address",
        ),
    ];
    for (value, expected) in cases {
        let body = task_submit(&w, value).await;
        assert!(refused(&body).contains(expected), "{expected}: {body}");
    }
    // Another tenant's template cannot be named from this tenant.
    let other = w.bot.active_tenant().await;
    templates::save(
        w.bot.app.app.docs.as_ref(),
        &other,
        "theirs",
        &project_template(),
    )
    .await
    .unwrap();
    let body = task_submit(
        &w,
        json!({"data": {"action": "request.submit", "templateId": "theirs", "displayName": "X"}}),
    )
    .await;
    assert!(refused(&body).contains("does not exist"), "{body}");
    // A draft of someone else is not Bob's to submit.
    let body = task_submit(&w, form("request.submit", "Falcon", Some("req-0000"))).await;
    assert!(refused(&body).contains("no longer open"), "{body}");

    assert!(requests_of_bob(&w).await.is_empty());
    assert!(w.graph.teams(w.tenant.as_str()).is_empty());
    assert_eq!(w.bot.app.queue_len("provision-team").await, 0);
    // A decision by someone who is not an approver changes nothing either.
    let submitted = task_submit(&w, form("request.submit", "Falcon", None)).await;
    assert!(submitted["task"]["value"].is_string(), "{submitted}");
    let id = requests_of_bob(&w).await.remove(0).id;
    let denied = card_action(
        &w.bot,
        &w.tenant,
        CAROL,
        "request.approve",
        json!({"requestId": id}),
    )
    .await;
    assert_eq!(denied["statusCode"], 403);
    assert_eq!(requests_of_bob(&w).await[0].state, RequestState::Submitted);
}

#[tokio::test]
async fn staged_and_manager_approvals_go_in_turn_then_provision() {
    let w = world().await;
    let docs = w.bot.app.app.docs.clone();
    let staged = Template {
        approval: ApprovalRule::Stages {
            stages: vec![
                vec![Person::new(ALICE, "Alice")],
                vec![Person::new(CAROL, "Carol")],
            ],
        },
        ..project_template()
    };
    templates::save(docs.as_ref(), &w.tenant, "project", &staged)
        .await
        .unwrap();
    task_submit(&w, form("request.submit", "Falcon", None)).await;
    let id = requests_of_bob(&w).await.remove(0).id;
    // Carol may not decide before Alice's stage is done.
    let early = card_action(
        &w.bot,
        &w.tenant,
        CAROL,
        "request.approve",
        json!({"requestId": id}),
    )
    .await;
    assert_eq!(early["statusCode"], 403);
    let first = card_action(
        &w.bot,
        &w.tenant,
        ALICE,
        "request.approve",
        json!({"requestId": id}),
    )
    .await;
    assert!(
        first["value"].to_string().contains("Waiting for approval"),
        "{first}"
    );
    // Carol now gets the card with the buttons.
    wait_until(Duration::from_secs(20), || async {
        w.bot.connector.sent().iter().any(|s| {
            s.path.contains(&format!("chat-with-{CAROL}"))
                && s.activity.to_string().contains("Approve")
        })
    })
    .await;
    card_action(
        &w.bot,
        &w.tenant,
        CAROL,
        "request.approve",
        json!({"requestId": id}),
    )
    .await;
    wait_for_state(&w, &id, RequestState::Provisioned).await;

    // Manager approval: Bob's manager in the directory is Dave.
    let managed = Template {
        approval: ApprovalRule::Manager,
        ..project_template()
    };
    templates::save(docs.as_ref(), &w.tenant, "project", &managed)
        .await
        .unwrap();
    task_submit(&w, form("request.submit", "Osprey", None)).await;
    let osprey = requests_of_bob(&w)
        .await
        .into_iter()
        .find(|r| r.requested_name == "Osprey")
        .unwrap();
    assert_eq!(
        osprey.template_version, 3,
        "made against the current version"
    );
    assert_eq!(osprey.approvers()[0].aad_object_id, DAVE);
    assert_eq!(osprey.approvers()[0].name, "Dave");
}

#[tokio::test]
async fn a_waiting_request_is_reminded_once_then_escalated_once() {
    let w = world().await;
    let app = &w.bot.app.app;
    app.tenants
        .update(&w.tenant, |t, _| {
            t.settings.reminder_after_hours = 24;
            t.settings.escalate_after_hours = Some(72);
            t.settings.escalate_to = Some(Person::new(DAVE, "Dave"));
            Ok(())
        })
        .await
        .unwrap();
    task_submit(&w, form("request.submit", "Falcon", None)).await;
    let id = requests_of_bob(&w).await.remove(0).id;
    let to = |who: &'static str| {
        let sent = w.bot.connector.sent();
        sent.iter()
            .filter(|s| {
                s.path.contains(&format!("chat-with-{who}"))
                    && s.activity.to_string().contains("Approve")
            })
            .count()
    };
    wait_until(Duration::from_secs(20), || async { to(ALICE) == 1 }).await;

    w.bot.app.clock.advance(time::Duration::hours(23));
    w.bot.app.run_function("RequestReminders", "").await;
    w.bot.app.clock.advance(time::Duration::hours(2));
    w.bot.app.run_function("RequestReminders", "").await;
    w.bot.app.run_function("RequestReminders", "").await;
    wait_until(Duration::from_secs(20), || async { to(ALICE) == 2 }).await;
    w.bot.app.drain("bot-outbox").await;
    assert_eq!(to(ALICE), 2, "one reminder, however many runs");
    assert_eq!(to(DAVE), 0);

    w.bot.app.clock.advance(time::Duration::hours(48));
    w.bot.app.run_function("RequestReminders", "").await;
    w.bot.app.run_function("RequestReminders", "").await;
    wait_until(Duration::from_secs(20), || async { to(DAVE) == 1 }).await;
    w.bot.app.drain("bot-outbox").await;
    assert_eq!((to(ALICE), to(DAVE)), (2, 1), "one escalation");
    // Dave may now decide.
    let decided = card_action(
        &w.bot,
        &w.tenant,
        DAVE,
        "request.approve",
        json!({"requestId": id}),
    )
    .await;
    assert_eq!(decided["statusCode"], 200, "{decided}");
    let trail = audit::trail(app.docs.as_ref(), &w.tenant).await.unwrap();
    let count = |a: &str| trail.iter().filter(|e| e.action == a).count();
    assert_eq!(
        (count("request.reminded"), count("request.escalated")),
        (1, 1)
    );
}

#[tokio::test]
async fn a_tenant_whose_subscription_lapsed_gets_no_team() {
    let w = world().await;
    let request = approved_request(&w, "Falcon").await;
    let now = w.bot.app.now();
    let event = json!({"id": format!("evt_{}", uuid::Uuid::new_v4().simple()), "object": "event",
        "type": "customer.subscription.deleted", "created": now + 10,
        "data": {"object": {"id": "sub_1", "customer": "cus_1", "status": "canceled",
            "metadata": {"tenantId": w.tenant.as_str()}, "items": {"data": [{"quantity": 10, "price": {"id": "p"}}]}}}});
    assert_eq!(
        w.bot.app.stripe_event(&event).await.status(),
        StatusCode::OK
    );
    w.bot.app.drain("billing-events").await;
    let outcome = run_once(&w, &request.id, None).await.unwrap();
    let Outcome::Failed(failed) = outcome else {
        panic!("{outcome:?}")
    };
    let reason = failed.outcome.unwrap().reason.unwrap();
    assert!(reason.contains("subscription is not active"), "{reason}");
    assert!(w.graph.teams(w.tenant.as_str()).is_empty());
    assert_eq!(w.graph.count().http, 0, "Graph is not even asked");
}
