//! Dunning, one tenant at a time: the daily `BillingDunning` timer queues a
//! `tenant-work` message per tenant and `TenantWork` runs [`Billing::dun`]
//! for each, so a tenant whose subscription cannot be read is retried (and
//! finally poisoned) alone while every other tenant is dunned.
//!
//! The rule itself is [`super::subscription::Subscription::dunning`]; here
//! it is applied under the document's ETag, through the one concurrency
//! loop, so an event written meanwhile is never overwritten: the rule is
//! decided again against it.

use serde_json::json;

use super::Billing;
use super::subscription::DunningAction;
use crate::governance::audit::{self, AuditEntry};
use crate::ids::TenantId;
use crate::platform::PlatformResult;

impl Billing {
    /// Suspends `tenant` when its grace period after a failed payment is
    /// over, restores it when a suspension outlived the failure; audited.
    /// `None` when there was nothing to do (no subscription among them).
    pub async fn dun(&self, tenant: &TenantId) -> PlatformResult<Option<DunningAction>> {
        let now = self.clock.now();
        let mut done = None;
        self.update_subscription(tenant, |current| {
            done = None;
            let mut sub = current?;
            let action = sub.dunning(now)?;
            done = Some((action, sub.grace_until));
            Some(sub)
        })
        .await?;
        let Some((action, grace_until)) = done else {
            return Ok(None);
        };
        self.forget_access(tenant).await;
        let action_name = match action {
            DunningAction::Suspended => "billing.tenant.suspended",
            DunningAction::Restored => "billing.tenant.restored",
        };
        let entry = AuditEntry {
            at: now,
            actor: "system:billing-dunning".into(),
            action: action_name.into(),
            details: json!({"graceUntil": grace_until.map(|g| g.unix_timestamp())}),
        };
        audit::record(self.docs.as_ref(), tenant, &entry).await?;
        Ok(Some(action))
    }
}
