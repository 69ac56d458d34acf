//! The tabs: the web app inside Teams and the API behind it.

pub mod access;
pub mod files;
pub mod input;
pub mod request;
