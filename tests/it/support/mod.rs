//! Shared test support: local servers the tests start themselves.

pub mod azurite;
pub mod azurite_oauth;
