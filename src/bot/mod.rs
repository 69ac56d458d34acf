//! Bot Framework: inbound token validation (`auth`) with the channel's
//! OpenID keys (`openid`), the Activity model, the Connector client,
//! conversation references and personal-chat commands.

pub mod activity;
pub mod auth;
pub mod commands;
pub mod connector;
pub mod conversations;
pub mod gate;
pub mod invokes;
pub mod lifecycle;
pub mod notify;
pub mod openid;
pub mod replies;
pub mod requests;

use crate::config::AUTH_DISABLED_WARNING;
use crate::platform::clock::Clock;
use auth::{AuthError, BotAuthenticator, BotClaims, VerifiedToken};
use connector::ConnectorClient;
use replies::Replies;

/// The bot, when its identity is configured (or, under `handler local`
/// only, when authentication is explicitly disabled).
pub struct Bot {
    pub inbound: Inbound,
    pub connector: ConnectorClient,
    /// The bounds on work in hand and the inline reply budget.
    pub replies: Replies,
}

/// How activities sent to the bot are authenticated.
pub enum Inbound {
    /// By the Bot Framework token (and, for a SingleTenant bot, Entra ID).
    Token(BotAuthenticator),
    /// Not at all: `SALESTIM_BOT_AUTH_DISABLED` under `handler local`.
    Disabled,
}

impl Bot {
    /// Validates the token of a request to the bot from its head alone;
    /// `Ok(None)` when authentication is disabled (any `Authorization`
    /// header is then ignored: there is no app id to check it against).
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        clock: &dyn Clock,
    ) -> Result<Option<VerifiedToken>, AuthError> {
        match &self.inbound {
            Inbound::Token(auth) => auth.verify(authorization, clock).await.map(Some),
            Inbound::Disabled => Ok(None),
        }
    }

    /// Binds what [`Bot::verify`] returned to the activity from
    /// `channel_id` whose `serviceUrl` is `service_url`.
    pub fn bind(
        &self,
        token: Option<VerifiedToken>,
        channel_id: &str,
        service_url: &str,
    ) -> Result<Option<BotClaims>, AuthError> {
        match (&self.inbound, token) {
            (Inbound::Token(_), Some(token)) => token.bind(channel_id, service_url).map(Some),
            (Inbound::Token(_), None) => Err(AuthError::Missing),
            (Inbound::Disabled, _) => {
                tracing::warn!(%channel_id, %service_url, "{AUTH_DISABLED_WARNING}");
                Ok(None)
            }
        }
    }
}
