//! Who calls the tabs' API: the Teams SSO token (`authentication.getAuthToken()`),
//! checked from the `Authorization` header alone, before the body is read.
//!
//! 1. `Authorization: Bearer <JWT>`, at most [`MAX_TOKEN_BYTES`]: a larger
//!    header is refused before anything is parsed.
//! 2. The header's `alg` is RS256 (Entra ID signs with nothing else; never
//!    `none` or an HMAC) and names a `kid`.
//! 3. The token's (not yet verified) `tid` picks whose keys to use: a tenant
//!    that has not signed up is refused before any key is fetched; the keys
//!    of a known one come from `{ENTRA_AUTHORITY_HOST}/{tid}/v2.0/.well-known/openid-configuration`,
//!    one cached [`KeySource`] per tenant (the bot's cache: refreshes are
//!    rate-limited and single-flight), in a bounded map. Under `handler
//!    local` the demo tenant's key is the development sign-in's ([`super::dev`]),
//!    and its tokens go through every check below.
//! 4. `ver` is `2.0` (a v1.0 token only when `SALESTIM_TAB_ACCEPT_V1` says
//!    so), and the signature verifies; `iss` is the issuer built from the
//!    token's own `tid` (v2.0 `{authority}/{tid}/v2.0`, v1.0
//!    `https://sts.windows.net/{tid}/`), so another tenant's token cannot
//!    pass for this one; `aud` is the tab's client id or
//!    `api://<SALESTIM_PUBLIC_HOSTNAME>/<client id>`; `exp`/`nbf` hold by the
//!    injected clock with [`CLOCK_SKEW_SECS`] of skew.
//! 5. `scp` (space-separated) holds `access_as_user`: an app-only token, or
//!    a user token for another API of the same registration, is refused
//!    (401: the token is not one for this API; the client gets a new one).
//! 6. `oid` names the user.
//!
//! Every refusal is a [`TabAuthError`]; the HTTP layer answers 401 with
//! `WWW-Authenticate: Bearer` and a short reason, and logs it. The tenant
//! that has not signed up gets 403 (a new token would not help).
//!
//! [`on_behalf_of`] trades the user's token for one to another API (Graph),
//! for the few calls that must act as the user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::dev::DevIssuer;
use super::token_tenant;
use crate::app::App;
use crate::bot::openid::{KeyError, KeySource};
use crate::config::{RunMode, Settings};
use crate::error::AppError;
use crate::governance::tenants::Tenants;
use crate::http::RequestHead;
use crate::ids::TenantId;
use crate::outbound::send::{Unobserved, send};
use crate::outbound::{Call, Failure, RetryPolicy, Rules};
use crate::platform::PlatformError;
use crate::platform::clock::Clock;

/// Clock skew tolerated on `exp` and `nbf`.
pub const CLOCK_SKEW_SECS: i64 = 300;
/// Entra tokens are 1-3 KiB; anything much larger is not one.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Tenants whose keys are cached at once; one more drops another's.
const MAX_KEY_SOURCES: usize = 4096;
/// The delegated scope the tabs' API exposes.
pub const SCOPE: &str = super::SCOPE_CLAIM;

/// The signed-in user of a tab, from a validated token only.
#[derive(Clone, Debug)]
pub struct TabUser {
    /// `tid`.
    pub tenant: TenantId,
    /// `oid`: the user's object id in the tenant (a GUID, lower case).
    pub user_id: String,
    /// `name`, possibly empty.
    pub name: String,
    /// `preferred_username` (the sign-in name, usually the mail), possibly empty.
    pub email: String,
    /// The token itself, for [`on_behalf_of`].
    pub token: SecretString,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TabAuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("the Authorization header is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm not allowed")]
    Algorithm,
    #[error("this organisation has not signed up for SalesTim")]
    UnknownTenant,
    #[error("Teams sign-in is not configured")]
    NotConfigured,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("signing keys unavailable: {0}")]
    Unavailable(String),
    #[error("invalid token signature")]
    Signature,
    #[error("token version not accepted (a v2.0 token is expected)")]
    Version,
    #[error("token from an unexpected issuer")]
    Issuer,
    #[error("token for another audience")]
    Audience,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token without the access_as_user scope")]
    Scope,
    #[error("token names no user")]
    NoUser,
}

impl From<TabAuthError> for AppError {
    fn from(e: TabAuthError) -> Self {
        match e {
            TabAuthError::TooLarge => AppError::BadRequest(e.to_string()),
            TabAuthError::UnknownTenant => AppError::Forbidden(e.to_string()),
            TabAuthError::NotConfigured => {
                AppError::NotConfigured("Teams sign-in (SALESTIM_TAB_CLIENT_ID or MicrosoftAppId)")
            }
            TabAuthError::Unavailable(cause) => {
                AppError::Platform(PlatformError::unavailable("Entra ID signing keys", cause))
            }
            e => AppError::Unauthorized(e.to_string()),
        }
    }
}

/// Read before anything is verified: which tenant's keys, which version.
#[derive(Deserialize)]
struct Unverified {
    tid: Option<String>,
    ver: Option<String>,
}

#[derive(Deserialize)]
struct SsoClaims {
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    tid: String,
    #[serde(default)]
    ver: Option<String>,
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

/// The keys a token of one tenant is checked with, and for whom it must be.
enum Trust {
    Published(Arc<KeySource>),
    Development(DecodingKey, String),
}

pub struct TabAuthenticator {
    /// `ENTRA_AUTHORITY_HOST`, without a trailing slash.
    authority: String,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    audiences: Vec<String>,
    accept_v1: bool,
    http: reqwest::Client,
    keys: Mutex<HashMap<TenantId, Arc<KeySource>>>,
    dev: Option<DevIssuer>,
}

impl TabAuthenticator {
    pub fn new(settings: &Settings, http: reqwest::Client) -> Self {
        let authority = settings
            .entra_authority_host
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let client_id = settings.tabs.client_id.clone();
        let mut audiences = Vec::new();
        if let Some(id) = &client_id {
            audiences.push(id.clone());
            if let Some(host) = &settings.public_hostname {
                audiences.push(format!("api://{host}/{id}"));
            }
        }
        // Settings refuse the development sign-in under the host; refuse it
        // here too, whoever built the settings.
        let dev = (settings.tabs.dev_signin && settings.mode == RunMode::Local)
            .then(|| DevIssuer::new(&authority));
        TabAuthenticator {
            authority,
            client_id,
            client_secret: settings.tabs.client_secret.clone(),
            audiences,
            accept_v1: settings.tabs.accept_v1,
            http,
            keys: Mutex::new(HashMap::new()),
            dev,
        }
    }

    /// The development sign-in, when this process runs one.
    pub fn dev(&self) -> Option<&DevIssuer> {
        self.dev.as_ref()
    }

    /// The v2.0 token issuer of `tenant`.
    pub fn issuer(&self, tenant: &TenantId) -> String {
        format!("{}/{tenant}/v2.0", self.authority)
    }

    fn key_source(&self, tenant: &TenantId) -> Result<Arc<KeySource>, TabAuthError> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(source) = keys.get(tenant) {
            return Ok(source.clone());
        }
        let url = format!(
            "{}/{tenant}/v2.0/.well-known/openid-configuration",
            self.authority
        );
        let url = url::Url::parse(&url).map_err(|e| TabAuthError::Unavailable(e.to_string()))?;
        if keys.len() >= MAX_KEY_SOURCES
            && let Some(evicted) = keys.keys().next().cloned()
        {
            keys.remove(&evicted);
        }
        let source = Arc::new(KeySource::new(url, self.http.clone()));
        keys.insert(tenant.clone(), source.clone());
        Ok(source)
    }

    /// Validates the `Authorization` header of a tab's call (steps 1-6).
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        tenants: &Tenants,
        clock: &dyn Clock,
    ) -> Result<TabUser, TabAuthError> {
        let header = authorization.ok_or(TabAuthError::Missing)?;
        if header.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
            return Err(TabAuthError::TooLarge);
        }
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or(TabAuthError::Missing)?;
        let jwt_header = jsonwebtoken::decode_header(token).map_err(|_| TabAuthError::Malformed)?;
        if jwt_header.alg != Algorithm::RS256 {
            return Err(TabAuthError::Algorithm);
        }
        let kid = jwt_header.kid.ok_or(TabAuthError::UnknownKey)?;
        let claimed = unverified(token)?;
        let tenant = claimed
            .tid
            .as_deref()
            .and_then(token_tenant)
            .ok_or(TabAuthError::Malformed)?;
        let issuer = match claimed.ver.as_deref() {
            Some("2.0") => self.issuer(&tenant),
            Some("1.0") if self.accept_v1 => format!("https://sts.windows.net/{tenant}/"),
            _ => return Err(TabAuthError::Version),
        };

        let trust = match &self.dev {
            Some(dev) if dev.tenant() == tenant => {
                let (dev_kid, key) = dev.verification_key();
                if kid != dev_kid {
                    return Err(TabAuthError::UnknownKey);
                }
                Trust::Development(key.clone(), dev.audience().to_owned())
            }
            _ => {
                if self.audiences.is_empty() {
                    return Err(TabAuthError::NotConfigured);
                }
                let known = tenants
                    .exists(&tenant)
                    .await
                    .map_err(|e| TabAuthError::Unavailable(e.to_string()))?;
                if !known {
                    return Err(TabAuthError::UnknownTenant);
                }
                Trust::Published(self.key_source(&tenant)?)
            }
        };
        let (key, audiences) = match trust {
            Trust::Published(source) => match source.key(&kid, clock).await {
                Ok(Some(key)) => (key.key, self.audiences.clone()),
                Ok(None) => return Err(TabAuthError::UnknownKey),
                Err(e @ (KeyError::Fetch { .. } | KeyError::Invalid { .. })) => {
                    return Err(TabAuthError::Unavailable(e.to_string()));
                }
            },
            Trust::Development(key, audience) => (key, vec![audience]),
        };

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<SsoClaims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TabAuthError::Signature,
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => TabAuthError::Issuer,
                jsonwebtoken::errors::ErrorKind::InvalidAudience => TabAuthError::Audience,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => TabAuthError::Algorithm,
                _ => TabAuthError::Malformed,
            })?
            .claims;
        // What picked the keys and the issuer is now signed: it must not
        // have changed (it cannot, but the check costs nothing).
        if token_tenant(&claims.tid).as_ref() != Some(&tenant) || claims.ver != claimed.ver {
            return Err(TabAuthError::Malformed);
        }
        let now = clock.now().unix_timestamp();
        if now > claims.exp + CLOCK_SKEW_SECS {
            return Err(TabAuthError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| now + CLOCK_SKEW_SECS < nbf) {
            return Err(TabAuthError::NotYetValid);
        }
        if !claims
            .scp
            .as_deref()
            .is_some_and(|scp| scp.split(' ').any(|s| s == SCOPE))
        {
            return Err(TabAuthError::Scope);
        }
        let user_id = claims
            .oid
            .as_deref()
            .and_then(|oid| uuid::Uuid::parse_str(oid).ok())
            .map(|oid| oid.hyphenated().to_string())
            .ok_or(TabAuthError::NoUser)?;
        Ok(TabUser {
            tenant,
            user_id,
            name: claims.name.unwrap_or_default(),
            email: claims.preferred_username.unwrap_or_default(),
            token: SecretString::from(token.to_owned()),
        })
    }
}

/// The payload's `tid` and `ver`, read without verifying anything.
fn unverified(token: &str) -> Result<Unverified, TabAuthError> {
    let payload = token.split('.').nth(1).ok_or(TabAuthError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TabAuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TabAuthError::Malformed)
}

/// The route head check of every tab endpoint: the signed-in user, or why
/// not. Records the tenant on the invocation's span.
pub async fn authenticate(app: &App, head: &RequestHead) -> Result<TabUser, AppError> {
    let user = app
        .tab_auth
        .verify(
            head.header("authorization"),
            &app.tenants,
            app.clock.as_ref(),
        )
        .await?;
    tracing::Span::current().record("tenant_id", user.tenant.as_str());
    Ok(user)
}

/// The token endpoint throttles and fails too: three attempts, a short cap.
const OBO_RULES: Rules = Rules {
    service: "token endpoint (on behalf of)",
    policy: RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(10),
    },
    timeout: Duration::from_secs(15),
    retryable: |status| matches!(status, 429 | 500 | 502 | 503 | 504),
    throttle: |status| status == 429,
};

/// The answers of the token endpoint that ask the user to act (sign in
/// again, pass MFA, consent), which the client handles.
const INTERACTION_ERRORS: [&str; 3] = ["interaction_required", "invalid_grant", "consent_required"];

#[derive(Deserialize)]
struct OboToken {
    access_token: String,
}

/// Trades the user's token for one to `scope` (`https://graph.microsoft.com/.default`)
/// with the on-behalf-of flow. When Entra ID wants the user to act, the
/// answer is a 401 whose `WWW-Authenticate` is
/// `Bearer error="interaction_required", claims="<base64 of the claims JSON>"`
/// (as Entra's own claims challenges carry them), for the client to pass to
/// a new sign-in.
pub async fn on_behalf_of(app: &App, user: &TabUser, scope: &str) -> Result<String, AppError> {
    let auth = &app.tab_auth;
    if auth.dev.as_ref().is_some_and(|d| d.tenant() == user.tenant) {
        return Err(AppError::NotConfigured(
            "acting as the user (not with the development sign-in)",
        ));
    }
    let (Some(client_id), Some(secret)) = (&auth.client_id, &auth.client_secret) else {
        return Err(AppError::NotConfigured(
            "acting as the user (SALESTIM_TAB_CLIENT_ID, SALESTIM_TAB_CLIENT_SECRET)",
        ));
    };
    let url = format!("{}/{}/oauth2/v2.0/token", auth.authority, user.tenant);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.expose_secret()),
        ("assertion", user.token.expose_secret()),
        ("scope", scope),
        ("requested_token_use", "on_behalf_of"),
    ];
    let call = Call {
        rules: &OBO_RULES,
        idempotent: true,
        path: "/oauth2/v2.0/token",
    };
    let build = || async { Ok::<_, AppError>(auth.http.post(&url).form(&form)) };
    let answer = match send(call, build, || async { false }, &Unobserved).await {
        Ok(answer) => answer,
        Err(Failure::Prepare(e)) => return Err(e),
        Err(Failure::Transport { error, .. }) => {
            return Err(PlatformError::unavailable("Entra ID token endpoint", error).into());
        }
        Err(Failure::Status { answer, .. }) => {
            let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            return Err(obo_refusal(answer.status, &body));
        }
    };
    let token: OboToken = serde_json::from_slice(&answer.body)
        .map_err(|e| anyhow::anyhow!("the token endpoint's answer is not a token: {e}"))?;
    Ok(token.access_token)
}

/// What the caller is told when the token endpoint refused.
fn obo_refusal(status: u16, body: &serde_json::Value) -> AppError {
    let code = body["error"].as_str().unwrap_or("unknown");
    if INTERACTION_ERRORS.contains(&code) {
        let mut challenge = String::from("Bearer error=\"interaction_required\"");
        if let Some(claims) = body["claims"].as_str().filter(|c| !c.is_empty()) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(claims);
            challenge.push_str(&format!(", claims=\"{encoded}\""));
        }
        return AppError::Challenge {
            detail: format!("Microsoft Entra ID needs you to sign in again or consent ({code})"),
            challenge,
        };
    }
    if status == 429 || status >= 500 {
        return PlatformError::unavailable("Entra ID token endpoint", format!("HTTP {status}"))
            .into();
    }
    // Our registration or request is wrong: the operator's to fix.
    let description = body["error_description"].as_str().unwrap_or_default();
    AppError::Internal(anyhow::anyhow!(
        "the on-behalf-of request was refused: HTTP {status} {code}: {description}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn interaction_and_consent_errors_become_a_challenge_with_the_claims() {
        let claims = r#"{"access_token":{"polids":{"essential":true,"values":["x"]}}}"#;
        let e = obo_refusal(
            400,
            &json!({"error": "interaction_required", "error_description": "AADSTS50079: MFA", "claims": claims}),
        );
        assert_eq!(e.status().as_u16(), 401);
        let challenge = e.www_authenticate().unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(claims);
        assert_eq!(
            challenge,
            format!("Bearer error=\"interaction_required\", claims=\"{encoded}\"")
        );
        let e = obo_refusal(400, &json!({"error": "invalid_grant"}));
        assert_eq!(
            e.www_authenticate(),
            Some("Bearer error=\"interaction_required\"")
        );
        assert!(e.public_detail().contains("invalid_grant"));
    }

    #[test]
    fn other_refusals_are_ours_to_fix_or_transient() {
        let e = obo_refusal(
            401,
            &json!({"error": "invalid_client", "error_description": "AADSTS7000215: secret"}),
        );
        assert_eq!(e.status().as_u16(), 500);
        assert!(!e.problem().to_string().contains("AADSTS"));
        assert_eq!(obo_refusal(503, &json!({})).status().as_u16(), 503);
    }

    #[test]
    fn refusals_map_to_the_right_status() {
        let status = |e: TabAuthError| AppError::from(e).status().as_u16();
        assert_eq!(status(TabAuthError::Expired), 401);
        assert_eq!(status(TabAuthError::Scope), 401);
        assert_eq!(status(TabAuthError::TooLarge), 400);
        assert_eq!(status(TabAuthError::UnknownTenant), 403);
        assert_eq!(status(TabAuthError::NotConfigured), 503);
        assert_eq!(
            AppError::from(TabAuthError::Audience).www_authenticate(),
            Some("Bearer")
        );
    }
}
