//! Tabs and the picture, last before the read-back: tabs need the ids of
//! the channels just made, and a small picture travels in the same
//! `$batch` as them (base64, as JSON batching carries binary bodies).
//! Tabs are read first only when a run sent tab writes before, since Teams
//! takes the same tab twice; a new team has none of ours.

use std::collections::BTreeMap;

use super::content::{batch, get, key, list};
use super::{ProvisionError, Run, Step, StepCtx, classify};
use crate::governance::templates::{GENERAL, ICON_CONTAINER, TabSpec};
use crate::graph::BatchRequest;
use crate::graph::teams::{self, str_of};
use crate::platform::blobs::Blobs;

/// The template's tabs by channel id, and, for a team made for a CRM
/// record, a website tab to the record in General.
pub(super) fn tabs_by_channel(
    ctx: &StepCtx<'_>,
    run: &Run<'_>,
) -> Result<BTreeMap<String, Vec<TabSpec>>, ProvisionError> {
    let mut by_channel: BTreeMap<String, Vec<_>> = BTreeMap::new();
    let record_tab = ctx.request.crm_record.as_ref().map(|r| TabSpec {
        channel: GENERAL.to_owned(),
        name: format!(
            "{} in {}",
            r.record.record_type.label(),
            r.record.crm.label()
        ),
        url: r.url.clone(),
    });
    for tab in ctx.template.template.tabs.iter().cloned().chain(record_tab) {
        let name = if tab.channel.trim().is_empty() {
            GENERAL
        } else {
            &tab.channel
        };
        let channel = run.job.channels.get(&key(name)).ok_or_else(|| {
            ProvisionError::Transient(format!("channel \"{name}\" is not known yet"))
        })?;
        by_channel.entry(channel.clone()).or_default().push(tab);
    }
    Ok(by_channel)
}

/// The tabs (they need the channel ids) and the picture, in one `$batch`
/// when the picture is small enough to travel in it.
pub(super) async fn tabs_and_picture(
    ctx: &StepCtx<'_>,
    run: &mut Run<'_>,
    blobs: &dyn Blobs,
    team: &str,
) -> Result<(), ProvisionError> {
    let mut writes = Vec::new();
    if !run.job.is_done(Step::Tabs) {
        writes = tab_writes(ctx, run, team).await?;
    }
    let tab_count = writes.len();
    let picture = if run.job.is_done(Step::Picture) {
        None
    } else {
        Some(picture_of(ctx, blobs).await?)
    };
    let batched =
        matches!(&picture, Some(Picture::Put { bytes, .. }) if bytes.len() <= MAX_BATCHED_PICTURE);
    if let (
        true,
        Some(Picture::Put {
            content_type,
            bytes,
            ..
        }),
    ) = (batched, &picture)
    {
        writes.push(BatchRequest::put_bytes(
            "picture",
            format!("/groups/{team}/photo/$value"),
            content_type,
            bytes,
        ));
    }
    if tab_count > 0 && !run.job.tabs_sent {
        run.job.tabs_sent = true;
        run.save().await?;
    }
    let answers = batch(ctx, writes).await?;
    for (id, answer) in &answers {
        if id.starts_with("tab-")
            && let Some(e) = answer.error()
        {
            return Err(classify(&e, "adding a tab"));
        }
    }
    if !run.job.is_done(Step::Tabs) {
        run.checkpoint(Step::Tabs, format!("{tab_count} added"))
            .await?;
    }
    let note = match picture {
        None => return Ok(()),
        Some(Picture::Skipped(note)) => note,
        Some(Picture::Put { icon, .. }) if batched => {
            if let Some(e) = get(&answers, "picture")?.error() {
                return Err(classify(&e, "setting the team picture"));
            }
            icon
        }
        Some(Picture::Put {
            icon,
            content_type,
            bytes,
        }) => {
            ctx.graph
                .put_bytes(
                    ctx.tenant,
                    &format!("/groups/{team}/photo/$value"),
                    &content_type,
                    bytes,
                )
                .await
                .map_err(|e| classify(&e, "setting the team picture"))?;
            icon
        }
    };
    run.checkpoint(Step::Picture, note).await
}

/// Above this a picture goes in its own request, not in a `$batch`.
const MAX_BATCHED_PICTURE: usize = 1024 * 1024;

enum Picture {
    /// Nothing to send (no icon, or it is missing); the note says which.
    Skipped(String),
    Put {
        icon: String,
        content_type: String,
        bytes: Vec<u8>,
    },
}

async fn picture_of(ctx: &StepCtx<'_>, blobs: &dyn Blobs) -> Result<Picture, ProvisionError> {
    let Some(icon) = &ctx.template.template.icon else {
        return Ok(Picture::Skipped("no icon".into()));
    };
    let Some(blob) = blobs.get(ICON_CONTAINER, icon).await? else {
        tracing::warn!(%icon, "the template's icon is missing; the team keeps the default picture");
        return Ok(Picture::Skipped(format!("icon {icon} missing")));
    };
    Ok(Picture::Put {
        icon: icon.clone(),
        content_type: blob.content_type,
        bytes: blob.data.to_vec(),
    })
}

/// The tabs still to add: all of them until writes were once sent (a new
/// team has none of ours), else those the channels do not show.
async fn tab_writes(
    ctx: &StepCtx<'_>,
    run: &Run<'_>,
    team: &str,
) -> Result<Vec<BatchRequest>, ProvisionError> {
    let by_channel = tabs_by_channel(ctx, run)?;
    let answers = if run.job.tabs_sent {
        let reads = by_channel
            .keys()
            .enumerate()
            .map(|(n, c)| {
                BatchRequest::get(
                    format!("tabs-{n}"),
                    format!("/teams/{team}/channels/{c}/tabs"),
                )
            })
            .collect();
        Some(batch(ctx, reads).await?)
    } else {
        None
    };
    let mut writes = Vec::new();
    for (n, (channel, wanted)) in by_channel.iter().enumerate() {
        let present = match &answers {
            Some(answers) => {
                list(ctx, get(answers, &format!("tabs-{n}"))?, "reading the tabs").await?
            }
            None => Vec::new(),
        };
        for (m, tab) in wanted.iter().enumerate() {
            if !present
                .iter()
                .any(|p| key(str_of(p, "displayName")) == key(&tab.name))
            {
                writes.push(teams::website_tab(
                    &format!("tab-{n}-{m}"),
                    team,
                    channel,
                    &tab.name,
                    &tab.url,
                ));
            }
        }
    }
    Ok(writes)
}
