//! What a search sends, in each of Dataverse's two query languages, and
//! the continuation it hands out for the next page.
//!
//! Typed text reaches a query only through [`escape_odata_literal`] (an
//! OData string literal: a quote is doubled) or [`escape_search_text`]
//! (Dataverse search's Lucene syntax: every operator character behind a
//! backslash), so `') or true or contains(name,'` is a name to look for,
//! not a clause.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::records::Table;
use crate::crm::{MAX_PAGE, RecordType};

/// A continuation longer than this is not one we made (three nextLinks of
/// a few hundred characters each).
const MAX_CONTINUATION_CHARS: usize = 16 * 1024;

/// Characters Lucene gives a meaning to (`&&` and `||` included, one
/// character at a time).
const LUCENE_SPECIAL: &[char] = &[
    '+', '-', '&', '|', '!', '(', ')', '{', '}', '[', ']', '^', '"', '~', '*', '?', ':', '\\', '/',
];

/// The text inside an OData string literal `'…'`: a quote is doubled.
pub fn escape_odata_literal(text: &str) -> String {
    text.replace('\'', "''")
}

/// The text as Dataverse search's terms, each operator character escaped.
pub fn escape_search_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if LUCENE_SPECIAL.contains(&c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The `$filter` a table's page is asked with: its name column contains
/// the text.
pub(super) fn contains_filter(table: &Table, text: &str) -> String {
    format!(
        "contains({},'{}')",
        table.name_column,
        escape_odata_literal(text)
    )
}

/// `searchquery`'s body: one request across the three tables. `entities`
/// is a JSON string, not an array (PROTOCOLS-2 §5).
pub(super) fn search_body(text: &str, skip: usize, top: usize) -> Value {
    let entities: Vec<Value> = RecordType::ALL
        .into_iter()
        .map(|t| {
            let table = Table::of(t);
            json!({
                "name": table.logical,
                "selectColumns": table.search_columns,
                "searchColumns": [table.name_column],
            })
        })
        .collect();
    json!({
        "search": escape_search_text(text),
        "top": top,
        "skip": skip,
        "count": true,
        "entities": Value::Array(entities).to_string(),
    })
}

/// How many records each table gives a page of `count`: shares that add up
/// to `count`, so a page holds no more than was asked for (at least one
/// each: a page of one or two can hold three).
pub(super) fn shares(count: usize) -> [usize; 3] {
    let count = count.clamp(1, MAX_PAGE);
    let (each, rest) = (count / 3, count % 3);
    [0, 1, 2].map(|i| (each + usize::from(i < rest)).max(1))
}

/// A table's next page: its `@odata.nextLink` (verbatim) and the page size
/// it was asked with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct NextSet {
    #[serde(rename = "t")]
    pub record_type: RecordType,
    #[serde(rename = "l")]
    pub link: String,
    #[serde(rename = "n")]
    pub size: usize,
}

/// What a page's `next` carries: which way the page was made, so the next
/// one goes the same way in as few requests as it can.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "m")]
pub(super) enum Continuation {
    /// Dataverse search: the next `skip`.
    #[serde(rename = "s")]
    Relevance { skip: usize },
    /// The filters: each table that has more.
    #[serde(rename = "f")]
    Filter { sets: Vec<NextSet> },
}

impl Continuation {
    /// Opaque to the caller: JSON, then base64url.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a continuation serialises");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Ours, or `None`: bounded, decodable, at most one link per table
    /// and page sizes we would have asked for. (The links' origin is
    /// checked by the caller, which knows the org.)
    pub fn decode(raw: &str) -> Option<Continuation> {
        if raw.len() > MAX_CONTINUATION_CHARS {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
        let continuation: Continuation = serde_json::from_slice(&bytes).ok()?;
        match &continuation {
            Continuation::Relevance { .. } => {}
            Continuation::Filter { sets } => {
                let sane = sets.len() <= RecordType::ALL.len()
                    && sets.iter().all(|s| (1..=MAX_PAGE).contains(&s.size));
                if !sane {
                    return None;
                }
            }
        }
        Some(continuation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_odata_literal_doubles_quotes_so_an_injection_stays_inside_the_string() {
        assert_eq!(escape_odata_literal("O'Brien"), "O''Brien");
        let hostile = "') or true or contains(name,'";
        let filter = contains_filter(Table::of(RecordType::Account), hostile);
        assert_eq!(filter, "contains(name,''') or true or contains(name,''')");
        // Undoing the doubling inside the literal gives back the text:
        // the literal never closed early.
        let inner = &filter["contains(name,'".len()..filter.len() - "')".len()];
        assert!(!inner.replace("''", "").contains('\''));
        assert_eq!(inner.replace("''", "'"), hostile);
    }

    #[test]
    fn search_text_puts_every_lucene_operator_behind_a_backslash() {
        assert_eq!(escape_search_text("acme"), "acme");
        assert_eq!(
            escape_search_text(r#"a+b-c&&d||e!(f){g}[h]^"i"~j*k?l:m\n/o"#),
            r#"a\+b\-c\&\&d\|\|e\!\(f\)\{g\}\[h\]\^\"i\"\~j\*k\?l\:m\\n\/o"#
        );
        let hostile = r#"*) OR name:* \"#;
        let escaped = escape_search_text(hostile);
        // Each special character is preceded by exactly one backslash.
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                assert!(LUCENE_SPECIAL.contains(&chars.next().unwrap()));
            } else {
                assert!(!LUCENE_SPECIAL.contains(&c), "{escaped}");
            }
        }
        let body = search_body(hostile, 0, 5);
        assert_eq!(body["search"], escaped);
        let entities: Value = serde_json::from_str(body["entities"].as_str().unwrap()).unwrap();
        assert_eq!(entities.as_array().unwrap().len(), 3);
    }

    #[test]
    fn shares_add_up_to_the_page() {
        assert_eq!(shares(25), [9, 8, 8]);
        assert_eq!(shares(3), [1, 1, 1]);
        assert_eq!(shares(1), [1, 1, 1]);
        for n in 3..=MAX_PAGE {
            assert_eq!(shares(n).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn a_continuation_round_trips_and_a_forged_one_is_refused() {
        let c = Continuation::Filter {
            sets: vec![NextSet {
                record_type: RecordType::Contact,
                link: "https://org.crm.dynamics.com/api/data/v9.2/contacts?$skiptoken=x".into(),
                size: 8,
            }],
        };
        assert_eq!(Continuation::decode(&c.encode()), Some(c));
        let s = Continuation::Relevance { skip: 10 };
        assert_eq!(Continuation::decode(&s.encode()), Some(s));
        assert_eq!(Continuation::decode("not base64 !"), None);
        assert_eq!(Continuation::decode(&URL_SAFE_NO_PAD.encode("{}")), None);
        let huge = Continuation::Filter {
            sets: vec![NextSet {
                record_type: RecordType::Account,
                link: "x".into(),
                size: 10_000,
            }],
        };
        assert_eq!(Continuation::decode(&huge.encode()), None);
        assert_eq!(
            Continuation::decode(&"A".repeat(MAX_CONTINUATION_CHARS + 1)),
            None
        );
    }
}
