//! The integration tests: one crate, one module per area.

mod blobs;
mod documents;
mod queues;
mod support;
