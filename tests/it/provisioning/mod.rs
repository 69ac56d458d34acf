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
use crate::bot_messages::{Bot, spawn_bot_with, spawn_bot_with_queues};
use crate::support::app::{WrapQueues, wait_until};
use crate::support::graph::{CLIENT_ID, GraphStandIn, TeamSnapshot};

mod approvals;
mod faults;
mod people_and_names;

pub(crate) const CRM_APP: &str = "com.contoso.crm";

pub(crate) struct World {
    pub bot: Bot,
    pub graph: GraphStandIn,
    pub tenant: TenantId,
}

pub(crate) fn project_template() -> Template {
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
pub(crate) async fn world() -> World {
    world_with_queues(None).await
}

/// `RequestReminders`' share for the world's tenant, run now (as the
/// `TenantWork` message the timer queues would run it); its log line says
/// what it did.
pub(crate) async fn follow_ups(w: &World) -> salestim::host::invoke::InvokeResponse {
    let input = json!({"tenantId": w.tenant.as_str(), "task": "followUpRequests"}).to_string();
    w.bot.app.run_function("TenantWork", &input).await
}

/// The same world, its queues wrapped (fault tests).
pub(crate) async fn world_with_queues(queues: Option<WrapQueues>) -> World {
    world_with(queues, Vec::new()).await
}

/// The same world with more settings (the CRM stand-ins' hosts).
pub(crate) async fn world_with(
    queues: Option<WrapQueues>,
    more: Vec<(&'static str, String)>,
) -> World {
    let graph = GraphStandIn::start().await;
    let mut settings = vec![
        ("SALESTIM_PUBLIC_HOSTNAME", HOST.into()),
        ("TEAMS_APP_ID", TEAMS_APP.into()),
        ("GRAPH_BASE_URL", graph.base_url.to_string()),
        ("ENTRA_AUTHORITY_HOST", graph.authority_host.to_string()),
        ("GRAPH_CLIENT_ID", CLIENT_ID.into()),
        ("GRAPH_CLIENT_SECRET", graph.client_secret()),
    ];
    settings.extend(more);
    let bot = match queues {
        Some(queues) => spawn_bot_with_queues(settings, queues).await,
        None => spawn_bot_with(settings).await,
    };
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

pub(crate) fn form(action: &str, name: &str, draft: Option<&str>) -> Value {
    let mut data = json!({"action": action, "templateId": "project", "displayName": name,
        "description": "Launch of Falcon", "justification": "Customer project",
        "owners": "", "members": "carol@contoso.test"});
    if let Some(d) = draft {
        data["draftId"] = json!(d);
    }
    json!({"data": data})
}

pub(crate) async fn task_submit(w: &World, value: Value) -> Value {
    let (status, body) = invoke(&w.bot, &w.tenant, BOB, "task/submit", value).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The draft id a preview answer carries on its Submit button.
pub(crate) fn draft_of(preview: &Value) -> String {
    let card = &preview["task"]["value"]["card"]["content"];
    card["actions"][1]["data"]["draftId"]
        .as_str()
        .unwrap_or_else(|| panic!("a preview with a draft: {preview}"))
        .to_owned()
}

/// Bob checks the final name, then submits the form he saw.
pub(crate) async fn submit_checked(w: &World, name: &str) -> Value {
    let preview = task_submit(w, form("request.preview", name, None)).await;
    let draft = draft_of(&preview);
    task_submit(w, form("request.submit", name, Some(&draft))).await
}

/// `who` clicks Approve on the card of request `id`; the refreshed card.
pub(crate) async fn approve(w: &World, who: &str, id: &str) -> Value {
    card_action(
        &w.bot,
        &w.tenant,
        who,
        "request.approve",
        json!({"requestId": id}),
    )
    .await
}

/// An approved request made straight in the domain (no queue message), so
/// the test drives each provisioning run itself.
pub(crate) async fn approved_request(w: &World, name: &str) -> requests::TeamRequest {
    approved_request_from(w, "open", project_template(), name).await
}

/// The same from `template` (saved as `template_id`, with no approval;
/// the world's icon unless it names one).
pub(crate) async fn approved_request_from(
    w: &World,
    template_id: &str,
    template: Template,
    name: &str,
) -> requests::TeamRequest {
    let app = &w.bot.app.app;
    let template = Template {
        approval: ApprovalRule::None,
        icon: template
            .icon
            .clone()
            .or_else(|| Some(format!("{}/project", w.tenant))),
        ..template
    };
    templates::save(app.docs.as_ref(), &w.tenant, template_id, &template)
        .await
        .unwrap();
    let form = RequestForm {
        template_id: template_id.into(),
        display_name: name.into(),
        members: vec![CAROL.into()],
        ..RequestForm::default()
    };
    let info = RequesterInfo {
        country: Some("FR".into()),
        ..RequesterInfo::default()
    };
    let settings = app.tenants.get(&w.tenant).await.unwrap().unwrap().settings;
    let bob = Person::new(BOB, "Bob");
    let (docs, clock) = (app.docs.as_ref(), app.clock.as_ref());
    let draft = requests::preview(docs, clock, &w.tenant, &settings, &bob, &form, &info, None)
        .await
        .unwrap();
    let draft = Some(draft.id.as_str());
    let request = requests::submit(
        docs, clock, &w.tenant, &settings, &bob, &form, &info, draft, None,
    )
    .await
    .unwrap();
    assert_eq!(request.state, RequestState::Approved);
    request
}

pub(crate) async fn run_once(
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

pub(crate) async fn requests_of_bob(w: &World) -> Vec<requests::TeamRequest> {
    requests::list_for_requester(w.bot.app.app.docs.as_ref(), &w.tenant, BOB, 50)
        .await
        .unwrap()
}

pub(crate) async fn wait_for_state(
    w: &World,
    id: &str,
    state: RequestState,
) -> requests::TeamRequest {
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

pub(crate) fn only_team(w: &World) -> TeamSnapshot {
    let teams = w.graph.teams(w.tenant.as_str());
    assert_eq!(teams.len(), 1, "exactly one team: {teams:?}");
    teams.into_iter().next().unwrap()
}

/// The team the "project" template makes for Bob's "Falcon", checked field by field.
pub(crate) fn assert_project_team(team: &TeamSnapshot) {
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
    // Bob submits at once: the policies make the name "PRJ-Falcon (FR)",
    // which he has not seen, so the form shows it to him first.
    let first = task_submit(&w, form("request.submit", "Falcon", None)).await;
    let card = &first["task"]["value"]["card"]["content"];
    assert!(card.to_string().contains("PRJ-Falcon (FR)"), "{first}");
    assert!(
        requests_of_bob(&w).await.is_empty(),
        "nothing submitted with a name Bob has not seen"
    );
    // Bob checks the name: the same final name, on a draft.
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
    let approved = approve(&w, ALICE, &request.id).await;
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
