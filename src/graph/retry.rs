//! Graph's own retry rules on top of the shared policy
//! ([`crate::outbound::retry`]): which statuses are worth sending again
//! within one call, and which mean "slow down".

/// Statuses worth sending again within one call (when the request is
/// idempotent; throttles always are).
pub fn is_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Statuses that mean "slow down".
pub fn is_throttle(status: u16) -> bool {
    matches!(status, 429 | 503)
}

pub use crate::outbound::retry::parse_retry_after;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_and_gateway_failures_are_retried_the_rest_are_not() {
        for s in [429, 502, 503, 504] {
            assert!(is_retryable(s));
        }
        for s in [400, 401, 403, 404, 409, 500] {
            assert!(!is_retryable(s));
        }
        assert!(is_throttle(503) && !is_throttle(504));
    }
}
