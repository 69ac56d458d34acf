//! The HTTP API behind the Teams tabs (`/api/tab/...`): who is calling
//! ([`auth`]: the Teams SSO token, checked before the body is read; the
//! development sign-in of `handler local` in [`dev`]), what they may do
//! ([`access`]: roles per tenant, checked on every call), one file per
//! screen, reached through the table in [`api`], and the web app's own
//! files ([`files`]).
//!
//! The tenant and the user come from the validated token only (`tid`,
//! `oid`); nothing in a URL or a body names them.

pub mod access;
pub mod admin;
pub mod api;
pub mod approvals;
pub mod auth;
pub mod dashboard;
pub mod demo;
pub mod dev;
pub mod files;
pub mod input;
pub mod me;
pub mod my;
pub mod obo;
pub mod request;

use crate::ids::TenantId;

pub use crate::governance::roles::Role;
pub use access::{Caller, Can};
pub use auth::{TabAuthenticator, TabUser};

/// The delegated scope the tabs' API exposes; a tab's token must carry it.
pub const SCOPE_CLAIM: &str = "access_as_user";

/// The tenant a token names, as a [`TenantId`]; `None` when `tid` is not
/// a GUID (a system partition can never be named by a token).
pub(crate) fn token_tenant(tid: &str) -> Option<TenantId> {
    TenantId::parse(tid).ok().filter(|t| !t.is_system())
}
