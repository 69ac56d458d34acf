//! The outbound HTTP stack every client of an outside service shares (the
//! Bot Connector and Microsoft Graph today; the CRM and Stripe clients
//! next): one retry policy (bounded attempts, `Retry-After` honoured up to a
//! cap, full-jitter back-off) and one token cache (the shared [`Cache`],
//! one fetch at a time per key). What is retryable stays each client's own
//! rule: it depends on the service and on whether the request is idempotent.
//!
//! [`Cache`]: crate::platform::cache::Cache

pub mod retry;
pub mod tokens;

pub use retry::{RetryPolicy, parse_retry_after};
pub use tokens::{Token, TokenCache};
