//! Queues whose sends to one queue fail or hang while told to: to test
//! that what the app meant to send is not lost when a send fails, and what
//! happens to a region stuck mid-run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use salestim::platform::queues::{QueueMessage, QueueName, Queues};
use salestim::platform::{PlatformError, PlatformResult};

/// How many sends to the outbox are still to fail (one switch for the
/// process; the tests that use it run their own app, and only they set it).
pub static OUTBOX_SENDS_TO_FAIL: AtomicU32 = AtomicU32::new(0);

/// Sends to `tenant-work` hang (a region stuck mid-run) while this is set,
/// in the apps built with [`hanging_tenant_work`].
pub static HANG_TENANT_WORK: AtomicBool = AtomicBool::new(true);

/// What a send meets.
pub enum Fault {
    Fail,
    Hang,
}

/// The local queues, with sends that meet the fault `on_send` names.
pub struct Faulty {
    inner: Arc<dyn Queues>,
    on_send: fn(&QueueName) -> Option<Fault>,
    /// The service is down: pings fail too.
    down: bool,
}

/// For `Options::queues`: a storage account that cannot be reached (every
/// send and ping fails).
pub fn unreachable_queues(inner: Arc<dyn Queues>) -> Arc<dyn Queues> {
    Arc::new(Faulty {
        inner,
        on_send: |_| Some(Fault::Fail),
        down: true,
    })
}

/// For `Options::queues`: the local queues, with outbox sends that fail
/// while [`OUTBOX_SENDS_TO_FAIL`] is above zero.
pub fn failing_outbox(inner: Arc<dyn Queues>) -> Arc<dyn Queues> {
    Arc::new(Faulty {
        inner,
        on_send: |queue| {
            (queue.as_str() == "bot-outbox"
                && OUTBOX_SENDS_TO_FAIL
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok())
            .then_some(Fault::Fail)
        },
        down: false,
    })
}

/// For `Options::queues`: the local queues, with `tenant-work` sends that
/// never finish while [`HANG_TENANT_WORK`] is set.
pub fn hanging_tenant_work(inner: Arc<dyn Queues>) -> Arc<dyn Queues> {
    Arc::new(Faulty {
        inner,
        on_send: |queue| {
            (queue.as_str() == "tenant-work" && HANG_TENANT_WORK.load(Ordering::SeqCst))
                .then_some(Fault::Hang)
        },
        down: false,
    })
}

#[async_trait]
impl Queues for Faulty {
    async fn ensure(&self, queue: &QueueName) -> PlatformResult<()> {
        self.inner.ensure(queue).await
    }

    async fn send(
        &self,
        queue: &QueueName,
        text: &str,
        delay: Option<Duration>,
    ) -> PlatformResult<String> {
        match (self.on_send)(queue) {
            Some(Fault::Fail) => {
                return Err(PlatformError::unavailable(
                    "queues",
                    "injected send failure",
                ));
            }
            Some(Fault::Hang) => std::future::pending::<()>().await,
            None => {}
        }
        self.inner.send(queue, text, delay).await
    }

    async fn receive(
        &self,
        queue: &QueueName,
        max: u32,
        visibility: Duration,
    ) -> PlatformResult<Vec<QueueMessage>> {
        self.inner.receive(queue, max, visibility).await
    }

    async fn delete(&self, queue: &QueueName, id: &str, pop_receipt: &str) -> PlatformResult<()> {
        self.inner.delete(queue, id, pop_receipt).await
    }

    async fn release(
        &self,
        queue: &QueueName,
        id: &str,
        pop_receipt: &str,
        visibility: Duration,
    ) -> PlatformResult<String> {
        self.inner.release(queue, id, pop_receipt, visibility).await
    }

    async fn count(&self, queue: &QueueName) -> PlatformResult<u64> {
        self.inner.count(queue).await
    }

    async fn ping(&self) -> PlatformResult<()> {
        if self.down {
            return Err(PlatformError::unavailable(
                "queues",
                "connection refused to secret-account.queue.core.windows.net",
            ));
        }
        self.inner.ping().await
    }

    async fn wait(&self, queue: &QueueName, max: Duration) {
        self.inner.wait(queue, max).await
    }
}
