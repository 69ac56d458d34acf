//! Identifiers that are parsed once at the edge and trusted inside.
//!
//! A `TenantId` is the Cosmos DB partition key of every document, so it must
//! never come from a request body: it is parsed from a validated token or a
//! verified webhook mapping, or it names one of the platform's own system
//! partitions.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An Entra ID tenant (a GUID, lower-case), or one of the platform's own
/// system partitions (`_billing`, `_system`), which no caller can name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a tenant id (expected a GUID): {0:?}")]
pub struct InvalidTenantId(pub String);

impl TenantId {
    /// Parses a customer tenant id: a GUID, normalised to lower case.
    pub fn parse(raw: &str) -> Result<Self, InvalidTenantId> {
        uuid::Uuid::parse_str(raw.trim())
            .map(|id| TenantId(id.hyphenated().to_string()))
            .map_err(|_| InvalidTenantId(raw.chars().take(64).collect()))
    }

    /// One of the platform's own partitions (for data that belongs to no
    /// customer, such as Stripe customer mappings). The leading underscore
    /// keeps it apart from every GUID.
    pub fn system(name: &'static str) -> Self {
        debug_assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        TenantId(format!("_{name}"))
    }

    pub fn is_system(&self) -> bool {
        self.0.starts_with('_')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidTenantId;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        if let Some(name) = raw.strip_prefix('_')
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            return Ok(TenantId(raw));
        }
        TenantId::parse(&raw)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_guids_normalised_to_lower_case() {
        let id = TenantId::parse("72F988BF-86F1-41AF-91AB-2D7CD011DB47").unwrap();
        assert_eq!(id.as_str(), "72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert!(!id.is_system());
        assert!(TenantId::parse("contoso").is_err());
        assert!(TenantId::parse("").is_err());
    }

    #[test]
    fn system_partitions_round_trip_but_cannot_be_parsed_from_input() {
        let sys = TenantId::system("billing");
        assert_eq!(sys.as_str(), "_billing");
        assert!(TenantId::parse("_billing").is_err());
        let back: TenantId = serde_json::from_str("\"_billing\"").unwrap();
        assert_eq!(back, sys);
        assert!(serde_json::from_str::<TenantId>("\"_Bad-1\"").is_err());
    }
}
