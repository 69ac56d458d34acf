//! The three tables as the Web API names them, their rows as [`Record`]s,
//! and the org's record links.
//!
//! Labels come from the `OData.Community.Display.V1.FormattedValue`
//! annotations the requests ask for: money in the record's currency, dates
//! and option sets as the org shows them, lookups (owner, company,
//! customer) by name.

use serde_json::Value;
use url::Url;

use crate::crm::{CrmKind, Field, Record, RecordId, RecordType};

const FORMATTED: &str = "@OData.Community.Display.V1.FormattedValue";

/// One table: its entity set (URL), logical name (links, binds), key and
/// name columns, and what a read selects.
pub(super) struct Table {
    pub set: &'static str,
    pub logical: &'static str,
    pub id_column: &'static str,
    pub name_column: &'static str,
    /// `$select` of a page or a read.
    pub select: &'static str,
    /// Dataverse search's `selectColumns` (plain columns: a search hit
    /// carries no formatted lookups).
    pub search_columns: &'static [&'static str],
}

const ACCOUNT: Table = Table {
    set: "accounts",
    logical: "account",
    id_column: "accountid",
    name_column: "name",
    select: "name,address1_city,telephone1,websiteurl,industrycode,_ownerid_value,modifiedon",
    search_columns: &["name", "address1_city", "telephone1", "websiteurl"],
};

const CONTACT: Table = Table {
    set: "contacts",
    logical: "contact",
    id_column: "contactid",
    name_column: "fullname",
    select: "fullname,jobtitle,_parentcustomerid_value,emailaddress1,telephone1,_ownerid_value,modifiedon",
    search_columns: &["fullname", "jobtitle", "emailaddress1", "telephone1"],
};

const OPPORTUNITY: Table = Table {
    set: "opportunities",
    logical: "opportunity",
    id_column: "opportunityid",
    name_column: "name",
    select: "name,_customerid_value,salesstage,estimatedvalue,estimatedclosedate,closeprobability,_ownerid_value,modifiedon",
    search_columns: &[
        "name",
        "estimatedvalue",
        "estimatedclosedate",
        "closeprobability",
    ],
};

impl Table {
    pub fn of(record_type: RecordType) -> &'static Table {
        match record_type {
            RecordType::Account => &ACCOUNT,
            RecordType::Contact => &CONTACT,
            RecordType::Opportunity => &OPPORTUNITY,
        }
    }

    pub fn by_logical_name(name: &str) -> Option<RecordType> {
        RecordType::ALL
            .into_iter()
            .find(|t| Table::of(*t).logical == name)
    }
}

/// A column's label: its formatted value when Dataverse gave one, else its
/// value as written (except a lookup's, a bare GUID); `None` when empty.
fn label(row: &Value, column: &str) -> Option<String> {
    let formatted = row
        .get(format!("{column}{FORMATTED}"))
        .filter(|v| !v.is_null());
    let lookup = column.starts_with('_') && column.ends_with("_value");
    let value = match formatted {
        Some(value) => value,
        None if lookup => return None,
        None => row.get(column)?,
    };
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

fn joined(parts: [Option<String>; 2]) -> String {
    parts.into_iter().flatten().collect::<Vec<_>>().join(" · ")
}

fn fields(row: &Value, labelled: &[(&str, &str)]) -> Vec<Field> {
    labelled
        .iter()
        .filter_map(|(label_text, column)| {
            label(row, column).map(|value| Field {
                label: (*label_text).to_owned(),
                value,
            })
        })
        .collect()
}

/// A row of `record_type`'s table (a page's, a read's, or a search hit's
/// attributes with its id under the key column); `None` without a usable
/// id.
pub(super) fn from_row(record_type: RecordType, row: &Value, org_url: &Url) -> Option<Record> {
    let table = Table::of(record_type);
    let id = RecordId::parse_for(CrmKind::Dynamics, row[table.id_column].as_str()?)?;
    let (subtitle, fields) = match record_type {
        RecordType::Account => (
            label(row, "address1_city").unwrap_or_default(),
            fields(
                row,
                &[
                    ("Phone", "telephone1"),
                    ("Website", "websiteurl"),
                    ("Industry", "industrycode"),
                ],
            ),
        ),
        RecordType::Contact => (
            joined([
                label(row, "jobtitle"),
                label(row, "_parentcustomerid_value"),
            ]),
            fields(row, &[("Email", "emailaddress1"), ("Phone", "telephone1")]),
        ),
        RecordType::Opportunity => (
            joined([label(row, "_customerid_value"), label(row, "salesstage")]),
            fields(
                row,
                &[
                    ("Est. revenue", "estimatedvalue"),
                    ("Est. close date", "estimatedclosedate"),
                    ("Probability", "closeprobability"),
                ],
            ),
        ),
    };
    Some(Record {
        crm: CrmKind::Dynamics,
        record_type,
        title: label(row, table.name_column).unwrap_or_else(|| "(no name)".to_owned()),
        subtitle,
        fields,
        owner: label(row, "_ownerid_value"),
        url: record_url(org_url, table, &id),
        id,
    })
}

/// The record in the org's model-driven app.
fn record_url(org_url: &Url, table: &Table, id: &RecordId) -> String {
    format!(
        "{}/main.aspx?pagetype=entityrecord&etn={}&id={id}",
        org_url.origin().ascii_serialization(),
        table.logical
    )
}

/// `https://<org>/main.aspx?…&etn=<table>&id=<guid>` of this org only
/// (parameters in any order, `appid` optional).
pub(super) fn parse_link(org_url: &Url, url: &Url) -> Option<(RecordType, RecordId)> {
    let same_org = url.scheme() == org_url.scheme()
        && url.host_str().is_some()
        && url.host_str() == org_url.host_str()
        && url.port_or_known_default() == org_url.port_or_known_default();
    if !same_org || !url.path().eq_ignore_ascii_case("/main.aspx") {
        return None;
    }
    let param = |name: &str| {
        url.query_pairs()
            .take(32)
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.into_owned())
    };
    if param("pagetype").is_some_and(|p| !p.eq_ignore_ascii_case("entityrecord")) {
        return None;
    }
    let record_type = Table::by_logical_name(&param("etn")?.to_ascii_lowercase())?;
    let id = RecordId::parse_for(CrmKind::Dynamics, &param("id")?)?;
    Some((record_type, id))
}

/// A column's logical name as Dataverse writes them (what an admin may name
/// for the write-back; it goes into a request body as a key).
pub(super) fn is_logical_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.as_bytes()[0].is_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";

    fn org() -> Url {
        Url::parse("https://contoso.crm4.dynamics.com").unwrap()
    }

    #[test]
    fn a_row_becomes_a_record_with_formatted_labels() {
        let row = json!({
            "opportunityid": ID,
            "name": "Big deal",
            "_customerid_value": "aaa",
            "_customerid_value@OData.Community.Display.V1.FormattedValue": "Contoso",
            "salesstage": 1,
            "salesstage@OData.Community.Display.V1.FormattedValue": "Develop",
            "estimatedvalue": 5000.0,
            "estimatedvalue@OData.Community.Display.V1.FormattedValue": "$5,000.00",
            "closeprobability": 40,
            "_ownerid_value": "bbb",
            "_ownerid_value@OData.Community.Display.V1.FormattedValue": "Ada Lovelace",
        });
        let record = from_row(RecordType::Opportunity, &row, &org()).unwrap();
        assert_eq!(record.title, "Big deal");
        assert_eq!(record.subtitle, "Contoso · Develop");
        assert_eq!(record.owner.as_deref(), Some("Ada Lovelace"));
        assert_eq!(
            record.fields,
            vec![
                Field {
                    label: "Est. revenue".into(),
                    value: "$5,000.00".into()
                },
                Field {
                    label: "Probability".into(),
                    value: "40".into()
                },
            ]
        );
        assert_eq!(
            record.url,
            format!(
                "https://contoso.crm4.dynamics.com/main.aspx?pagetype=entityrecord&etn=opportunity&id={ID}"
            )
        );
        assert!(
            from_row(
                RecordType::Opportunity,
                &json!({"opportunityid": "x"}),
                &org()
            )
            .is_none()
        );
    }

    #[test]
    fn links_of_the_org_only() {
        let ok = |s: &str| parse_link(&org(), &Url::parse(s).unwrap());
        let base = "https://contoso.crm4.dynamics.com/main.aspx";
        assert_eq!(
            ok(&format!(
                "{base}?appid=x&pagetype=entityrecord&etn=account&id={ID}"
            )),
            Some((RecordType::Account, RecordId::parse(ID).unwrap()))
        );
        assert_eq!(
            ok(&format!("{base}?id=%7B{ID}%7D&etn=contact")).map(|r| r.0),
            Some(RecordType::Contact)
        );
        for bad in [
            format!("https://evil.crm4.dynamics.com/main.aspx?etn=account&id={ID}"),
            format!("https://contoso.crm4.dynamics.com.evil.com/main.aspx?etn=account&id={ID}"),
            format!("http://contoso.crm4.dynamics.com/main.aspx?etn=account&id={ID}"),
            format!("https://contoso.crm4.dynamics.com/other.aspx?etn=account&id={ID}"),
            format!("{base}?etn=lead&id={ID}"),
            format!("{base}?etn=account&id=0065g00000ABCdeAAA"),
            format!("{base}?etn=account"),
            format!("{base}?pagetype=entitylist&etn=account&id={ID}"),
        ] {
            assert_eq!(ok(&bad), None, "{bad}");
        }
    }

    #[test]
    fn only_plain_logical_names_are_written_to() {
        assert!(is_logical_name("new_teamurl"));
        assert!(is_logical_name("websiteurl"));
        for bad in [
            "",
            "New_TeamUrl",
            "a b",
            "x@odata.bind",
            "_x",
            "a\"",
            &"a".repeat(101),
        ] {
            assert!(!is_logical_name(bad), "{bad}");
        }
    }
}
