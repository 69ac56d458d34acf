//! One conformance suite for [`Keys`], run against the local key and against
//! `KeyVaultKeys` talking to the Key Vault stand-in through the real SDK;
//! then what only Key Vault does (challenge auth, key versions), and the
//! envelope built on top.

mod envelope;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use salestim::platform::PlatformError;
use salestim::platform::keys::keyvault::KeyVaultKeys;
use salestim::platform::keys::local::LocalKeys;
use salestim::platform::keys::{Keys, WrappedKey};

use crate::support::keyvault::{FakeCredential, KEY_NAME, KeyVaultStandIn, RESOURCE};

pub fn data_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

pub fn local_keys() -> LocalKeys {
    let mut kek = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut kek);
    LocalKeys::from_base64(&STANDARD.encode(kek)).expect("a valid local key")
}

pub fn keyvault_keys(stand_in: &KeyVaultStandIn, key_id: &str) -> KeyVaultKeys {
    KeyVaultKeys::new(
        key_id,
        Arc::new(FakeCredential::default()),
        Some(stand_in.client_options()),
    )
    .expect("a valid key id")
}

// ---- the suite -------------------------------------------------------------

async fn wrap_unwrap_round_trip(keys: &dyn Keys) {
    keys.ping().await.unwrap();
    let dek = data_key();
    let wrapped = keys.wrap(&dek).await.unwrap();
    assert!(!wrapped.key_id.is_empty() && !wrapped.algorithm.is_empty());
    let raw = STANDARD
        .decode(&wrapped.value)
        .expect("value is standard base64");
    assert!(
        !raw.windows(dek.len()).any(|w| w == dek),
        "the data key is not in clear"
    );
    // Stored as JSON in tenant settings: the round trip must survive that.
    let stored: WrappedKey =
        serde_json::from_str(&serde_json::to_string(&wrapped).unwrap()).unwrap();
    assert_eq!(keys.unwrap(&stored).await.unwrap(), dek);
}

async fn two_wraps_of_one_key_differ(keys: &dyn Keys) {
    let dek = data_key();
    let (a, b) = (
        keys.wrap(&dek).await.unwrap(),
        keys.wrap(&dek).await.unwrap(),
    );
    assert_ne!(a.value, b.value, "wrapping is randomised");
    assert_eq!(keys.unwrap(&a).await.unwrap(), dek);
    assert_eq!(keys.unwrap(&b).await.unwrap(), dek);
}

async fn tampered_wrapped_keys_are_refused(keys: &dyn Keys) {
    let wrapped = keys.wrap(&data_key()).await.unwrap();
    let mut raw = STANDARD.decode(&wrapped.value).unwrap();
    let middle = raw.len() / 2;
    raw[middle] ^= 0x01;
    let flipped = WrappedKey {
        value: STANDARD.encode(&raw),
        ..wrapped.clone()
    };
    match keys.unwrap(&flipped).await {
        Err(PlatformError::Invalid(_)) => {}
        other => panic!("flipped bit: expected Invalid, got {other:?}"),
    }
    let not_base64 = WrappedKey {
        value: "***".into(),
        ..wrapped.clone()
    };
    assert!(matches!(
        keys.unwrap(&not_base64).await,
        Err(PlatformError::Invalid(_))
    ));
    let other_algorithm = WrappedKey {
        algorithm: "RSA1_5".into(),
        ..wrapped
    };
    assert!(matches!(
        keys.unwrap(&other_algorithm).await,
        Err(PlatformError::Invalid(_))
    ));
}

async fn unknown_key_ids_are_not_found(keys: &dyn Keys) {
    let wrapped = keys.wrap(&data_key()).await.unwrap();
    let unknown = WrappedKey {
        key_id: format!("{}0", wrapped.key_id),
        ..wrapped
    };
    match keys.unwrap(&unknown).await {
        Err(PlatformError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

// ---- the implementations ---------------------------------------------------

mod local {
    use super::*;

    #[tokio::test]
    async fn wrap_unwrap_round_trip() {
        super::wrap_unwrap_round_trip(&local_keys()).await;
    }
    #[tokio::test]
    async fn two_wraps_of_one_key_differ() {
        super::two_wraps_of_one_key_differ(&local_keys()).await;
    }
    #[tokio::test]
    async fn tampered_wrapped_keys_are_refused() {
        super::tampered_wrapped_keys_are_refused(&local_keys()).await;
    }
    #[tokio::test]
    async fn unknown_key_ids_are_not_found() {
        super::unknown_key_ids_are_not_found(&local_keys()).await;
    }
    #[tokio::test]
    async fn another_local_key_cannot_unwrap() {
        let wrapped = local_keys().wrap(&data_key()).await.unwrap();
        assert!(matches!(
            local_keys().unwrap(&wrapped).await,
            Err(PlatformError::NotFound)
        ));
    }
}

mod keyvault {
    use super::*;

    async fn standard() -> (KeyVaultStandIn, KeyVaultKeys) {
        let stand_in = KeyVaultStandIn::start().await;
        let keys = keyvault_keys(&stand_in, &stand_in.key_id());
        (stand_in, keys)
    }

    #[tokio::test]
    async fn wrap_unwrap_round_trip() {
        super::wrap_unwrap_round_trip(&standard().await.1).await;
    }
    #[tokio::test]
    async fn two_wraps_of_one_key_differ() {
        super::two_wraps_of_one_key_differ(&standard().await.1).await;
    }
    #[tokio::test]
    async fn tampered_wrapped_keys_are_refused() {
        super::tampered_wrapped_keys_are_refused(&standard().await.1).await;
    }
    #[tokio::test]
    async fn unknown_key_ids_are_not_found() {
        super::unknown_key_ids_are_not_found(&standard().await.1).await;
    }

    #[tokio::test]
    async fn the_sdk_authenticates_through_the_vault_challenge() {
        let stand_in = KeyVaultStandIn::start().await;
        let credential = Arc::new(FakeCredential::default());
        let keys = KeyVaultKeys::new(
            &stand_in.key_id(),
            credential.clone(),
            Some(stand_in.client_options()),
        )
        .unwrap();
        let dek = data_key();
        let wrapped = keys.wrap(&dek).await.unwrap();
        assert_eq!(keys.unwrap(&wrapped).await.unwrap(), dek);
        keys.ping().await.unwrap();

        let seen = stand_in.seen();
        assert_eq!(
            seen.challenged,
            vec![false],
            "one challenge, sent without the body"
        );
        assert_eq!((seen.wraps, seen.unwraps, seen.gets), (1, 1, 1));
        let scopes = credential.scopes.lock().unwrap().clone();
        assert_eq!(scopes, vec![format!("{RESOURCE}/.default")]);
        assert_eq!(wrapped.algorithm, "RSA-OAEP-256");
        assert!(
            wrapped
                .key_id
                .starts_with(&format!("{}/keys/{KEY_NAME}/", stand_in.vault_url())),
            "the versioned key id is recorded: {}",
            wrapped.key_id
        );
    }

    #[tokio::test]
    async fn keys_wrapped_before_a_rotation_still_unwrap() {
        let stand_in = KeyVaultStandIn::start().await;
        let keys = keyvault_keys(&stand_in, &stand_in.key_id());
        let (old_dek, new_dek) = (data_key(), data_key());
        let old = keys.wrap(&old_dek).await.unwrap();
        let rotated_to = stand_in.rotate();
        let new = keys.wrap(&new_dek).await.unwrap();
        assert_eq!(new.key_id, rotated_to, "new wraps use the latest version");
        assert_ne!(old.key_id, new.key_id);
        assert_eq!(keys.unwrap(&old).await.unwrap(), old_dek);
        assert_eq!(keys.unwrap(&new).await.unwrap(), new_dek);
    }

    #[tokio::test]
    async fn a_pinned_key_version_is_used_for_wrapping() {
        let stand_in = KeyVaultStandIn::start().await;
        let first = keyvault_keys(&stand_in, &stand_in.key_id())
            .wrap(&data_key())
            .await
            .unwrap()
            .key_id;
        stand_in.rotate();
        let pinned = keyvault_keys(&stand_in, &first);
        assert_eq!(pinned.wrap(&data_key()).await.unwrap().key_id, first);
        pinned.ping().await.unwrap();
    }

    #[tokio::test]
    async fn key_ids_of_another_vault_are_refused_without_a_call() {
        let (stand_in, keys) = standard().await;
        let wrapped = keys.wrap(&data_key()).await.unwrap();
        let elsewhere = WrappedKey {
            key_id: wrapped
                .key_id
                .replace("salestim-test.vault", "attacker.vault"),
            ..wrapped
        };
        assert!(matches!(
            keys.unwrap(&elsewhere).await,
            Err(PlatformError::Invalid(_))
        ));
        assert_eq!(stand_in.seen().unwraps, 0);
    }

    #[tokio::test]
    async fn a_missing_key_is_not_found_on_ping() {
        let stand_in = KeyVaultStandIn::start().await;
        let keys = keyvault_keys(
            &stand_in,
            &format!("{}/keys/no-such-key", stand_in.vault_url()),
        );
        assert!(matches!(keys.ping().await, Err(PlatformError::NotFound)));
    }

    #[tokio::test]
    async fn a_vault_that_is_down_is_unavailable() {
        let stand_in = KeyVaultStandIn::start().await;
        let keys = keyvault_keys(&stand_in, &stand_in.key_id());
        stand_in.stop().await;
        let result = tokio::time::timeout(std::time::Duration::from_secs(20), keys.ping())
            .await
            .expect("must fail, not hang");
        assert!(
            matches!(result, Err(PlatformError::Unavailable { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn key_ids_must_be_https_key_urls() {
        for bad in [
            "",
            "kek",
            "https://v.vault.azure.net/secrets/kek",
            "http://v.vault.azure.net/keys/kek",
        ] {
            let result = KeyVaultKeys::new(bad, Arc::new(FakeCredential::default()), None);
            assert!(matches!(result, Err(PlatformError::Invalid(_))), "{bad:?}");
        }
    }
}
