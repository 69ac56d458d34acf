//! Fires one timer function on its schedule (and at start with
//! `runOnStartup`), with the host's `TimerInfo` payload. A single local host
//! is the single instance the real host guarantees for timers.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;

use super::{Invoker, Payload, sys_metadata};
use crate::host::function_json::{FunctionDef, Trigger};

pub(super) fn payload(
    binding: &str,
    status: Option<(OffsetDateTime, OffsetDateTime)>,
    past_due: bool,
) -> Payload {
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let schedule_status = match status {
        Some((last, next)) => {
            json!({"Last": fmt(last), "Next": fmt(next), "LastUpdated": fmt(OffsetDateTime::now_utc())})
        }
        None => Value::Null,
    };
    let mut data = Map::new();
    data.insert(binding.to_owned(), json!({"Schedule": {"AdjustForDST": true}, "ScheduleStatus": schedule_status, "IsPastDue": past_due}));
    (data, Map::new())
}

pub(super) async fn run(
    def: FunctionDef,
    invoker: Arc<Invoker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Trigger::Timer {
        binding,
        schedule,
        run_on_startup,
        use_monitor,
    } = &def.trigger
    else {
        return;
    };
    let mut last: Option<OffsetDateTime> = None;
    if *run_on_startup {
        fire(&def, binding, &invoker, None, false, "runOnStartup").await;
    }
    loop {
        let now = OffsetDateTime::now_utc();
        let Some(next) = schedule.next_after(now) else {
            tracing::warn!(function = %def.name, "schedule has no next occurrence; timer stopped");
            return;
        };
        let wait = (next - now).try_into().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        let status = if *use_monitor {
            Some((
                last.unwrap_or(next),
                schedule.next_after(next).unwrap_or(next),
            ))
        } else {
            None
        };
        // Late by more than a minute (a suspended laptop): say so, as the host does.
        let past_due = OffsetDateTime::now_utc() - next > time::Duration::minutes(1);
        fire(
            &def,
            binding,
            &invoker,
            status,
            past_due,
            &format!(
                "Timer fired at {}",
                next.format(&Rfc3339).unwrap_or_default()
            ),
        )
        .await;
        last = Some(next);
    }
}

async fn fire(
    def: &FunctionDef,
    binding: &str,
    invoker: &Invoker,
    status: Option<(OffsetDateTime, OffsetDateTime)>,
    past_due: bool,
    reason: &str,
) {
    let (data, mut metadata) = payload(binding, status, past_due);
    metadata.insert("sys".into(), sys_metadata(&def.name));
    // Timers are not retried; the failure is logged by the invoker.
    let _ = invoker.invoke(def, (data, metadata), reason).await;
}
