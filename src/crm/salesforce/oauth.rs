//! OAuth 2.0 web-server flow against Salesforce (a multi-org SaaS has one
//! connected app; each org's admin signs in once): the authorize URL, the
//! code exchange that yields the org's refresh token, and the refresh
//! grant every API call's session comes from.
//!
//! Salesforce's token answer carries no `expires_in`: a session lasts as
//! long as the org's session timeout, which its admin sets (15 minutes at
//! the least, 2 hours by default). A session is therefore kept for the
//! shortest timeout an org can have, [`SESSION_SECS`] (less the token
//! cache's margin); one that ends earlier (timeout lowered, session
//! revoked) is answered `INVALID_SESSION_ID`, which refreshes once. The
//! refresh answer's `instance_url` is kept with the token and always used:
//! an org moved to another instance, or given a My Domain, answers with its
//! new one.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::Salesforce;
use crate::crm::{CrmError, SalesforceApp, Shared};
use crate::outbound::{self, Token};

/// The shortest session timeout an org's admin can set.
pub const SESSION_SECS: u64 = 15 * 60;
/// API access and a refresh token (Salesforce's scope names).
pub const SCOPE: &str = "api refresh_token";

const TOKEN_PATH: &str = "/services/oauth2/token";

/// What the code exchange gives: the refresh token to seal, where the org's
/// API is, and who signed in (the identity URL, `…/id/<orgId>/<userId>`).
#[derive(Debug)]
pub struct Grant {
    pub refresh_token: SecretString,
    pub instance_url: Url,
    pub identity: String,
}

/// A session as cached: the token with the instance it is good for.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Session {
    pub access_token: String,
    pub instance_url: Url,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    instance_url: Url,
    #[serde(default)]
    id: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Where to send the admin to connect their org; `state` comes back with
/// the code (the caller binds it to the admin's session).
pub fn authorize_url(app: &SalesforceApp, login_url: &Url, state: &str) -> Url {
    let mut url = login_url.clone();
    url.set_path("/services/oauth2/authorize");
    url.set_fragment(None);
    url.query_pairs_mut()
        .clear()
        .append_pair("response_type", "code")
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", app.redirect_uri.as_str())
        .append_pair("state", state)
        .append_pair("scope", SCOPE);
    url
}

/// Trades the code Salesforce sent back for the org's refresh token.
pub async fn exchange_code(
    shared: &Shared,
    login_url: &Url,
    code: &str,
) -> Result<Grant, CrmError> {
    let app = app(shared)?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", app.client_id.as_str()),
        ("client_secret", app.client_secret.expose_secret()),
        ("redirect_uri", app.redirect_uri.as_str()),
    ];
    let answer = token_request(shared, login_url, &form).await?;
    let refresh_token = answer.refresh_token.ok_or_else(|| {
        CrmError::NotSetUp(
            "Salesforce gave no refresh token: the connected app must allow the \
             refresh_token scope"
                .into(),
        )
    })?;
    Ok(Grant {
        refresh_token: SecretString::from(refresh_token),
        instance_url: answer.instance_url,
        identity: answer.id,
    })
}

pub(super) fn app(shared: &Shared) -> Result<&SalesforceApp, CrmError> {
    shared
        .salesforce
        .as_ref()
        .ok_or_else(|| CrmError::NotSetUp("this deployment has no Salesforce connected app".into()))
}

/// One token request; a refusal (`invalid_grant`: the refresh token was
/// revoked or expired; `invalid_client`) is [`CrmError::Revoked`].
async fn token_request(
    shared: &Shared,
    login_url: &Url,
    form: &[(&str, &str)],
) -> Result<TokenAnswer, CrmError> {
    let mut url = login_url.clone();
    url.set_path(TOKEN_PATH);
    url.set_query(None);
    shared.counters.token_fetched();
    let answer = outbound::grant(&shared.http, url.as_str(), TOKEN_PATH, form)
        .await
        .map_err(CrmError::from_token)?;
    serde_json::from_slice(&answer.body)
        .map_err(|e| CrmError::Unavailable(format!("token endpoint: an unreadable answer: {e}")))
}

impl Salesforce {
    /// The org's session, from the cache or from a refresh grant.
    pub(super) async fn session(&self) -> Result<Session, CrmError> {
        // Twice at most: an unreadable entry (not of this shape) is
        // dropped and fetched afresh.
        for _ in 0..2 {
            let cached = self
                .shared
                .tokens
                .get_or_fetch(&self.token_key, || self.refresh())
                .await?;
            if let Ok(session) = serde_json::from_str(&cached) {
                return Ok(session);
            }
            self.forget_session().await;
        }
        Err(CrmError::Unavailable(
            "the cached Salesforce session is unreadable".into(),
        ))
    }

    /// Drops a session Salesforce refused, so the next call refreshes.
    pub(super) async fn forget_session(&self) {
        self.shared.tokens.forget(&self.token_key).await;
    }

    async fn refresh(&self) -> Result<Token, CrmError> {
        let app = app(&self.shared)?;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", self.refresh_token.expose_secret()),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose_secret()),
        ];
        let answer = token_request(&self.shared, &self.config.login_url, &form)
            .await
            .inspect_err(|e| {
                tracing::warn!(tenant = %self.tenant, error = %e, "no Salesforce session for the org");
            })?;
        let session = Session {
            access_token: answer.access_token,
            instance_url: answer.instance_url,
        };
        Ok(Token {
            access_token: serde_json::to_string(&session)
                .map_err(|e| CrmError::Unavailable(format!("session: {e}")))?,
            expires_in: SESSION_SECS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_asks_for_a_code_api_access_and_a_refresh_token() {
        let app = SalesforceApp {
            client_id: "3MVG9-client".into(),
            client_secret: SecretString::from("s"),
            login_url: Url::parse("https://login.salesforce.com").unwrap(),
            redirect_uri: Url::parse("https://app.test/api/crm/salesforce/callback").unwrap(),
        };
        let login = Url::parse("https://test.salesforce.com/").unwrap();
        let url = authorize_url(&app, &login, "st&ate=1");
        assert_eq!(url.host_str(), Some("test.salesforce.com"));
        assert_eq!(url.path(), "/services/oauth2/authorize");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("3MVG9-client"));
        assert_eq!(
            get("redirect_uri"),
            Some("https://app.test/api/crm/salesforce/callback")
        );
        assert_eq!(get("state"), Some("st&ate=1"));
        assert_eq!(get("scope"), Some("api refresh_token"));
    }
}
