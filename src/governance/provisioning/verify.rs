//! The last look before the team counts as provisioned: one `$batch`
//! reads the team (for its link), its members, channels, apps and the
//! tabs of the channels that should have some, and compares them with the
//! template. A step Graph said was done is not trusted blindly: whatever is
//! missing has its step done again on the next run, and after
//! [`MAX_VERIFY_FAILURES`] such runs the job fails and says the team is
//! only partially provisioned.

use serde_json::Value;

use super::content::{app_ids, batch, get, key, list, people};
use super::tabs::tabs_by_channel;
use super::{MAX_VERIFY_FAILURES, ProvisionError, Run, Step, StepCtx, classify};
use crate::graph::BatchRequest;
use crate::graph::teams::str_of;

pub(super) async fn run(
    ctx: &StepCtx<'_>,
    run: &mut Run<'_>,
    team: &str,
) -> Result<(), ProvisionError> {
    let template = &ctx.template.template;
    let by_channel = tabs_by_channel(ctx, run)?;
    let mut reads = vec![
        BatchRequest::get("team", format!("/teams/{team}")),
        BatchRequest::get("members", format!("/teams/{team}/members")),
        BatchRequest::get("channels", format!("/teams/{team}/channels")),
    ];
    if !template.apps.is_empty() {
        reads.push(BatchRequest::get(
            "apps",
            format!("/teams/{team}/installedApps?$expand=teamsApp"),
        ));
    }
    for (n, channel) in by_channel.keys().enumerate() {
        reads.push(BatchRequest::get(
            format!("tabs-{n}"),
            format!("/teams/{team}/channels/{channel}/tabs"),
        ));
    }
    let answers = batch(ctx, reads).await?;
    let team_answer = get(&answers, "team")?;
    if let Some(e) = team_answer.error() {
        return Err(classify(&e, "reading the team"));
    }
    run.job.web_url = team_answer
        .body
        .get("webUrl")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut missing: Vec<(Step, String)> = Vec::new();
    let present = people(&list(ctx, get(&answers, "members")?, "reading the members").await?);
    for owner in ctx.owner_ids() {
        if !present.iter().any(|(p, o)| *p == owner && *o) {
            missing.push((Step::Members, format!("owner {owner}")));
        }
    }
    for member in ctx.member_ids() {
        if !present.iter().any(|(p, _)| *p == member) {
            missing.push((Step::Members, format!("member {member}")));
        }
    }
    let channels: Vec<String> = list(ctx, get(&answers, "channels")?, "reading the channels")
        .await?
        .iter()
        .map(|c| key(str_of(c, "displayName")))
        .collect();
    for channel in &template.channels {
        if !channels.contains(&key(&channel.name)) {
            missing.push((Step::Channels, format!("channel \"{}\"", channel.name)));
        }
    }
    if let Some(answer) = answers.get("apps") {
        let installed = app_ids(&list(ctx, answer, "reading the apps").await?);
        for app in &template.apps {
            if !installed.contains(app) {
                missing.push((Step::Apps, format!("app {app}")));
            }
        }
    }
    for (n, wanted) in by_channel.values().enumerate() {
        let present = list(
            ctx,
            get(&answers, &format!("tabs-{n}"))?,
            "reading the tabs",
        )
        .await?;
        for tab in wanted {
            if !present
                .iter()
                .any(|p| key(str_of(p, "displayName")) == key(&tab.name))
            {
                missing.push((Step::Tabs, format!("tab \"{}\"", tab.name)));
            }
        }
    }
    if missing.is_empty() {
        return run.checkpoint(Step::Verify, "").await;
    }
    let what: Vec<&str> = missing.iter().map(|(_, w)| w.as_str()).collect();
    run.job.verify_failures += 1;
    if run.job.verify_failures >= MAX_VERIFY_FAILURES {
        return Err(ProvisionError::Permanent(format!(
            "The team was created but is only partially provisioned: missing {}.",
            what.join(", ")
        )));
    }
    tracing::warn!(missing = ?what, "the team is missing what Graph said it added; redoing those steps");
    run.job
        .done
        .retain(|c| !missing.iter().any(|(s, _)| *s == c.step));
    run.save().await?;
    Err(ProvisionError::Transient(format!(
        "missing after provisioning: {}",
        what.join(", ")
    )))
}
