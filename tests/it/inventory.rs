//! The team inventory, driven as the Functions host drives it.
//! `delta_walk` tests the Graph client's delta walker on its own.

mod delta_walk;

pub(crate) const ANN: &str = "0a000000-0000-4000-8000-00000000a001";
pub(crate) const BOB: &str = "0a000000-0000-4000-8000-00000000b002";
pub(crate) const CID: &str = "0a000000-0000-4000-8000-00000000c003";
pub(crate) const GUS: &str = "0a000000-0000-4000-8000-00000000d004";
