//! Invokes end to end, as Teams sends them through the local host: the
//! request form in a task module, the approval card's Universal Actions
//! (a view per person, races, bad data), the messaging extension's search,
//! action command and link unfurling, and tenant gating.

use reqwest::StatusCode;
use salestim::governance::audit;
use salestim::governance::people::Person;
use salestim::governance::requests::{self, RequestState};
use salestim::governance::teams::{self, Renewal, TeamRecord, Visibility};
use salestim::governance::templates::{self, ApprovalRule, Template};
use salestim::ids::TenantId;
use serde_json::{Value, json};

use crate::bot_messages::{Bot, spawn_bot_with};

pub(crate) const HOST: &str = "salestim.example.com";
pub(crate) const TEAMS_APP: &str = "6a1c47a5-8a45-4f0e-9c59-2d5f0b1d8a11";
pub(crate) const ALICE: &str = "00000000-0000-0000-0000-00000000a11c";
pub(crate) const DAVE: &str = "00000000-0000-0000-0000-00000000da7e";
pub(crate) const BOB: &str = "00000000-0000-0000-0000-000000000b0b";
pub(crate) const CAROL: &str = "00000000-0000-0000-0000-00000000ca01";

async fn spawn() -> Bot {
    spawn_bot_with(vec![
        ("SALESTIM_PUBLIC_HOSTNAME", HOST.into()),
        ("TEAMS_APP_ID", TEAMS_APP.into()),
    ])
    .await
}

/// An active tenant with a "project" template approved by Alice or Dave,
/// and an "open" one that needs no approval.
async fn tenant_with_templates(bot: &Bot) -> TenantId {
    let tenant = bot.active_tenant().await;
    let docs = bot.app.app.docs.as_ref();
    let project = Template {
        name: "Project".into(),
        description: "A team for a project with a start and an end".into(),
        version: 3,
        approval: ApprovalRule::Named {
            approvers: vec![Person::new(ALICE, "Alice"), Person::new(DAVE, "Dave")],
        },
        active: true,
        ..Template::default()
    };
    templates::put(docs, &tenant, "project", &project)
        .await
        .unwrap();
    let open = Template {
        name: "Community".into(),
        description: String::new(),
        version: 1,
        active: true,
        ..Template::default()
    };
    templates::put(docs, &tenant, "community", &open)
        .await
        .unwrap();
    tenant
}

pub(crate) fn user_activity(
    bot: &Bot,
    tenant: &TenantId,
    aad: &str,
    name: &str,
    kind: &str,
) -> Value {
    let mut a = bot.activity(tenant, kind, None);
    a["from"] = json!({"id": format!("29:{aad}"), "name": name, "aadObjectId": aad});
    a["conversation"]["id"] = json!(format!("a:1chat-with-{aad}"));
    a
}

pub(crate) async fn invoke(
    bot: &Bot,
    tenant: &TenantId,
    aad: &str,
    name: &str,
    value: Value,
) -> (StatusCode, Value) {
    let name_of = [
        (ALICE, "Alice"),
        (DAVE, "Dave"),
        (BOB, "Bob"),
        (CAROL, "Carol"),
    ];
    let who = name_of
        .iter()
        .find(|(id, _)| *id == aad)
        .map_or("User", |(_, n)| n);
    let mut a = user_activity(bot, tenant, aad, who, "invoke");
    a["name"] = json!(name);
    a["value"] = value;
    let res = bot.post(&a, Some(&bot.token())).await;
    let status = res.status();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}

pub(crate) async fn card_action(
    bot: &Bot,
    tenant: &TenantId,
    aad: &str,
    verb: &str,
    data: Value,
) -> Value {
    let value = json!({"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"});
    let (status, body) = invoke(bot, tenant, aad, "adaptiveCard/action", value).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The titles of a card's actions.
pub(crate) fn actions(card: &Value) -> Vec<String> {
    card["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["title"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn form(template: &str, name: &str) -> Value {
    json!({"data": {"action": "request.submit", "templateId": template, "displayName": name,
        "description": "Launch of Falcon", "justification": "Customer project"}})
}

async fn submit(bot: &Bot, tenant: &TenantId, template: &str, name: &str) -> Value {
    let (status, body) = invoke(bot, tenant, BOB, "task/submit", form(template, name)).await;
    assert_eq!(status, StatusCode::OK);
    body
}

async fn only_request(bot: &Bot, tenant: &TenantId) -> requests::TeamRequest {
    let mine = requests::list_for_requester(bot.app.app.docs.as_ref(), tenant, BOB, 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    mine.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_request_goes_from_the_form_to_the_approvers_card_and_is_decided_once() {
    let bot = spawn().await;
    let tenant = tenant_with_templates(&bot).await;
    // Alice and Bob have talked to the bot, so it can reach them later.
    for (aad, name) in [(ALICE, "Alice"), (BOB, "Bob")] {
        let mut hello = user_activity(&bot, &tenant, aad, name, "message");
        hello["text"] = json!("help");
        assert_eq!(
            bot.post(&hello, Some(&bot.token())).await.status(),
            StatusCode::OK
        );
    }
    bot.delivered(2).await;

    // "request a team" offers a button that opens the form in a task module.
    let (_, opened) = invoke(
        &bot,
        &tenant,
        BOB,
        "task/fetch",
        json!({"data": {"action": "request.form", "templateId": "project"}}),
    )
    .await;
    let form_card = &opened["task"]["value"]["card"]["content"];
    assert_eq!(opened["task"]["type"], "continue");
    assert_eq!(form_card["body"][1]["value"], "project", "{form_card}");
    assert_eq!(form_card["body"][1]["choices"].as_array().unwrap().len(), 2);

    // A form without a name comes back with the reason, and nothing is stored.
    let refused = submit(&bot, &tenant, "project", "   ").await;
    assert_eq!(refused["task"]["type"], "continue");
    assert!(
        refused.to_string().contains("Give the team a name"),
        "{refused}"
    );
    assert!(
        requests::list_for_requester(bot.app.app.docs.as_ref(), &tenant, BOB, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let done = submit(&bot, &tenant, "project", "  Project   Falcon ").await;
    assert_eq!(done["task"]["type"], "message", "{done}");
    let request = only_request(&bot, &tenant).await;
    assert_eq!(request.display_name, "Project Falcon");
    assert_eq!(request.template_version, 3);
    assert_eq!(request.state, RequestState::Submitted);

    // Alice gets the approval card in her chat, in her own view.
    let sent = bot.delivered(3).await;
    let to_alice = &sent[2];
    assert_eq!(
        to_alice.path,
        format!("/emea/v3/conversations/a%3A1chat-with-{ALICE}/activities")
    );
    let card = &to_alice.activity["attachments"][0]["content"];
    assert_eq!(actions(card)[..2], ["Approve", "Reject"]);
    let users = card["refresh"]["userIds"].as_array().unwrap();
    for who in [ALICE, DAVE, BOB] {
        assert!(
            users.contains(&json!(format!("8:orgid:{who}"))),
            "{users:?}"
        );
    }
    assert_eq!(card["refresh"]["action"]["verb"], "request.refresh");

    // Each person's refresh shows their own view.
    let data = json!({"requestId": request.id});
    let for_bob = card_action(&bot, &tenant, BOB, "request.refresh", data.clone()).await;
    assert_eq!(for_bob["statusCode"], 200);
    assert_eq!(for_bob["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(actions(&for_bob["value"])[0], "Withdraw request");
    let for_carol = card_action(&bot, &tenant, CAROL, "request.refresh", data.clone()).await;
    assert!(!actions(&for_carol["value"]).iter().any(|a| a == "Approve"));

    // Someone who is not an approver cannot decide.
    let forged = card_action(&bot, &tenant, CAROL, "request.approve", data.clone()).await;
    assert_eq!(forged["statusCode"], 403);
    assert_eq!(forged["type"], "application/vnd.microsoft.error");
    // Rejecting needs a reason.
    let bare = card_action(&bot, &tenant, ALICE, "request.reject", data.clone()).await;
    assert_eq!(bare["statusCode"], 400);
    assert_eq!(
        only_request(&bot, &tenant).await.state,
        RequestState::Submitted
    );

    // Alice approves; the card she gets back shows the outcome, no buttons.
    let mut approve = data.clone();
    approve["comment"] = json!("Go *ahead*");
    let approved = card_action(&bot, &tenant, ALICE, "request.approve", approve).await;
    assert_eq!(approved["statusCode"], 200);
    let text = approved["value"].to_string();
    assert!(
        text.contains("Approved") && text.contains(r"Go \\*ahead\\*"),
        "{text}"
    );
    assert!(
        !actions(&approved["value"])
            .iter()
            .any(|a| a == "Approve" || a == "Reject")
    );
    // Dave, a moment later, sees the decision instead of deciding again.
    let late = card_action(
        &bot,
        &tenant,
        DAVE,
        "request.reject",
        json!({"requestId": request.id, "comment": "no"}),
    )
    .await;
    assert_eq!(late["statusCode"], 200);
    assert!(late["value"].to_string().contains("Alice"), "{late}");
    let stored = only_request(&bot, &tenant).await;
    // Approved, and gone on to provisioning (which this app, without Graph
    // credentials, fails; the provisioning tests have a Graph).
    assert!(stored.state.was_approved(), "{:?}", stored.state);
    assert_eq!(stored.decision.as_ref().unwrap().by.name, "Alice");

    // Bob hears about it in his chat with the bot.
    let sent = bot.delivered(4).await;
    assert!(
        sent.iter()
            .any(|s| s.path.contains(&format!("chat-with-{BOB}"))
                && s.activity.to_string().contains("Approved")),
        "{sent:?}"
    );

    let trail = audit::trail(bot.app.app.docs.as_ref(), &tenant)
        .await
        .unwrap();
    let done: Vec<_> = trail.iter().map(|e| e.action.as_str()).collect();
    assert!(
        done.contains(&"request.submitted") && done.contains(&"request.approved"),
        "{done:?}"
    );
    assert!(!done.contains(&"request.rejected"));
}

#[tokio::test]
async fn two_approvers_clicking_at_once_make_one_decision() {
    let bot = spawn().await;
    let tenant = tenant_with_templates(&bot).await;
    submit(&bot, &tenant, "project", "Race").await;
    let id = only_request(&bot, &tenant).await.id;
    let data = json!({"requestId": id, "comment": "ok"});
    let (a, d) = tokio::join!(
        card_action(&bot, &tenant, ALICE, "request.approve", data.clone()),
        card_action(&bot, &tenant, DAVE, "request.reject", data.clone()),
    );
    assert_eq!(
        (a["statusCode"].clone(), d["statusCode"].clone()),
        (json!(200), json!(200))
    );
    let stored = only_request(&bot, &tenant).await;
    let decided = audit::trail(bot.app.app.docs.as_ref(), &tenant)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "request.approved" || e.action == "request.rejected")
        .count();
    assert_eq!(decided, 1, "exactly one decision is recorded");
    // Both cards show the decision that won.
    let by = &stored.decision.as_ref().unwrap().by.name;
    assert!(
        a["value"].to_string().contains(by.as_str())
            && d["value"].to_string().contains(by.as_str())
    );
}

#[tokio::test]
async fn a_template_without_approvers_approves_at_once_and_withdrawing_works_before_a_decision() {
    let bot = spawn().await;
    let tenant = tenant_with_templates(&bot).await;
    let done = submit(&bot, &tenant, "community", "Book club").await;
    assert!(
        done["task"]["value"].as_str().unwrap().contains("approved"),
        "{done}"
    );
    // Approved at once; the local host may already have run (and, with no
    // Graph here, failed) its provisioning.
    let approved = only_request(&bot, &tenant).await;
    assert!(approved.state.was_approved(), "{:?}", approved.state);

    let other = bot.active_tenant().await;
    templates::put(
        bot.app.app.docs.as_ref(),
        &other,
        "project",
        &Template {
            name: "P".into(),
            description: String::new(),
            version: 1,
            approval: ApprovalRule::Named {
                approvers: vec![Person::new(ALICE, "Alice")],
            },
            active: true,
            ..Template::default()
        },
    )
    .await
    .unwrap();
    submit(&bot, &other, "project", "To withdraw").await;
    let id = only_request(&bot, &other).await.id;
    let withdrawn = card_action(
        &bot,
        &other,
        BOB,
        "request.cancel",
        json!({"requestId": id}),
    )
    .await;
    assert_eq!(withdrawn["statusCode"], 200);
    assert_eq!(
        only_request(&bot, &other).await.state,
        RequestState::Cancelled
    );
    // Alice can no longer approve it.
    let late = card_action(
        &bot,
        &other,
        ALICE,
        "request.approve",
        json!({"requestId": id}),
    )
    .await;
    assert!(late["value"].to_string().contains("Cancelled"));
    assert_eq!(
        only_request(&bot, &other).await.state,
        RequestState::Cancelled
    );
}

#[tokio::test]
async fn bad_card_actions_get_errors_on_the_card_and_change_nothing() {
    let bot = spawn().await;
    let tenant = tenant_with_templates(&bot).await;
    submit(&bot, &tenant, "project", "Falcon").await;
    let id = only_request(&bot, &tenant).await.id;
    let other_tenant = bot.active_tenant().await;
    let cases = [
        (
            "unknown verb",
            ALICE,
            json!({"action": {"type": "Action.Execute", "verb": "launch.missiles", "data": {"requestId": id}}}),
            400,
        ),
        (
            "no request id",
            ALICE,
            json!({"action": {"type": "Action.Execute", "verb": "request.approve", "data": {}}}),
            400,
        ),
        (
            "request id with a path",
            ALICE,
            json!({"action": {"type": "Action.Execute", "verb": "request.approve", "data": {"requestId": "../x"}}}),
            400,
        ),
        (
            "not Action.Execute",
            ALICE,
            json!({"action": {"type": "Action.Submit", "verb": "request.approve", "data": {"requestId": id}}}),
            400,
        ),
        ("no action at all", ALICE, json!("approve"), 400),
        (
            "unknown request",
            ALICE,
            json!({"action": {"type": "Action.Execute", "verb": "request.approve", "data": {"requestId": "req-nope"}}}),
            404,
        ),
        (
            "unknown team",
            ALICE,
            json!({"action": {"type": "Action.Execute", "verb": "team.renew", "data": {"groupId": "4d1c0e8e-0000-0000-0000-000000000000"}}}),
            404,
        ),
    ];
    for (what, who, value, expected) in cases {
        let (status, body) = invoke(&bot, &tenant, who, "adaptiveCard/action", value).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(body["statusCode"], expected, "{what}: {body}");
        assert_eq!(body["type"], "application/vnd.microsoft.error", "{what}");
        assert!(
            body["value"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    // A request is found only in its own tenant (the tenant comes from the token's activity).
    let elsewhere = card_action(
        &bot,
        &other_tenant,
        ALICE,
        "request.approve",
        json!({"requestId": id, "comment": "x"}),
    )
    .await;
    assert_eq!(elsewhere["statusCode"], 404);
    // An invoke without a user identity is refused.
    let mut anonymous = user_activity(&bot, &tenant, ALICE, "Alice", "invoke");
    anonymous["from"] = json!({"id": "29:x"});
    anonymous["name"] = json!("adaptiveCard/action");
    anonymous["value"] = json!({"action": {"type": "Action.Execute", "verb": "request.approve", "data": {"requestId": id}}});
    let body: Value = bot
        .post(&anonymous, Some(&bot.token()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["statusCode"], 400);
    assert_eq!(
        only_request(&bot, &tenant).await.state,
        RequestState::Submitted
    );
    // An unknown invoke is answered as botbuilder does.
    let (status, _) = invoke(&bot, &tenant, ALICE, "signin/verifyState", json!({})).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test]
async fn owners_renew_an_expiring_team_or_let_it_expire_and_others_cannot() {
    let bot = spawn().await;
    let tenant = bot.active_tenant().await;
    let docs = bot.app.app.docs.as_ref();
    let now = time::OffsetDateTime::from_unix_timestamp(bot.app.now()).unwrap();
    let team = |id: &str| {
        TeamRecord {
        group_id: id.into(),
        display_name: "Falcon".into(),
        description: String::new(),
        web_url: Some("https://teams.microsoft.com/l/team/19%3Ax%40thread.tacv2/conversations?groupId=g&tenantId=t".into()),
        owners: vec![Person::new(ALICE, "Alice")],
        template_id: Some("project".into()),
        expires_at: Some(now + time::Duration::days(7)),
        renewal_days: Some(180),
        renewal: Renewal::Pending,
        visibility: Visibility::Private,
        member_ids: vec![],
        ..TeamRecord::default()
    }
    };
    let (one, two) = (
        "11111111-1111-1111-1111-111111111111",
        "22222222-2222-2222-2222-222222222222",
    );
    teams::put(docs, &tenant, &team(one)).await.unwrap();
    teams::put(docs, &tenant, &team(two)).await.unwrap();

    let seen_by_alice = card_action(
        &bot,
        &tenant,
        ALICE,
        "team.refresh",
        json!({"groupId": one}),
    )
    .await;
    assert_eq!(
        actions(&seen_by_alice["value"])[..2],
        ["Renew", "Let it expire"]
    );
    let by_carol = card_action(&bot, &tenant, CAROL, "team.renew", json!({"groupId": one})).await;
    assert_eq!(by_carol["statusCode"], 403);

    let renewed = card_action(&bot, &tenant, ALICE, "team.renew", json!({"groupId": one})).await;
    assert!(renewed["value"].to_string().contains("Renewed"));
    let stored = teams::get(docs, &tenant, one).await.unwrap();
    assert_eq!(stored.expires_at, Some(now + time::Duration::days(7 + 180)));
    // The same card clicked again, replayed, or answered the other way: the
    // team as it is, and nothing changes (one renewal per decision).
    for verb in ["team.renew", "team.renew", "team.letExpire"] {
        let again = card_action(&bot, &tenant, ALICE, verb, json!({"groupId": one})).await;
        assert_eq!(again["statusCode"], 200, "{verb}");
        assert!(again["value"].to_string().contains("Renewed"), "{verb}");
    }
    let stored = teams::get(docs, &tenant, one).await.unwrap();
    assert_eq!(
        (stored.expires_at, stored.renewal),
        (Some(now + time::Duration::days(7 + 180)), Renewal::Renewed),
        "three more clicks added nothing"
    );
    let renewals = audit::trail(docs, &tenant)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "team.renewed")
        .count();
    assert_eq!(renewals, 1, "audited once");
    card_action(
        &bot,
        &tenant,
        ALICE,
        "team.letExpire",
        json!({"groupId": two}),
    )
    .await;
    assert_eq!(
        teams::get(docs, &tenant, two).await.unwrap().renewal,
        Renewal::Declined
    );
    assert_eq!(
        teams::get(docs, &tenant, two).await.unwrap().expires_at,
        Some(now + time::Duration::days(7))
    );
}

#[tokio::test]
async fn the_catalog_search_pages_through_teams_and_templates() {
    let bot = spawn().await;
    let tenant = tenant_with_templates(&bot).await;
    let docs = bot.app.app.docs.as_ref();
    for i in 0..30 {
        let team = TeamRecord {
            group_id: format!("00000000-0000-0000-0000-{i:012}"),
            display_name: format!("Sales {i:02}"),
            description: "pipeline".into(),
            web_url: None,
            owners: vec![],
            template_id: None,
            expires_at: None,
            renewal_days: None,
            renewal: Renewal::Pending,
            visibility: Visibility::Public,
            member_ids: vec![],
            ..TeamRecord::default()
        };
        teams::put(docs, &tenant, &team).await.unwrap();
    }
    let query = |text: &str, skip: u64, count: u64| json!({"commandId": "searchTeams", "parameters": [{"name": "q", "value": text}], "queryOptions": {"skip": skip, "count": count}});
    let titles = |body: &Value| -> Vec<String> {
        body["composeExtension"]["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                a["preview"]["content"]["title"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let (status, first) = invoke(
        &bot,
        &tenant,
        BOB,
        "composeExtension/query",
        query("sales", 0, 10),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["composeExtension"]["type"], "result");
    assert_eq!(first["composeExtension"]["attachmentLayout"], "list");
    assert_eq!(
        titles(&first),
        (0..10).map(|i| format!("Sales {i:02}")).collect::<Vec<_>>()
    );
    let attachment = &first["composeExtension"]["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        attachment["preview"]["contentType"],
        "application/vnd.microsoft.card.thumbnail"
    );
    let (_, last) = invoke(
        &bot,
        &tenant,
        BOB,
        "composeExtension/query",
        query("SALES", 25, 10),
    )
    .await;
    assert_eq!(
        titles(&last),
        (25..30)
            .map(|i| format!("Sales {i:02}"))
            .collect::<Vec<_>>()
    );
    // Opening the box (initialRun) lists everything, templates included.
    let (_, opened) = invoke(&bot, &tenant, BOB, "composeExtension/query",
        json!({"commandId": "searchTeams", "parameters": [{"name": "initialRun", "value": "true"}], "queryOptions": {"skip": 0, "count": 25}})).await;
    assert_eq!(titles(&opened)[..2], ["Community", "Project"]);
    let (_, by_description) = invoke(
        &bot,
        &tenant,
        BOB,
        "composeExtension/query",
        query("start and an end", 0, 25),
    )
    .await;
    assert_eq!(titles(&by_description), ["Project"]);
    let (_, nothing) = invoke(
        &bot,
        &tenant,
        BOB,
        "composeExtension/query",
        query("zebra", 0, 25),
    )
    .await;
    assert_eq!(nothing["composeExtension"]["type"], "message");
    let (_, unknown) = invoke(
        &bot,
        &tenant,
        BOB,
        "composeExtension/query",
        json!({"commandId": "searchCrm", "parameters": []}),
    )
    .await;
    assert_eq!(unknown["composeExtension"]["type"], "message");
    // Another tenant sees none of it.
    let other = bot.active_tenant().await;
    let (_, theirs) = invoke(
        &bot,
        &other,
        BOB,
        "composeExtension/query",
        query("sales", 0, 10),
    )
    .await;
    assert_eq!(theirs["composeExtension"]["type"], "message");
}

#[tokio::test]
async fn requesting_a_team_from_a_message_prefills_the_form_and_answers_with_a_card() {
    let bot = spawn().await;
    let tenant = tenant_with_templates(&bot).await;
    let (_, fetched) = invoke(&bot, &tenant, BOB, "composeExtension/fetchTask", json!({"commandId": "requestTeam", "commandContext": "message",
        "messagePayload": {"subject": null, "body": {"contentType": "html", "content": "<p>Kick-off for <b>Falcon</b> &amp; partners</p>"}}})).await;
    let card = &fetched["task"]["value"]["card"]["content"];
    assert_eq!(card["body"][2]["id"], "displayName");
    assert_eq!(card["body"][2]["value"], "Kick-off for Falcon & partners");
    let (_, result) = invoke(&bot, &tenant, BOB, "composeExtension/submitAction", json!({"commandId": "requestTeam",
        "data": {"templateId": "project", "displayName": "Falcon kick-off", "description": "", "justification": ""}})).await;
    assert_eq!(result["composeExtension"]["type"], "result", "{result}");
    assert!(result.to_string().contains("Falcon kick-off"));
    assert_eq!(
        only_request(&bot, &tenant).await.display_name,
        "Falcon kick-off"
    );
    let (_, refused) = invoke(
        &bot,
        &tenant,
        BOB,
        "composeExtension/submitAction",
        json!({"commandId": "requestTeam",
        "data": {"templateId": "retired-or-made-up", "displayName": "X"}}),
    )
    .await;
    assert_eq!(refused["task"]["type"], "continue");
    assert!(refused.to_string().contains("does not exist"));
}

#[tokio::test]
async fn our_own_links_unfurl_into_cards_and_others_do_not() {
    let bot = spawn().await;
    let tenant = tenant_with_templates(&bot).await;
    submit(&bot, &tenant, "project", "Falcon").await;
    let id = only_request(&bot, &tenant).await.id;
    let (_, unfurled) = invoke(
        &bot,
        &tenant,
        BOB,
        "composeExtension/queryLink",
        json!({"url": format!("https://{HOST}/requests/{id}")}),
    )
    .await;
    let attachments = unfurled["composeExtension"]["attachments"]
        .as_array()
        .unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["preview"]["content"]["title"], "Falcon");
    let open = &attachments[0]["content"]["actions"][0]["url"];
    assert!(
        open.as_str().unwrap().starts_with(&format!(
            "https://teams.microsoft.com/l/entity/{TEAMS_APP}/my?"
        )),
        "{open}"
    );
    let other = bot.active_tenant().await;
    for (tenant, url) in [
        (
            &tenant,
            "https://elsewhere.example.com/requests/x".to_owned(),
        ),
        (&tenant, format!("https://{HOST}/requests/req-unknown")),
        (&other, format!("https://{HOST}/requests/{id}")),
    ] {
        let (_, body) = invoke(
            &bot,
            tenant,
            BOB,
            "composeExtension/queryLink",
            json!({"url": url}),
        )
        .await;
        assert_eq!(body["composeExtension"]["attachments"], json!([]), "{url}");
    }
}

#[tokio::test]
async fn a_paused_tenant_gets_the_notice_in_every_invoke_shape_and_nothing_happens() {
    let bot = spawn().await;
    let tenant = bot.app.add_tenant("Lapsed").await;
    let (_, action) = invoke(&bot, &tenant, ALICE, "adaptiveCard/action", json!({"action": {"type": "Action.Execute", "verb": "request.refresh", "data": {"requestId": "req-1"}}})).await;
    assert_eq!(action["statusCode"], 200);
    let notice = &action["value"];
    assert!(notice.to_string().contains("paused"));
    let admin = notice["actions"][0]["url"].as_str().unwrap();
    assert!(
        admin.starts_with(&format!(
            "https://teams.microsoft.com/l/entity/{TEAMS_APP}/admin"
        )),
        "{admin}"
    );
    let (_, task) = invoke(&bot, &tenant, BOB, "task/submit", form("project", "X")).await;
    assert!(
        task["task"]["value"]["card"]["content"]
            .to_string()
            .contains("paused")
    );
    let (_, search) = invoke(
        &bot,
        &tenant,
        BOB,
        "composeExtension/query",
        json!({"commandId": "searchTeams", "parameters": []}),
    )
    .await;
    assert_eq!(search["composeExtension"]["type"], "message");
    assert!(
        requests::list_for_requester(bot.app.app.docs.as_ref(), &tenant, BOB, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn my_requests_and_my_teams_list_what_the_user_has() {
    let bot = spawn().await;
    let tenant = tenant_with_templates(&bot).await;
    submit(&bot, &tenant, "project", "Falcon").await;
    let mut ask = user_activity(&bot, &tenant, BOB, "Bob", "message");
    ask["text"] = json!("my requests");
    bot.post(&ask, Some(&bot.token())).await;
    let sent = bot.delivered(1).await;
    let reply = sent
        .iter()
        .find(|s| {
            s.path.contains("chat-with-") && s.activity.to_string().contains("Your team requests")
        })
        .expect("a reply");
    assert!(reply.activity.to_string().contains("Falcon"));
    assert!(reply.activity.to_string().contains("Waiting for approval"));
    ask["text"] = json!("request a team");
    ask["id"] = json!("act-2");
    bot.post(&ask, Some(&bot.token())).await;
    let sent = bot.delivered(2).await;
    let button = &sent.last().unwrap().activity["attachments"][0]["content"]["actions"][0];
    assert_eq!(button["data"]["msteams"]["type"], "task/fetch");
    assert_eq!(button["data"]["action"], "request.form");
}

#[tokio::test]
async fn a_private_team_is_found_and_unfurled_only_for_its_owners_and_members() {
    let bot = spawn().await;
    let tenant = bot.active_tenant().await;
    let docs = bot.app.app.docs.as_ref();
    let team = |id: &str, name: &str, visibility| TeamRecord {
        group_id: id.into(),
        display_name: name.into(),
        description: String::new(),
        web_url: None,
        owners: vec![Person::new(ALICE, "Alice")],
        template_id: None,
        expires_at: None,
        renewal_days: None,
        renewal: Renewal::Pending,
        visibility,
        member_ids: vec![BOB.to_owned()],
        ..TeamRecord::default()
    };
    let (secret, open) = (
        "33333333-3333-3333-3333-333333333333",
        "44444444-4444-4444-4444-444444444444",
    );
    teams::put(
        docs,
        &tenant,
        &team(secret, "Merger talks", Visibility::Private),
    )
    .await
    .unwrap();
    teams::put(
        docs,
        &tenant,
        &team(open, "Merger news", Visibility::Public),
    )
    .await
    .unwrap();
    let search = json!({"commandId": "searchTeams", "parameters": [{"name": "q", "value": "merger"}], "queryOptions": {"skip": 0, "count": 25}});
    let titles = |body: &Value| -> Vec<String> {
        body["composeExtension"]["attachments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|a| {
                        a["preview"]["content"]["title"]
                            .as_str()
                            .unwrap()
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    for (user, expected) in [
        (ALICE, vec!["Merger news", "Merger talks"]),
        (BOB, vec!["Merger news", "Merger talks"]),
        (CAROL, vec!["Merger news"]),
    ] {
        let (_, found) = invoke(
            &bot,
            &tenant,
            user,
            "composeExtension/query",
            search.clone(),
        )
        .await;
        assert_eq!(titles(&found), expected, "{user}");
    }
    let link = json!({"url": format!("https://{HOST}/teams/{secret}")});
    for (user, shown) in [(ALICE, 1), (BOB, 1), (CAROL, 0)] {
        let (_, unfurled) = invoke(
            &bot,
            &tenant,
            user,
            "composeExtension/queryLink",
            link.clone(),
        )
        .await;
        assert_eq!(
            unfurled["composeExtension"]["attachments"]
                .as_array()
                .map_or(0, Vec::len),
            shown,
            "{user}"
        );
    }
}

#[tokio::test]
async fn a_justification_with_characters_xml_refuses_still_reaches_the_approvers() {
    let bot = spawn().await;
    let tenant = tenant_with_templates(&bot).await;
    for (aad, name) in [(ALICE, "Alice"), (BOB, "Bob")] {
        let mut hello = user_activity(&bot, &tenant, aad, name, "message");
        hello["text"] = json!("help");
        assert_eq!(
            bot.post(&hello, Some(&bot.token())).await.status(),
            StatusCode::OK
        );
    }
    bot.delivered(2).await;
    let typed = "Urgent \u{FFFE}\u{FFFF} deal";
    let mut submitted = form("project", "Falcon");
    submitted["data"]["justification"] = json!(typed);
    let (status, done) = invoke(&bot, &tenant, BOB, "task/submit", submitted).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done["task"]["type"], "message", "{done}");
    let request = only_request(&bot, &tenant).await;
    assert_eq!(request.justification, typed);
    let sent = bot.delivered(3).await;
    let to_alice = &sent[2];
    assert!(to_alice.path.contains(&format!("chat-with-{ALICE}")));
    assert!(
        to_alice.activity.to_string().contains(typed),
        "the card shows what was typed"
    );
}
