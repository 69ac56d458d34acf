//! Tenants: the customer organisations (Entra ID tenants) the platform
//! serves. One `tenant` document per tenant in its own partition of the
//! `tenants` container; a tenant without one is unknown, and nothing is done
//! for it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::TenantId;
use crate::platform::clock::Clock;
use crate::platform::documents::{Container, Document, Documents, Query};
use crate::platform::{PlatformError, PlatformResult};

pub const TENANT_DOC_ID: &str = "tenant";
const TENANT_TYPE: &str = "tenant";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub display_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Clone)]
pub struct Tenants {
    docs: Arc<dyn Documents>,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenant {0} already exists")]
    Exists(TenantId),
    #[error("a tenant needs a display name of 1 to 256 characters")]
    BadName,
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl Tenants {
    pub fn new(docs: Arc<dyn Documents>, clock: Arc<dyn Clock>) -> Self {
        Tenants { docs, clock }
    }

    pub async fn get(&self, id: &TenantId) -> PlatformResult<Option<Tenant>> {
        match self.docs.get(Container::Tenants, id, TENANT_DOC_ID).await? {
            Some(doc) => doc.parse().map(Some),
            None => Ok(None),
        }
    }

    pub async fn exists(&self, id: &TenantId) -> PlatformResult<bool> {
        Ok(self.get(id).await?.is_some())
    }

    pub async fn add(&self, id: &TenantId, display_name: &str) -> Result<Tenant, TenantError> {
        let display_name = display_name.trim();
        if display_name.is_empty() || display_name.chars().count() > 256 {
            return Err(TenantError::BadName);
        }
        let tenant = Tenant {
            display_name: display_name.to_owned(),
            created_at: self.clock.now(),
        };
        let doc = Document::new(id, TENANT_TYPE, TENANT_DOC_ID, &tenant)?;
        match self.docs.create(Container::Tenants, &doc).await {
            Ok(_) => Ok(tenant),
            Err(PlatformError::Conflict) => Err(TenantError::Exists(id.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Every tenant, for operators (cross-partition).
    pub async fn list(&self) -> PlatformResult<Vec<(TenantId, Tenant)>> {
        let docs = self
            .docs
            .query_all_tenants(Container::Tenants, &Query::of_type(TENANT_TYPE))
            .await?;
        docs.into_iter()
            .map(|d| Ok((d.tenant_id.clone(), d.parse()?)))
            .collect()
    }
}
