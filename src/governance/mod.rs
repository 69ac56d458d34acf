//! The governance domain. For now: tenants (the customers) and the audit
//! trail; templates, requests, approvals, provisioning and sweeps build on
//! these. No HTTP here.

pub mod audit;
pub mod tenants;
