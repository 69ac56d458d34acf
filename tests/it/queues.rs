//! One conformance suite for [`Queues`], run against the local (SQLite)
//! implementation and against Azure Storage Queues (Azurite). Timeouts are
//! real and short (1-2 s: Azure counts in seconds); tests poll for the
//! outcome instead of asserting how long anything took.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use salestim::platform::PlatformError;
use salestim::platform::clock::SystemClock;
use salestim::platform::queues::azure::AzureQueues;
use salestim::platform::queues::local::LocalQueues;
use salestim::platform::queues::{MAX_MESSAGE_BYTES, QueueMessage, QueueName, Queues};
use salestim::platform::storage_account::StorageAccount;

use crate::support::azurite::{azurite, test_client_options};
use crate::support::azurite_oauth::{TestTokenCredential, azurite_oauth};

mod embedded;

const LONG: Duration = Duration::from_secs(60);

/// A fresh queue, created, so tests sharing one Azurite never collide.
async fn fresh_queue(queues: &dyn Queues) -> QueueName {
    let name = QueueName::parse(&format!(
        "q-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    ))
    .unwrap();
    queues.ensure(&name).await.unwrap();
    name
}

async fn receive_one(
    queues: &dyn Queues,
    q: &QueueName,
    visibility: Duration,
) -> Option<QueueMessage> {
    let mut got = queues.receive(q, 1, visibility).await.unwrap();
    assert!(got.len() <= 1, "asked for one, got {got:?}");
    got.pop()
}

/// Polls until a message is visible again (bounded), then leases it.
async fn receive_when_visible(
    queues: &dyn Queues,
    q: &QueueName,
    visibility: Duration,
) -> QueueMessage {
    for _ in 0..100 {
        if let Some(message) = receive_one(queues, q, visibility).await {
            return message;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no message became visible on {q}");
}

async fn send_receive_delete(queues: &dyn Queues) {
    let q = fresh_queue(queues).await;
    let id = queues.send(&q, "hello", None).await.unwrap();
    let message = receive_one(queues, &q, LONG)
        .await
        .expect("the sent message");
    assert_eq!(message.id, id);
    assert_eq!(message.text, "hello");
    assert_eq!(message.dequeue_count, 1);
    assert!(message.insertion_time <= message.next_visible_time);
    assert!(message.expiration_time > message.insertion_time + time::Duration::days(6));
    assert_eq!(
        receive_one(queues, &q, LONG).await,
        None,
        "leased, so invisible"
    );
    queues
        .delete(&q, &message.id, &message.pop_receipt)
        .await
        .unwrap();
    assert_eq!(queues.count(&q).await.unwrap(), 0);
    let again = queues.delete(&q, &message.id, &message.pop_receipt).await;
    assert!(matches!(again, Err(PlatformError::NotFound)), "{again:?}");
}

async fn lease_ends_and_receipts_go_stale(queues: &dyn Queues) {
    let q = fresh_queue(queues).await;
    queues.send(&q, "retry me", None).await.unwrap();
    let first = receive_one(queues, &q, Duration::from_secs(1))
        .await
        .expect("message");
    assert_eq!(
        receive_one(queues, &q, LONG).await,
        None,
        "invisible while leased"
    );
    let second = receive_when_visible(queues, &q, LONG).await;
    assert_eq!(second.id, first.id);
    assert_eq!(second.dequeue_count, 2);
    assert_ne!(second.pop_receipt, first.pop_receipt);
    let stale = queues.delete(&q, &first.id, &first.pop_receipt).await;
    assert!(matches!(stale, Err(PlatformError::NotFound)), "{stale:?}");
    let stale = queues
        .release(&q, &first.id, &first.pop_receipt, Duration::ZERO)
        .await;
    assert!(matches!(stale, Err(PlatformError::NotFound)), "{stale:?}");
    queues
        .delete(&q, &second.id, &second.pop_receipt)
        .await
        .unwrap();
    assert_eq!(queues.count(&q).await.unwrap(), 0);
}

async fn release_makes_visible_with_a_new_receipt(queues: &dyn Queues) {
    let q = fresh_queue(queues).await;
    queues.send(&q, "give back", None).await.unwrap();
    let leased = receive_one(queues, &q, LONG).await.expect("message");
    let receipt = queues
        .release(&q, &leased.id, &leased.pop_receipt, Duration::ZERO)
        .await
        .unwrap();
    assert_ne!(receipt, leased.pop_receipt);
    let stale = queues.delete(&q, &leased.id, &leased.pop_receipt).await;
    assert!(matches!(stale, Err(PlatformError::NotFound)), "{stale:?}");
    let again = receive_when_visible(queues, &q, LONG).await;
    assert_eq!(
        (again.id.as_str(), again.dequeue_count),
        (leased.id.as_str(), 2)
    );

    // Released for a while: hidden until then, and the new receipt deletes.
    let receipt = queues
        .release(&q, &again.id, &again.pop_receipt, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(receive_one(queues, &q, LONG).await, None);
    queues.delete(&q, &again.id, &receipt).await.unwrap();
    assert_eq!(queues.count(&q).await.unwrap(), 0);
}

async fn delayed_send_is_hidden_at_first(queues: &dyn Queues) {
    let q = fresh_queue(queues).await;
    let id = queues
        .send(&q, "later", Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(receive_one(queues, &q, LONG).await, None);
    assert_eq!(queues.count(&q).await.unwrap(), 1);
    let message = receive_when_visible(queues, &q, LONG).await;
    assert_eq!((message.id, message.dequeue_count), (id, 1));
}

async fn count_includes_leased_messages(queues: &dyn Queues) {
    let q = fresh_queue(queues).await;
    let mut sent = BTreeSet::new();
    for text in ["one", "two", "three"] {
        sent.insert(queues.send(&q, text, None).await.unwrap());
    }
    assert_eq!(queues.count(&q).await.unwrap(), 3);
    let batch = queues.receive(&q, 32, LONG).await.unwrap();
    let received: BTreeSet<String> = batch.iter().map(|m| m.id.clone()).collect();
    assert_eq!(received, sent);
    assert_eq!(queues.count(&q).await.unwrap(), 3);
    queues
        .delete(&q, &batch[0].id, &batch[0].pop_receipt)
        .await
        .unwrap();
    assert_eq!(queues.count(&q).await.unwrap(), 2);
}

async fn poison_queue_is_a_usable_sibling(queues: &dyn Queues) {
    let q = fresh_queue(queues).await;
    let poison = q.poison();
    assert_eq!(poison.as_str(), format!("{q}-poison"));
    queues.ensure(&poison).await.unwrap();
    queues.send(&poison, "gave up", None).await.unwrap();
    assert_eq!(queues.count(&q).await.unwrap(), 0);
    assert_eq!(
        receive_one(queues, &poison, LONG).await.map(|m| m.text),
        Some("gave up".into())
    );
}

async fn size_limit_is_64_kib(queues: &dyn Queues) {
    let q = fresh_queue(queues).await;
    let largest = "x".repeat(MAX_MESSAGE_BYTES);
    queues.send(&q, &largest, None).await.unwrap();
    let oversized = "x".repeat(MAX_MESSAGE_BYTES + 1);
    let sent = queues.send(&q, &oversized, None).await;
    assert!(
        matches!(sent, Err(PlatformError::Invalid(_))),
        "{:?}",
        sent.map(|_| ())
    );
    // Multi-byte characters count in bytes.
    let wide = "é".repeat(MAX_MESSAGE_BYTES / 2 + 1);
    assert!(matches!(
        queues.send(&q, &wide, None).await,
        Err(PlatformError::Invalid(_))
    ));
    assert_eq!(
        queues.count(&q).await.unwrap(),
        1,
        "nothing oversized was sent"
    );
    let got = receive_one(queues, &q, LONG)
        .await
        .expect("the largest message");
    assert_eq!(got.text.len(), MAX_MESSAGE_BYTES);
}

async fn text_round_trips_exactly(queues: &dyn Queues) {
    let q = fresh_queue(queues).await;
    let texts = [
        r#"{"kind":"provision","name":"<Sales & Marketing>","quote":"it's \"ok\""}"#,
        "<![CDATA[ not ]]> &amp; &lt;tag/&gt; ]]>",
        "unicode: été, 日本語, emoji 🚀, rtl שלום",
        "tabs\tand\nnewlines\n",
        "windows\r\nline ends\r",
        "  leading and trailing spaces  ",
    ];
    for text in texts {
        queues.send(&q, text, None).await.unwrap();
        let got = receive_one(queues, &q, LONG).await.expect(text);
        assert_eq!(got.text, text);
        queues.delete(&q, &got.id, &got.pop_receipt).await.unwrap();
    }
    let control = queues.send(&q, "bell\u{7}", None).await;
    assert!(
        matches!(control, Err(PlatformError::Invalid(_))),
        "{:?}",
        control.map(|_| ())
    );
}

/// What a person types can hold characters XML refuses (U+FFFE, U+FFFF,
/// controls); a job's encoded text still goes through and decodes back to
/// the same strings.
async fn job_text_carries_every_character(queues: &dyn Queues) {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Note {
        text: String,
    }
    impl salestim::jobs::Job for Note {
        const QUEUE: &'static str = "notes";
    }
    let q = fresh_queue(queues).await;
    let note = Note {
        text: "nonchars \u{FFFE}\u{FFFF}, bell \u{7}, nul \u{0}, \u{FFFD} \u{10FFFF}".into(),
    };
    let text = salestim::jobs::encode(&note).expect("encodes");
    queues
        .send(&q, &text, None)
        .await
        .expect("a job's text is always sendable");
    let got = receive_one(queues, &q, LONG).await.expect("the job");
    assert_eq!(salestim::jobs::decode::<Note>(&got.text).unwrap(), note);
}

async fn missing_queues_and_bad_arguments(queues: &dyn Queues) {
    let absent = QueueName::parse(&format!(
        "absent-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
    .unwrap();
    assert!(matches!(
        queues.send(&absent, "x", None).await,
        Err(PlatformError::NotFound)
    ));
    assert!(matches!(
        queues.count(&absent).await,
        Err(PlatformError::NotFound)
    ));
    let q = fresh_queue(queues).await;
    queues.ensure(&q).await.unwrap(); // idempotent
    for max in [0, 33] {
        let got = queues.receive(&q, max, LONG).await;
        assert!(
            matches!(got, Err(PlatformError::Invalid(_))),
            "max {max}: {got:?}"
        );
    }
    let unknown = "00000000-0000-0000-0000-000000000000";
    assert!(matches!(
        queues.delete(&q, unknown, "receipt").await,
        Err(PlatformError::NotFound)
    ));
    let forged = queues.delete(&q, "../../other?x=", "receipt").await;
    assert!(
        matches!(
            forged,
            Err(PlatformError::Invalid(_) | PlatformError::NotFound)
        ),
        "{forged:?}"
    );
    queues.ping().await.unwrap();
}

/// Runs each suite case against both implementations.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let queues = super::LocalQueues::open(
                        &dir.path().join("queues.db"),
                        std::sync::Arc::new(super::SystemClock),
                    )
                    .unwrap();
                    super::$case(&queues).await;
                }
            )*
        }
        mod azurite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::azure_queues().as_ref()).await;
                }
            )*
        }
        mod azurite_oauth {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::azure_queues_with_tokens().as_ref()).await;
                }
            )*
        }
    };
}

conformance!(
    send_receive_delete,
    lease_ends_and_receipts_go_stale,
    release_makes_visible_with_a_new_receipt,
    delayed_send_is_hidden_at_first,
    count_includes_leased_messages,
    poison_queue_is_a_usable_sibling,
    size_limit_is_64_kib,
    text_round_trips_exactly,
    job_text_carries_every_character,
    missing_queues_and_bad_arguments,
);

/// The same on the Azurite that takes Entra ID bearer tokens over HTTPS.
fn azure_queues_with_tokens() -> Arc<dyn Queues> {
    let azurite = azurite_oauth();
    let account = azurite.account(TestTokenCredential::default());
    Arc::new(AzureQueues::new(&account, azurite.client_options()).unwrap())
}

fn azure_queues() -> Arc<dyn Queues> {
    let account = StorageAccount::parse_connection_string(&azurite().connection_string()).unwrap();
    Arc::new(AzureQueues::new(&account, test_client_options()).unwrap())
}
