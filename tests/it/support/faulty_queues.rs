//! Queues that refuse sends to one queue while told to, to test that what
//! the app meant to send is not lost when a send fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use salestim::platform::queues::{QueueMessage, QueueName, Queues};
use salestim::platform::{PlatformError, PlatformResult};

/// How many sends to the outbox are still to fail (one switch for the
/// process; the tests that use it run their own app, and only they set it).
pub static OUTBOX_SENDS_TO_FAIL: AtomicU32 = AtomicU32::new(0);

pub struct FailingOutbox(pub Arc<dyn Queues>);

/// For `Options::queues`: the local queues, with outbox sends that fail
/// while [`OUTBOX_SENDS_TO_FAIL`] is above zero.
pub fn failing_outbox(inner: Arc<dyn Queues>) -> Arc<dyn Queues> {
    Arc::new(FailingOutbox(inner))
}

#[async_trait]
impl Queues for FailingOutbox {
    async fn ensure(&self, queue: &QueueName) -> PlatformResult<()> {
        self.0.ensure(queue).await
    }

    async fn send(
        &self,
        queue: &QueueName,
        text: &str,
        delay: Option<Duration>,
    ) -> PlatformResult<String> {
        if queue.as_str() == "bot-outbox"
            && OUTBOX_SENDS_TO_FAIL
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(PlatformError::unavailable(
                "queues",
                "injected send failure",
            ));
        }
        self.0.send(queue, text, delay).await
    }

    async fn receive(
        &self,
        queue: &QueueName,
        max: u32,
        visibility: Duration,
    ) -> PlatformResult<Vec<QueueMessage>> {
        self.0.receive(queue, max, visibility).await
    }

    async fn delete(&self, queue: &QueueName, id: &str, pop_receipt: &str) -> PlatformResult<()> {
        self.0.delete(queue, id, pop_receipt).await
    }

    async fn release(
        &self,
        queue: &QueueName,
        id: &str,
        pop_receipt: &str,
        visibility: Duration,
    ) -> PlatformResult<String> {
        self.0.release(queue, id, pop_receipt, visibility).await
    }

    async fn count(&self, queue: &QueueName) -> PlatformResult<u64> {
        self.0.count(queue).await
    }

    async fn ping(&self) -> PlatformResult<()> {
        self.0.ping().await
    }

    async fn wait(&self, queue: &QueueName, max: Duration) {
        self.0.wait(queue, max).await
    }
}
