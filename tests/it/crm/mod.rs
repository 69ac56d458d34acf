//! The CRM connectors against their stand-ins.

mod salesforce;
