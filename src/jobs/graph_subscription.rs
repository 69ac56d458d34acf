//! `graph-subscription`: one tenant's change-notification subscription to
//! look after, one message per tenant. The `GraphSubscriptions` timer
//! queues a check for every onboarded tenant; a lifecycle notification
//! (`reauthorizationRequired`) queues a renewal, so the lifecycle endpoint
//! answers Graph at once and the Graph calls run here, retried by the host.

use serde::{Deserialize, Serialize};

use super::Job;
use crate::governance::lifecycle::subscriptions::Upkeep;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::queues::Queues;

pub const QUEUE: &str = "graph-subscription";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphSubscription {
    pub tenant_id: TenantId,
    pub upkeep: Upkeep,
}

impl Job for GraphSubscription {
    const QUEUE: &'static str = QUEUE;
}

pub async fn enqueue(queues: &dyn Queues, tenant: &TenantId, upkeep: Upkeep) -> PlatformResult<()> {
    let job = GraphSubscription {
        tenant_id: tenant.clone(),
        upkeep,
    };
    super::send(queues, &job, None).await?;
    Ok(())
}
