//! The Bot Connector client: the bot's own token (client credentials, in
//! the shared token cache, [`crate::outbound`]), and sends, replies and
//! updates through the shared send loop (bounded attempts, `Retry-After`
//! honoured up to a cap, jittered back-off, one token refresh on a 401);
//! what is retryable (412, 429, 5xx) is the Connector's own rule.
//!
//! A bot without credentials (`handler local` with authentication disabled)
//! sends with no `Authorization` header, as botbuilder does; the serviceUrl
//! is checked the same either way.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::activity::Activity;
use crate::outbound::send::{self, Call, Failure, Rules, Unobserved};
use crate::outbound::{
    ClientCredentials, RetryPolicy, Token, TokenCache, TokenError, client_credentials,
};
use crate::platform::cache::Cache;

/// Four attempts per patient call, 15 s each; a `Retry-After` over 30 s is
/// not waited out inside one call (the outbox retries later). What the
/// Connector answers when busy or failing (412 included: a conversation
/// being updated) is worth sending again.
const RULES: Rules = Rules {
    service: "connector",
    policy: RetryPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(5),
        max_retry_after: Duration::from_secs(30),
    },
    timeout: Duration::from_secs(15),
    retryable: |status| matches!(status, 412 | 429 | 500 | 502 | 503 | 504),
    throttle: |status| status == 429,
};

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("getting the bot token: {0}")]
    Token(String),
    #[error("the connector refused the request: HTTP {status}")]
    Rejected { status: u16 },
    #[error("the connector kept failing (HTTP {status}) after {attempts} attempts")]
    GaveUp { status: u16, attempts: u32 },
    #[error("the connector could not be reached: {0}")]
    Transport(String),
    #[error("invalid serviceUrl: {0}")]
    ServiceUrl(String),
    /// One attempt ([`Patience::Once`]) met throttling or a server error:
    /// try again later, after `retry_after` when the Connector said.
    #[error("the connector answered HTTP {status}; try again later")]
    Busy {
        status: u16,
        retry_after: Option<Duration>,
    },
}

impl ConnectorError {
    /// Worth retrying later (from a queue), rather than failing for good.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectorError::GaveUp { .. }
                | ConnectorError::Transport(_)
                | ConnectorError::Token(_)
                | ConnectorError::Busy { .. }
        )
    }

    /// How long the Connector asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::Busy { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How hard one call tries.
#[derive(Clone, Copy, Debug)]
pub enum Patience {
    /// Bounded retries that honour `Retry-After` (a queue function: it has
    /// the time, and the host retries it again after that).
    Retry,
    /// One attempt within `timeout` (someone is waiting, and the durable
    /// outbox retries what this gives up): throttling and server errors come
    /// back at once as [`ConnectorError::Busy`].
    Once { timeout: Duration },
}

pub struct ConnectorConfig {
    pub app_id: String,
    pub app_password: SecretString,
    /// The authority; the token endpoint is `<it>/oauth2/v2.0/token`.
    pub login_url: Url,
    /// The resource; `/.default` is appended for the scope.
    pub oauth_scope: String,
}

/// The bot's Connector token, fresh from its login URL (client
/// credentials for `<oauth scope>/.default`): what [`ConnectorClient`]
/// caches, and what `handler doctor` asks for once.
pub async fn request_token(
    http: &reqwest::Client,
    config: &ConnectorConfig,
) -> Result<Token, TokenError> {
    let token_url = format!(
        "{}/oauth2/v2.0/token",
        config.login_url.as_str().trim_end_matches('/')
    );
    let scope = format!("{}/.default", config.oauth_scope.trim_end_matches('/'));
    let request = ClientCredentials {
        token_url: &token_url,
        client_id: &config.app_id,
        client_secret: &config.app_password,
        scope: &scope,
    };
    client_credentials(http, request).await
}

pub struct ConnectorClient {
    /// `None`: no credentials, requests go out without a token.
    config: Option<ConnectorConfig>,
    http: reqwest::Client,
    tokens: TokenCache,
}

#[derive(Deserialize)]
struct ResourceResponse {
    #[serde(default)]
    id: String,
}

impl ConnectorClient {
    pub fn new(config: ConnectorConfig, http: reqwest::Client, cache: Arc<dyn Cache>) -> Self {
        ConnectorClient {
            config: Some(config),
            http,
            tokens: TokenCache::new(cache),
        }
    }

    /// A client that sends without a token (local testing with
    /// authentication disabled; the real Connector refuses it).
    pub fn without_credentials(http: reqwest::Client, cache: Arc<dyn Cache>) -> Self {
        ConnectorClient {
            config: None,
            http,
            tokens: TokenCache::new(cache),
        }
    }

    fn cache_key(config: &ConnectorConfig) -> String {
        format!("bot-token:{}:{}", config.app_id, config.oauth_scope)
    }

    /// The bearer token to send, or `None` for a client without credentials.
    async fn token(&self) -> Result<Option<String>, ConnectorError> {
        match &self.config {
            Some(config) => self.fetch_token(config).await.map(Some),
            None => Ok(None),
        }
    }

    async fn fetch_token(&self, config: &ConnectorConfig) -> Result<String, ConnectorError> {
        let key = Self::cache_key(config);
        self.tokens
            .get_or_fetch(&key, || self.request_token(config))
            .await
    }

    async fn request_token(&self, config: &ConnectorConfig) -> Result<Token, ConnectorError> {
        request_token(&self.http, config)
            .await
            .map_err(|e| ConnectorError::Token(e.to_string()))
    }

    /// The Connector base from an activity's `serviceUrl`: https only,
    /// except that a client without credentials (local testing) may also
    /// reach a tool on this machine over plain http (the Agents Playground
    /// and the Emulator listen on `http://localhost`).
    fn service_base(&self, service_url: &str) -> Result<Url, ConnectorError> {
        let base =
            Url::parse(service_url).map_err(|e| ConnectorError::ServiceUrl(e.to_string()))?;
        let loopback = match base.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match base.scheme() {
            "https" => Ok(base),
            "http" if self.config.is_none() && loopback => Ok(base),
            _ => Err(ConnectorError::ServiceUrl("must be https".into())),
        }
    }

    fn conversation_url(
        mut base: Url,
        conversation_id: &str,
        activity_id: Option<&str>,
    ) -> Result<Url, ConnectorError> {
        // Encoded as botbuilder does (`encodeURIComponent`): Teams ids carry
        // `:`, `@` and `;messageid=`, which must stay inside one segment.
        let encode = crate::http::encode_uri_component;
        let mut path = format!(
            "{}/v3/conversations/{}/activities",
            base.path().trim_end_matches('/'),
            encode(conversation_id)
        );
        if let Some(id) = activity_id {
            path = format!("{path}/{}", encode(id));
        }
        base.set_path(&path);
        Ok(base)
    }

    /// Sends a new activity into a conversation; returns its id.
    pub async fn send(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Activity,
    ) -> Result<String, ConnectorError> {
        self.post_activity(
            service_url,
            conversation_id,
            None,
            activity,
            Patience::Retry,
        )
        .await
    }

    /// Replies to `reply_to_id` in its conversation.
    pub async fn reply(
        &self,
        service_url: &str,
        conversation_id: &str,
        reply_to_id: &str,
        activity: &Activity,
    ) -> Result<String, ConnectorError> {
        self.post_activity(
            service_url,
            conversation_id,
            Some(reply_to_id),
            activity,
            Patience::Retry,
        )
        .await
    }

    /// Posts `activity` into a conversation, as a reply to `reply_to_id`
    /// when there is one; returns its id.
    pub async fn post_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        reply_to_id: Option<&str>,
        activity: &impl serde::Serialize,
        patience: Patience,
    ) -> Result<String, ConnectorError> {
        let url = Self::conversation_url(
            self.service_base(service_url)?,
            conversation_id,
            reply_to_id,
        )?;
        self.call_with(reqwest::Method::POST, url, activity, patience)
            .await
    }

    /// Opens (or finds) the 1:1 chat between the bot and a user, for a
    /// proactive message; returns the conversation id. The app must be
    /// installed for the user, else the Connector answers 403.
    pub async fn create_personal_conversation(
        &self,
        service_url: &str,
        bot_id: &str,
        user_id: &str,
        tenant_id: &str,
    ) -> Result<String, ConnectorError> {
        let mut url = self.service_base(service_url)?;
        url.set_path(&format!(
            "{}/v3/conversations",
            url.path().trim_end_matches('/')
        ));
        let body = serde_json::json!({
            "isGroup": false,
            "bot": {"id": bot_id},
            "members": [{"id": user_id}],
            "tenantId": tenant_id,
            "channelData": {"tenant": {"id": tenant_id}},
        });
        self.call(reqwest::Method::POST, url, &body).await
    }

    /// Replaces an activity the bot sent (a card refresh).
    pub async fn update(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Activity,
    ) -> Result<String, ConnectorError> {
        let url = Self::conversation_url(
            self.service_base(service_url)?,
            conversation_id,
            Some(activity_id),
        )?;
        self.call(reqwest::Method::PUT, url, activity).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: Url,
        body: &impl serde::Serialize,
    ) -> Result<String, ConnectorError> {
        self.call_with(method, url, body, Patience::Retry).await
    }

    async fn call_with(
        &self,
        method: reqwest::Method,
        url: Url,
        body: &impl serde::Serialize,
        patience: Patience,
    ) -> Result<String, ConnectorError> {
        let rules = match patience {
            Patience::Retry => RULES,
            Patience::Once { timeout } => Rules {
                policy: RetryPolicy {
                    max_attempts: 1,
                    ..RULES.policy
                },
                timeout,
                ..RULES
            },
        };
        let call = Call {
            rules: &rules,
            // The Connector takes no idempotency key, but a reply sent twice
            // beats a reply lost: every status the rules name is retried.
            idempotent: true,
            path: url.path(),
        };
        let build = || async {
            let request = self.http.request(method.clone(), url.clone()).json(body);
            Ok(match self.token().await? {
                Some(token) => request.bearer_auth(token),
                None => request,
            })
        };
        let refuse_token = || async {
            match &self.config {
                Some(config) => {
                    self.tokens.forget(&Self::cache_key(config)).await;
                    true
                }
                None => false,
            }
        };
        match send::send(call, build, refuse_token, &Unobserved).await {
            Ok(answer) => Ok(serde_json::from_slice::<ResourceResponse>(&answer.body)
                .map(|r| r.id)
                .unwrap_or_default()),
            Err(Failure::Prepare(e)) => Err(e),
            Err(Failure::Transport { error, .. }) => Err(ConnectorError::Transport(error)),
            Err(Failure::Status {
                answer,
                retryable: false,
                ..
            }) => Err(ConnectorError::Rejected {
                status: answer.status,
            }),
            Err(Failure::Status { answer, .. }) if matches!(patience, Patience::Once { .. }) => {
                Err(ConnectorError::Busy {
                    status: answer.status,
                    retry_after: answer.retry_after(),
                })
            }
            Err(Failure::Status {
                answer, attempts, ..
            }) => Err(ConnectorError::GaveUp {
                status: answer.status,
                attempts,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(with_credentials: bool) -> ConnectorClient {
        let clock = Arc::new(crate::platform::clock::SystemClock);
        let cache = Arc::new(crate::platform::cache::memory::MemoryCache::new(clock));
        let http = reqwest::Client::new();
        if with_credentials {
            let config = ConnectorConfig {
                app_id: "app".into(),
                app_password: SecretString::from("secret".to_owned()),
                login_url: Url::parse("https://login.example/botframework.com").unwrap(),
                oauth_scope: "https://api.botframework.com".into(),
            };
            ConnectorClient::new(config, http, cache)
        } else {
            ConnectorClient::without_credentials(http, cache)
        }
    }

    fn url(
        client: &ConnectorClient,
        service_url: &str,
        activity: Option<&str>,
    ) -> Result<Url, ConnectorError> {
        ConnectorClient::conversation_url(client.service_base(service_url)?, "a:1", activity)
    }

    #[test]
    fn conversation_ids_are_encoded_into_one_path_segment() {
        let base = client(true)
            .service_base("https://smba.trafficmanager.net/emea/")
            .unwrap();
        let url_1 =
            ConnectorClient::conversation_url(base, "19:abc@thread.tacv2;messageid=1", Some("1/2"))
                .unwrap();
        assert_eq!(
            url_1.as_str(),
            "https://smba.trafficmanager.net/emea/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D1/activities/1%2F2"
        );
        assert_eq!(
            url(&client(true), "https://smba.trafficmanager.net/teams", None)
                .unwrap()
                .as_str(),
            "https://smba.trafficmanager.net/teams/v3/conversations/a%3A1/activities"
        );
    }

    #[test]
    fn service_urls_are_https_except_local_tools_when_testing_without_credentials() {
        let (real, local) = (client(true), client(false));
        for bad in ["http://evil.example/", "not a url", "ftp://localhost/"] {
            assert!(url(&real, bad, None).is_err(), "{bad}");
            assert!(url(&local, bad, None).is_err(), "{bad}");
        }
        for loopback in [
            "http://localhost:56150/",
            "http://127.0.0.1:3978/",
            "http://[::1]:3978/",
        ] {
            assert!(
                url(&real, loopback, None).is_err(),
                "{loopback}: never with credentials"
            );
            assert!(url(&local, loopback, None).is_ok(), "{loopback}");
        }
        assert!(url(&local, "http://localhost.evil.example/", None).is_err());
    }
}
