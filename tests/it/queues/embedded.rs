//! What only the local implementation promises: time from the injected
//! clock, durability across reopening, and an immediate wake-up on send.

use std::sync::Arc;
use std::time::Duration;

use salestim::platform::PlatformError;
use salestim::platform::clock::{Clock as _, ManualClock, SystemClock};
use salestim::platform::queues::Queues;
use salestim::platform::queues::local::LocalQueues;

use super::{LONG, fresh_queue, receive_one};

#[tokio::test]
async fn local_leases_and_expiry_follow_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2025-03-01 12:00 UTC),
    ));
    let queues = LocalQueues::open(&dir.path().join("q.db"), clock.clone()).unwrap();
    let q = fresh_queue(&queues).await;
    queues.send(&q, "lease", None).await.unwrap();
    let leased = receive_one(&queues, &q, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        leased.next_visible_time,
        clock.now() + time::Duration::seconds(30)
    );
    clock.advance(time::Duration::seconds(29));
    assert_eq!(receive_one(&queues, &q, LONG).await, None);
    clock.advance(time::Duration::seconds(1));
    assert_eq!(
        receive_one(&queues, &q, LONG)
            .await
            .map(|m| m.dequeue_count),
        Some(2)
    );

    queues.send(&q, "expires", None).await.unwrap();
    clock.advance(time::Duration::days(7));
    assert_eq!(queues.count(&q).await.unwrap(), 0, "both messages expired");
    assert_eq!(receive_one(&queues, &q, LONG).await, None);
}

#[tokio::test]
async fn local_messages_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2025-03-01 12:00 UTC),
    ));
    let (q, leased) = {
        let queues = LocalQueues::open(&path, clock.clone()).unwrap();
        let q = fresh_queue(&queues).await;
        queues.send(&q, "first", None).await.unwrap();
        queues.send(&q, "second", None).await.unwrap();
        let leased = receive_one(&queues, &q, Duration::from_secs(10))
            .await
            .unwrap();
        (q, leased)
    };
    let queues = LocalQueues::open(&path, clock.clone()).unwrap();
    assert_eq!(queues.count(&q).await.unwrap(), 2);
    let second = receive_one(&queues, &q, LONG).await.unwrap();
    assert_eq!(second.text, "second");
    clock.advance(time::Duration::seconds(10));
    let again = receive_one(&queues, &q, LONG).await.unwrap();
    assert_eq!((again.text.as_str(), again.dequeue_count), ("first", 2));
    let stale = queues.delete(&q, &leased.id, &leased.pop_receipt).await;
    assert!(matches!(stale, Err(PlatformError::NotFound)));
}

#[tokio::test]
async fn local_wait_wakes_on_send() {
    let dir = tempfile::tempdir().unwrap();
    let queues =
        Arc::new(LocalQueues::open(&dir.path().join("q.db"), Arc::new(SystemClock)).unwrap());
    let q = fresh_queue(queues.as_ref()).await;
    let other = fresh_queue(queues.as_ref()).await;
    let waiter = {
        let (queues, q) = (queues.clone(), q.clone());
        tokio::spawn(async move { queues.wait(&q, Duration::from_secs(600)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    queues
        .send(&other, "not for the waiter", None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiter.is_finished(),
        "a send to another queue must not wake it"
    );
    queues.send(&q, "wake up", None).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("wait() must wake on send")
        .unwrap();
}
