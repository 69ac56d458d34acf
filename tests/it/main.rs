//! The integration tests: one binary, one module per area. Shared stand-ins
//! and local servers live in `support`.

mod cache;
mod keys;
mod support;
