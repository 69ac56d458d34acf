//! `sweep-tenant`: one onboarded tenant's governance sweep, one message per
//! tenant. `GovernanceSweep` only walks the tenants and queues; the
//! `SweepTenant` queue function syncs the tenant's inventory. So a large or
//! broken tenant is retried on its own (and ends in `sweep-tenant-poison`)
//! while the others are swept, and the work spreads over the instances.
//!
//! A scheduled message names its period (the timer's six-hour window):
//! every region's timer fires, and the second message of a period finds it
//! done. A message without one (an operator's, a change notification's)
//! always runs; a change notification's says so (`notified`), for the log.

use serde::{Deserialize, Serialize};

use super::Job;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::queues::Queues;

pub const QUEUE: &str = "sweep-tenant";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepTenant {
    pub tenant_id: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Queued because Graph notified a change in the tenant's groups.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notified: bool,
}

impl Job for SweepTenant {
    const QUEUE: &'static str = QUEUE;
}

pub async fn enqueue(
    queues: &dyn Queues,
    tenant: &TenantId,
    period: Option<&str>,
) -> PlatformResult<()> {
    let sweep = SweepTenant {
        tenant_id: tenant.clone(),
        period: period.map(str::to_owned),
        notified: false,
    };
    super::send(queues, &sweep, None).await?;
    Ok(())
}

/// The incremental round a change notification asks for: no period, so it
/// runs even within a period already synced.
pub async fn enqueue_notified(queues: &dyn Queues, tenant: &TenantId) -> PlatformResult<()> {
    let sweep = SweepTenant {
        tenant_id: tenant.clone(),
        period: None,
        notified: true,
    };
    super::send(queues, &sweep, None).await?;
    Ok(())
}
