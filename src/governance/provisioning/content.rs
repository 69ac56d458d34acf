//! Filling the team in, in as few Graph requests as the API allows. The
//! first time, one `$batch` writes everything the template adds (members
//! beyond the twenty bound at creation, guest setting, channels, apps) and
//! reads the channel list with it; nothing needs reading before, since a
//! new team has only what it was created with. A run after writes were
//! sent reads members, channels and apps first and writes what is missing.
//! Tabs and the picture follow (`tabs.rs`), then `verify.rs` checks that
//! everything is really there.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ProvisionError, Run, Step, StepCtx, classify};
use crate::graph::teams::{self, items, str_of};
use crate::graph::{BatchRequest, BatchResponse, GraphError};
use crate::platform::blobs::Blobs;

/// The answers of a batch by request id.
type Answers = BTreeMap<String, BatchResponse>;

pub(super) async fn batch(
    ctx: &StepCtx<'_>,
    requests: Vec<BatchRequest>,
) -> Result<Answers, ProvisionError> {
    if requests.is_empty() {
        return Ok(Answers::new());
    }
    let answers = ctx
        .graph
        .batch(ctx.tenant, requests)
        .await
        .map_err(|e| classify(&e, "a Graph batch"))?;
    Ok(answers.into_iter().map(|a| (a.id.clone(), a)).collect())
}

/// A list read in a batch, with any further pages fetched.
pub(super) async fn list(
    ctx: &StepCtx<'_>,
    answer: &BatchResponse,
    what: &str,
) -> Result<Vec<Value>, ProvisionError> {
    if let Some(e) = answer.error() {
        return Err(classify(&e, what));
    }
    let mut all = items(&answer.body).to_vec();
    if let Some(next) = answer.body.get("@odata.nextLink").and_then(Value::as_str) {
        all.extend(
            ctx.graph
                .get_all(ctx.tenant, next)
                .await
                .map_err(|e| classify(&e, what))?,
        );
    }
    Ok(all)
}

pub(super) fn get<'a>(answers: &'a Answers, id: &str) -> Result<&'a BatchResponse, ProvisionError> {
    answers
        .get(id)
        .ok_or_else(|| ProvisionError::Transient(format!("the batch did not answer {id}")))
}

pub(super) fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Who is in the team already: (user id, is owner).
pub(super) fn people(members: &[Value]) -> Vec<(String, bool)> {
    members
        .iter()
        .map(|m| {
            let owner = m
                .get("roles")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|x| x == "owner"));
            (str_of(m, "userId").to_ascii_lowercase(), owner)
        })
        .collect()
}

pub(super) fn app_ids(installed: &[Value]) -> Vec<String> {
    installed
        .iter()
        .filter_map(|a| a.pointer("/teamsApp/id").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// A channel or app write that failed because it is already there.
fn already_there(answer: &BatchResponse) -> bool {
    answer.status == 409
        || (answer.status == 400
            && answer
                .body
                .pointer("/error/code")
                .and_then(Value::as_str)
                .is_some_and(|c| c == "NameAlreadyExists"))
}

pub(super) async fn run(
    ctx: &StepCtx<'_>,
    run: &mut Run<'_>,
    blobs: &dyn Blobs,
) -> Result<(), ProvisionError> {
    let group = run.job.group()?.to_owned();
    if [Step::Members, Step::Guests, Step::Channels, Step::Apps]
        .iter()
        .any(|s| !run.job.is_done(*s))
    {
        fill(ctx, run, &group).await?;
    }
    if !run.job.is_done(Step::Tabs) || !run.job.is_done(Step::Picture) {
        super::tabs::tabs_and_picture(ctx, run, blobs, &group).await?;
    }
    if !run.job.is_done(Step::Verify) {
        super::verify::run(ctx, run, &group).await?;
    }
    Ok(())
}

/// The team's channels as a list answer gave them, their ids by name.
async fn remember_channels(
    ctx: &StepCtx<'_>,
    run: &mut Run<'_>,
    answer: &BatchResponse,
) -> Result<(), ProvisionError> {
    for c in list(ctx, answer, "reading the channels").await? {
        run.job
            .channels
            .insert(key(str_of(&c, "displayName")), str_of(&c, "id").to_owned());
    }
    Ok(())
}

/// Members, guest setting, channels and apps. The first time, nothing is
/// read beforehand (a new team has the people it was created with, the
/// General channel and Teams' own apps) and the channel list (for
/// General's id) is read in the same `$batch` as the writes; a run after
/// writes were sent reads what the team has first.
async fn fill(ctx: &StepCtx<'_>, run: &mut Run<'_>, team: &str) -> Result<(), ProvisionError> {
    let template = &ctx.template.template;
    let first = !run.job.fill_sent;
    let [want_members, want_guests, want_channels, want_apps] =
        [Step::Members, Step::Guests, Step::Channels, Step::Apps].map(|s| !run.job.is_done(s));
    let read_channels = (want_channels || run.job.channels.is_empty())
        .then(|| BatchRequest::get("channels", format!("/teams/{team}/channels")));
    let mut reads = Vec::new();
    if !first {
        if want_members {
            reads.push(BatchRequest::get(
                "members",
                format!("/teams/{team}/members"),
            ));
        }
        reads.extend(read_channels.clone());
        if want_apps && !template.apps.is_empty() {
            reads.push(BatchRequest::get(
                "apps",
                format!("/teams/{team}/installedApps?$expand=teamsApp"),
            ));
        }
    }
    let answers = batch(ctx, reads).await?;
    let mut writes = Vec::new();
    if want_members {
        let present: Vec<(String, bool)> = if first {
            let (owners, members) = ctx.creation_people();
            let (owners, members) = teams::bound_at_creation(&owners, &members);
            let owners = owners.iter().map(|id| (id.clone(), true));
            owners
                .chain(members.iter().map(|id| (id.clone(), false)))
                .collect()
        } else {
            people(&list(ctx, get(&answers, "members")?, "reading the members").await?)
        };
        let has = |id: &str, owner: bool| present.iter().any(|(p, o)| p == id && (*o || !owner));
        let owners: Vec<String> = ctx
            .owner_ids()
            .into_iter()
            .filter(|id| !has(id, true))
            .collect();
        let members: Vec<String> = ctx
            .member_ids()
            .into_iter()
            .filter(|id| !has(id, false))
            .collect();
        if !owners.is_empty() || !members.is_empty() {
            writes.push(teams::add_members("members", team, &owners, &members));
        }
    }
    if want_guests && !template.allow_guests {
        writes.push(teams::no_guests("guests", team));
    }
    if let Some(answer) = answers.get("channels") {
        remember_channels(ctx, run, answer).await?;
    }
    let mut new_channels = Vec::new();
    if want_channels {
        for (n, channel) in template.channels.iter().enumerate() {
            if run.job.channels.contains_key(&key(&channel.name)) {
                continue;
            }
            let id = format!("channel-{n}");
            let owner = channel
                .private
                .then_some(ctx.request.requester.aad_object_id.as_str());
            writes.push(teams::create_channel(
                &id,
                team,
                &channel.name,
                &channel.description,
                owner,
            ));
            new_channels.push((id, key(&channel.name)));
        }
    }
    let mut new_apps = Vec::new();
    if want_apps && !template.apps.is_empty() {
        let installed = match answers.get("apps") {
            Some(answer) => app_ids(&list(ctx, answer, "reading the apps").await?),
            // A new team has Teams' own apps only; one listed anyway answers 409.
            None => Vec::new(),
        };
        for (n, app) in template.apps.iter().enumerate() {
            if !installed.iter().any(|i| i == app) {
                let id = format!("app-{n}");
                writes.push(teams::install_app(&id, team, app));
                new_apps.push((id, app.clone()));
            }
        }
    }
    if first {
        writes.extend(read_channels);
        run.job.fill_sent = true;
        run.save().await?;
    }
    let answers = batch(ctx, writes).await?;
    if first && let Some(answer) = answers.get("channels") {
        remember_channels(ctx, run, answer).await?;
    }
    let mut failure: Option<ProvisionError> = None;
    let mut keep = |e: ProvisionError| {
        // A permanent reason outranks a transient one.
        if !matches!(failure, Some(ProvisionError::Permanent(_))) {
            failure = Some(e);
        }
    };

    let mut members_ok = true;
    let mut member_note = String::new();
    if let Some(answer) = answers.get("members") {
        match answer.error() {
            Some(e) => {
                members_ok = false;
                keep(classify(&e, "adding owners and members"));
            }
            None => {
                let refused: Vec<&str> = items(&answer.body)
                    .iter()
                    .filter(|r| r.get("error").is_some_and(|e| !e.is_null()))
                    .map(|r| str_of(r, "userId"))
                    .collect();
                if !refused.is_empty() {
                    tracing::warn!(?refused, "Graph refused some owners or members");
                    member_note = format!("not added: {}", refused.join(", "));
                }
            }
        }
    }
    let guests_ok = match answers.get("guests") {
        Some(a) if a.error().is_some() && a.status != 409 => {
            keep(classify(
                &a.error().expect("an error"),
                "turning guest access off",
            ));
            false
        }
        _ => true,
    };
    let mut channels_ok = true;
    for (id, name) in &new_channels {
        let answer = get(&answers, id)?;
        if answer.is_success() {
            run.job
                .channels
                .insert(name.clone(), str_of(&answer.body, "id").to_owned());
        } else {
            channels_ok = false;
            if already_there(answer) {
                keep(ProvisionError::Transient(format!(
                    "channel {name} appeared meanwhile"
                )));
            } else if let Some(e) = answer.error() {
                keep(classify(&e, &format!("creating channel \"{name}\"")));
            }
        }
    }
    let mut apps_ok = true;
    for (id, app) in &new_apps {
        let answer = get(&answers, id)?;
        if answer.is_success() || already_there(answer) {
            continue;
        }
        apps_ok = false;
        match answer.error() {
            Some(GraphError::Http { status: 404, .. }) => keep(ProvisionError::Permanent(format!(
                "The Teams app \"{app}\" is not in your organisation's app catalog; the template needs it."
            ))),
            Some(e) => keep(classify(&e, &format!("installing app {app}"))),
            None => {}
        }
    }
    for (step, ok, note) in [
        (Step::Members, members_ok, member_note),
        (Step::Guests, guests_ok, String::new()),
        (Step::Channels, channels_ok, String::new()),
        (Step::Apps, apps_ok, String::new()),
    ] {
        if ok && !run.job.is_done(step) {
            run.checkpoint(step, note).await?;
        }
    }
    failure.map_or(Ok(()), Err)
}
