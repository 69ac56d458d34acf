//! Teams presentation: Adaptive Cards, deep links and the product's own links.

pub mod cards;
pub mod deep_links;
pub mod links;
