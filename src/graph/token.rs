//! App-only tokens, one per customer tenant: client credentials against
//! `<authority>/<tenant>/oauth2/v2.0/token`, kept by the shared token cache
//! ([`crate::outbound::tokens`]: the shared cache until five minutes before
//! they expire, one fetch at a time per tenant).

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{Graph, GraphError};
use crate::ids::TenantId;
use crate::outbound::Token;

const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

impl Graph {
    fn token_key(&self, tenant: &TenantId) -> String {
        format!("graph-token:{}:{}", self.inner.config.client_id, tenant)
    }

    /// The tenant's bearer token, from the cache or freshly fetched.
    pub(super) async fn token(&self, tenant: &TenantId) -> Result<String, GraphError> {
        self.inner
            .tokens
            .get_or_fetch(&self.token_key(tenant), || async {
                self.fetch_token(tenant).await.map(|t| Token {
                    access_token: t.access_token,
                    expires_in: t.expires_in,
                })
            })
            .await
    }

    /// Drops a token Graph refused (revoked, or consent changed), so the
    /// next call fetches a new one.
    pub(super) async fn forget_token(&self, tenant: &TenantId) {
        self.inner.tokens.forget(&self.token_key(tenant)).await;
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
