//! SalesTim: Microsoft Teams governance and automation as one Azure
//! Functions custom handler. `main.rs` parses the command line; everything
//! else lives here. See `shared/DESIGN.md` for the map.

pub mod admin;
pub mod app;
pub mod billing;
pub mod bot;
pub mod config;
pub mod crm;
pub mod doctor;
pub mod error;
pub mod functions;
pub mod governance;
pub mod graph;
pub mod host;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod outbound;
pub mod platform;
pub mod routes;
pub mod server;
pub mod support;
pub mod tabs;
pub mod teams;
pub mod telemetry;

#[cfg(test)]
mod proptest_json;
/// Unit tests measure what parsers allocate (see the module).
#[cfg(test)]
mod test_alloc;
