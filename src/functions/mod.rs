//! One file per function: the thin handler that parses, authenticates,
//! calls the domain and renders. The folder names match `functions/<Name>/`.

pub mod billing_dunning;
pub mod billing_events;
pub mod bot_messages;
pub mod bot_outbox;
pub mod governance_sweep;
pub mod health;
pub mod provision_team;
pub mod request_reminders;
pub mod stripe_webhook;
pub mod sweep_tenant;
pub mod tenant_work;
