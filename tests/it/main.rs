//! The integration tests: one crate, one module per area.

mod documents;
mod support;
