//! A shared cache for short-lived values (tokens, signing keys, rate-limit
//! marks), shared across instances and regions' workers.
//! Implementations: [`redis::RedisCache`] (Azure Cache for Redis) and
//! [`memory::MemoryCache`] (in-process, with TTL).

pub mod entra;
pub mod memory;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

use super::PlatformResult;

#[async_trait]
pub trait Cache: Send + Sync + 'static {
    async fn get(&self, key: &str) -> PlatformResult<Option<Vec<u8>>>;

    /// Sets a value that expires after `ttl`.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> PlatformResult<()>;

    /// Sets the value only if the key is absent; `true` if it was set. The
    /// building block for once-only marks and simple leases.
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> PlatformResult<bool>;

    /// `true` if something was deleted.
    async fn delete(&self, key: &str) -> PlatformResult<bool>;

    async fn ping(&self) -> PlatformResult<()>;
}
