//! One conformance suite for [`Blobs`], run against the file implementation
//! and against Azure Blob Storage (Azurite), plus the ways storage access
//! can be misconfigured.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use salestim::platform::PlatformError;
use salestim::platform::blobs::azure::AzureBlobs;
use salestim::platform::blobs::files::FileBlobs;
use salestim::platform::blobs::{Blob, Blobs};
use salestim::platform::storage_account::StorageAccount;
use salestim::platform::storage_account::sas::sign_account_sas;

use crate::support::azurite::{ACCOUNT, azurite, test_client_options};
use crate::support::azurite_oauth::{TestTokenCredential, azurite_oauth};

/// A fresh container name, so tests sharing one Azurite never collide.
fn container() -> String {
    format!("t{}", uuid::Uuid::new_v4().simple())
}

fn blob(data: &'static [u8], content_type: &str) -> Blob {
    Blob {
        data: Bytes::from_static(data),
        content_type: content_type.to_owned(),
    }
}

async fn put_get_and_overwrite(blobs: &dyn Blobs) {
    let c = container();
    blobs
        .put(
            &c,
            "icons/team.png",
            Bytes::from_static(b"\x89PNG data"),
            "image/png",
        )
        .await
        .unwrap();
    assert_eq!(
        blobs.get(&c, "icons/team.png").await.unwrap(),
        Some(blob(b"\x89PNG data", "image/png"))
    );
    blobs
        .put(
            &c,
            "icons/team.png",
            Bytes::from_static(b"{\"v\":2}"),
            "application/json",
        )
        .await
        .unwrap();
    assert_eq!(
        blobs.get(&c, "icons/team.png").await.unwrap(),
        Some(blob(b"{\"v\":2}", "application/json"))
    );
}

async fn missing_blobs_and_containers(blobs: &dyn Blobs) {
    let c = container();
    assert_eq!(blobs.get(&c, "nothing").await.unwrap(), None);
    assert!(!blobs.delete(&c, "nothing").await.unwrap());
    assert_eq!(blobs.list(&c, "").await.unwrap(), Vec::<String>::new());
    blobs
        .put(&c, "one", Bytes::from_static(b"1"), "text/plain")
        .await
        .unwrap();
    assert_eq!(blobs.get(&c, "two").await.unwrap(), None);
}

async fn delete_reports_whether_it_deleted(blobs: &dyn Blobs) {
    let c = container();
    blobs
        .put(&c, "a/b", Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap();
    assert!(blobs.delete(&c, "a/b").await.unwrap());
    assert_eq!(blobs.get(&c, "a/b").await.unwrap(), None);
    assert!(!blobs.delete(&c, "a/b").await.unwrap());
}

async fn list_filters_by_prefix_and_sorts(blobs: &dyn Blobs) {
    let c = container();
    // "a" and "a/b" coexist, as in Azure.
    for name in ["b.txt", "a/b/c", "a", "a/b", "ab", "z/été 1.png"] {
        blobs
            .put(&c, name, Bytes::from(name.to_owned()), "text/plain")
            .await
            .unwrap();
    }
    assert_eq!(
        blobs.list(&c, "").await.unwrap(),
        ["a", "a/b", "a/b/c", "ab", "b.txt", "z/été 1.png"]
    );
    assert_eq!(blobs.list(&c, "a/").await.unwrap(), ["a/b", "a/b/c"]);
    assert_eq!(
        blobs.list(&c, "a").await.unwrap(),
        ["a", "a/b", "a/b/c", "ab"]
    );
    assert_eq!(blobs.list(&c, "z/é").await.unwrap(), ["z/été 1.png"]);
    assert_eq!(blobs.list(&c, "q").await.unwrap(), Vec::<String>::new());
    assert_eq!(
        blobs.get(&c, "a/b").await.unwrap().map(|b| b.data),
        Some(Bytes::from_static(b"a/b"))
    );
}

async fn awkward_names_and_contents_round_trip(blobs: &dyn Blobs) {
    let c = container();
    let names = [
        "sp ace/x+y=z&w.txt",
        "percent%41",
        "日本/🚀.bin",
        "dots.in.name",
        "-_~'()!*",
    ];
    for name in names {
        blobs
            .put(
                &c,
                name,
                Bytes::from(name.to_owned()),
                "text/plain; charset=utf-8",
            )
            .await
            .unwrap();
    }
    for name in names {
        let got = blobs.get(&c, name).await.unwrap().expect(name);
        assert_eq!(got.data, Bytes::from(name.to_owned()), "{name}");
        assert_eq!(got.content_type, "text/plain; charset=utf-8");
    }
    let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    assert_eq!(blobs.list(&c, "").await.unwrap(), expected);

    blobs
        .put(&c, "empty", Bytes::new(), "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(
        blobs.get(&c, "empty").await.unwrap(),
        Some(blob(b"", "application/octet-stream"))
    );

    let big: Vec<u8> = (0..3 * 1024 * 1024 + 7)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    blobs
        .put(
            &c,
            "big",
            Bytes::from(big.clone()),
            "application/octet-stream",
        )
        .await
        .unwrap();
    let got = blobs.get(&c, "big").await.unwrap().expect("big blob");
    assert_eq!(got.data.len(), big.len());
    assert!(got.data == big, "big blob content differs");
}

async fn bad_names_are_invalid_and_change_nothing(blobs: &dyn Blobs) {
    let c = container();
    for (container, name) in [
        ("UPPER", "x"),
        ("a", "x"),
        ("a--b", "x"),
        (c.as_str(), ""),
        (c.as_str(), "../escape"),
        (c.as_str(), "a/../../b"),
        (c.as_str(), "a//b"),
        (c.as_str(), "back\\slash"),
        (c.as_str(), "ctl\u{1}"),
    ] {
        let put = blobs
            .put(container, name, Bytes::from_static(b"x"), "text/plain")
            .await;
        assert!(
            matches!(put, Err(PlatformError::Invalid(_))),
            "{container}/{name}: {put:?}"
        );
        let get = blobs.get(container, name).await;
        assert!(
            matches!(get, Err(PlatformError::Invalid(_))),
            "{container}/{name}: {get:?}"
        );
        let delete = blobs.delete(container, name).await;
        assert!(
            matches!(delete, Err(PlatformError::Invalid(_))),
            "{container}/{name}: {delete:?}"
        );
    }
    let bad_type = blobs
        .put(&c, "x", Bytes::from_static(b"x"), "text/plain\r\nX-Evil: 1")
        .await;
    assert!(
        matches!(bad_type, Err(PlatformError::Invalid(_))),
        "{bad_type:?}"
    );
    assert_eq!(blobs.list(&c, "").await.unwrap(), Vec::<String>::new());
}

async fn ping_answers(blobs: &dyn Blobs) {
    blobs.ping().await.unwrap();
}

/// Runs each suite case against both implementations.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod files {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let blobs = super::FileBlobs::new(dir.path().join("blobs"));
                    super::$case(&blobs).await;
                }
            )*
        }
        mod azurite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::azure_blobs().as_ref()).await;
                }
            )*
        }
        mod azurite_oauth {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::azure_blobs_with_tokens().as_ref()).await;
                }
            )*
        }
    };
}

conformance!(
    put_get_and_overwrite,
    missing_blobs_and_containers,
    delete_reports_whether_it_deleted,
    list_filters_by_prefix_and_sorts,
    awkward_names_and_contents_round_trip,
    bad_names_are_invalid_and_change_nothing,
    ping_answers,
);

/// Blobs on Azurite through an account-key connection string (the SAS is
/// signed and renewed by the app).
/// The same on the Azurite that takes Entra ID bearer tokens over HTTPS.
fn azure_blobs_with_tokens() -> Arc<dyn Blobs> {
    let azurite = azurite_oauth();
    let account = azurite.account(TestTokenCredential::default());
    Arc::new(AzureBlobs::new(&account, azurite.client_options()).unwrap())
}

fn azure_blobs() -> Arc<dyn Blobs> {
    let account = StorageAccount::parse_connection_string(&azurite().connection_string()).unwrap();
    Arc::new(AzureBlobs::new(&account, test_client_options()).unwrap())
}

/// Error messages may quote a URL, but never a SAS signature.
fn assert_no_signature(message: &str) {
    for (at, _) in message.match_indices("sig=") {
        assert!(message[at + 4..].starts_with("REDACTED"), "{message}");
    }
}

fn blobs_with_sas(sas: &str) -> AzureBlobs {
    let account =
        StorageAccount::parse_connection_string(&azurite().sas_connection_string(sas)).unwrap();
    AzureBlobs::new(&account, test_client_options()).unwrap()
}

#[tokio::test]
async fn a_given_sas_token_is_used_as_is() {
    let key =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &azurite().key).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let sas = sign_account_sas(
        ACCOUNT,
        &key,
        now - time::Duration::minutes(5),
        now + time::Duration::hours(1),
        true,
    );
    let blobs = blobs_with_sas(secrecy::ExposeSecret::expose_secret(&sas));
    let c = container();
    blobs
        .put(&c, "x", Bytes::from_static(b"sas"), "text/plain")
        .await
        .unwrap();
    assert_eq!(
        blobs.get(&c, "x").await.unwrap(),
        Some(blob(b"sas", "text/plain"))
    );
}

#[tokio::test]
async fn a_bad_signature_is_an_error_not_a_hang() {
    let wrong_key = [7u8; 64];
    let now = time::OffsetDateTime::now_utc();
    let sas = sign_account_sas(
        ACCOUNT,
        &wrong_key,
        now - time::Duration::minutes(5),
        now + time::Duration::hours(1),
        true,
    );
    let blobs = blobs_with_sas(secrecy::ExposeSecret::expose_secret(&sas));
    let c = container();
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        (
            blobs
                .put(&c, "x", Bytes::from_static(b"x"), "text/plain")
                .await,
            blobs.get(&c, "x").await,
            blobs.ping().await,
        )
    })
    .await
    .expect("a rejected signature must fail, not hang");
    for result in [outcome.0.map(|_| ()), outcome.1.map(|_| ()), outcome.2] {
        match result {
            Err(PlatformError::Backend { message, .. }) => {
                assert!(message.contains("403"), "{message}");
                assert_no_signature(&message);
            }
            other => panic!("expected a 403 backend error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unreachable_account_is_unavailable_quickly() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let account = StorageAccount::parse_connection_string(&format!(
        "AccountName={ACCOUNT};AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:{closed_port}/{ACCOUNT};QueueEndpoint=http://127.0.0.1:{closed_port}/{ACCOUNT}"
    ))
    .unwrap();
    let blobs = AzureBlobs::new(&account, test_client_options()).unwrap();
    let ping = tokio::time::timeout(Duration::from_secs(30), blobs.ping())
        .await
        .expect("a refused connection must fail, not hang");
    match ping {
        Err(PlatformError::Unavailable { message, .. }) => assert_no_signature(&message),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let azurite = azurite_oauth();
    let account = azurite.account(TestTokenCredential { expired: true });
    let blobs = AzureBlobs::new(&account, azurite.client_options()).unwrap();
    let put = tokio::time::timeout(
        Duration::from_secs(30),
        blobs.put(&container(), "x", Bytes::from_static(b"x"), "text/plain"),
    )
    .await
    .expect("a refused token must fail, not hang");
    match put {
        Err(PlatformError::Backend { message, .. }) => {
            assert!(message.contains("403"), "{message}")
        }
        other => panic!("expected a 403 backend error, got {other:?}"),
    }
}
