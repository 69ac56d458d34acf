//! Teams-facing rendering: Adaptive Cards (version 1.5, built as
//! well-structured serde values, never string templates).

pub mod cards;
pub mod deep_links;
