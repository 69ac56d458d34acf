//! The Azure Functions custom-handler contract, as types: what the host sends
//! (`invoke`), how functions are declared (`function_json`, `host_json`),
//! NCRONTAB schedules, and the local host that stands in for the Functions
//! host under `handler local` and in tests. Nothing here knows the domain.

pub mod function_json;
pub mod host_json;
pub mod invoke;
pub mod local;
pub mod ncrontab;

/// Headers the Functions host adds to every request it sends the handler.
pub const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";
pub const HOST_VERSION_HEADER: &str = "x-azure-functions-hostversion";
/// The host version the local host claims to be.
pub const LOCAL_HOST_VERSION: &str = "4.1040.300.0";

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("invocation payload: {0}")]
    Payload(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
