//! Personal-chat commands: the text with `<at>` mentions stripped, case and
//! spacing ignored. Unknown text is a command too (it gets the help card).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    MyRequests,
    MyTeams,
    RequestTeam,
    Unknown(String),
}

/// Removes `<at>…</at>` mentions (Teams puts the bot's name there).
fn strip_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<at>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</at>") {
            Some(end) => rest = &rest[start + end + "</at>".len()..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn parse(text: &str) -> Command {
    let cleaned = strip_mentions(text);
    let normalised = cleaned
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    match normalised.trim_end_matches(['.', '!', '?']) {
        "help" | "?" | "" => Command::Help,
        "my requests" => Command::MyRequests,
        "my teams" => Command::MyTeams,
        "request a team" | "new team" => Command::RequestTeam,
        _ => Command::Unknown(cleaned.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_case_and_spacing_do_not_matter() {
        assert_eq!(parse("<at>SalesTim</at> HELP"), Command::Help);
        assert_eq!(parse("  My   Requests "), Command::MyRequests);
        assert_eq!(parse("<at>SalesTim</at>\nmy teams!"), Command::MyTeams);
        assert_eq!(parse("Request a team"), Command::RequestTeam);
        assert_eq!(parse("<at>SalesTim</at>"), Command::Help);
        assert_eq!(parse("<at>unclosed mention"), Command::Help);
        assert_eq!(
            parse("make me a sandwich"),
            Command::Unknown("make me a sandwich".into())
        );
    }
}
