//! Work queues. In Azure the Functions host reads the queues and invokes the
//! queue functions; the app itself only sends. Under `handler local` the
//! local host reads them through this same trait, with the host's semantics
//! (visibility timeout, dequeue count, poison queue).
//!
//! Implementations: [`azure::AzureQueues`] (Storage Queues) and
//! [`local::LocalQueues`] (SQLite under the data directory, so queued work
//! survives a restart).

pub mod azure;
pub mod local;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{PlatformError, PlatformResult};

/// The largest message a Storage queue takes (64 KiB).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The longest visibility timeout or send delay a Storage queue takes.
const MAX_VISIBILITY_SECS: u64 = 7 * 24 * 3600;

/// Checks what both implementations accept: at most [`MAX_MESSAGE_BYTES`]
/// of UTF-8, and only characters XML 1.0 can carry (Storage Queues speak
/// XML, so the service would reject the others).
pub fn validate_message_text(text: &str) -> PlatformResult<()> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(PlatformError::Invalid(format!(
            "queue message of {} bytes exceeds {MAX_MESSAGE_BYTES}",
            text.len()
        )));
    }
    let xml_char = |c: char| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}'
    };
    if let Some(bad) = text.chars().find(|c| !xml_char(*c)) {
        return Err(PlatformError::Invalid(format!(
            "queue message contains {bad:?}, which XML cannot carry"
        )));
    }
    Ok(())
}

/// A visibility timeout in whole seconds, rounded up as the service works
/// in seconds; `min_secs` is 1 for receive and 0 for release/send delay.
pub fn visibility_secs(visibility: Duration, min_secs: u64) -> PlatformResult<u64> {
    let secs = visibility.as_secs() + u64::from(visibility.subsec_nanos() > 0);
    if secs > MAX_VISIBILITY_SECS {
        return Err(PlatformError::Invalid(
            "visibility timeout longer than 7 days".into(),
        ));
    }
    Ok(secs.max(min_secs))
}

/// A receive takes 1 to 32 messages, as Storage Queues allow.
pub fn validate_receive_count(max: u32) -> PlatformResult<()> {
    if (1..=32).contains(&max) {
        Ok(())
    } else {
        Err(PlatformError::Invalid(format!(
            "can receive 1 to 32 messages at a time, not {max}"
        )))
    }
}

/// A valid Azure queue name: 3-63 characters, lower-case letters, digits and
/// single hyphens, starting and ending with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueName(String);

impl QueueName {
    pub fn parse(name: &str) -> PlatformResult<Self> {
        let ok = (3..=63).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-')
            && !name.contains("--");
        if ok {
            Ok(QueueName(name.to_owned()))
        } else {
            Err(PlatformError::Invalid(format!(
                "invalid queue name {name:?}"
            )))
        }
    }

    /// The queue the host moves a message to after `maxDequeueCount` failures.
    pub fn poison(&self) -> QueueName {
        QueueName(format!("{}-poison", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message received (and so leased) from a queue.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueMessage {
    pub id: String,
    /// Proof of the lease; needed to delete or release the message.
    pub pop_receipt: String,
    pub text: String,
    /// How many times it has been received, this time included.
    pub dequeue_count: u32,
    pub insertion_time: OffsetDateTime,
    pub expiration_time: OffsetDateTime,
    pub next_visible_time: OffsetDateTime,
}

#[async_trait]
pub trait Queues: Send + Sync + 'static {
    /// Creates the queue if it does not exist.
    async fn ensure(&self, queue: &QueueName) -> PlatformResult<()>;

    /// Adds a message (at most [`MAX_MESSAGE_BYTES`]), visible after `delay`.
    /// Returns the message id.
    async fn send(
        &self,
        queue: &QueueName,
        text: &str,
        delay: Option<Duration>,
    ) -> PlatformResult<String>;

    /// Leases up to `max` (1-32) visible messages for `visibility`.
    async fn receive(
        &self,
        queue: &QueueName,
        max: u32,
        visibility: Duration,
    ) -> PlatformResult<Vec<QueueMessage>>;

    /// Deletes a leased message; `NotFound` if the receipt is stale.
    async fn delete(&self, queue: &QueueName, id: &str, pop_receipt: &str) -> PlatformResult<()>;

    /// Gives a leased message back, visible again after `visibility`.
    /// Returns the new pop receipt.
    async fn release(
        &self,
        queue: &QueueName,
        id: &str,
        pop_receipt: &str,
        visibility: Duration,
    ) -> PlatformResult<String>;

    /// How many messages the queue holds (visible or not); approximate in Azure.
    async fn count(&self, queue: &QueueName) -> PlatformResult<u64>;

    async fn ping(&self) -> PlatformResult<()>;

    /// Waits until a message may have arrived on `queue`, or `max` has passed.
    /// The local implementation wakes at once on send; Azure simply sleeps
    /// (the poller backs off as the real host does).
    async fn wait(&self, _queue: &QueueName, max: Duration) {
        tokio::time::sleep(max).await;
    }
}
