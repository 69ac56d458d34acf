//! Naming policy: what a requested team name becomes. Pure functions, so
//! the requester can see the final name before submitting and provisioning
//! gets exactly the same one.
//!
//! - A prefix and a suffix made of fixed text and attributes (`[Department]`,
//!   `[Country]`, `[TemplateCode]`, `[CrmRecord]`), as Entra ID's group
//!   naming policy writes them.
//! - Blocked words, case-insensitive, matched as whole words or anywhere.
//! - The display name fits the policy's maximum (at most Entra's 256).
//! - The `mailNickname` is derived from the name: allowed characters only,
//!   at most 64, made unique against the tenant's existing ones.

use serde::{Deserialize, Serialize};

/// Entra ID group display names hold at most 256 characters.
pub const MAX_DISPLAY_NAME: usize = 256;
/// Entra ID `mailNickname` holds at most 64 characters.
pub const MAX_MAIL_NICKNAME: usize = 64;
/// How many numbered variants are tried before giving up on uniqueness.
const MAX_NICKNAME_TRIES: u32 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attribute {
    Department,
    Country,
    TemplateCode,
    CrmRecord,
}

impl Attribute {
    pub fn token(self) -> &'static str {
        match self {
            Attribute::Department => "[Department]",
            Attribute::Country => "[Country]",
            Attribute::TemplateCode => "[TemplateCode]",
            Attribute::CrmRecord => "[CrmRecord]",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Part {
    Text(String),
    Attribute(Attribute),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockedWord {
    pub word: String,
    /// `true`: only as a whole word ("ass" blocks "ass", not "class").
    pub whole_word: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamingPolicy {
    #[serde(default)]
    pub prefix: Vec<Part>,
    #[serde(default)]
    pub suffix: Vec<Part>,
    #[serde(default)]
    pub blocked_words: Vec<BlockedWord>,
    /// At most [`MAX_DISPLAY_NAME`]; larger values count as that.
    #[serde(default = "max_display_name")]
    pub max_length: usize,
}

fn max_display_name() -> usize {
    MAX_DISPLAY_NAME
}

impl Default for NamingPolicy {
    fn default() -> Self {
        NamingPolicy {
            prefix: Vec::new(),
            suffix: Vec::new(),
            blocked_words: Vec::new(),
            max_length: MAX_DISPLAY_NAME,
        }
    }
}

impl NamingPolicy {
    /// What is wrong with the policy, for the operator saving it.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_length == 0 || self.max_length > MAX_DISPLAY_NAME {
            problems.push(format!(
                "The naming policy's maximum length is 1 to {MAX_DISPLAY_NAME}."
            ));
        }
        if self.blocked_words.iter().any(|b| b.word.trim().is_empty()) {
            problems.push("A blocked word cannot be empty.".to_owned());
        }
        for part in self.prefix.iter().chain(&self.suffix) {
            if let Part::Text(text) = part
                && text.chars().any(char::is_control)
            {
                problems.push("Prefix and suffix text cannot hold control characters.".to_owned());
            }
        }
        problems
    }

    /// This (the tenant's) policy with a template's added inside it: the
    /// tenant's prefix first and its suffix last, both lists of blocked
    /// words, and the smaller maximum.
    pub fn with(&self, inner: Option<&NamingPolicy>) -> NamingPolicy {
        let Some(inner) = inner else {
            return self.clone();
        };
        NamingPolicy {
            prefix: self.prefix.iter().chain(&inner.prefix).cloned().collect(),
            suffix: inner.suffix.iter().chain(&self.suffix).cloned().collect(),
            blocked_words: self
                .blocked_words
                .iter()
                .chain(&inner.blocked_words)
                .cloned()
                .collect(),
            max_length: self.max_length.min(inner.max_length),
        }
    }

    /// Whether the policy uses `attribute` (so it must be looked up).
    pub fn uses(&self, attribute: Attribute) -> bool {
        self.prefix
            .iter()
            .chain(&self.suffix)
            .any(|p| *p == Part::Attribute(attribute))
    }
}

/// The requester's and the template's attributes the policy may use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub department: Option<String>,
    pub country: Option<String>,
    pub template_code: Option<String>,
    pub crm_record: Option<String>,
}

impl Attributes {
    fn get(&self, attribute: Attribute) -> Option<&str> {
        match attribute {
            Attribute::Department => self.department.as_deref(),
            Attribute::Country => self.country.as_deref(),
            Attribute::TemplateCode => self.template_code.as_deref(),
            Attribute::CrmRecord => self.crm_record.as_deref(),
        }
        .map(str::trim)
        .filter(|v| !v.is_empty())
    }
}

/// A name the policy accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamName {
    pub display_name: String,
    /// Derived from the display name; made unique by [`unique_nickname`].
    pub mail_nickname: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    #[error("the name is empty")]
    Empty,
    #[error("the name contains the blocked word \"{0}\"")]
    Blocked(String),
    #[error("the name would be {length} characters; at most {max} are allowed")]
    TooLong { length: usize, max: usize },
    #[error("the naming policy needs {} and it is not known for this request", .0.token())]
    MissingAttribute(Attribute),
    #[error("no free mail nickname was found for \"{0}\"")]
    NoFreeNickname(String),
}

/// Spaces collapsed, control characters dropped, ends trimmed.
fn tidy(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn render(parts: &[Part], attributes: &Attributes) -> Result<String, NamingError> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Attribute(a) => out.push_str(
                attributes
                    .get(*a)
                    .ok_or(NamingError::MissingAttribute(*a))?,
            ),
        }
    }
    Ok(out)
}

/// The first blocked word found in `name`, case-insensitively. A whole
/// word (or phrase: "top secret") must not touch a letter or digit on a
/// side where it starts or ends with one, so "ceo" blocks "CEO office" but
/// not "CEOs", and "c++" blocks "C++ guild".
fn blocked_word<'a>(name: &str, blocked: &'a [BlockedWord]) -> Option<&'a str> {
    let name = name.to_lowercase();
    blocked.iter().find_map(|b| {
        let word = tidy(&b.word).to_lowercase();
        if word.is_empty() {
            return None;
        }
        let found = if b.whole_word {
            contains_whole(&name, &word)
        } else {
            name.contains(&word)
        };
        found.then_some(b.word.as_str())
    })
}

/// Whether `word` stands in `text` with no letter or digit glued to it.
fn contains_whole(text: &str, word: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let (starts, ends) = (alnum(word.chars().next()), alnum(word.chars().last()));
    let mut from = 0;
    while let Some(at) = text[from..].find(word).map(|i| from + i) {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let glued = (starts && alnum(before)) || (ends && alnum(after));
        if !glued {
            return true;
        }
        // Overlapping matches too: on from the next character.
        from = at + text[at..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Applies the policy to a requested name.
pub fn apply(
    policy: &NamingPolicy,
    requested: &str,
    attributes: &Attributes,
) -> Result<TeamName, NamingError> {
    let requested = tidy(requested);
    if requested.is_empty() {
        return Err(NamingError::Empty);
    }
    let prefix = render(&policy.prefix, attributes)?;
    let suffix = render(&policy.suffix, attributes)?;
    let display_name = tidy(&format!("{prefix}{requested}{suffix}"));
    if let Some(word) = blocked_word(&display_name, &policy.blocked_words) {
        return Err(NamingError::Blocked(word.to_owned()));
    }
    let max = policy.max_length.clamp(1, MAX_DISPLAY_NAME);
    let length = display_name.chars().count();
    if length > max {
        return Err(NamingError::TooLong { length, max });
    }
    let mail_nickname = mail_nickname(&display_name);
    Ok(TeamName {
        display_name,
        mail_nickname,
    })
}

/// How an existing team's name strays from the policy (a team renamed, or
/// made outside SalesTim): what is wrong, and a name that would comply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    pub reasons: Vec<String>,
    /// The policy applied to the name's own words; `None` when the policy
    /// needs an attribute nobody knows for this team (a `[Department]`),
    /// which `reasons` then names.
    pub suggestion: Option<String>,
}

/// Whether `name` satisfies `policy`: no blocked word, not too long, and
/// the prefix and suffix in place. A prefix or suffix part that is an
/// attribute matches any non-empty text there, since the team's own
/// attributes (its requester's department) are not known for every team;
/// `attributes` fills in those that are, for the suggestion.
pub fn drift(policy: &NamingPolicy, name: &str, attributes: &Attributes) -> Option<Drift> {
    let name = tidy(name);
    let mut reasons = Vec::new();
    if let Some(word) = blocked_word(&name, &policy.blocked_words) {
        reasons.push(format!("it holds the blocked word \"{word}\""));
    }
    let max = policy.max_length.clamp(1, MAX_DISPLAY_NAME);
    let length = name.chars().count();
    if length > max {
        reasons.push(format!("it is {length} characters long, over {max}"));
    }
    let core = match framed(&name, &policy.prefix, &policy.suffix) {
        Some(core) => core,
        None => {
            reasons.push("it lacks the prefix or suffix of the naming policy".to_owned());
            name.clone()
        }
    };
    if reasons.is_empty() {
        return None;
    }
    let suggestion = match apply(policy, &core, attributes) {
        Ok(compliant) => Some(compliant.display_name),
        Err(NamingError::MissingAttribute(a)) => {
            reasons.push(format!(
                "a compliant name needs the team's {} ({}), which is not known",
                a.token(),
                "ask an owner"
            ));
            None
        }
        Err(e) => {
            reasons.push(format!("no compliant name from its words: {e}"));
            None
        }
    };
    Some(Drift {
        reasons,
        suggestion,
    })
}

/// The part of `name` between a prefix and a suffix that match the
/// policy's parts (text exactly, ignoring case; an attribute as any
/// non-empty text), or `None` when they do not frame it.
fn framed(name: &str, prefix: &[Part], suffix: &[Part]) -> Option<String> {
    let lower = name.to_lowercase();
    // Lower-casing may change byte lengths; compare on chars instead.
    let chars: Vec<char> = lower.chars().collect();
    let original: Vec<char> = name.chars().collect();
    if chars.len() != original.len() {
        return (prefix.is_empty() && suffix.is_empty()).then(|| name.to_owned());
    }
    let parts: Vec<Part> = prefix.iter().chain(suffix).cloned().collect();
    let core_at = prefix.len();
    let mut span = None;
    let mut framing = Framing {
        text: &chars,
        parts: &parts,
        core_at,
        failed: std::collections::HashSet::new(),
    };
    if !framing.matches(0, 0, &mut span) {
        return None;
    }
    let (start, end) = span.unwrap_or((0, original.len()));
    let core: String = original[start..end].iter().collect();
    let core = tidy(&core);
    (!core.is_empty()).then_some(core)
}

/// A match of `parts` against a name, with a non-empty core (the requested
/// words) between part `core_at - 1` and `core_at`. States that failed are
/// remembered (by part, position and whether the core is placed), so any
/// name against any policy costs at most parts x length x length steps,
/// however the parts repeat.
struct Framing<'a> {
    text: &'a [char],
    parts: &'a [Part],
    core_at: usize,
    failed: std::collections::HashSet<(usize, usize, bool)>,
}

impl Framing<'_> {
    /// Whether parts from `index` on match `text[at..]`; records the core's
    /// span in `span`.
    fn matches(&mut self, at: usize, index: usize, span: &mut Option<(usize, usize)>) -> bool {
        let state = (index, at, span.is_some());
        if self.failed.contains(&state) {
            return false;
        }
        let text = self.text;
        let found = if index == self.core_at && span.is_none() {
            // The core: at least one character, then the suffix parts.
            let found = (at + 1..=text.len()).rev().any(|end| {
                *span = Some((at, end));
                self.matches(end, index, span)
            });
            if !found {
                *span = None;
            }
            found
        } else {
            match self.parts.get(index) {
                None => at == text.len(),
                Some(Part::Text(t)) => {
                    let t: Vec<char> = t.to_lowercase().chars().collect();
                    text[at..].starts_with(&t) && self.matches(at + t.len(), index + 1, span)
                }
                Some(Part::Attribute(_)) => {
                    (at + 1..=text.len()).any(|end| self.matches(end, index + 1, span))
                }
            }
        };
        if !found {
            self.failed.insert(state);
        }
        found
    }
}

/// Whether `c` may stand in a mailNickname (a conservative subset of what
/// Entra ID accepts: ASCII letters, digits, `-`, `_` and `.`).
pub fn nickname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A mailNickname for `display_name`: accents folded where they are plain
/// Latin letters, other characters dropped, words joined, at most
/// [`MAX_MAIL_NICKNAME`] and never empty.
pub fn mail_nickname(display_name: &str) -> String {
    let mut out = String::new();
    for c in display_name.chars() {
        let c = fold(c);
        if nickname_char(c) {
            out.push(c);
        }
    }
    let trimmed: String = out
        .trim_matches('.')
        .chars()
        .take(MAX_MAIL_NICKNAME)
        .collect();
    let trimmed = trimmed.trim_end_matches('.').to_owned();
    if trimmed.is_empty() {
        "team".to_owned()
    } else {
        trimmed
    }
}

/// The plain letter under the common Latin accented letters.
fn fold(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'ç' => 'c',
        'Ç' => 'C',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'ñ' => 'n',
        'Ñ' => 'N',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => 'O',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' => 'Y',
        other => other,
    }
}

/// `base`, or `base-2`, `base-3`… (cut to fit 64), the first that `taken`
/// does not know (compared without case, as Entra ID does).
pub fn unique_nickname(base: &str, taken: impl Fn(&str) -> bool) -> Result<String, NamingError> {
    let base = mail_nickname(base);
    if !taken(&base) {
        return Ok(base);
    }
    for n in 2..=MAX_NICKNAME_TRIES {
        let tail = format!("-{n}");
        let head: String = base.chars().take(MAX_MAIL_NICKNAME - tail.len()).collect();
        let candidate = format!("{}{tail}", head.trim_end_matches('.'));
        if !taken(&candidate) {
            return Ok(candidate);
        }
    }
    Err(NamingError::NoFreeNickname(base))
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> NamingPolicy {
        NamingPolicy {
            prefix: vec![
                Part::Attribute(Attribute::TemplateCode),
                Part::Text("-".into()),
            ],
            suffix: vec![
                Part::Text(" (".into()),
                Part::Attribute(Attribute::Country),
                Part::Text(")".into()),
            ],
            blocked_words: vec![
                BlockedWord {
                    word: "CEO".into(),
                    whole_word: true,
                },
                BlockedWord {
                    word: "secret".into(),
                    whole_word: false,
                },
            ],
            max_length: 40,
        }
    }

    fn attrs() -> Attributes {
        Attributes {
            template_code: Some("PRJ".into()),
            country: Some("FR".into()),
            ..Attributes::default()
        }
    }

    #[test]
    fn a_name_the_policy_made_does_not_drift_and_a_renamed_one_does() {
        let made = apply(&policy(), "Falcon launch", &attrs()).unwrap();
        assert_eq!(drift(&policy(), &made.display_name, &attrs()), None);
        // Another team's code and country still fit the policy's shape.
        assert_eq!(
            drift(&policy(), "MKT-Falcon (DE)", &Attributes::default()),
            None
        );
        assert_eq!(
            drift(&policy(), "prj-falcon (fr)", &attrs()),
            None,
            "text ignores case"
        );

        let renamed = drift(&policy(), "Falcon launch", &attrs()).unwrap();
        assert!(
            renamed.reasons[0].contains("prefix or suffix"),
            "{renamed:?}"
        );
        assert_eq!(
            renamed.suggestion.as_deref(),
            Some("PRJ-Falcon launch (FR)")
        );

        let blocked = drift(&policy(), "PRJ-CEO office (FR)", &attrs()).unwrap();
        assert!(blocked.reasons[0].contains("CEO"), "{blocked:?}");
        assert!(blocked.suggestion.is_none(), "its own words are blocked");

        // Unknown attributes: the reason says which, and nothing is guessed.
        let unknown = drift(&policy(), "Falcon", &Attributes::default()).unwrap();
        assert!(unknown.suggestion.is_none());
        assert!(
            unknown.reasons.iter().any(|r| r.contains("[TemplateCode]")),
            "{unknown:?}"
        );
    }

    #[test]
    fn a_policy_of_many_attributes_against_a_long_name_that_fails_is_cheap() {
        let attribute = || Part::Attribute(Attribute::Department);
        let policy = NamingPolicy {
            prefix: vec![
                attribute(),
                attribute(),
                attribute(),
                Part::Text("#".into()),
            ],
            suffix: vec![
                attribute(),
                attribute(),
                attribute(),
                Part::Text("!".into()),
            ],
            ..NamingPolicy::default()
        };
        // Without remembering failed states this is ~256^7 steps.
        let name = "a".repeat(250);
        assert!(drift(&policy, &name, &Attributes::default()).is_some());
    }

    #[test]
    fn a_prefix_alone_must_frame_some_words() {
        let only_prefix = NamingPolicy {
            prefix: vec![Part::Text("GRP ".into())],
            ..NamingPolicy::default()
        };
        assert_eq!(
            drift(&only_prefix, "GRP Sales", &Attributes::default()),
            None
        );
        assert!(drift(&only_prefix, "GRP", &Attributes::default()).is_some());
        assert!(drift(&only_prefix, "Sales GRP", &Attributes::default()).is_some());
        assert_eq!(
            drift(
                &NamingPolicy::default(),
                "anything at all",
                &Attributes::default()
            ),
            None
        );
    }

    #[test]
    fn prefix_and_suffix_wrap_the_tidied_name() {
        let name = apply(&policy(), "  Falcon \t launch\n", &attrs()).unwrap();
        assert_eq!(name.display_name, "PRJ-Falcon launch (FR)");
        assert_eq!(name.mail_nickname, "PRJ-FalconlaunchFR");
    }

    #[test]
    fn blocked_words_match_without_case_as_words_or_anywhere() {
        assert_eq!(
            apply(&policy(), "ceo office", &attrs()),
            Err(NamingError::Blocked("CEO".into()))
        );
        assert!(
            apply(&policy(), "CEOs club", &attrs()).is_ok(),
            "whole word only"
        );
        assert_eq!(
            apply(&policy(), "TopSecretStuff", &attrs()),
            Err(NamingError::Blocked("secret".into()))
        );
    }

    #[test]
    fn whole_words_may_be_phrases_or_hold_punctuation() {
        let words = |list: &[&str]| -> Vec<BlockedWord> {
            list.iter()
                .map(|w| BlockedWord {
                    word: (*w).into(),
                    whole_word: true,
                })
                .collect()
        };
        let phrase = words(&["top  secret"]);
        assert!(blocked_word("The Top Secret plan", &phrase).is_some());
        assert!(blocked_word("top secretary pool", &phrase).is_none());
        assert!(blocked_word("stop secret", &phrase).is_none());
        let symbols = words(&["c++", "r&d"]);
        assert!(blocked_word("C++ guild", &symbols).is_some());
        assert!(blocked_word("abc++", &symbols).is_none());
        assert!(blocked_word("R&D (Lyon)", &symbols).is_some());
        assert!(blocked_word("HR&Dev", &symbols).is_none());
        // A later match counts when an earlier one is glued to a word.
        assert!(blocked_word("ceos ceo", &words(&["ceo"])).is_some());
        assert!(blocked_word("aaa", &words(&["aa"])).is_none());
    }

    #[test]
    fn length_counts_the_whole_name_and_nothing_is_cut_silently() {
        let ok = "x".repeat(40 - "PRJ- (FR)".len());
        assert_eq!(
            apply(&policy(), &ok, &attrs())
                .unwrap()
                .display_name
                .chars()
                .count(),
            40
        );
        assert_eq!(
            apply(&policy(), &format!("{ok}y"), &attrs()),
            Err(NamingError::TooLong {
                length: 41,
                max: 40
            })
        );
        let huge = NamingPolicy {
            max_length: 10_000,
            ..NamingPolicy::default()
        };
        assert!(matches!(
            apply(&huge, &"n".repeat(257), &attrs()),
            Err(NamingError::TooLong { max: 256, .. })
        ));
    }

    #[test]
    fn a_policy_says_what_is_wrong_with_it() {
        assert!(policy().problems().is_empty());
        let bad = NamingPolicy {
            prefix: vec![
                Part::Attribute(Attribute::CrmRecord),
                Part::Text("\n".into()),
            ],
            blocked_words: vec![BlockedWord {
                word: " ".into(),
                whole_word: true,
            }],
            max_length: 0,
            ..NamingPolicy::default()
        };
        let problems = bad.problems().join(" | ");
        for expected in ["1 to 256", "cannot be empty", "control characters"] {
            assert!(problems.contains(expected), "{expected} in {problems}");
        }
    }

    #[test]
    fn empty_names_and_missing_attributes_are_errors() {
        assert_eq!(
            apply(&policy(), " \u{7} ", &attrs()),
            Err(NamingError::Empty)
        );
        assert_eq!(
            apply(&policy(), "Falcon", &Attributes::default()),
            Err(NamingError::MissingAttribute(Attribute::TemplateCode))
        );
    }

    #[test]
    fn nicknames_keep_allowed_characters_only() {
        assert_eq!(
            mail_nickname("Équipe Ventes & Marketing (Île-de-France)"),
            "EquipeVentesMarketingIle-de-France"
        );
        assert_eq!(mail_nickname("東京チーム"), "team");
        assert_eq!(mail_nickname(".hidden."), "hidden");
        assert_eq!(mail_nickname(&"a".repeat(100)).len(), MAX_MAIL_NICKNAME);
    }

    #[test]
    fn unique_nicknames_count_up_within_sixty_four_characters() {
        let taken = ["falcon", "falcon-2"];
        let is_taken = |n: &str| taken.iter().any(|t| t.eq_ignore_ascii_case(n));
        assert_eq!(unique_nickname("Falcon", is_taken).unwrap(), "Falcon-3");
        let long = "b".repeat(64);
        let first = unique_nickname(&long, |n| n == long).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.ends_with("-2"));
        assert!(matches!(
            unique_nickname("x", |_| true),
            Err(NamingError::NoFreeNickname(_))
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_policy() -> impl Strategy<Value = NamingPolicy> {
            (
                "[A-Za-z -]{0,8}",
                "[A-Za-z ()]{0,8}",
                blocked_list(),
                1usize..300,
            )
                .prop_map(|(prefix, suffix, blocked_words, max_length)| NamingPolicy {
                    prefix: vec![Part::Text(prefix), Part::Attribute(Attribute::Department)],
                    suffix: vec![Part::Text(suffix)],
                    blocked_words,
                    max_length,
                })
        }

        /// The blocked-word rule written another way (a regular
        /// expression per word), to check the implementation against.
        fn holds_blocked(name: &str, blocked: &[BlockedWord]) -> bool {
            const NOT_ALNUM: &str = r"[^\p{Alphabetic}\p{N}]";
            blocked.iter().any(|b| {
                let word = tidy(&b.word);
                let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
                let mut pattern = String::from("(?i)");
                if b.whole_word && alnum(word.chars().next()) {
                    pattern += &format!("(?:^|{NOT_ALNUM})");
                }
                pattern += &regex::escape(&word);
                if b.whole_word && alnum(word.chars().last()) {
                    pattern += &format!("(?:$|{NOT_ALNUM})");
                }
                regex::Regex::new(&pattern)
                    .expect("a valid pattern")
                    .is_match(name)
            })
        }

        fn blocked_list() -> impl Strategy<Value = Vec<BlockedWord>> {
            proptest::collection::vec(
                (
                    "[a-zA-Z]{1,6}( [a-zA-Z]{1,6})?|[a-z]{1,3}[+&][a-z+]{0,2}",
                    any::<bool>(),
                ),
                0..4,
            )
            .prop_map(|words| {
                words
                    .into_iter()
                    .map(|(word, whole_word)| BlockedWord { word, whole_word })
                    .collect()
            })
        }

        proptest! {
            #[test]
            fn a_name_is_blocked_exactly_when_it_holds_a_blocked_word(
                blocked in blocked_list(),
                (before, after) in ("[A-Za-zÀ-þ0-9 ,.&()+-]{0,20}", "[A-Za-zÀ-þ0-9 ,.&()+-]{0,20}"),
                pick in any::<usize>(),
                shout in any::<bool>(),
            ) {
                // Around one of the words (any case), glued or not, or none.
                let inner = match blocked.get(pick % (blocked.len() + 1)) {
                    Some(b) if shout => b.word.to_uppercase(),
                    Some(b) => b.word.clone(),
                    None => String::new(),
                };
                let name = tidy(&format!("{before}{inner}{after}"));
                prop_assert_eq!(
                    blocked_word(&name, &blocked).is_some(),
                    holds_blocked(&name, &blocked),
                    "{:?} in {:?}", blocked, name
                );
            }

            #[test]
            fn accepted_names_always_satisfy_the_policy(
                policy in any_policy(),
                requested in "\\PC{0,300}",
                department in "[A-Za-z]{1,10}",
            ) {
                let attributes = Attributes { department: Some(department.clone()), ..Attributes::default() };
                if let Ok(name) = apply(&policy, &requested, &attributes) {
                    let display = &name.display_name;
                    prop_assert!(!display.is_empty());
                    prop_assert!(display.chars().count() <= policy.max_length.min(MAX_DISPLAY_NAME));
                    prop_assert!(display.contains(&department));
                    prop_assert!(!display.chars().any(char::is_control));
                    prop_assert!(!holds_blocked(display, &policy.blocked_words));
                    let nick = &name.mail_nickname;
                    prop_assert!(!nick.is_empty() && nick.len() <= MAX_MAIL_NICKNAME);
                    prop_assert!(nick.chars().all(nickname_char));
                    prop_assert!(!nick.starts_with('.') && !nick.ends_with('.'));
                }
            }

            #[test]
            fn unique_nicknames_are_valid_and_free(
                base in "\\PC{0,100}",
                taken in proptest::collection::hash_set("[a-z0-9-]{1,8}", 0..20),
            ) {
                let is_taken = |n: &str| taken.contains(&n.to_lowercase());
                let nick = unique_nickname(&base, is_taken).unwrap();
                prop_assert!(!is_taken(&nick));
                prop_assert!(!nick.is_empty() && nick.len() <= MAX_MAIL_NICKNAME);
                prop_assert!(nick.chars().all(nickname_char));
            }
        }
    }
}
