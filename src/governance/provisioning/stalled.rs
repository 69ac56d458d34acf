//! Jobs nobody is running: an approved request whose provisioning message
//! was never queued (the app stopped between recording the approval and
//! queueing it), a job that stopped being written without ending (its next
//! message was lost), or one that ended without its request being told. The `RequestReminders` timer queues them again;
//! a job is keyed by its request, so a second message resumes the same job.

use time::{Duration, OffsetDateTime};

use super::job::{JobState, get_job};
use crate::governance::requests::{self, RequestState, TeamRequest};
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::clock::Clock;
use crate::platform::documents::Documents;

/// An approval is queued at once; one not started after this was lost.
pub const START_WITHIN: Duration = Duration::minutes(15);
/// Longer than any wait a running job makes (the team being made: 1 h).
pub const QUIET_FOR: Duration = Duration::hours(2);

fn approved_at(r: &TeamRequest) -> OffsetDateTime {
    r.decision.as_ref().map_or(r.created_at, |d| d.at)
}

/// The ids of the tenant's requests whose provisioning is to be queued again.
pub async fn stalled(
    docs: &dyn Documents,
    clock: &dyn Clock,
    tenant: &TenantId,
) -> PlatformResult<Vec<String>> {
    let now = clock.now();
    let mut out = Vec::new();
    for state in [RequestState::Approved, RequestState::Provisioning] {
        let mut waiting = std::pin::pin!(requests::in_state(docs, tenant, state));
        while let Some(request) = futures::TryStreamExt::try_next(&mut waiting).await? {
            let job = get_job(docs, tenant, &request.id).await?;
            let quiet = match &job {
                None => now - approved_at(&request) > START_WITHIN,
                Some(job) => {
                    // A job that ended with its request unsettled was cut
                    // off between the two writes; a running one may wait long.
                    let quiet_for = if job.state == JobState::Running {
                        QUIET_FOR
                    } else {
                        START_WITHIN
                    };
                    job.updated_at.is_none_or(|at| now - at > quiet_for)
                }
            };
            if quiet {
                out.push(request.id);
            }
        }
    }
    Ok(out)
}
