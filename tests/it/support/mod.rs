//! Helpers shared by the integration tests: local servers and stand-ins the
//! tests start themselves, and the app harness.

pub mod app;
pub mod azurite;
pub mod azurite_oauth;
pub mod botframework;
pub mod connector;
pub mod cosmos;
pub mod dataverse;
pub mod entra;
pub mod faulty_queues;
pub mod graph;
pub mod http_serve;
pub mod ingestion;
pub mod keyvault;
pub mod logs;
pub mod raw_http;
pub mod redis;
pub mod salesforce;
pub mod stripe;
pub mod tls;
