//! `governance-action`: one message per governance action on a team
//! (archive, unarchive, soft delete, restore, renew, add owner, remove
//! guest, re-add member); `GovernanceAction` runs (or resumes) its
//! checkpointed job, and after `maxDequeueCount` failures the host moves it
//! to `governance-action-poison`, where `GovernanceActionPoison` marks the
//! job failed. The job document is the truth; the message names it by its
//! key and carries what the job needs, so a message whose job document was
//! never written still makes exactly that job.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Job;
use crate::governance::lifecycle::machine::Cause;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::queues::Queues;

pub const QUEUE: &str = "governance-action";
pub const POISON_QUEUE: &str = "governance-action-poison";

/// What a governance action does to a team. Users are Entra object ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Action {
    Archive,
    Unarchive,
    SoftDelete,
    Restore,
    Renew,
    AddOwner { user: String },
    RemoveGuest { user: String },
    ReAddMember { user: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionMessage {
    pub tenant_id: TenantId,
    /// The team's group id.
    pub team_id: String,
    pub action: Action,
    pub cause: Cause,
    /// The caller's idempotency key: one job per key, ever.
    pub key: String,
}

impl Job for ActionMessage {
    const QUEUE: &'static str = QUEUE;
}

/// Queues `message`, visible after `delay` (a job waiting for Teams comes
/// back as a new message, so waiting does not use up its retries).
pub async fn enqueue(
    queues: &dyn Queues,
    message: &ActionMessage,
    delay: Option<Duration>,
) -> PlatformResult<()> {
    super::send(queues, message, delay).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_travel_as_tagged_json() {
        let a = Action::RemoveGuest { user: "u1".into() };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "removeGuest", "user": "u1"}));
        assert_eq!(serde_json::from_value::<Action>(v).unwrap(), a);
        assert_eq!(
            serde_json::to_value(Action::SoftDelete).unwrap(),
            serde_json::json!({"kind": "softDelete"})
        );
    }
}
