//! App-only tokens, one per customer tenant: client credentials against
//! `<authority>/<tenant>/oauth2/v2.0/token`, kept in the shared cache until
//! five minutes before they expire so every instance reuses them. A
//! per-tenant lock makes concurrent callers of one tenant wait for a single
//! fetch instead of each asking Entra (which throttles token requests too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{Graph, GraphError};
use crate::ids::TenantId;

/// Tokens leave the cache this long before they expire.
const TOKEN_MARGIN_SECS: u64 = 300;
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// One fetch lock per tenant. Grows with the tenants this instance serves,
/// which the customer list already bounds.
#[derive(Default)]
pub(super) struct TokenLocks(Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>);

impl TokenLocks {
    fn for_tenant(&self, tenant: &TenantId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().expect("the token lock map is never poisoned");
        locks.entry(tenant.clone()).or_default().clone()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

impl Graph {
    fn token_key(&self, tenant: &TenantId) -> String {
        format!("graph-token:{}:{}", self.inner.config.client_id, tenant)
    }

    async fn cached_token(&self, key: &str) -> Option<String> {
        match self.inner.cache.get(key).await {
            Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    /// The tenant's bearer token, from the cache or freshly fetched.
    pub(super) async fn token(&self, tenant: &TenantId) -> Result<String, GraphError> {
        let key = self.token_key(tenant);
        if let Some(token) = self.cached_token(&key).await {
            return Ok(token);
        }
        let lock = self.inner.token_locks.for_tenant(tenant);
        let _fetching = lock.lock().await;
        // Whoever held the lock before us may have fetched it already.
        if let Some(token) = self.cached_token(&key).await {
            return Ok(token);
        }
        let token = self.fetch_token(tenant).await?;
        let ttl = token.expires_in.saturating_sub(TOKEN_MARGIN_SECS);
        if ttl > 0
            && let Err(e) = self
                .inner
                .cache
                .set(
                    &key,
                    token.access_token.as_bytes(),
                    Duration::from_secs(ttl),
                )
                .await
        {
            tracing::warn!(tenant = %tenant, error = %e, "could not cache the Graph token");
        }
        Ok(token.access_token)
    }

    /// Drops a token Graph refused (revoked, or consent changed), so the
    /// next call fetches a new one.
    pub(super) async fn forget_token(&self, tenant: &TenantId) {
        let _ = self.inner.cache.delete(&self.token_key(tenant)).await;
    }

    async fn fetch_token(&self, tenant: &TenantId) -> Result<TokenResponse, GraphError> {
        let config = &self.inner.config;
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            config.authority_host.as_str().trim_end_matches('/'),
            tenant
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", config.client_id.as_str()),
            ("client_secret", config.client_secret.expose_secret()),
            ("scope", self.inner.scope.as_str()),
        ];
        self.inner.stats.tokens.inc();
        let transport = |e: reqwest::Error| GraphError::Token {
            status: None,
            code: "transport".into(),
            message: e.without_url().to_string(),
            transient: true,
        };
        let res = self
            .inner
            .http
            .post(url)
            .form(&form)
            .timeout(TOKEN_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            let body = serde_json::from_slice(&bytes).unwrap_or_default();
            let error = GraphError::from_token_answer(status, &body);
            tracing::warn!(tenant = %tenant, status, error = %error, "no Graph token for the tenant");
            return Err(error);
        }
        serde_json::from_slice(&bytes).map_err(|e| GraphError::Token {
            status: Some(status),
            code: "invalid_response".into(),
            message: e.to_string(),
            transient: false,
        })
    }
}
