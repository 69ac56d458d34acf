//! The governance domain: tenants (the customers), the audit trail, people,
//! templates and team requests; the team catalog the bot searches; the
//! lifecycle of teams once they exist (the inventory, policies, findings).
//! No HTTP here.

pub mod audit;
pub mod catalog;
pub mod checkpoints;
pub mod directory;
pub mod lifecycle;
pub mod naming;
pub mod people;
pub mod provisioning;
pub mod requests;
pub mod roles;
pub mod teams;
pub mod templates;
pub mod tenants;
