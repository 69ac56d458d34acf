//! SalesTim: Microsoft Teams governance and automation as one Azure
//! Functions custom handler. `main.rs` parses the command line; everything
//! else lives here. See `shared/DESIGN.md` for the map.

pub mod ids;
pub mod platform;
