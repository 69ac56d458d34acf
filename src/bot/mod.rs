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
pub mod openid;

use auth::BotAuthenticator;
use connector::ConnectorClient;

/// The bot, when its identity is configured.
pub struct Bot {
    pub app_id: String,
    pub auth: BotAuthenticator,
    pub connector: ConnectorClient,
}
