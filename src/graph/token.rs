//! App-only tokens, one per customer tenant: client credentials against
//! `<authority>/<tenant>/oauth2/v2.0/token`, kept by the shared token cache
//! ([`crate::outbound::tokens`]: the shared cache until five minutes before
//! they expire, one fetch at a time per tenant).

use super::{Graph, GraphError};
use crate::ids::TenantId;
use crate::outbound::{ClientCredentials, Token, client_credentials};

impl Graph {
    fn token_key(&self, tenant: &TenantId) -> String {
        format!("graph-token:{}:{}", self.inner.config.client_id, tenant)
    }

    /// The tenant's bearer token, from the cache or freshly fetched.
    pub(super) async fn token(&self, tenant: &TenantId) -> Result<String, GraphError> {
        self.inner
            .tokens
            .get_or_fetch(&self.token_key(tenant), || self.fetch_token(tenant))
            .await
    }

    /// Drops a token Graph refused (revoked, or consent changed), so the
    /// next call fetches a new one.
    pub(super) async fn forget_token(&self, tenant: &TenantId) {
        self.inner.tokens.forget(&self.token_key(tenant)).await;
    }

    async fn fetch_token(&self, tenant: &TenantId) -> Result<Token, GraphError> {
        let config = &self.inner.config;
        let token_url = format!(
            "{}/{}/oauth2/v2.0/token",
            config.authority_host.as_str().trim_end_matches('/'),
            tenant
        );
        self.observers().each(|c| c.tokens.inc());
        let request = ClientCredentials {
            token_url: &token_url,
            client_id: &config.client_id,
            client_secret: &config.client_secret,
            scope: &self.inner.scope,
        };
        client_credentials(&self.inner.http, request)
            .await
            .map_err(|e| {
                tracing::warn!(tenant = %tenant, status = e.status, error = %e, "no Graph token for the tenant");
                GraphError::from(e)
            })
    }
}
