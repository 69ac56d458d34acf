//! The outbound HTTP stack every client of an outside service shares (the
//! Bot Connector, Microsoft Graph and the Entra token endpoint today; the
//! CRM and Stripe clients next): one send loop ([`send`]: bounded attempts,
//! `Retry-After` honoured up to a cap, full-jitter back-off, one token
//! refresh on a 401, bounded answers), one client-credentials request and
//! one token cache (the shared [`Cache`], one fetch at a time per key).
//! What is retryable stays each client's own rule, as data ([`Rules`]): it
//! depends on the service and on whether the request is idempotent.
//!
//! [`Cache`]: crate::platform::cache::Cache

pub mod retry;
pub mod send;
pub mod tokens;

pub use retry::{RetryPolicy, parse_retry_after};
pub use send::{Answer, Call, Failure, Observer, Rules};
pub use tokens::{ClientCredentials, Token, TokenCache, TokenError, client_credentials, grant};

/// The HTTP client the app's calls to outside services share. It follows
/// no redirect by itself: reqwest would follow one with the request's
/// headers (the bearer token included, on the same host), and the caller
/// that expects one (the Teams activity report's pre-authenticated
/// download) must choose what goes with the next request. To every other
/// caller a 3xx is an answer that is not a success.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}
