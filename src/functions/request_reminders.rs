//! `RequestReminders` — timer (every 30 minutes): a request waiting longer
//! than its tenant's reminder period gets one reminder to the approvers of
//! the waiting stage; when the tenant names someone to escalate to, a
//! request still waiting after the escalation period is escalated once
//! (that person becomes an approver of the stage and gets the card). Each
//! is marked on the request under its ETag before the card goes out, so
//! two runs never send it twice.

use crate::app::App;
use crate::bot::notify;
use crate::error::AppError;
use crate::governance::requests::{self, Due};
use crate::host::invoke::{InvokeRequest, InvokeResponse};
use crate::teams::cards;

pub const SCHEDULE: &str = "0 */30 * * * *";

pub async fn run(app: App, req: InvokeRequest) -> Result<InvokeResponse, AppError> {
    req.timer("timer")
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let (docs, clock) = (app.docs.as_ref(), app.clock.as_ref());
    let (mut reminded, mut escalated, mut failed) = (0, 0, 0);
    for (tenant, record) in app.tenants.list().await? {
        let due = match requests::due_reminders(docs, clock, &tenant, &record.settings).await {
            Ok(due) => due,
            Err(e) => {
                // One tenant's trouble does not stop the others.
                tracing::error!(%tenant, error = %e, "reading waiting requests failed");
                failed += 1;
                continue;
            }
        };
        for (request, due) in due {
            let stage = request.current_stage;
            let outcome = match &due {
                Due::Remind => requests::remind(docs, clock, &tenant, &request.id, stage).await,
                Due::Escalate(to) => {
                    requests::escalate(docs, clock, &tenant, &request.id, stage, to).await
                }
            };
            let updated = match outcome {
                Ok(Some(updated)) => updated,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(%tenant, request = %request.id, error = %e, "marking a reminder failed");
                    failed += 1;
                    continue;
                }
            };
            match &due {
                Due::Remind => {
                    reminded += 1;
                    notify::notify_stage(&app, &tenant, &updated, "-reminder").await?;
                }
                Due::Escalate(to) => {
                    escalated += 1;
                    let card = cards::approval(&updated, Some(&to.aad_object_id), &app.links);
                    let key = format!(
                        "approval-{}-{}-{}-escalated",
                        updated.id, stage, to.aad_object_id
                    );
                    notify::send_to_person(&app, &tenant, to, key, card).await?;
                }
            }
            tracing::info!(%tenant, request = %updated.id, ?due, "waiting request followed up");
        }
    }
    Ok(InvokeResponse::ok().log(format!(
        "reminders: {reminded} reminded, {escalated} escalated, {failed} failed"
    )))
}
