//! How long to wait before sending again: the service's `Retry-After` when
//! it gives one (integer seconds; 0 means at once), else exponential
//! back-off with full jitter so that many workers throttled together do not
//! come back together.

use std::time::Duration;

use rand::Rng;

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A longer `Retry-After` gives up (a transient error, for the queue to
    /// retry later) instead of holding the invocation.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in `[0, min(max_backoff, base * 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_backoff
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)))
            .min(self.max_backoff);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(rand::thread_rng().gen_range(0..=ms))
    }
}

/// `Retry-After` as Graph and the Connector send it: whole seconds. An HTTP
/// date or garbage gives `None` (the caller backs off instead).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_zero_included() {
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after(""), None);
    }

    #[test]
    fn backoff_is_jittered_below_a_growing_capped_ceiling() {
        let policy = RetryPolicy::default();
        for attempt in 1..40 {
            let wait = policy.backoff(attempt);
            assert!(wait <= policy.max_backoff, "{attempt}: {wait:?}");
            let ceiling = policy.base_backoff * 2u32.pow(attempt.min(20) - 1);
            assert!(wait <= ceiling, "{attempt}: {wait:?}");
        }
    }
}
