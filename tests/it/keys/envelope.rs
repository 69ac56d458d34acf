//! Envelope encryption of tenant secrets: sealing binds a secret to its
//! tenant and data key, and unwrapped data keys are cached so Key Vault is
//! not called per secret.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use salestim::ids::TenantId;
use salestim::platform::clock::ManualClock;
use salestim::platform::keys::envelope::{Envelope, Sealed};
use salestim::platform::keys::{Keys, WrappedKey};
use salestim::platform::{PlatformError, PlatformResult};
use time::{Duration, OffsetDateTime};

use super::{keyvault_keys, local_keys};
use crate::support::keyvault::KeyVaultStandIn;

const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM: &str = "0f2d4b9e-5c1a-4e3b-9d8f-7a6b5c4d3e2f";

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// Counts unwrap calls to the key-encryption key.
struct Counting {
    inner: Arc<dyn Keys>,
    unwraps: AtomicUsize,
}

#[async_trait]
impl Keys for Counting {
    async fn wrap(&self, data_key: &[u8]) -> PlatformResult<WrappedKey> {
        self.inner.wrap(data_key).await
    }
    async fn unwrap(&self, wrapped: &WrappedKey) -> PlatformResult<Vec<u8>> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap(wrapped).await
    }
    async fn ping(&self) -> PlatformResult<()> {
        self.inner.ping().await
    }
}

async fn seal_and_open(keys: Arc<dyn Keys>) {
    let envelope = Envelope::new(keys.clone());
    let contoso = tenant(CONTOSO);
    let key = envelope.new_tenant_key().await.unwrap();
    let secret = b"crm refresh token \x00\xff";
    let sealed = envelope.seal(&contoso, &key, secret).await.unwrap();
    let ciphertext = STANDARD.decode(&sealed.ciphertext).unwrap();
    assert_eq!(
        ciphertext.len(),
        secret.len() + 16,
        "ciphertext and GCM tag"
    );
    assert_eq!(STANDARD.decode(&sealed.nonce).unwrap().len(), 12);
    // Stored as JSON in a document.
    let json = serde_json::to_value(&sealed).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 2);
    let stored: Sealed = serde_json::from_value(json).unwrap();
    assert_eq!(
        envelope.open(&contoso, &key, &stored).await.unwrap(),
        secret
    );
    // Same secret twice: different nonces and ciphertexts.
    let again = envelope.seal(&contoso, &key, secret).await.unwrap();
    assert_ne!(again, sealed);
    // Another instance (another worker, nothing cached) opens it too.
    let elsewhere = Envelope::new(keys);
    assert_eq!(
        elsewhere.open(&contoso, &key, &again).await.unwrap(),
        secret
    );
    let empty = envelope.seal(&contoso, &key, b"").await.unwrap();
    assert_eq!(elsewhere.open(&contoso, &key, &empty).await.unwrap(), b"");
}

#[tokio::test]
async fn seal_and_open_with_the_local_key() {
    seal_and_open(Arc::new(local_keys())).await;
}

#[tokio::test]
async fn seal_and_open_with_key_vault() {
    let stand_in = KeyVaultStandIn::start().await;
    seal_and_open(Arc::new(keyvault_keys(&stand_in, &stand_in.key_id()))).await;
}

#[tokio::test]
async fn a_secret_copied_to_another_tenant_does_not_open() {
    let envelope = Envelope::new(Arc::new(local_keys()));
    let key = envelope.new_tenant_key().await.unwrap();
    let sealed = envelope
        .seal(&tenant(CONTOSO), &key, b"secret")
        .await
        .unwrap();
    // Even with the same wrapped data key copied along.
    match envelope.open(&tenant(FABRIKAM), &key, &sealed).await {
        Err(PlatformError::Invalid(_)) => {}
        other => panic!("expected Invalid, got {other:?}"),
    }
    let system = TenantId::system("billing");
    assert!(envelope.open(&system, &key, &sealed).await.is_err());
}

#[tokio::test]
async fn another_data_key_does_not_open() {
    let envelope = Envelope::new(Arc::new(local_keys()));
    let contoso = tenant(CONTOSO);
    let (key, other) = (
        envelope.new_tenant_key().await.unwrap(),
        envelope.new_tenant_key().await.unwrap(),
    );
    let sealed = envelope.seal(&contoso, &key, b"secret").await.unwrap();
    assert!(matches!(
        envelope.open(&contoso, &other, &sealed).await,
        Err(PlatformError::Invalid(_))
    ));
}

#[tokio::test]
async fn tampered_sealed_values_do_not_open() {
    let envelope = Envelope::new(Arc::new(local_keys()));
    let contoso = tenant(CONTOSO);
    let key = envelope.new_tenant_key().await.unwrap();
    let sealed = envelope
        .seal(&contoso, &key, b"webhook secret")
        .await
        .unwrap();

    let flip = |b64: &str| {
        let mut raw = STANDARD.decode(b64).unwrap();
        raw[0] ^= 0x80;
        STANDARD.encode(raw)
    };
    let cases = [
        Sealed {
            ciphertext: flip(&sealed.ciphertext),
            ..sealed.clone()
        },
        Sealed {
            nonce: flip(&sealed.nonce),
            ..sealed.clone()
        },
        Sealed {
            ciphertext: STANDARD.encode(&STANDARD.decode(&sealed.ciphertext).unwrap()[..10]),
            ..sealed.clone()
        },
        Sealed {
            nonce: "AAAA".into(),
            ..sealed.clone()
        },
        Sealed {
            ciphertext: "not base64!".into(),
            ..sealed.clone()
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        match envelope.open(&contoso, &key, case).await {
            Err(PlatformError::Invalid(_)) => {}
            other => panic!("case {i}: expected Invalid, got {other:?}"),
        }
    }
    // The genuine one still opens.
    assert_eq!(
        envelope.open(&contoso, &key, &sealed).await.unwrap(),
        b"webhook secret"
    );
}

#[tokio::test]
async fn unwrapped_data_keys_are_cached_for_a_while() {
    let counting = Arc::new(Counting {
        inner: Arc::new(local_keys()),
        unwraps: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let envelope = Envelope::with_cache(counting.clone(), clock.clone(), Duration::minutes(5), 16);
    let (contoso, fabrikam) = (tenant(CONTOSO), tenant(FABRIKAM));
    let key = envelope.new_tenant_key().await.unwrap();

    let sealed = envelope.seal(&contoso, &key, b"one").await.unwrap();
    assert_eq!(counting.unwraps.load(Ordering::SeqCst), 1);
    envelope.open(&contoso, &key, &sealed).await.unwrap();
    envelope.seal(&contoso, &key, b"two").await.unwrap();
    assert_eq!(
        counting.unwraps.load(Ordering::SeqCst),
        1,
        "served from the cache"
    );

    // The cache is per tenant: another tenant's use unwraps on its own.
    envelope.seal(&fabrikam, &key, b"three").await.unwrap();
    assert_eq!(counting.unwraps.load(Ordering::SeqCst), 2);

    clock.advance(Duration::minutes(6));
    envelope.open(&contoso, &key, &sealed).await.unwrap();
    assert_eq!(
        counting.unwraps.load(Ordering::SeqCst),
        3,
        "expired, unwrapped again"
    );
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let counting = Arc::new(Counting {
        inner: Arc::new(local_keys()),
        unwraps: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
    let envelope = Envelope::with_cache(counting.clone(), clock.clone(), Duration::minutes(5), 2);
    let contoso = tenant(CONTOSO);
    let mut keys = Vec::new();
    for _ in 0..3 {
        let key = envelope.new_tenant_key().await.unwrap();
        envelope.seal(&contoso, &key, b"x").await.unwrap();
        keys.push(key);
        clock.advance(Duration::seconds(1));
    }
    assert_eq!(counting.unwraps.load(Ordering::SeqCst), 3);
    // The first key was evicted to make room for the third.
    envelope.seal(&contoso, &keys[2], b"x").await.unwrap();
    assert_eq!(counting.unwraps.load(Ordering::SeqCst), 3);
    envelope.seal(&contoso, &keys[0], b"x").await.unwrap();
    assert_eq!(counting.unwraps.load(Ordering::SeqCst), 4);
}
