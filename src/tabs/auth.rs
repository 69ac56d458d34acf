//! Who calls the tabs' API: the Teams SSO token (`authentication.getAuthToken()`),
//! checked from the `Authorization` header alone, before the body is read.
//!
//! 1. `Authorization: Bearer <JWT>`, at most [`MAX_TOKEN_BYTES`]: a larger
//!    header is refused before anything is parsed.
//! 2. The header's `alg` is RS256 (Entra ID signs with nothing else; never
//!    `none` or an HMAC) and names a `kid`.
//! 3. The token's (not yet verified) `tid` picks whose keys to use: a tenant
//!    that has not signed up is refused before any key is fetched (the
//!    store is asked at most every [`KNOWN_TENANT_TTL`] per tenant); the
//!    keys of a known one come from
//!    `{ENTRA_AUTHORITY_HOST}/{tid}/v2.0/.well-known/openid-configuration`,
//!    one cached [`KeySource`] per tenant (the bot's cache: refreshes are
//!    rate-limited and single-flight), in a bounded map. Under `handler
//!    local` the demo tenant's key is the development sign-in's
//!    ([`super::dev`]), and its tokens go through every check below.
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
//! [`on_behalf_of`] (in `tabs::obo`) trades the user's token for one to
//! another API (Graph), for the few calls that must act as the user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::SecretString;
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
use crate::platform::PlatformError;
use crate::platform::clock::Clock;

pub use super::obo::on_behalf_of;

/// Clock skew tolerated on `exp` and `nbf`.
pub const CLOCK_SKEW_SECS: i64 = 300;
/// Entra tokens are 1-3 KiB; anything much larger is not one.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Tenants whose keys are cached at once; one more drops another's.
const MAX_KEY_SOURCES: usize = 4096;
/// How long a tenant found in the store is taken as signed up without
/// reading it again (a tenant removed keeps access at most this long).
const KNOWN_TENANT_TTL: time::Duration = time::Duration::minutes(5);
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

/// A signed-up tenant: its keys, and when the store last said it exists.
struct Known {
    keys: Arc<KeySource>,
    checked_at: time::OffsetDateTime,
}

/// The keys a token of one tenant is checked with, and for whom it must be.
enum Trust {
    Published(Arc<KeySource>),
    Development(DecodingKey, String),
}

pub struct TabAuthenticator {
    /// `ENTRA_AUTHORITY_HOST`, without a trailing slash.
    pub(super) authority: String,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<SecretString>,
    audiences: Vec<String>,
    accept_v1: bool,
    pub(super) http: reqwest::Client,
    known: Mutex<HashMap<TenantId, Known>>,
    pub(super) dev: Option<DevIssuer>,
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
            known: Mutex::new(HashMap::new()),
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

    /// The keys of `tenant`, once the store says it has signed up (asked
    /// again after [`KNOWN_TENANT_TTL`]). Nothing is fetched for a tenant
    /// that has not.
    async fn tenant_keys(
        &self,
        tenant: &TenantId,
        tenants: &Tenants,
        now: time::OffsetDateTime,
    ) -> Result<Arc<KeySource>, TabAuthError> {
        {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = known.get(tenant)
                && now - k.checked_at < KNOWN_TENANT_TTL
            {
                return Ok(k.keys.clone());
            }
        }
        let signed_up = tenants
            .exists(tenant)
            .await
            .map_err(|e| TabAuthError::Unavailable(e.to_string()))?;
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if !signed_up {
            known.remove(tenant);
            return Err(TabAuthError::UnknownTenant);
        }
        if let Some(k) = known.get_mut(tenant) {
            k.checked_at = now;
            return Ok(k.keys.clone());
        }
        let url = format!(
            "{}/{tenant}/v2.0/.well-known/openid-configuration",
            self.authority
        );
        let url = url::Url::parse(&url).map_err(|e| TabAuthError::Unavailable(e.to_string()))?;
        if known.len() >= MAX_KEY_SOURCES
            && let Some(evicted) = known.keys().next().cloned()
        {
            known.remove(&evicted);
        }
        let keys = Arc::new(KeySource::new(url, self.http.clone()));
        known.insert(
            tenant.clone(),
            Known {
                keys: keys.clone(),
                checked_at: now,
            },
        );
        Ok(keys)
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
                Trust::Published(self.tenant_keys(&tenant, tenants, clock.now()).await?)
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

#[cfg(test)]
mod tests {
    use super::*;

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
