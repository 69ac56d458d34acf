//! One conformance suite for [`Cache`], run against the in-memory cache and
//! against a real redis-server, so `handler local` behaves like Azure.

use std::sync::Arc;
use std::time::Duration;

use salestim::platform::PlatformError;
use salestim::platform::cache::Cache;
use salestim::platform::cache::memory::MemoryCache;
use salestim::platform::cache::redis::RedisCache;
use salestim::platform::clock::ManualClock;
use time::OffsetDateTime;

use crate::support::redis::{RedisServer, free_port, shared_url};

const HOUR: Duration = Duration::from_secs(3600);

/// Keys unique to one test run, so tests can share one Redis.
fn key(name: &str) -> String {
    format!("it:{}:{name}", uuid::Uuid::new_v4().simple())
}

// ---- the suite -------------------------------------------------------------

async fn get_set_and_overwrite(cache: Arc<dyn Cache>) {
    let k = key("greeting");
    assert_eq!(cache.get(&k).await.unwrap(), None, "absent before set");
    cache.set(&k, b"hello", HOUR).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"hello"[..]));
    cache.set(&k, b"bye", HOUR).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"bye"[..]));
    assert_eq!(cache.get(&key("other")).await.unwrap(), None);
    cache.ping().await.unwrap();
}

async fn binary_values_round_trip(cache: Arc<dyn Cache>) {
    let k = key("binary");
    let value: Vec<u8> = (0..=255u8).chain([0, 0, 0xff, b'\r', b'\n']).collect();
    cache.set(&k, &value, HOUR).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap(), Some(value));
    let empty = key("empty");
    cache.set(&empty, b"", HOUR).await.unwrap();
    assert_eq!(cache.get(&empty).await.unwrap(), Some(Vec::new()));
}

async fn delete_reports_what_it_removed(cache: Arc<dyn Cache>) {
    let k = key("doomed");
    assert!(!cache.delete(&k).await.unwrap(), "nothing to delete yet");
    cache.set(&k, b"x", HOUR).await.unwrap();
    assert!(cache.delete(&k).await.unwrap());
    assert_eq!(cache.get(&k).await.unwrap(), None);
    assert!(!cache.delete(&k).await.unwrap(), "already gone");
}

async fn set_if_absent_sets_only_once(cache: Arc<dyn Cache>) {
    let k = key("once");
    assert!(cache.set_if_absent(&k, b"first", HOUR).await.unwrap());
    assert!(!cache.set_if_absent(&k, b"second", HOUR).await.unwrap());
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"first"[..]));
    cache.delete(&k).await.unwrap();
    assert!(cache.set_if_absent(&k, b"third", HOUR).await.unwrap());
}

async fn set_if_absent_race_has_one_winner(cache: Arc<dyn Cache>) {
    const CONTENDERS: usize = 32;
    let k = Arc::new(key("lease"));
    let mut tasks = Vec::new();
    for i in 0..CONTENDERS {
        let (cache, k) = (cache.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            let won = cache
                .set_if_absent(&k, format!("owner-{i}").as_bytes(), HOUR)
                .await
                .unwrap();
            won.then_some(i)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        winners.extend(task.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one winner, got {winners:?}");
    let stored = cache.get(&k).await.unwrap().unwrap();
    assert_eq!(stored, format!("owner-{}", winners[0]).into_bytes());
}

async fn bad_arguments_are_invalid(cache: Arc<dyn Cache>) {
    let k = key("bad");
    assert!(matches!(
        cache.set(&k, b"v", Duration::ZERO).await,
        Err(PlatformError::Invalid(_))
    ));
    assert!(matches!(
        cache.set_if_absent(&k, b"v", Duration::ZERO).await,
        Err(PlatformError::Invalid(_))
    ));
    assert!(matches!(
        cache.get("").await,
        Err(PlatformError::Invalid(_))
    ));
    assert_eq!(cache.get(&k).await.unwrap(), None, "nothing was written");
}

/// Sets a short-lived and a long-lived key, lets `elapse` pass the short
/// TTL, then polls (bounded) until the short one is gone.
async fn entries_expire_after_their_ttl<F, Fut>(cache: Arc<dyn Cache>, ttl: Duration, elapse: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (short, long, lease) = (key("short"), key("long"), key("lease"));
    cache.set(&short, b"soon gone", ttl).await.unwrap();
    cache.set(&long, b"stays", HOUR).await.unwrap();
    assert!(cache.set_if_absent(&lease, b"held", ttl).await.unwrap());
    assert!(
        cache.get(&short).await.unwrap().is_some(),
        "present before its ttl"
    );
    elapse().await;
    let mut gone = false;
    for _ in 0..40 {
        if cache.get(&short).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the short-lived entry never expired");
    assert_eq!(
        cache.get(&long).await.unwrap().as_deref(),
        Some(&b"stays"[..])
    );
    assert!(
        !cache.delete(&short).await.unwrap(),
        "expired entries are not deletable"
    );
    assert!(
        cache
            .set_if_absent(&lease, b"taken over", ttl)
            .await
            .unwrap(),
        "an expired lease can be taken"
    );
}

// ---- the implementations ---------------------------------------------------

macro_rules! conformance {
    ($make:expr) => {
        #[tokio::test]
        async fn get_set_and_overwrite() {
            super::get_set_and_overwrite($make).await;
        }
        #[tokio::test]
        async fn binary_values_round_trip() {
            super::binary_values_round_trip($make).await;
        }
        #[tokio::test]
        async fn delete_reports_what_it_removed() {
            super::delete_reports_what_it_removed($make).await;
        }
        #[tokio::test]
        async fn set_if_absent_sets_only_once() {
            super::set_if_absent_sets_only_once($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn set_if_absent_race_has_one_winner() {
            super::set_if_absent_race_has_one_winner($make).await;
        }
        #[tokio::test]
        async fn bad_arguments_are_invalid() {
            super::bad_arguments_are_invalid($make).await;
        }
    };
}

mod memory {
    use super::*;

    fn memory() -> Arc<dyn Cache> {
        Arc::new(MemoryCache::new(Arc::new(ManualClock::new(
            OffsetDateTime::now_utc(),
        ))))
    }

    conformance!(memory());

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::now_utc()));
        let cache = Arc::new(MemoryCache::new(clock.clone()));
        let ttl = Duration::from_secs(30);
        let probe = key("probe");
        cache.set(&probe, b"v", ttl).await.unwrap();
        clock.advance(time::Duration::seconds(29));
        assert!(
            cache.get(&probe).await.unwrap().is_some(),
            "still there 1 s before expiry"
        );
        super::entries_expire_after_their_ttl(cache, ttl, || async move {
            clock.advance(time::Duration::seconds(31));
        })
        .await;
    }
}

mod redis {
    use super::*;

    async fn redis() -> Arc<dyn Cache> {
        Arc::new(
            RedisCache::connect(&shared_url(), None)
                .await
                .expect("connect to test redis"),
        )
    }

    conformance!(redis().await);

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let ttl = Duration::from_millis(1500);
        super::entries_expire_after_their_ttl(redis().await, ttl, || tokio::time::sleep(ttl)).await;
    }

    #[tokio::test]
    async fn tls_with_an_access_key_like_azure() {
        let pki = crate::support::tls::TestPki::new(&[]);
        let server = RedisServer::start_tls(&pki, "access-key-1");
        let cache = RedisCache::connect(&server.url(), None)
            .await
            .expect("rediss:// connects");
        let k = key("over-tls");
        cache.set(&k, b"sealed", HOUR).await.unwrap();
        assert_eq!(
            cache.get(&k).await.unwrap().as_deref(),
            Some(&b"sealed"[..])
        );
        cache.ping().await.unwrap();

        let wrong_key = format!("rediss://:wrong@127.0.0.1:{}/#insecure", server.port());
        let err = RedisCache::connect(&wrong_key, None).await.unwrap_err();
        assert!(
            !err.to_string().contains("wrong"),
            "the key is not echoed: {err}"
        );
        let plain = format!("redis://127.0.0.1:{}/", server.port());
        let result =
            tokio::time::timeout(Duration::from_secs(20), RedisCache::connect(&plain, None))
                .await
                .expect("plain text to a TLS port must fail, not hang");
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_unavailable() {
        let url = format!("redis://127.0.0.1:{}/", free_port());
        let result = tokio::time::timeout(Duration::from_secs(20), RedisCache::connect(&url, None))
            .await
            .expect("connect must give up, not hang");
        match result {
            Err(PlatformError::Unavailable { .. }) => {}
            other => panic!("expected Unavailable, got {:?}", other.map(|_| ())),
        }
    }

    #[tokio::test]
    async fn a_server_that_dies_makes_calls_unavailable() {
        let mut server = RedisServer::start();
        let cache = RedisCache::connect(&server.url(), None).await.unwrap();
        let k = key("before");
        cache.set(&k, b"v", HOUR).await.unwrap();
        server.kill();
        for call in 0..2 {
            let result = tokio::time::timeout(Duration::from_secs(20), cache.get(&k))
                .await
                .expect("a call to a dead server must fail, not hang");
            match result {
                Err(err @ PlatformError::Unavailable { .. }) => assert!(err.is_transient()),
                other => panic!("call {call}: expected Unavailable, got {other:?}"),
            }
        }
    }

    /// An identity whose tokens Managed Redis takes: a JWT naming the
    /// identity's object id; the current one until the test rolls it, each
    /// expiring 2 seconds after its refresh point, so the provider asks
    /// again every 2 seconds.
    #[derive(Debug)]
    struct RotatingIdentity {
        oid: String,
        current: std::sync::atomic::AtomicU32,
        asked: std::sync::atomic::AtomicU32,
    }

    impl RotatingIdentity {
        fn token(&self, n: u32) -> String {
            use base64::Engine as _;
            let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
            let claims =
                serde_json::json!({"oid": self.oid, "aud": "https://redis.azure.com", "n": n});
            format!(
                "{}.{}.{}",
                b64(br#"{"alg":"RS256"}"#),
                b64(claims.to_string().as_bytes()),
                b64(&[n as u8; 16])
            )
        }
    }

    #[async_trait::async_trait]
    impl azure_core::credentials::TokenCredential for RotatingIdentity {
        async fn get_token(
            &self,
            scopes: &[&str],
            _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<azure_core::credentials::AccessToken> {
            use std::sync::atomic::Ordering::SeqCst;
            assert_eq!(scopes, [salestim::platform::cache::entra::SCOPE]);
            self.asked.fetch_add(1, SeqCst);
            let life = salestim::platform::cache::entra::REFRESH_BEFORE + Duration::from_secs(2);
            Ok(azure_core::credentials::AccessToken::new(
                azure_core::credentials::Secret::new(self.token(self.current.load(SeqCst))),
                time::OffsetDateTime::now_utc() + life,
            ))
        }
    }

    #[tokio::test]
    async fn managed_redis_takes_the_identitys_token_and_a_fresh_one_before_it_expires() {
        use std::sync::atomic::Ordering::SeqCst;
        let server = RedisServer::start();
        let identity = Arc::new(RotatingIdentity {
            oid: uuid::Uuid::new_v4().to_string(),
            current: Default::default(),
            asked: Default::default(),
        });
        // Like Managed Redis: the identity is a user named by its object id
        // whose password is its current token.
        let admin = redis_admin(&server.url()).await;
        let acl = |password: String| {
            let (mut c, oid) = (admin.clone(), identity.oid.clone());
            async move {
                let _: () = ::redis::cmd("ACL")
                    .arg("SETUSER")
                    .arg(&oid)
                    .arg("on")
                    .arg("resetpass")
                    .arg(format!(">{password}"))
                    .arg("~*")
                    .arg("+@all")
                    .query_async(&mut c)
                    .await
                    .unwrap();
            }
        };
        acl(identity.token(0)).await;
        let entra = salestim::platform::cache::entra::EntraCredentials::new(identity.clone());
        let cache = RedisCache::connect(&server.url(), Some(entra))
            .await
            .expect("signs in with the token");
        let k = key("entra");
        cache.set(&k, b"v", HOUR).await.unwrap();

        // The identity's token rolls over; Redis takes only the new one. The
        // provider asks the identity again (at the latest 2 seconds on).
        identity.current.store(1, SeqCst);
        acl(identity.token(1)).await;
        let asked = identity.asked.load(SeqCst);
        crate::support::app::wait_until(Duration::from_secs(10), || async {
            identity.asked.load(SeqCst) > asked
        })
        .await;
        // Every connection dropped: the cache reconnects, with the new token.
        let mut c = admin.clone();
        let _: () = ::redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg(&identity.oid)
            .query_async(&mut c)
            .await
            .unwrap();
        crate::support::app::wait_until(Duration::from_secs(10), || async {
            cache.get(&k).await.ok().flatten().as_deref() == Some(&b"v"[..])
        })
        .await;

        // Without the identity the same server is shut to the app.
        let _: () = ::redis::cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg("admin-only")
            .query_async(&mut c)
            .await
            .unwrap();
        let anonymous = RedisCache::connect(&server.url(), None).await;
        assert!(anonymous.is_err() || anonymous.unwrap().get(&k).await.is_err());
    }

    async fn redis_admin(url: &str) -> ::redis::aio::MultiplexedConnection {
        ::redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}
