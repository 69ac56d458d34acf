//! `provision-team`: one message per approved request whose team is to be
//! made (or whose job is to be resumed); `ProvisionTeam` reads it, and after
//! `maxDequeueCount` failures the host moves it to `provision-team-poison`,
//! which `ProvisionTeamPoison` reads.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Job;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::queues::Queues;

pub const QUEUE: &str = "provision-team";
pub const POISON_QUEUE: &str = "provision-team-poison";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionMessage {
    pub tenant_id: TenantId,
    /// The request, which is also the job's key: a second message for it
    /// resumes the same job.
    pub request_id: String,
}

impl Job for ProvisionMessage {
    const QUEUE: &'static str = QUEUE;
}

/// Queues the provisioning of an approved request, visible after `delay`
/// (a job waiting for Graph comes back as a new message, so waiting does
/// not count as failing).
pub async fn enqueue(
    queues: &dyn Queues,
    tenant: &TenantId,
    request_id: &str,
    delay: Option<Duration>,
) -> PlatformResult<()> {
    let message = ProvisionMessage {
        tenant_id: tenant.clone(),
        request_id: request_id.to_owned(),
    };
    super::send(queues, &message, delay).await?;
    Ok(())
}
