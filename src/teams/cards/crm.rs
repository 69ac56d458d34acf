//! CRM records as cards: the card a search inserts or a link unfurls into
//! (everyone in the chat reads the same card), and the notices for a CRM
//! that cannot answer. Record text comes from the CRM, so it is quoted like
//! anything people typed.

use serde_json::{Value, json};
use url::Url;

use super::{
    attention, card, facts, heading, open_url, paragraph, quoted, subtle, verbs, with_actions,
};
use crate::crm::{CrmKind, Record, RecordRef};

/// The data a "Create a team for this record" button carries: which
/// record, never its name (looked up again when the form opens).
pub fn record_data(action: &str, record: &RecordRef) -> Value {
    json!({"action": action, "crm": record.crm.as_str(), "recordType": record.record_type.as_str(), "recordId": record.id.as_str()})
}

/// A record: its name and type, key fields, owner, a button to the record
/// in its CRM and, when the tenant has a template for its type, one that
/// opens the request form for a team for it.
pub fn crm_record(record: &Record, offer_team: bool) -> Value {
    let mut body = vec![
        heading(&quoted(&record.title, 120)),
        subtle(&format!(
            "{} · {}",
            record.crm.label(),
            record.record_type.label()
        )),
    ];
    if !record.subtitle.is_empty() {
        body.push(paragraph(&quoted(&record.subtitle, 200)));
    }
    let mut pairs: Vec<(&str, String)> = record
        .fields
        .iter()
        .take(8)
        .map(|f| (f.label.as_str(), quoted(&f.value, 120)))
        .collect();
    if let Some(owner) = &record.owner {
        pairs.push(("Owner", quoted(owner, 80)));
    }
    if !pairs.is_empty() {
        body.push(facts(&pairs));
    }
    let mut actions = Vec::new();
    if let Ok(url) = Url::parse(&record.url) {
        actions.push(open_url(&format!("Open in {}", record.crm.label()), &url));
    }
    if offer_team {
        let mut data = record_data(verbs::CRM_TEAM_FORM, &record.reference());
        data["msteams"] = json!({"type": "task/fetch"});
        actions.push(json!({"type": "Action.Submit", "title": "Create a team for this record", "data": data}));
    }
    with_actions(card(body), actions)
}

/// The CRM connection no longer works: the admin must act (they were told
/// in the admin tab's CRM section).
pub fn crm_ask_admin(crm: CrmKind) -> Value {
    card(vec![
        heading(&format!(
            "{} is not reachable from Teams right now",
            crm.label()
        )),
        attention(&format!(
            "Your organisation's connection to {} needs an administrator: ask your SalesTim administrator to reconnect it in the Admin tab.",
            crm.label()
        )),
    ])
}

/// The CRM's limit is reached or it is down: nothing for the admin to do.
pub fn crm_try_later(crm: CrmKind, message: &str) -> Value {
    card(vec![
        heading(&format!("{} did not answer", crm.label())),
        paragraph(&format!(
            "Try again in a few minutes. {} said: {}",
            crm.label(),
            quoted(message, 200)
        )),
    ])
}
