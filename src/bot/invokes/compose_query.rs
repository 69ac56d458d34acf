//! Search messaging extension (`composeExtension/query`) and link unfurling
//! (`composeExtension/queryLink`).
//!
//! Search commands are routed by `commandId`; each names what it searches.
//! The team catalog is one; the CRM search ([`super::crm`]) the other. A
//! link that is not ours may be a record link of the tenant's CRM.

use serde_json::Value;

use super::{Ctx, compose_message, compose_result};
use crate::error::AppError;
use crate::governance::catalog::{self, Entry, MAX_PAGE};
use crate::governance::requests;
use crate::governance::teams;
use crate::teams::cards;
use crate::teams::links::OwnLink;

/// The search commands of the manifest's messaging extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchCommand {
    Catalog,
    Crm,
}

/// The manifest's `query` command ids, with what each searches.
pub const SEARCH_COMMANDS: [(&str, SearchCommand); 2] = [
    ("searchTeams", SearchCommand::Catalog),
    (super::crm::SEARCH_COMMAND, SearchCommand::Crm),
];

impl SearchCommand {
    fn of(id: &str) -> Option<Self> {
        SEARCH_COMMANDS
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, command)| *command)
    }
}

/// The search text: the parameter the user typed in (`initialRun` means
/// the box was just opened, so: everything).
pub(super) fn search_text(value: &Value) -> String {
    let parameters = value.get("parameters").and_then(Value::as_array);
    let mut text = String::new();
    for p in parameters.into_iter().flatten().take(10) {
        let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
        let v = p.get("value").and_then(Value::as_str).unwrap_or_default();
        if name != "initialRun" {
            text = v.to_owned();
        }
    }
    text
}

pub(super) fn option(value: &Value, name: &str, default: usize) -> usize {
    value
        .pointer(&format!("/queryOptions/{name}"))
        .and_then(Value::as_u64)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .unwrap_or(default)
}

fn preview(entry: &Entry) -> (String, String) {
    let kind = match entry {
        Entry::Team(_) => "Team",
        Entry::Template(_) => "Template",
    };
    let description: String = entry.description().chars().take(80).collect();
    let text = if description.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind} · {description}")
    };
    (entry.name().to_owned(), text)
}

pub(super) async fn query(ctx: &Ctx<'_>) -> Result<Value, AppError> {
    let value = ctx.value();
    let command_id = value
        .get("commandId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(command) = SearchCommand::of(command_id) else {
        tracing::info!(command_id, "search for an unknown command");
        return Ok(compose_message("This search is not available."));
    };
    let text = search_text(value);
    let (skip, count) = (option(value, "skip", 0), option(value, "count", MAX_PAGE));
    let viewer = ctx.user.as_ref().map(|u| u.aad_object_id.as_str());
    match command {
        SearchCommand::Crm => super::crm::search(ctx, &text, skip, count).await,
        SearchCommand::Catalog => {
            let page = catalog::search(
                ctx.app.docs.as_ref(),
                ctx.tenant,
                viewer,
                &text,
                skip,
                count,
            )
            .await?;
            if page.entries.is_empty() && skip == 0 {
                return Ok(compose_message("No team or template matches that."));
            }
            let items = page
                .entries
                .iter()
                .map(|entry| {
                    let card = match entry {
                        Entry::Team(team) => cards::team_summary(team, &ctx.app.links),
                        Entry::Template(template) => cards::template_summary(template),
                    };
                    let (title, text) = preview(entry);
                    (card, title, text)
                })
                .collect();
            Ok(compose_result(items))
        }
    }
}

pub(super) async fn query_link(ctx: &Ctx<'_>) -> Result<Value, AppError> {
    let url = ctx
        .value()
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (app, docs) = (ctx.app, ctx.app.docs.as_ref());
    let viewer = ctx.user.as_ref().map(|u| u.aad_object_id.as_str());
    let item = match app.links.parse_own(url) {
        Some(OwnLink::Request(id)) => match requests::get(docs, ctx.tenant, &id).await {
            Ok(request) => Some((
                cards::request_status(&request, &app.links),
                request.display_name.clone(),
                format!("Team request · {}", request.state.label()),
            )),
            Err(requests::RequestError::Platform(e)) => return Err(e.into()),
            Err(_) => None,
        },
        Some(OwnLink::Team(id)) => match teams::get(docs, ctx.tenant, &id).await {
            Ok(team) if !team.visible_to(viewer) => {
                tracing::info!(team = %id, "link to a private team not unfurled for someone outside it");
                None
            }
            Ok(team) => Some((
                cards::team_summary(&team, &app.links),
                team.display_name.clone(),
                "Team".to_owned(),
            )),
            Err(teams::TeamError::Platform(e)) => return Err(e.into()),
            Err(_) => None,
        },
        None => super::crm::unfurl(ctx, url).await?,
    };
    if item.is_none() {
        tracing::info!("link not unfurled: not one of ours, or nothing behind it in this tenant");
    }
    Ok(compose_result(item.into_iter().collect()))
}
