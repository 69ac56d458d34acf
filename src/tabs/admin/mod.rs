//! The Administration tab: tenant settings with consent and credential
//! health ([`settings`]), templates with versions and icons
//! ([`templates`]), lifecycle policies with the diff before apply
//! ([`policies`]), role assignments ([`roles`]), billing through Stripe
//! ([`billing`]) and the CRM connections ([`crm`]). The same domain calls as the operator commands
//! (`handler tenant|template|policy|billing`), each admitted by the roles
//! its row of [`super::api::ENDPOINTS`] names, and audited as the caller.

pub mod billing;
pub mod crm;
pub mod policies;
pub mod roles;
pub mod settings;
pub mod templates;
