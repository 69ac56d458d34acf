//! `tenant-work`: the work a timer does for every tenant, one message per
//! tenant. The timer only walks the tenants (page by page) and queues; the
//! `TenantWork` queue function does each tenant's share. So one slow or
//! broken tenant is retried on its own (and ends in `tenant-work-poison`
//! when it keeps failing) while every other tenant's work goes on, and the
//! work spreads over the instances the host runs.

use serde::{Deserialize, Serialize};

use super::Job;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::queues::Queues;

pub const QUEUE: &str = "tenant-work";

/// What to do for the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Task {
    /// `RequestReminders`' share: remind and escalate waiting requests,
    /// queue again a provisioning nobody runs.
    FollowUpRequests,
    /// `BillingDunning`'s share: suspend the tenant once its grace period
    /// after a failed payment is over, restore it once it has paid.
    Dunning,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantWork {
    pub tenant_id: TenantId,
    pub task: Task,
}

impl Job for TenantWork {
    const QUEUE: &'static str = QUEUE;
}

pub async fn enqueue(queues: &dyn Queues, tenant: &TenantId, task: Task) -> PlatformResult<()> {
    let work = TenantWork {
        tenant_id: tenant.clone(),
        task,
    };
    super::send(queues, &work, None).await?;
    Ok(())
}
