//! Cards about team requests: the form, the approval card (one card, a view
//! per person through `refresh`), the status card, the list of one's requests.

use serde_json::{Value, json};

use super::{
    attention, card, date, execute, facts, heading, open_url, paragraph, quoted, subtle, verbs,
    with_actions, with_refresh,
};
use crate::governance::requests::{
    MAX_COMMENT_CHARS, MAX_NAME_CHARS, MAX_TEXT_CHARS, RequestForm, TeamRequest,
};
use crate::governance::templates::StoredTemplate;
use crate::teams::links::AppLinks;

/// The request form, in a task module. `problems` are shown above the
/// fields when a submitted form came back (the values are kept).
pub fn request_form(
    templates: &[StoredTemplate],
    prefill: &RequestForm,
    problems: &[String],
    draft: Option<&TeamRequest>,
) -> Value {
    if templates.is_empty() {
        return card(vec![
            heading("Request a team"),
            paragraph(
                "There is no team template to request from yet. Your SalesTim administrator adds them.",
            ),
        ]);
    }
    let mut body = vec![heading("Request a team")];
    if let Some(r) = &prefill.crm_record {
        body.push(subtle(&format!(
            "For the {} {} **{}**",
            r.record.crm.label(),
            r.record.record_type.label().to_lowercase(),
            quoted(&r.title, 120)
        )));
    }
    for problem in problems {
        body.push(attention(problem));
    }
    let choices: Vec<Value> = templates
        .iter()
        .map(|t| json!({"title": t.template.name, "value": t.id}))
        .collect();
    let chosen = if templates.iter().any(|t| t.id == prefill.template_id) {
        prefill.template_id.clone()
    } else {
        templates[0].id.clone()
    };
    body.push(json!({"type": "Input.ChoiceSet", "id": "templateId", "label": "Template", "isRequired": true,
        "errorMessage": "Choose a template", "style": "compact", "value": chosen, "choices": choices}));
    body.push(json!({"type": "Input.Text", "id": "displayName", "label": "Team name", "isRequired": true,
        "errorMessage": "Give the team a name", "maxLength": MAX_NAME_CHARS, "value": prefill.display_name,
        "placeholder": "e.g. Project Falcon"}));
    body.push(json!({"type": "Input.Text", "id": "description", "label": "Description", "isMultiline": true,
        "maxLength": MAX_TEXT_CHARS, "value": prefill.description, "placeholder": "What the team is for"}));
    body.push(json!({"type": "Input.Text", "id": "justification", "label": "Why do you need it?", "isMultiline": true,
        "maxLength": MAX_TEXT_CHARS, "value": prefill.justification}));
    body.push(json!({"type": "Input.Text", "id": "owners", "label": "Other owners (email addresses, separated by commas)",
        "maxLength": 2000, "value": prefill.owners.join(", ")}));
    body.push(json!({"type": "Input.Text", "id": "members", "label": "Members (email addresses, separated by commas)",
        "maxLength": 2000, "value": prefill.members.join(", ")}));
    match draft {
        Some(d) => {
            body.push(paragraph(&format!(
                "The team will be named **{}** (mail: {}).",
                quoted(&d.display_name, 256),
                quoted(&d.mail_nickname, 64)
            )));
            body.push(subtle(&approval_route(d)));
        }
        None => body.push(subtle(
            "The final name may get a prefix or suffix from your organisation's naming policy: check it before you submit.",
        )),
    }
    let data = |action: &str| {
        let mut data = match &prefill.crm_record {
            Some(r) => super::record_data(action, &r.record),
            None => json!({"action": action}),
        };
        if let Some(d) = draft {
            data["draftId"] = d.id.clone().into();
        }
        data
    };
    with_actions(
        card(body),
        vec![
            json!({"type": "Action.Submit", "title": "Check the name", "data": data(verbs::REQUEST_PREVIEW)}),
            json!({"type": "Action.Submit", "title": "Submit request", "style": "positive", "data": data(verbs::REQUEST_SUBMIT)}),
        ],
    )
}

/// Who decides on the request, in words.
fn approval_route(request: &TeamRequest) -> String {
    match request.stages.len() {
        0 => "No approval is needed: the team is created as soon as you submit.".to_owned(),
        1 => format!("Approved by {}.", names(&request.stages[0].approvers)),
        n => format!(
            "{n} approval stages, in turn, starting with {}.",
            names(&request.stages[0].approvers)
        ),
    }
}

fn names(people: &[crate::governance::people::Person]) -> String {
    let named: Vec<String> = people
        .iter()
        .take(5)
        .map(|p| {
            if p.name.is_empty() {
                "an approver".to_owned()
            } else {
                quoted(&p.name, 60)
            }
        })
        .collect();
    let more = people.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", named.join(", "))
    } else {
        named.join(" or ")
    }
}

fn request_facts(request: &TeamRequest) -> Value {
    let decision = request.decision.as_ref();
    let stage = if request.state.is_waiting() && request.stages.len() > 1 {
        format!(
            "Stage {} of {}",
            request.current_stage + 1,
            request.stages.len()
        )
    } else {
        String::new()
    };
    let reason = request
        .outcome
        .as_ref()
        .and_then(|o| o.reason.as_deref())
        .map(|r| quoted(r, 300))
        .unwrap_or_default();
    facts(&[
        ("Team", quoted(&request.display_name, 256)),
        ("Template", quoted(&request.template_name, 100)),
        ("Requested by", quoted(&request.requester.name, 100)),
        ("On", date(request.created_at)),
        ("Status", request.state.label().to_owned()),
        ("Approval", stage),
        ("Why it failed", reason),
        (
            "Decided by",
            decision
                .map(|d| quoted(&d.by.name, 100))
                .unwrap_or_default(),
        ),
        (
            "Comment",
            decision
                .map(|d| quoted(&d.comment, MAX_COMMENT_CHARS))
                .unwrap_or_default(),
        ),
    ])
}

fn open_request(request: &TeamRequest, links: &AppLinks) -> Vec<Value> {
    let mut actions = Vec::new();
    if let Some(url) = request
        .outcome
        .as_ref()
        .and_then(|o| o.web_url.as_deref())
        .and_then(|u| url::Url::parse(u).ok())
        .filter(|u| u.scheme() == "https")
    {
        actions.push(open_url("Open the team", &url));
    }
    if let Some(url) = links.request(&request.id) {
        actions.push(open_url("Open in SalesTim", &url));
    }
    actions
}

/// Where a request stands, as its requester (or anyone) sees it.
pub fn request_status(request: &TeamRequest, links: &AppLinks) -> Value {
    let mut body = vec![heading(&format!(
        "Team request: {}",
        quoted(&request.display_name, 100)
    ))];
    if !request.description.is_empty() {
        body.push(paragraph(&quoted(&request.description, 300)));
    }
    body.push(request_facts(request));
    with_actions(card(body), open_request(request, links))
}

/// The approval card: one card in a conversation, refreshed for each of the
/// approvers and the requester, so that an approver of a waiting request
/// sees Approve / Reject with a comment, the requester can withdraw it, and
/// everyone else (and everyone once it is decided) sees its status.
/// `viewer` is the Entra id of whoever the card is rendered for.
pub fn approval(request: &TeamRequest, viewer: Option<&str>, links: &AppLinks) -> Value {
    let waiting = request.state.is_waiting();
    let data = json!({"requestId": request.id});
    let mut body = vec![heading(&format!(
        "Team request: {}",
        quoted(&request.display_name, 100)
    ))];
    if !request.description.is_empty() {
        body.push(paragraph(&quoted(&request.description, 300)));
    }
    if !request.justification.is_empty() {
        body.push(subtle(&format!(
            "Why: {}",
            quoted(&request.justification, 300)
        )));
    }
    body.push(request_facts(request));
    let mut actions = Vec::new();
    match viewer {
        Some(v) if waiting && request.is_approver(v) => {
            body.push(
                json!({"type": "Input.Text", "id": "comment", "label": "Comment (needed to reject)",
                "isMultiline": true, "maxLength": MAX_COMMENT_CHARS}),
            );
            actions.push(execute(
                "Approve",
                verbs::REQUEST_APPROVE,
                data.clone(),
                Some("positive"),
            ));
            actions.push(execute(
                "Reject",
                verbs::REQUEST_REJECT,
                data.clone(),
                Some("destructive"),
            ));
        }
        Some(v) if waiting && request.requester.is(v) => {
            actions.push(execute(
                "Withdraw request",
                verbs::REQUEST_CANCEL,
                data.clone(),
                None,
            ));
        }
        _ => {}
    }
    actions.extend(open_request(request, links));
    let users = request
        .all_approvers()
        .into_iter()
        .chain(std::iter::once(&request.requester))
        .map(|p| p.mri())
        .collect();
    with_refresh(
        with_actions(card(body), actions),
        verbs::REQUEST_REFRESH,
        data,
        users,
    )
}

/// A person's requests, newest first.
pub fn my_requests(requests: &[TeamRequest], links: &AppLinks) -> Value {
    if requests.is_empty() {
        return card(vec![
            heading("Your team requests"),
            paragraph("You have not requested a team yet. Type \"request a team\" to ask for one."),
        ]);
    }
    let mut body = vec![heading("Your team requests")];
    for request in requests {
        let mut line = json!({"type": "ColumnSet", "separator": true, "columns": [
            {"type": "Column", "width": "stretch", "items": [
                {"type": "TextBlock", "text": quoted(&request.display_name, 100), "weight": "Bolder", "wrap": true},
                subtle(&format!("{} · {}", quoted(&request.template_name, 60), date(request.created_at)))]},
            {"type": "Column", "width": "auto", "items": [{"type": "TextBlock", "text": request.state.label(), "wrap": true}]}
        ]});
        if let Some(url) = links.request(&request.id) {
            line["selectAction"] = json!({"type": "Action.OpenUrl", "url": url.as_str()});
        }
        body.push(line);
    }
    card(body)
}

/// The answer to "request a team": a button that opens the form in a task
/// module (a bot message cannot open one by itself).
pub fn open_request_form() -> Value {
    with_actions(
        card(vec![
            heading("Request a team"),
            paragraph(
                "Pick a template, name the team and say what it is for; approvers decide on a card.",
            ),
        ]),
        vec![
            json!({"type": "Action.Submit", "title": "Open the request form",
            "data": {"msteams": {"type": "task/fetch"}, "action": verbs::REQUEST_FORM}}),
        ],
    )
}
