//! The stand-in's SOSL and SOQL: the slice of each language the connector
//! sends, parsed the way Salesforce reads it, so an unescaped character in
//! a search term changes what is searched (or is refused), as it would.
//!
//! SOSL: `FIND {term} IN NAME FIELDS RETURNING Object(fields [ORDER BY
//! Name] [LIMIT n] [OFFSET m]), …`. In the term, a backslash escapes one
//! reserved character (`? & | ! { } [ ] ( ) ^ ~ * : \ " ' + -`; any other
//! escape is refused as Salesforce refuses it); an unescaped `}` ends the
//! term; an unescaped `*` ending the term is a wildcard; any other
//! unescaped reserved character is refused (Salesforce would read it as an
//! operator; the connector never sends one). Words match name tokens
//! (split at punctuation, as Salesforce's index splits them); `OFFSET`
//! with more than one object is refused, as Salesforce refuses it.
//!
//! SOQL: `SELECT fields FROM Object [WHERE Id = '<literal>'] [ORDER BY
//! LastModifiedDate DESC, Id DESC] [LIMIT n] [OFFSET m]`, literals with
//! `\'` and `\\` escapes, `OFFSET` at most 2,000.

use serde_json::Value;

const RESERVED: &[char] = &[
    '?', '&', '|', '!', '{', '}', '[', ']', '(', ')', '^', '~', '*', ':', '\\', '"', '\'', '+', '-',
];

/// A refusal: (status, errorCode, message).
pub type Refused = (u16, &'static str, String);

fn malformed_search(message: impl Into<String>) -> Refused {
    (400, "MALFORMED_SEARCH", message.into())
}

fn malformed_query(message: impl Into<String>) -> Refused {
    (400, "MALFORMED_QUERY", message.into())
}

/// What a `FIND` term asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// Lower-cased words, split at anything not a letter or digit.
    pub words: Vec<String>,
    /// The last word is a prefix.
    pub wildcard: bool,
}

impl Term {
    /// Whether a record's name holds every word (the last as a prefix when
    /// the term ends in a wildcard).
    pub fn matches(&self, name: &str) -> bool {
        let tokens = words(name);
        self.words.iter().enumerate().all(|(i, word)| {
            let prefix = self.wildcard && i + 1 == self.words.len();
            tokens
                .iter()
                .any(|t| t == word || (prefix && t.starts_with(word.as_str())))
        })
    }
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// One object of a search or a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub object: String,
    pub fields: Vec<String>,
    pub limit: Option<usize>,
    pub offset: usize,
}

#[derive(Debug)]
pub struct Search {
    pub term: Term,
    pub specs: Vec<Spec>,
}

pub fn parse_sosl(q: &str) -> Result<Search, Refused> {
    let rest = q
        .strip_prefix("FIND {")
        .ok_or_else(|| malformed_search("expected FIND {"))?;
    let mut literal = String::new();
    let mut wildcard = false;
    let mut chars = rest.char_indices();
    let after = loop {
        let Some((i, c)) = chars.next() else {
            return Err(malformed_search("the search term is not closed"));
        };
        match c {
            '\\' => match chars.next() {
                Some((_, e)) if RESERVED.contains(&e) => literal.push(e),
                _ => return Err(malformed_search("Invalid escape sequence")),
            },
            '}' => break &rest[i + 1..],
            '*' if matches!(rest[i + 1..].chars().next(), Some('}')) => wildcard = true,
            c if RESERVED.contains(&c) => {
                return Err(malformed_search(format!("unexpected operator '{c}'")));
            }
            c => literal.push(c),
        }
    };
    let words = words(&literal);
    if words.iter().map(|w| w.chars().count()).sum::<usize>() < 2 {
        return Err(malformed_search(
            "search term must be longer than one character",
        ));
    }
    let returning = after
        .strip_prefix(" IN NAME FIELDS RETURNING ")
        .ok_or_else(|| malformed_search("expected IN NAME FIELDS RETURNING"))?;
    let specs = split_top_level(returning)?
        .into_iter()
        .map(parse_spec)
        .collect::<Result<Vec<_>, _>>()?;
    if specs.len() > 1 && specs.iter().any(|s| s.offset > 0) {
        return Err(malformed_search(
            "OFFSET can be used only when querying a single object",
        ));
    }
    Ok(Search {
        term: Term { words, wildcard },
        specs,
    })
}

/// `Account(…), Contact(…)` into its specs, commas inside parentheses
/// kept.
fn split_top_level(s: &str) -> Result<Vec<&str>, Refused> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(malformed_search("unbalanced parentheses"));
        }
    }
    parts.push(s[start..].trim());
    Ok(parts)
}

/// `Object(f1, f2 ORDER BY Name LIMIT n OFFSET m)`.
fn parse_spec(spec: &str) -> Result<Spec, Refused> {
    let (object, inner) = spec
        .strip_suffix(')')
        .and_then(|s| s.split_once('('))
        .ok_or_else(|| malformed_search(format!("unexpected token: {spec}")))?;
    let (fields, clauses) = match inner.find(" ORDER BY ").or_else(|| inner.find(" LIMIT ")) {
        Some(at) => (&inner[..at], &inner[at..]),
        None => (inner, ""),
    };
    let clauses = clauses
        .trim_start()
        .strip_prefix("ORDER BY Name")
        .unwrap_or(clauses);
    let (limit, offset) = limit_offset(clauses).map_err(malformed_search)?;
    Ok(Spec {
        object: object.trim().to_owned(),
        fields: field_list(fields),
        limit,
        offset,
    })
}

fn field_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect()
}

/// `[LIMIT n] [OFFSET m]`, nothing else.
fn limit_offset(clauses: &str) -> Result<(Option<usize>, usize), String> {
    let mut tokens = clauses.split_whitespace();
    let (mut limit, mut offset) = (None, 0);
    while let Some(keyword) = tokens.next() {
        let n = tokens
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| format!("expected a number after {keyword}"))?;
        match keyword {
            "LIMIT" if limit.is_none() => limit = Some(n),
            "OFFSET" => offset = n,
            other => return Err(format!("unexpected token: {other}")),
        }
    }
    Ok((limit, offset))
}

#[derive(Debug)]
pub struct Query {
    pub spec: Spec,
    /// `WHERE Id = '…'`, unescaped.
    pub id: Option<String>,
    pub recent_first: bool,
}

pub fn parse_soql(q: &str) -> Result<Query, Refused> {
    let rest = q
        .strip_prefix("SELECT ")
        .ok_or_else(|| malformed_query("expected SELECT"))?;
    let (fields, rest) = rest
        .split_once(" FROM ")
        .ok_or_else(|| malformed_query("expected FROM"))?;
    let (object, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut id = None;
    if let Some(after) = rest.strip_prefix("WHERE Id = '") {
        let mut literal = String::new();
        let mut chars = after.char_indices();
        rest = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, e @ ('\\' | '\'' | '"'))) => literal.push(e),
                    _ => return Err(malformed_query("Invalid escape sequence")),
                },
                Some((i, '\'')) => break after[i + 1..].trim_start(),
                Some((_, c)) => literal.push(c),
                None => return Err(malformed_query("unterminated string literal")),
            }
        };
        id = Some(literal);
    }
    let recent_first = match rest.strip_prefix("ORDER BY LastModifiedDate DESC, Id DESC") {
        Some(after) => {
            rest = after;
            true
        }
        None => false,
    };
    let (limit, offset) = limit_offset(rest).map_err(malformed_query)?;
    if offset > 2_000 {
        return Err((
            400,
            "NUMBER_OUTSIDE_VALID_RANGE",
            "Maximum SOQL offset allowed is 2000".into(),
        ));
    }
    Ok(Query {
        spec: Spec {
            object: object.to_owned(),
            fields: field_list(fields),
            limit,
            offset,
        },
        id,
        recent_first,
    })
}

/// `row` with only `fields` (relationship fields as nested objects, `null`
/// when unset), and its `attributes`; `None` names a field it lacks.
pub fn select(
    row: &Value,
    fields: &[String],
    related: impl Fn(&str, &str) -> Option<Value>,
) -> Result<Value, String> {
    let mut out = serde_json::Map::new();
    out.insert("attributes".into(), row["attributes"].clone());
    for field in fields {
        match field.split_once('.') {
            Some((relation, name)) => {
                let value = related(relation, name).ok_or_else(|| field.clone())?;
                out.insert(relation.to_owned(), value);
            }
            None => {
                let value = row.get(field.as_str()).ok_or_else(|| field.clone())?;
                out.insert(field.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_escaped_brace_stays_in_the_term_and_an_unescaped_one_ends_it() {
        let q = r"FIND {x\} RETURNING User\(Id*} IN NAME FIELDS RETURNING Account(Id LIMIT 5)";
        let search = parse_sosl(q).unwrap();
        assert_eq!(search.term.words, ["x", "returning", "user", "id"]);
        assert!(search.term.wildcard);
        assert_eq!(search.specs.len(), 1);
        let injected = "FIND {x} RETURNING User(Id} IN NAME FIELDS RETURNING Account(Id)";
        assert!(parse_sosl(injected).is_err());
        assert!(
            parse_sosl(r"FIND {ac\*} IN NAME FIELDS RETURNING Account(Id)")
                .is_ok_and(|s| !s.term.wildcard)
        );
    }

    #[test]
    fn soql_literals_are_read_with_their_escapes() {
        let q = parse_soql(r"SELECT Id FROM Account WHERE Id = 'a\'b\\' LIMIT 1").unwrap();
        assert_eq!(q.id.as_deref(), Some(r"a'b\"));
        assert!(parse_soql("SELECT Id FROM Account WHERE Id = 'a' OR Id != '' LIMIT 1").is_err());
    }
}
