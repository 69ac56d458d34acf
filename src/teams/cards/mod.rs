//! Adaptive Card builders (version 1.5, well-structured serde values, never
//! string templates). Every card the code can produce comes from a function
//! here, so a test can list and check them all against the schema.

mod crm;
pub mod lifecycle;
mod request;
mod team;

pub use crm::{crm_ask_admin, crm_record, crm_try_later, record_data};
pub use request::{approval, my_requests, open_request_form, request_form, request_status};
pub use team::{my_teams, team_expiring, team_summary, template_summary};

use serde_json::{Value, json};
use url::Url;

pub const VERSION: &str = "1.5";

/// The commands the bot understands in a personal chat, with what they do.
pub const COMMANDS: [(&str, &str); 4] = [
    ("help", "Show what I can do"),
    ("my requests", "Your team requests and where they stand"),
    ("my teams", "The teams you own and their governance state"),
    (
        "request a team",
        "Ask for a new team from an approved template",
    ),
];

/// Verbs of the `Action.Execute` buttons on our cards, and the `action`
/// of the `Action.Submit` ones, as the invoke handlers route them.
pub mod verbs {
    pub const REQUEST_REFRESH: &str = "request.refresh";
    pub const REQUEST_APPROVE: &str = "request.approve";
    pub const REQUEST_REJECT: &str = "request.reject";
    pub const REQUEST_CANCEL: &str = "request.cancel";
    pub const TEAM_REFRESH: &str = "team.refresh";
    pub const TEAM_RENEW: &str = "team.renew";
    pub const TEAM_LET_EXPIRE: &str = "team.letExpire";
    /// Refresh of a lifecycle card (its `card` data says which).
    pub const LIFECYCLE_REFRESH: &str = "lifecycle.refresh";
    pub const TEAM_NOMINATE: &str = "team.nominate";
    pub const TEAM_KEEP: &str = "team.keep";
    pub const TEAM_ARCHIVE: &str = "team.archive";
    pub const TEAM_DELETE: &str = "team.delete";
    pub const TEAM_REVIEW_GUESTS: &str = "team.reviewGuests";
    /// `Action.Submit` of the request form (task module submit).
    pub const REQUEST_SUBMIT: &str = "request.submit";
    /// `Action.Submit` of the request form that shows the final name first
    /// (saves a draft).
    pub const REQUEST_PREVIEW: &str = "request.preview";
    /// `Action.Submit` that opens the request form (task module fetch).
    pub const REQUEST_FORM: &str = "request.form";
    /// Opens the request form for a team for a CRM record.
    pub const CRM_TEAM_FORM: &str = "crm.teamForm";
}

/// Refresh lists at most this many users (a Teams limit).
pub const MAX_REFRESH_USERS: usize = 60;

fn card(body: Vec<Value>) -> Value {
    json!({"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": VERSION, "body": body})
}

fn with_actions(mut card: Value, actions: Vec<Value>) -> Value {
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    card
}

/// Makes the card refresh itself (`Action.Execute` with `verb`) for these
/// users, so each of them sees their own view.
fn with_refresh(mut card: Value, verb: &str, data: Value, user_mris: Vec<String>) -> Value {
    let mut users = user_mris;
    users.sort();
    users.dedup();
    users.truncate(MAX_REFRESH_USERS);
    card["refresh"] =
        json!({"action": {"type": "Action.Execute", "verb": verb, "data": data}, "userIds": users});
    card
}

fn heading(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": true})
}

fn paragraph(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

fn subtle(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true, "isSubtle": true, "spacing": "None"})
}

fn attention(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true, "color": "Attention"})
}

fn facts(pairs: &[(&str, String)]) -> Value {
    json!({"type": "FactSet", "facts": pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(t, v)| json!({"title": t, "value": v})).collect::<Vec<_>>()})
}

fn open_url(title: &str, url: &Url) -> Value {
    json!({"type": "Action.OpenUrl", "title": title, "url": url.as_str()})
}

fn execute(title: &str, verb: &str, data: Value, style: Option<&str>) -> Value {
    let mut action = json!({"type": "Action.Execute", "title": title, "verb": verb, "data": data});
    if let Some(style) = style {
        action["style"] = style.into();
    }
    action
}

/// Text people typed, shortened for a card; Adaptive Card TextBlocks render
/// a subset of Markdown, so the characters that start formatting are escaped.
fn quoted(text: &str, max: usize) -> String {
    let mut shown: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        shown.push('…');
    }
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if matches!(c, '*' | '_' | '[' | ']' | '`' | '#' | '<' | '>' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn date(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    at.format(&format).unwrap_or_default()
}

fn command_list() -> Value {
    json!({"type": "FactSet", "facts": COMMANDS.iter().map(|(c, what)| json!({"title": c, "value": what})).collect::<Vec<_>>()})
}

/// Sent once when the app is installed for a user, a team or a chat.
pub fn welcome() -> Value {
    card(vec![
        heading("Welcome to SalesTim"),
        paragraph(
            "I keep your Teams tidy: teams from approved templates with sensible names, approvals on a card, reminders before a team expires.",
        ),
        paragraph("Type one of these in our chat:"),
        command_list(),
    ])
}

/// The answer to `help`, and to anything the bot does not understand.
pub fn help(unknown: Option<&str>) -> Value {
    let mut body = Vec::new();
    if let Some(text) = unknown {
        body.push(paragraph(&format!(
            "Sorry, I don't know \"{}\" yet.",
            quoted(text, 60)
        )));
    }
    body.push(heading("Here is what I can do"));
    body.push(command_list());
    card(body)
}

/// A plain notice, with a link when there is somewhere to go.
pub fn notice(title: &str, text: &str) -> Value {
    card(vec![heading(title), paragraph(text)])
}

/// A notice with a button to `link` (e.g. the admin page for a paused tenant).
pub fn notice_with_link(title: &str, text: &str, link: Option<(&str, &Url)>) -> Value {
    let actions = link
        .map(|(label, url)| vec![open_url(label, url)])
        .unwrap_or_default();
    with_actions(notice(title, text), actions)
}

/// Something went wrong with what the user asked; says what and what to do.
pub fn error(title: &str, detail: &str) -> Value {
    card(vec![
        json!({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true, "color": "Attention"}),
        paragraph(detail),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_text_is_quoted_shortened_and_followed_by_the_commands() {
        let c = help(Some(&"x".repeat(500)));
        let text = c["body"][0]["text"].as_str().unwrap();
        assert!(text.len() < 100);
        assert_eq!(
            c["body"][2]["facts"].as_array().unwrap().len(),
            COMMANDS.len()
        );
        assert_eq!(c["version"], "1.5");
    }

    #[test]
    fn markdown_in_user_text_is_escaped() {
        assert_eq!(quoted("**bold** [x](y)", 100), r"\*\*bold\*\* \[x\](y)");
        assert_eq!(quoted("abcdef", 3), "abc…");
    }

    #[test]
    fn refresh_lists_each_user_once_and_at_most_sixty() {
        let users: Vec<String> = (0..70)
            .map(|i| format!("8:orgid:{i:03}"))
            .chain(["8:orgid:000".into()])
            .collect();
        let c = with_refresh(card(vec![]), "v", json!({}), users);
        let ids = c["refresh"]["userIds"].as_array().unwrap();
        assert_eq!(ids.len(), MAX_REFRESH_USERS);
        assert_eq!(ids[0], "8:orgid:000");
        assert_eq!(ids[1], "8:orgid:001");
    }
}
