//! Lifecycle governance: every team in a tenant kept inside its policies
//! after it is made. Policies are versioned documents per tenant (with
//! per-template overrides); findings say, for one team, which policy
//! version found what, from which facts, and what happens next. The
//! inventory they read, every team of every onboarded tenant (made by
//! SalesTim or not), is kept current from Microsoft Graph's delta queries at
//! a cost that follows the changes rather than the tenant's size ([`sync`]).
//!
//! The inventory sync:
//! - [`group`]: a `/groups/delta` object and what it does to a team (pure).
//! - [`people`]: names and guest flags from `/users/delta`, joined on our
//!   side.
//! - [`inventory`]: the writes to the `teams` container.
//! - [`state`]: the per-tenant sync state (delta links, rounds, lease).
//! - [`sync`]: full and incremental rounds.
//! - [`activity`]: the Teams activity report joined to the teams, once a
//!   day, after the sync.

pub mod actions;
pub mod activity;
pub mod answers;
pub mod enforce;
pub mod evaluate;
pub mod findings;
pub mod group;
pub mod history;
pub mod inventory;
pub mod machine;
pub mod notifications;
pub mod people;
pub mod policy;
pub mod recorded;
pub mod review;
pub mod state;
pub mod store;
pub mod subscriptions;
pub mod sync;
pub mod transitions;
