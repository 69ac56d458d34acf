//! "Create a team for this record" on an opportunity's card: the request
//! form for the record (only the opportunity template), the request named
//! after the record as the CRM has it (never after what the form carried),
//! and provisioning's CRM link step: a note on the record naming the team,
//! a website tab to the record in General, the step's checkpoint note.

use std::time::Duration;

use salestim::crm::RecordType;
use salestim::governance::provisioning::{self, Step};
use salestim::governance::requests::{RequestState, TeamRequest};
use serde_json::{Value, json};

use super::{
    action, card_titled, connect_dynamics, connect_salesforce, record_template, search, stand_ins,
    world,
};
use crate::bot_invokes::{BOB, invoke};
use crate::provisioning::{World, only_team, requests_of_bob, wait_for_state};
use crate::support::app::wait_until;

const FINAL_NAME: &str = "Contoso renewal - Falcon (FR)";

/// The form's inputs as Bob fills them in, and fields nobody's form has
/// (a forged record name and link).
fn filled(action_data: &Value) -> Value {
    let mut data = action_data.clone();
    for (k, v) in [
        ("templateId", "deal"),
        ("displayName", "Falcon"),
        ("description", "The renewal"),
        ("justification", "Customer project"),
        ("owners", ""),
        ("members", ""),
        ("title", "Forged deal"),
        ("url", "https://evil.example/forged"),
        ("crmTitle", "Forged deal"),
    ] {
        data[k] = json!(v);
    }
    json!({"data": data})
}

async fn task(w: &World, name: &str, value: Value) -> Value {
    let (status, body) = invoke(&w.bot, &w.tenant, BOB, name, value).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body
}

/// From the search to the request: Bob opens the form from the card,
/// checks the name, submits. The record's URL in its CRM is `record_url`.
async fn request_from_card(w: &World, crm: &str, record_url: &str) -> TeamRequest {
    let found = search(w, &w.tenant, "Contoso renewal", 0, 10).await;
    let card = card_titled(&found, "Contoso renewal");
    let button = action(&card, "Create a team for this record").expect("a team is offered");
    let opened = task(w, "task/fetch", json!({"data": button["data"]})).await;
    assert_eq!(opened["task"]["type"], "continue", "{opened}");
    let form = &opened["task"]["value"]["card"]["content"];
    let text = form.to_string();
    assert!(
        text.contains(&format!("For the {crm} opportunity **Contoso renewal**")),
        "the record is named: {text}"
    );
    let choices = form["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == "templateId")
        .unwrap()["choices"]
        .clone();
    assert_eq!(
        choices,
        json!([{"title": "Opportunity team", "value": "deal"}])
    );

    let check = &form["actions"][0]["data"];
    assert_eq!(check["action"], "request.preview");
    let preview = task(w, "task/submit", filled(check)).await;
    let card = &preview["task"]["value"]["card"]["content"];
    assert!(card.to_string().contains(FINAL_NAME), "{preview}");
    assert!(!card.to_string().contains("Forged"), "{preview}");
    let submit = &card["actions"][1]["data"];
    assert_eq!(submit["action"], "request.submit");
    let done = task(w, "task/submit", filled(submit)).await;
    assert_eq!(done["task"]["type"], "message", "{done}");

    let mut mine = requests_of_bob(w).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let request = mine.remove(0);
    assert_eq!(request.display_name, FINAL_NAME);
    let link = request
        .crm_record
        .clone()
        .expect("the request names the record");
    assert_eq!(link.title, "Contoso renewal");
    assert_eq!(link.url, record_url);
    assert_eq!(link.record.record_type, RecordType::Opportunity);
    request
}

/// Provisioning runs from the queue: the team exists, with the record's
/// tab; the CRM link step's note says what was written.
async fn provisioned(w: &World, request: &TeamRequest, record_url: &str) -> (String, String) {
    let done = wait_for_state(w, &request.id, RequestState::Provisioned).await;
    let docs = w.bot.app.app.docs.clone();
    let (tenant, id) = (w.tenant.clone(), request.id.clone());
    wait_until(Duration::from_secs(20), || {
        let (docs, tenant, id) = (docs.clone(), tenant.clone(), id.clone());
        async move {
            provisioning::get_job(docs.as_ref(), &tenant, &id)
                .await
                .unwrap()
                .is_some_and(|j| j.is_done(Step::CrmLink))
        }
    })
    .await;
    let job = provisioning::get_job(w.bot.app.app.docs.as_ref(), &w.tenant, &request.id)
        .await
        .unwrap()
        .unwrap();
    let note = job
        .done
        .iter()
        .find(|c| c.step == Step::CrmLink)
        .unwrap()
        .note
        .clone();
    let team = only_team(w);
    assert_eq!(team.display_name, FINAL_NAME);
    let general = team
        .channels
        .iter()
        .find(|c| c.display_name == "General")
        .expect("a General channel");
    assert!(
        general
            .tabs
            .iter()
            .any(|(_, url, app)| url == record_url && app == "com.microsoft.teamspace.tab.web"),
        "a website tab to the record: {:?}",
        general.tabs
    );
    let web_url = done.outcome.unwrap().web_url.unwrap();
    (note, web_url)
}

#[tokio::test]
async fn a_team_for_a_dynamics_opportunity_is_named_after_it_and_noted_on_it() {
    let (dv, sf) = stand_ins().await;
    let w = world(&dv, &sf).await;
    connect_dynamics(&w, &dv, &w.tenant).await;
    record_template(&w, &w.tenant, "deal", RecordType::Opportunity).await;
    let account = dv.add_account("Contoso Ltd", "Seattle");
    let id = dv.add_opportunity("Contoso renewal", &account, 5000.0);
    let record_url = format!(
        "{}main.aspx?pagetype=entityrecord&etn=opportunity&id={id}",
        dv.org_url
    );
    let request = request_from_card(&w, "Dynamics 365", &record_url).await;
    let (note, web_url) = provisioned(&w, &request, &record_url).await;
    assert_eq!(note, "a note on the opportunity with the team's link");
    let notes = dv.notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].regarding, ("opportunity".to_owned(), id));
    assert!(notes[0].subject.contains(FINAL_NAME), "{:?}", notes[0]);
    assert!(notes[0].notetext.contains(&web_url), "{:?}", notes[0]);
}

#[tokio::test]
async fn a_team_for_a_salesforce_opportunity_is_named_after_it_and_noted_on_it() {
    let (dv, sf) = stand_ins().await;
    let w = world(&dv, &sf).await;
    connect_salesforce(&w, &sf, &w.tenant).await;
    record_template(&w, &w.tenant, "deal", RecordType::Opportunity).await;
    let account = sf.add_account("Contoso Ltd", "Seattle");
    let id = sf.add_opportunity("Contoso renewal", &account, "Prospecting");
    let record_url = format!("{}/lightning/r/Opportunity/{id}/view", sf.origin);
    let request = request_from_card(&w, "Salesforce", &record_url).await;
    let (note, web_url) = provisioned(&w, &request, &record_url).await;
    let notes = sf.notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].parent_id, id);
    assert!(notes[0].title.contains(FINAL_NAME), "{:?}", notes[0]);
    assert!(notes[0].body.contains(&web_url), "{:?}", notes[0]);
    assert_eq!(
        note,
        format!("Salesforce note {} on Opportunity {id}", notes[0].id)
    );
}
