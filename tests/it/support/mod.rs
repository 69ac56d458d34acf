//! Local servers and stand-ins the integration tests share.

pub mod keyvault;
pub mod redis;
pub mod tls;
