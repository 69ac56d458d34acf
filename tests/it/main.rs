//! Integration tests, one test crate: each module exercises one area.

mod blobs;
mod queues;
mod support;
