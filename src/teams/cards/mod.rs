//! Adaptive Card builders. Every card the code can produce is one of these
//! functions, so a test can list and check them all.

use serde_json::{Value, json};

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

fn card(body: Vec<Value>) -> Value {
    json!({"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": VERSION, "body": body})
}

fn heading(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": true})
}

fn paragraph(text: &str) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
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
        let shown: String = text.chars().take(60).collect();
        body.push(paragraph(&format!("Sorry, I don't know \"{shown}\" yet.")));
    }
    body.push(heading("Here is what I can do"));
    body.push(command_list());
    card(body)
}

/// A plain notice (a command whose feature is not available yet, or a
/// tenant that cannot use the product now).
pub fn notice(title: &str, text: &str) -> Value {
    card(vec![heading(title), paragraph(text)])
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
}
