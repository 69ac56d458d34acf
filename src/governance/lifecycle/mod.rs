//! Lifecycle governance: every team in a tenant kept inside its policies
//! after it is made. Policies are versioned documents per tenant (with
//! per-template overrides); findings say, for one team, which policy
//! version found what, from which facts, and what happens next.

pub mod findings;
pub mod machine;
pub mod policy;
pub mod recorded;
pub mod review;
pub mod store;
