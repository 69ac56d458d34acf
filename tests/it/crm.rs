//! CRM records in Teams: each connector against its stand-in, then the
//! bot's search, unfurling and "Create a team for this record" end to end,
//! and the connections as admins and operators make and look after them.

mod admin;
mod dataverse;
mod salesforce;
mod teams;
