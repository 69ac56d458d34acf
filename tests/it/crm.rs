//! The CRM connectors against their stand-ins: search, paging, records,
//! write-back, and the refusals an admin must hear about.

mod dataverse;
