//! [`Cache`] on Azure Cache for Redis (`REDIS_URL`, `rediss://:<access key>@
//! <name>.redis.cache.windows.net:6380`), shared by every instance.
//!
//! Azure Managed Redis (`rediss://<name>.<region>.redis.azure.net:10000`,
//! no password) signs in with the app's managed identity instead
//! ([`super::entra`]), re-authenticating before each token expires.
//!
//! One multiplexed connection behind a [`ConnectionManager`], which
//! reconnects by itself after a drop. Timeouts and reconnect attempts are
//! short on purpose: a cache that cannot answer in a couple of seconds is
//! reported `Unavailable` so the caller can fall back, rather than holding a
//! Functions invocation hostage.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::Cache;
use super::entra::EntraCredentials;
use crate::platform::{PlatformError, PlatformResult};

const SERVICE: &str = "redis";
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const RECONNECT_ATTEMPTS: usize = 2;
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
}

impl std::fmt::Debug for RedisCache {
    // The URL carries the access key: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Connects now, so a wrong URL or key shows at start-up rather than on
    /// the first request. `redis://` or `rediss://` (TLS, as Azure requires).
    pub async fn connect(url: &str, entra: Option<EntraCredentials>) -> PlatformResult<Self> {
        // The redis crate's parse errors can quote the URL, which holds the
        // access key: report a fixed message instead.
        let client = redis::Client::open(url).map_err(|_| {
            PlatformError::Invalid("REDIS_URL is not a valid redis:// or rediss:// URL".to_owned())
        })?;
        let mut config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_ATTEMPTS)
            .set_max_delay(RECONNECT_MAX_DELAY);
        if let Some(entra) = entra {
            config = config.set_credentials_provider(entra);
        }
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(map_error)?;
        Ok(RedisCache { connection })
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> PlatformResult<T> {
        let mut connection = self.connection.clone();
        cmd.query_async(&mut connection).await.map_err(map_error)
    }
}

/// Whole milliseconds for `PX`, at least one (Redis rejects 0).
fn ttl_millis(ttl: Duration) -> PlatformResult<u64> {
    if ttl.is_zero() {
        return Err(PlatformError::Invalid("cache ttl must be positive".into()));
    }
    Ok(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
}

fn check_key(key: &str) -> PlatformResult<()> {
    if key.is_empty() {
        return Err(PlatformError::Invalid("cache key must not be empty".into()));
    }
    Ok(())
}

fn map_error(err: redis::RedisError) -> PlatformError {
    if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
    {
        PlatformError::unavailable(SERVICE, err)
    } else {
        PlatformError::backend(SERVICE, err)
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> PlatformResult<Option<Vec<u8>>> {
        check_key(key)?;
        self.query(redis::cmd("GET").arg(key)).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> PlatformResult<()> {
        check_key(key)?;
        let millis = ttl_millis(ttl)?;
        self.query::<()>(redis::cmd("SET").arg(key).arg(value).arg("PX").arg(millis))
            .await
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> PlatformResult<bool> {
        check_key(key)?;
        let millis = ttl_millis(ttl)?;
        // SET .. NX answers OK when it wrote and nil when the key existed.
        let reply: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis),
            )
            .await?;
        Ok(reply.is_some())
    }

    async fn delete(&self, key: &str) -> PlatformResult<bool> {
        check_key(key)?;
        let deleted: u64 = self.query(redis::cmd("DEL").arg(key)).await?;
        Ok(deleted > 0)
    }

    async fn ping(&self) -> PlatformResult<()> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_rounded_up_to_a_whole_millisecond() {
        assert_eq!(ttl_millis(Duration::from_micros(10)).unwrap(), 1);
        assert_eq!(ttl_millis(Duration::from_secs(2)).unwrap(), 2000);
        assert!(ttl_millis(Duration::ZERO).is_err());
    }

    #[tokio::test]
    async fn a_bad_url_is_invalid_and_does_not_echo_the_key() {
        let err = RedisCache::connect("http://:secret-key@example/0", None)
            .await
            .unwrap_err();
        assert!(matches!(err, PlatformError::Invalid(_)));
        assert!(!err.to_string().contains("secret-key"));
    }
}
