//! The CRM in conversations: the `searchCrm` search command, the tenant's
//! CRM record links unfurled, and the request form for a team for a
//! record (the record card's "Create a team for this record").
//!
//! The record a form is for is named by the card's data (CRM, type, id:
//! our own shapes, parsed) and looked up again in the tenant's own
//! connection: its name and link on the request come from the CRM, never
//! from what the card or form carried.

use std::collections::HashSet;

use serde_json::Value;
use url::Url;

use super::request_flow::form_card_of;
use super::{Ctx, compose_message, compose_result};
use crate::crm::service::Unanswered;
use crate::crm::{
    CrmError, CrmKind, MAX_PAGE, Record, RecordId, RecordRef, RecordType, SearchText, Viewer,
};
use crate::error::AppError;
use crate::governance::requests::{CrmRecordLink, RequestForm};
use crate::governance::templates;
use crate::teams::cards;

/// The manifest's CRM search command.
pub const SEARCH_COMMAND: &str = "searchCrm";
/// Teams pages a search 25 at a time; the CRMs page no deeper than this
/// (Salesforce's SOSL `OFFSET` stops at 2,000).
const MAX_SKIP: usize = 2000;
/// Links longer than this are nobody's record link.
const MAX_LINK_CHARS: usize = 2048;

impl From<CrmError> for AppError {
    fn from(e: CrmError) -> Self {
        match e {
            CrmError::Platform(e) => AppError::Platform(e),
            other => AppError::Internal(anyhow::anyhow!(other)),
        }
    }
}

fn viewer<'a>(ctx: &'a Ctx<'_>) -> Viewer<'a> {
    Viewer {
        aad_object_id: ctx.user.as_ref().map(|u| u.aad_object_id.as_str()),
    }
}

/// The record types the tenant has an active template for.
async fn offered_types(ctx: &Ctx<'_>) -> Result<HashSet<RecordType>, AppError> {
    Ok(templates::list_active(ctx.app.docs.as_ref(), ctx.tenant)
        .await?
        .into_iter()
        .filter_map(|t| t.template.crm_link)
        .collect())
}

fn preview(record: &Record) -> (String, String) {
    let kind = format!("{} · {}", record.crm.label(), record.record_type.label());
    let text = if record.subtitle.is_empty() {
        kind
    } else {
        format!(
            "{kind} · {}",
            record.subtitle.chars().take(80).collect::<String>()
        )
    };
    (record.title.clone(), text)
}

fn item(record: &Record, offered: &HashSet<RecordType>) -> (Value, String, String) {
    let card = cards::crm_record(record, offered.contains(&record.record_type));
    let (title, text) = preview(record);
    (card, title, text)
}

/// The card for a CRM that did not answer, as a result item.
fn unanswered_item(why: &Unanswered) -> Option<(Value, String, String)> {
    match why {
        Unanswered::NotConnected => None,
        Unanswered::AskAdmin { crm, .. } => Some((
            cards::crm_ask_admin(*crm),
            format!("{} needs your administrator", crm.label()),
            "Ask your SalesTim administrator to reconnect it".to_owned(),
        )),
        Unanswered::TryLater { crm, message } => Some((
            cards::crm_try_later(*crm, message),
            format!("{} did not answer", crm.label()),
            "Try again in a few minutes".to_owned(),
        )),
    }
}

/// `composeExtension/query` for `searchCrm`.
pub(super) async fn search(
    ctx: &Ctx<'_>,
    raw: &str,
    skip: usize,
    count: usize,
) -> Result<Value, AppError> {
    let text = match SearchText::parse(raw) {
        Ok(text) => text,
        Err(e) => {
            tracing::info!(error = %e, "CRM search refused");
            return Ok(compose_message(&format!(
                "Search with at most {} characters, without control characters.",
                crate::crm::MAX_SEARCH_CHARS
            )));
        }
    };
    if skip > MAX_SKIP {
        return Ok(compose_message(
            "Narrow the search: there are too many results to page through.",
        ));
    }
    let count = count.clamp(1, MAX_PAGE);
    let found = ctx
        .app
        .crm
        .search(ctx.tenant, viewer(ctx), &text, skip, count)
        .await?;
    if found.records.is_empty() {
        if skip > 0 {
            return Ok(compose_result(Vec::new()));
        }
        if let Some(item) = found.unanswered.iter().find_map(unanswered_item) {
            return Ok(compose_result(vec![item]));
        }
        if found
            .unanswered
            .iter()
            .any(|u| matches!(u, Unanswered::NotConnected))
        {
            return Ok(compose_message(
                "Your organisation has not connected a CRM to SalesTim yet: an administrator connects Dynamics 365 or Salesforce in the Admin tab.",
            ));
        }
        return Ok(compose_message(
            "No account, contact or opportunity matches that.",
        ));
    }
    let offered = offered_types(ctx).await?;
    let items = found.records.iter().map(|r| item(r, &offered)).collect();
    Ok(compose_result(items))
}

/// `composeExtension/queryLink` for a link that is not one of ours: the
/// record card when it is a record link of the tenant's connected orgs.
pub(super) async fn unfurl(
    ctx: &Ctx<'_>,
    link: &str,
) -> Result<Option<(Value, String, String)>, AppError> {
    if link.len() > MAX_LINK_CHARS {
        return Ok(None);
    }
    let Ok(url) = Url::parse(link) else {
        return Ok(None);
    };
    // Only a link with a connected org's own origin (scheme, host and
    // port) is looked up: that origin passed `check_host` when the admin
    // connected it (HTTPS, or plain HTTP only for a loopback host the
    // deployment names), so no other scheme check belongs here.
    if !matches!(url.scheme(), "https" | "http") {
        return Ok(None);
    }
    match ctx.app.crm.unfurl(ctx.tenant, viewer(ctx), &url).await? {
        Some(Ok(record)) => {
            let offered = offered_types(ctx).await?;
            Ok(Some(item(&record, &offered)))
        }
        Some(Err(why)) => Ok(unanswered_item(&why)),
        None => Ok(None),
    }
}

/// The record a card's or form's data names, in our own shapes.
fn named_record(data: &Value) -> Option<RecordRef> {
    let crm = CrmKind::parse(data.get("crm")?.as_str()?)?;
    let record_type = RecordType::parse(data.get("recordType")?.as_str()?)?;
    let id = RecordId::parse_for(crm, data.get("recordId")?.as_str()?)?;
    Some(RecordRef {
        crm,
        record_type,
        id,
    })
}

/// The record the data names, looked up in the tenant's connection:
/// `Ok(None)` when the data names none, `Err` with what to tell the user
/// when it cannot be found.
pub(super) async fn record_for_form(
    ctx: &Ctx<'_>,
    data: &Value,
) -> Result<Result<Option<CrmRecordLink>, Value>, AppError> {
    let has_record = ["crm", "recordType", "recordId"]
        .iter()
        .any(|k| data.get(*k).is_some());
    if !has_record {
        return Ok(Ok(None));
    }
    let Some(reference) = named_record(data) else {
        tracing::info!("a form names a CRM record in a shape that is not ours");
        return Ok(Err(cards::error(
            "Unknown record",
            "This card names a CRM record SalesTim does not recognise.",
        )));
    };
    match ctx
        .app
        .crm
        .record(ctx.tenant, viewer(ctx), &reference)
        .await?
    {
        Ok(Some(record)) => Ok(Ok(Some(CrmRecordLink {
            record: reference,
            title: record.title,
            url: record.url,
        }))),
        Ok(None) => Ok(Err(cards::error(
            "Record not found",
            &format!(
                "{} has no such {} (or you may not see it).",
                reference.crm.label(),
                reference.record_type.label().to_lowercase()
            ),
        ))),
        Err(Unanswered::AskAdmin { crm, .. }) => Ok(Err(cards::crm_ask_admin(crm))),
        Err(Unanswered::TryLater { crm, message }) => Ok(Err(cards::crm_try_later(crm, &message))),
        Err(Unanswered::NotConnected) => Ok(Err(cards::error(
            "No CRM connected",
            &format!(
                "Your organisation's {} connection was removed.",
                reference.crm.label()
            ),
        ))),
    }
}

/// `task/fetch` from a record card: the request form, with the templates
/// made for the record's type and the record's name.
pub(super) async fn team_form(ctx: &Ctx<'_>, data: &Value) -> Result<Value, AppError> {
    let record = match record_for_form(ctx, data).await? {
        Ok(Some(record)) => record,
        Ok(None) => {
            return Ok(cards::error(
                "Unknown record",
                "This card names no CRM record.",
            ));
        }
        Err(card) => return Ok(card),
    };
    // A template that names the team after the record needs no second
    // copy of its name in what the requester types.
    let all = templates::list_active(ctx.app.docs.as_ref(), ctx.tenant).await?;
    let named_after_record = all
        .iter()
        .filter(|t| t.template.crm_link == Some(record.record.record_type))
        .any(|t| {
            t.template
                .naming
                .as_ref()
                .is_some_and(|n| n.uses(crate::governance::naming::Attribute::CrmRecord))
        });
    let prefill = RequestForm {
        display_name: if named_after_record {
            "Team".to_owned()
        } else {
            record.title.clone()
        },
        description: format!(
            "For the {} {} \"{}\": {}",
            record.record.crm.label(),
            record.record.record_type.label().to_lowercase(),
            record.title,
            record.url
        ),
        crm_record: Some(record),
        ..RequestForm::default()
    };
    form_card_of(ctx, all, &prefill, &[], None).await
}
