//! Cards about teams: the expiry reminder (renew or let expire), the list
//! of one's teams, and catalog entries (teams and templates) for search
//! results and unfurled links.

use serde_json::{Value, json};

use super::{
    card, date, execute, facts, heading, open_url, paragraph, quoted, subtle, verbs, with_actions,
    with_refresh,
};
use crate::governance::teams::{Renewal, TeamRecord};
use crate::governance::templates::{ApprovalRule, StoredTemplate};
use crate::teams::links::AppLinks;

fn open_team(team: &TeamRecord) -> Option<Value> {
    let url = url::Url::parse(team.web_url.as_deref()?).ok()?;
    (url.scheme() == "https").then(|| open_url("Open in Teams", &url))
}

fn expiry(team: &TeamRecord) -> String {
    team.expires_at.map(date).unwrap_or_default()
}

/// The reminder sent to a team's owners before it expires, refreshed for
/// each owner: Renew / Let it expire while nothing is decided, the outcome after.
pub fn team_expiring(team: &TeamRecord, viewer: Option<&str>) -> Value {
    let data = json!({"groupId": team.group_id});
    let mut body = vec![heading(&format!(
        "{} expires soon",
        quoted(&team.display_name, 100)
    ))];
    let status = match team.renewal {
        Renewal::Pending => "Waiting for an owner",
        Renewal::Renewed => "Renewed",
        Renewal::Declined => "Will expire",
    };
    body.push(facts(&[
        ("Expires on", expiry(team)),
        ("Renewal", status.to_owned()),
        (
            "Renews for",
            team.renewal_days
                .map(|d| format!("{d} days"))
                .unwrap_or_default(),
        ),
    ]));
    let mut actions = Vec::new();
    match viewer {
        Some(v) if team.is_owner(v) && team.renewal == Renewal::Pending => {
            body.push(paragraph(
                "You own this team. Keep it, or let it expire and be archived?",
            ));
            actions.push(execute(
                "Renew",
                verbs::TEAM_RENEW,
                data.clone(),
                Some("positive"),
            ));
            actions.push(execute(
                "Let it expire",
                verbs::TEAM_LET_EXPIRE,
                data.clone(),
                Some("destructive"),
            ));
        }
        _ if team.renewal == Renewal::Pending => {
            body.push(subtle("An owner of the team can renew it."));
        }
        _ => {}
    }
    actions.extend(open_team(team));
    let owners = team.owners.iter().map(|o| o.mri()).collect();
    with_refresh(
        with_actions(card(body), actions),
        verbs::TEAM_REFRESH,
        data,
        owners,
    )
}

/// A team as a search result or unfurled link.
pub fn team_summary(team: &TeamRecord, links: &AppLinks) -> Value {
    let mut body = vec![heading(&quoted(&team.display_name, 100))];
    if !team.description.is_empty() {
        body.push(paragraph(&quoted(&team.description, 300)));
    }
    let owners: Vec<String> = team
        .owners
        .iter()
        .take(5)
        .map(|o| quoted(&o.name, 60))
        .collect();
    body.push(facts(&[
        ("Owners", owners.join(", ")),
        ("Expires on", expiry(team)),
    ]));
    let mut actions: Vec<Value> = open_team(team).into_iter().collect();
    if let Some(url) = links.team_page(&team.group_id) {
        actions.push(open_url("Governance details", &url));
    }
    with_actions(card(body), actions)
}

/// A template as a search result, with a button that opens the request form on it.
pub fn template_summary(template: &StoredTemplate) -> Value {
    let mut body = vec![
        heading(&quoted(&template.template.name, 100)),
        subtle("Team template"),
    ];
    if !template.template.description.is_empty() {
        body.push(paragraph(&quoted(&template.template.description, 300)));
    }
    let approval = match &template.template.approval {
        ApprovalRule::None => "Not needed".to_owned(),
        ApprovalRule::Manager => "Your manager".to_owned(),
        ApprovalRule::Named { approvers } => format!("{} approver(s)", approvers.len()),
        ApprovalRule::Stages { stages } => format!("{} stages", stages.len()),
    };
    body.push(facts(&[("Approval", approval)]));
    with_actions(
        card(body),
        vec![
            json!({"type": "Action.Submit", "title": "Request a team like this",
            "data": {"msteams": {"type": "task/fetch"}, "action": verbs::REQUEST_FORM, "templateId": template.id}}),
        ],
    )
}

/// The teams a person owns.
pub fn my_teams(teams: &[TeamRecord]) -> Value {
    if teams.is_empty() {
        return card(vec![
            heading("Your teams"),
            paragraph("SalesTim tracks no team that you own yet."),
        ]);
    }
    let mut body = vec![heading("Your teams")];
    for team in teams {
        let mut line = json!({"type": "ColumnSet", "separator": true, "columns": [
            {"type": "Column", "width": "stretch", "items": [
                {"type": "TextBlock", "text": quoted(&team.display_name, 100), "weight": "Bolder", "wrap": true}]},
            {"type": "Column", "width": "auto", "items": [
                {"type": "TextBlock", "text": team.expires_at.map(|t| format!("expires {}", date(t))).unwrap_or_else(|| "no expiry".into()), "wrap": true}]}
        ]});
        if let Some(Value::Object(action)) = open_team(team) {
            line["selectAction"] = json!({"type": "Action.OpenUrl", "url": action["url"]});
        }
        body.push(line);
    }
    card(body)
}
