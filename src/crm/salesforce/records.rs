//! Salesforce rows as [`Record`]s, and the org's record links both ways.
//!
//! A record opens in Lightning at
//! `https://<MyDomain>.lightning.force.com/lightning/r/<Object>/<Id>/view`,
//! whose host follows from the instance's (`<x>.my.salesforce.com` gives
//! `<x>.lightning.force.com`, `<x>--<sbx>.sandbox.my.salesforce.com` gives
//! `<x>--<sbx>.sandbox.lightning.force.com`). An instance URL of another
//! shape (an old `na1.salesforce.com`, a local stand-in) keeps its own
//! host: Salesforce sends `/lightning/r/…` there on to Lightning.

use serde_json::Value;
use url::Url;

use crate::crm::{CrmKind, Field, Record, RecordId, RecordType};

const MY_DOMAIN: &str = ".my.salesforce.com";
const LIGHTNING: &str = ".lightning.force.com";

/// The origin records open at, for an org whose API is at `instance`.
pub fn lightning_origin(instance: &Url) -> Url {
    let mut origin = instance.clone();
    origin.set_path("");
    origin.set_query(None);
    origin.set_fragment(None);
    if let Some(host) = instance.host_str()
        && let Some(my_domain) = host.strip_suffix(MY_DOMAIN)
        && !my_domain.is_empty()
        && origin
            .set_host(Some(&format!("{my_domain}{LIGHTNING}")))
            .is_ok()
    {
        let _ = origin.set_port(None);
    }
    origin
}

/// The record's page in Lightning.
pub fn record_url(instance: &Url, record_type: RecordType, id: &RecordId) -> String {
    let mut url = lightning_origin(instance);
    url.set_path(&format!("/lightning/r/{}/{id}/view", record_type.label()));
    url.to_string()
}

/// The three-character key prefix Salesforce gives each object's ids.
fn key_prefix(record_type: RecordType) -> &'static str {
    match record_type {
        RecordType::Account => "001",
        RecordType::Contact => "003",
        RecordType::Opportunity => "006",
    }
}

fn type_of_id(id: &RecordId) -> Option<RecordType> {
    RecordType::ALL
        .into_iter()
        .find(|t| id.as_str().starts_with(key_prefix(*t)))
}

/// The record a link of this org points to: a Lightning record page on the
/// org's Lightning host (or its instance host), or a Classic
/// `<instance>/<id>` link whose id has a known key prefix. Any other host
/// (another org's included) is refused.
pub fn parse_link(instance: &Url, url: &Url) -> Option<(RecordType, RecordId)> {
    let host = url.host_str()?;
    let lightning = lightning_origin(instance);
    let ours = |origin: &Url| {
        origin.scheme() == url.scheme()
            && origin.host_str() == Some(host)
            && origin.port_or_known_default() == url.port_or_known_default()
    };
    let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
    let (record_type, id) = match segments.as_slice() {
        ["lightning", "r", object, id, "view"] if ours(&lightning) || ours(instance) => {
            let record_type = RecordType::ALL.into_iter().find(|t| t.label() == *object)?;
            (Some(record_type), *id)
        }
        [id] if ours(instance) => (None, *id),
        _ => return None,
    };
    let id = RecordId::parse_for(CrmKind::Salesforce, id)?;
    let by_prefix = type_of_id(&id)?;
    if record_type.is_some_and(|t| t != by_prefix) {
        return None;
    }
    Some((by_prefix, id))
}

fn text(row: &Value, field: &str) -> Option<String> {
    match &row[field] {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn related(row: &Value, relation: &str) -> Option<String> {
    text(&row[relation], "Name")
}

fn fields(row: &Value, wanted: &[(&str, &str)]) -> Vec<Field> {
    wanted
        .iter()
        .filter_map(|(label, name)| {
            let value = match (*name, &row[*name]) {
                ("Probability", Value::Number(n)) => format!("{n}%"),
                _ => text(row, name)?,
            };
            Some(Field {
                label: (*label).to_owned(),
                value,
            })
        })
        .collect()
}

fn joined(parts: [Option<String>; 2]) -> String {
    parts.into_iter().flatten().collect::<Vec<_>>().join(" · ")
}

/// A row of SOSL's `searchRecords` or SOQL's `records` (its type from
/// `attributes.type`); `None` for another object or a row without an id.
pub fn to_record(instance: &Url, row: &Value) -> Option<Record> {
    let record_type = RecordType::ALL
        .into_iter()
        .find(|t| row["attributes"]["type"].as_str() == Some(t.label()))?;
    let id = RecordId::parse_for(CrmKind::Salesforce, row["Id"].as_str()?)?;
    let (subtitle, fields) = match record_type {
        RecordType::Account => (
            text(row, "BillingCity").unwrap_or_default(),
            fields(
                row,
                &[
                    ("Phone", "Phone"),
                    ("Website", "Website"),
                    ("Industry", "Industry"),
                ],
            ),
        ),
        RecordType::Contact => (
            joined([text(row, "Title"), related(row, "Account")]),
            fields(row, &[("Email", "Email"), ("Phone", "Phone")]),
        ),
        RecordType::Opportunity => (
            joined([related(row, "Account"), text(row, "StageName")]),
            fields(
                row,
                &[
                    ("Amount", "Amount"),
                    ("Close date", "CloseDate"),
                    ("Probability", "Probability"),
                ],
            ),
        ),
    };
    Some(Record {
        crm: CrmKind::Salesforce,
        record_type,
        url: record_url(instance, record_type, &id),
        title: text(row, "Name").unwrap_or_else(|| id.to_string()),
        id,
        subtitle,
        fields,
        owner: related(row, "Owner"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn lightning_hosts_follow_the_instance_sandboxes_included() {
        assert_eq!(
            lightning_origin(&url("https://acme.my.salesforce.com")).as_str(),
            "https://acme.lightning.force.com/"
        );
        assert_eq!(
            lightning_origin(&url("https://acme--uat.sandbox.my.salesforce.com/")).as_str(),
            "https://acme--uat.sandbox.lightning.force.com/"
        );
        assert_eq!(
            lightning_origin(&url("https://na1.salesforce.com")).as_str(),
            "https://na1.salesforce.com/"
        );
        let id = RecordId::parse("0065g00000ABCdeAAA").unwrap();
        assert_eq!(
            record_url(
                &url("https://acme.my.salesforce.com"),
                RecordType::Opportunity,
                &id
            ),
            "https://acme.lightning.force.com/lightning/r/Opportunity/0065g00000ABCdeAAA/view"
        );
    }

    #[test]
    fn links_of_the_org_are_read_and_others_refused() {
        let instance = url("https://acme.my.salesforce.com");
        let parse = |s: &str| parse_link(&instance, &url(s));
        let opp = "0065g00000ABCdeAAA";
        assert_eq!(
            parse(&format!(
                "https://acme.lightning.force.com/lightning/r/Opportunity/{opp}/view"
            )),
            Some((RecordType::Opportunity, RecordId::parse(opp).unwrap()))
        );
        assert_eq!(
            parse("https://acme.my.salesforce.com/0015g00000ABCde").map(|(t, _)| t),
            Some(RecordType::Account)
        );
        for refused in [
            // Another org, a look-alike host, another object or prefix.
            format!("https://other.lightning.force.com/lightning/r/Opportunity/{opp}/view"),
            format!(
                "https://acme.lightning.force.com.evil.test/lightning/r/Opportunity/{opp}/view"
            ),
            format!("https://acme.lightning.force.com/lightning/r/Account/{opp}/view"),
            format!("https://acme.lightning.force.com/lightning/r/Lead/{opp}/view"),
            "https://acme.my.salesforce.com/00Q5g00000ABCde".to_owned(),
            format!("https://acme.lightning.force.com/lightning/r/Opportunity/{opp}/edit"),
            "https://acme.lightning.force.com/lightning/r/Opportunity/0065g'0000ABCde/view"
                .to_owned(),
            format!("http://acme.lightning.force.com:8443/lightning/r/Opportunity/{opp}/view"),
        ] {
            assert_eq!(parse(&refused), None, "{refused}");
        }
    }

    #[test]
    fn rows_become_records_with_their_related_names() {
        let instance = url("https://acme.my.salesforce.com");
        let row = json!({
            "attributes": {"type": "Opportunity", "url": "/services/data/v62.0/sobjects/Opportunity/0065g00000ABCdeAAA"},
            "Id": "0065g00000ABCdeAAA", "Name": "Acme renewal",
            "Account": {"attributes": {"type": "Account"}, "Name": "Acme"},
            "StageName": "Prospecting", "Amount": 125000.0, "CloseDate": "2026-03-31",
            "Probability": 10, "Owner": {"attributes": {"type": "User"}, "Name": "Dana Admin"}
        });
        let record = to_record(&instance, &row).unwrap();
        assert_eq!(record.title, "Acme renewal");
        assert_eq!(record.subtitle, "Acme · Prospecting");
        assert_eq!(record.owner.as_deref(), Some("Dana Admin"));
        let values: Vec<_> = record.fields.iter().map(|f| f.value.as_str()).collect();
        assert_eq!(values, ["125000.0", "2026-03-31", "10%"]);
        let contact = json!({"attributes": {"type": "Contact"}, "Id": "0035g00000ABCdeAAA",
            "Name": "Ann Lee", "Title": null, "Account": null, "Email": "ann@acme.test"});
        let record = to_record(&instance, &contact).unwrap();
        assert_eq!((record.subtitle.as_str(), record.owner), ("", None));
        assert!(
            to_record(
                &instance,
                &json!({"attributes": {"type": "User"}, "Id": "0055g00000ABCdeAAA"})
            )
            .is_none()
        );
    }
}
