//! The SOSL and SOQL a connector sends, built from what a user typed.
//!
//! Search is one SOSL request (`/search/?q=FIND {…} IN NAME FIELDS
//! RETURNING Account(…), Contact(…), Opportunity(…)`) rather than
//! `parameterizedSearch`: SOSL lets each object return its related names
//! (`Account.Name`, `Owner.Name`) and limits the search to name fields.
//! Neither can page by offset across several objects (SOSL's `OFFSET`, and
//! so `parameterizedSearch`'s, works only when one object is searched, and
//! stops at 2,000 rows), so a page is one request whose per-object `LIMIT`
//! reaches the end of the page: the three name-ordered lists are merged in
//! turn, and each list's first `LIMIT` rows are the same whatever the
//! limit, so page N is the same slice of the same merge page 1 began.
//!
//! SOSL's reserved characters in a search term are escaped with a
//! backslash (`? & | ! { } [ ] ( ) ^ ~ * : \ " ' + -`, Salesforce's SOSL
//! `FIND` reference), so a typed `}` cannot close the term and reach the
//! `RETURNING` clause, and a typed `*` is not a wildcard. SOQL string
//! literals escape `\` and `'` (SOQL's reserved characters).

use serde_json::Value;

use crate::crm::{RecordType, SearchText};

/// SOSL's reserved characters in a `FIND` term.
const SOSL_RESERVED: &[char] = &[
    '?', '&', '|', '!', '{', '}', '[', ']', '(', ')', '^', '~', '*', ':', '\\', '"', '\'', '+', '-',
];

/// A search reaches this many rows per object at most (page after page);
/// three objects stay well under SOSL's 2,000 rows per search.
pub const MAX_SEARCH_DEPTH: usize = 250;
/// SOQL's `OFFSET` stops at 2,000 rows.
pub const MAX_SOQL_OFFSET: usize = 2_000;

/// The fields each object returns, related names included.
pub fn fields(record_type: RecordType) -> &'static str {
    match record_type {
        RecordType::Account => "Id, Name, BillingCity, Phone, Website, Industry, Owner.Name",
        RecordType::Contact => "Id, Name, Title, Account.Name, Email, Phone, Owner.Name",
        RecordType::Opportunity => {
            "Id, Name, Account.Name, StageName, Amount, CloseDate, Probability, Owner.Name"
        }
    }
}

/// `text` as a SOSL `FIND` term: reserved characters escaped; a trailing
/// wildcard after a final word of two or more letters or digits, so that
/// what is typed so far ("acm") finds "Acme" (SOSL refuses a wildcard
/// after a single character). `None` when nothing searchable is left
/// (SOSL refuses terms shorter than two characters).
pub fn sosl_term(text: &SearchText) -> Option<String> {
    let raw = text.as_str();
    if raw.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
        return None;
    }
    let mut term = String::with_capacity(raw.len() * 2 + 1);
    for c in raw.chars() {
        if SOSL_RESERVED.contains(&c) {
            term.push('\\');
        }
        term.push(c);
    }
    let last_word = raw
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric())
        .count();
    if last_word >= 2 {
        term.push('*');
    }
    Some(term)
}

/// The SOSL search for one page: every object's rows up to the page's end.
pub fn sosl_search(term: &str, skip: usize, count: usize) -> Option<String> {
    let depth = skip.checked_add(count)?;
    if depth > MAX_SEARCH_DEPTH {
        return None;
    }
    let returning: Vec<String> = RecordType::ALL
        .iter()
        .map(|t| format!("{}({} ORDER BY Name LIMIT {depth})", t.label(), fields(*t)))
        .collect();
    Some(format!(
        "FIND {{{term}}} IN NAME FIELDS RETURNING {}",
        returning.join(", ")
    ))
}

/// The page `[skip, skip + count)` of SOSL's `searchRecords`, the objects'
/// lists taken in turn (an account, a contact, an opportunity, …).
pub fn merge_page(search_records: &[Value], skip: usize, count: usize) -> Vec<&Value> {
    let lists: Vec<Vec<&Value>> = RecordType::ALL
        .iter()
        .map(|t| {
            search_records
                .iter()
                .filter(|r| r["attributes"]["type"].as_str() == Some(t.label()))
                .collect()
        })
        .collect();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|row| lists.iter().filter_map(move |list| list.get(row).copied()))
        .skip(skip)
        .take(count)
        .collect()
}

/// `s` as a SOQL string literal, quotes included.
pub fn soql_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\\' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Recently changed opportunities (SOQL reads one object; opportunities
/// are what teams are made for), one page by `OFFSET`.
pub fn soql_recent(skip: usize, count: usize) -> Option<String> {
    (skip <= MAX_SOQL_OFFSET).then(|| {
        format!(
            "SELECT {} FROM Opportunity ORDER BY LastModifiedDate DESC, Id DESC LIMIT {count} OFFSET {skip}",
            fields(RecordType::Opportunity)
        )
    })
}

/// One record by id (the id is checked already; it is a literal all the
/// same).
pub fn soql_by_id(record_type: RecordType, id: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE Id = {} LIMIT 1",
        fields(record_type),
        record_type.label(),
        soql_literal(id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(s: &str) -> SearchText {
        SearchText::parse(s).unwrap()
    }

    #[test]
    fn every_reserved_character_is_escaped_and_nothing_else() {
        let hostile = r#"a} RETURNING User(Id) ? & | ! { [ ] ^ ~ * : \ " ' + -"#;
        let term = sosl_term(&text(hostile)).unwrap();
        assert_eq!(
            term,
            r#"a\} RETURNING User\(Id\) \? \& \| \! \{ \[ \] \^ \~ \* \: \\ \" \' \+ \-"#
        );
        // Unescaped, read back left to right, no character closes the term.
        let mut chars = term.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                assert!(SOSL_RESERVED.contains(&chars.next().unwrap()));
            } else {
                assert!(
                    !SOSL_RESERVED.contains(&c) || c == '*',
                    "{c} unescaped in {term}"
                );
            }
        }
        assert_eq!(sosl_term(&text("O'Brien")).unwrap(), r"O\'Brien*");
        assert_eq!(sosl_term(&text("Acme*")).unwrap(), r"Acme\*");
        assert_eq!(sosl_term(&text("acme c")).unwrap(), "acme c");
        assert_eq!(sosl_term(&text("x")), None);
        assert_eq!(sosl_term(&text("*}{")), None);
    }

    #[test]
    fn soql_literals_escape_backslashes_and_quotes() {
        assert_eq!(soql_literal("Bob's BBQ"), r"'Bob\'s BBQ'");
        assert_eq!(soql_literal(r"x\' OR Name != '"), r"'x\\\' OR Name != \''");
        // Every quote inside is preceded by an odd run of backslashes.
        let lit = soql_literal(r"\\'\'' OR Id != ''--");
        let inner = &lit[1..lit.len() - 1];
        let bytes = inner.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\'' {
                let run = bytes[..i].iter().rev().take_while(|b| **b == b'\\').count();
                assert!(run % 2 == 1, "quote at {i} closes the literal: {lit}");
            }
        }
    }

    #[test]
    fn a_search_reaches_the_end_of_its_page_and_no_further() {
        let q = sosl_search("acme*", 25, 25).unwrap();
        assert!(q.starts_with("FIND {acme*} IN NAME FIELDS RETURNING Account(Id, Name"));
        assert_eq!(q.matches("LIMIT 50)").count(), 3, "{q}");
        assert!(!q.contains("OFFSET"));
        assert_eq!(sosl_search("acme*", MAX_SEARCH_DEPTH, 1), None);
        assert_eq!(sosl_search("acme*", usize::MAX, 1), None);
        assert!(soql_recent(MAX_SOQL_OFFSET, 25).is_some());
        assert_eq!(soql_recent(MAX_SOQL_OFFSET + 1, 25), None);
    }

    #[test]
    fn pages_take_the_objects_in_turn_and_agree_whatever_the_limit() {
        let row = |t: &str, n: u32| json!({"attributes": {"type": t}, "Id": format!("{t}{n}")});
        let all = vec![
            row("Account", 1),
            row("Account", 2),
            row("Account", 3),
            row("Contact", 1),
            row("Opportunity", 1),
            row("Opportunity", 2),
        ];
        let ids = |page: Vec<&Value>| -> Vec<String> {
            page.iter()
                .map(|r| r["Id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            ids(merge_page(&all, 0, 4)),
            ["Account1", "Contact1", "Opportunity1", "Account2"]
        );
        assert_eq!(ids(merge_page(&all, 4, 4)), ["Opportunity2", "Account3"]);
        // What a LIMIT 2 answer holds: the first two rows of page 1 agree.
        let limited = vec![
            all[0].clone(),
            all[1].clone(),
            all[3].clone(),
            all[4].clone(),
            all[5].clone(),
        ];
        assert_eq!(ids(merge_page(&limited, 0, 2)), ids(merge_page(&all, 0, 2)));
    }
}
