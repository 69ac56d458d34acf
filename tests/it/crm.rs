//! CRM records in Teams: each connector against its stand-in, then the
//! bot's search, unfurling and "Create a team for this record" end to end.

mod dataverse;
mod salesforce;
mod teams;
