//! The integration tests: one crate, one module per area. Shared stand-ins
//! and local servers live in `support`.

mod actions;
mod activity;
mod admin;
mod billing;
mod billing_binding;
mod billing_dunning;
mod blobs;
mod bot_auth;
mod bot_connector;
mod bot_invokes;
mod bot_messages;
mod bot_replies;
mod cache;
mod cards;
mod dev_signin;
mod documents;
mod enforcement;
mod graph;
mod health;
mod host;
mod inventory;
mod invocation_logs;
mod keys;
mod manifest;
mod notifications;
mod playground;
mod policy;
mod provisioning;
mod queues;
mod stripe_verdicts;
mod stripe_webhook;
mod support;
mod support_identity;
mod tab_api;
mod tab_auth;
