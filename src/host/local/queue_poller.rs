//! Feeds one queue function the way the Functions host's queue listener
//! does: lease a batch, invoke each message concurrently, and lease the next
//! batch as soon as no more than `newBatchThreshold` are still running (so at
//! most `batchSize + newBatchThreshold` run at once); delete on success;
//! on failure make it visible again after `visibilityTimeout`, and after
//! `maxDequeueCount` attempts move it to `<queue>-poison`. Polling backs off
//! to `maxPollingInterval` while the queue is empty.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio::sync::watch;

use super::{Invoker, Payload, sys_metadata};
use crate::host::function_json::{FunctionDef, Trigger};
use crate::host::host_json::HostJson;
use crate::platform::queues::{QueueMessage, QueueName, Queues};

/// The lease taken on a message while its invocation runs (the host's
/// default); a crash mid-invocation makes it reappear after this.
const LEASE: Duration = Duration::from_secs(600);
const MIN_POLL: Duration = Duration::from_millis(100);

/// `DateTimeOffset` as the host serialises it (`2019-10-09T17:58:31+00:00`).
fn dto(t: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.format(&format).unwrap_or_default()
}

/// The host's payload for a queue message: strings and numbers encoded a
/// second time (`JsonConvert.SerializeObject`), dates as JSON dates.
pub(super) fn payload(binding: &str, m: &QueueMessage) -> Payload {
    let twice =
        |s: &str| Value::String(serde_json::to_string(s).expect("a string always serialises"));
    let mut data = Map::new();
    data.insert(binding.to_owned(), twice(&m.text));
    let mut metadata = Map::new();
    metadata.insert(
        "DequeueCount".into(),
        Value::String(m.dequeue_count.to_string()),
    );
    metadata.insert(
        "ExpirationTime".into(),
        Value::String(dto(m.expiration_time)),
    );
    metadata.insert("Id".into(), twice(&m.id));
    metadata.insert("InsertionTime".into(), Value::String(dto(m.insertion_time)));
    metadata.insert(
        "NextVisibleTime".into(),
        Value::String(dto(m.next_visible_time)),
    );
    metadata.insert("PopReceipt".into(), twice(&m.pop_receipt));
    (data, metadata)
}

pub(super) async fn run(
    def: FunctionDef,
    host: HostJson,
    queues: Arc<dyn Queues>,
    invoker: Arc<Invoker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Trigger::Queue { binding, queue, .. } = &def.trigger else {
        return;
    };
    let mut interval = MIN_POLL;
    let threshold = host.new_batch_threshold as usize;
    let mut running = FuturesUnordered::new();
    while !*shutdown.borrow() {
        if running.len() <= threshold {
            let batch = match queues.receive(queue, host.batch_size, LEASE).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(queue = %queue, error = %e, "queue poll failed");
                    Vec::new()
                }
            };
            if !batch.is_empty() {
                interval = MIN_POLL;
                running.extend(
                    batch.into_iter().map(|m| {
                        process(&def, binding, queue, &host, queues.as_ref(), &invoker, m)
                    }),
                );
                continue;
            }
            if running.is_empty() {
                tokio::select! {
                    _ = queues.wait(queue, interval) => {}
                    _ = shutdown.changed() => {}
                }
                interval = (interval * 2).min(host.max_polling_interval);
                continue;
            }
            // Some still run and the queue is empty: wait for either.
            tokio::select! {
                _ = running.next() => {}
                _ = queues.wait(queue, interval) => {}
                _ = shutdown.changed() => {}
            }
        } else {
            running.next().await;
        }
    }
    // Let what is running finish; nothing new is leased.
    while running.next().await.is_some() {}
}

async fn process(
    def: &FunctionDef,
    binding: &str,
    queue: &QueueName,
    host: &HostJson,
    queues: &dyn Queues,
    invoker: &Invoker,
    mut m: QueueMessage,
) {
    if m.dequeue_count > host.max_dequeue_count {
        move_to_poison(queue, queues, &m).await;
        return;
    }
    let mut metadata_msg = m.clone();
    metadata_msg.next_visible_time = OffsetDateTime::now_utc() + LEASE;
    let (data, mut metadata) = payload(binding, &metadata_msg);
    metadata.insert("sys".into(), sys_metadata(&def.name));
    let reason = format!("New queue message detected on '{queue}'.");
    match invoker.invoke(def, (data, metadata), &reason).await {
        Ok(_) => {
            if let Err(e) = queues.delete(queue, &m.id, &m.pop_receipt).await {
                tracing::warn!(queue = %queue, id = %m.id, error = %e, "could not delete a processed message; it will run again");
            }
        }
        Err(_) if m.dequeue_count >= host.max_dequeue_count => {
            move_to_poison(queue, queues, &m).await
        }
        Err(_) => match queues
            .release(queue, &m.id, &m.pop_receipt, host.visibility_timeout)
            .await
        {
            Ok(receipt) => m.pop_receipt = receipt,
            Err(e) => {
                tracing::warn!(queue = %queue, id = %m.id, error = %e, "could not release a failed message; it reappears when its lease ends")
            }
        },
    }
}

async fn move_to_poison(queue: &QueueName, queues: &dyn Queues, m: &QueueMessage) {
    let poison = queue.poison();
    tracing::error!(queue = %queue, id = %m.id, dequeue_count = m.dequeue_count, "message failed {} times; moving it to {poison}", m.dequeue_count);
    match queues.send(&poison, &m.text, None).await {
        Ok(_) => {
            if let Err(e) = queues.delete(queue, &m.id, &m.pop_receipt).await {
                tracing::warn!(queue = %queue, id = %m.id, error = %e, "copied to the poison queue but not deleted");
            }
        }
        Err(e) => {
            tracing::error!(queue = %poison, error = %e, "could not write to the poison queue; the message stays")
        }
    }
}
