//! Bot Framework: inbound token validation (`auth`), with the signing keys
//! from the channel's OpenID metadata (`openid`). The connector client,
//! activities and command routing build on these.

pub mod activity;
pub mod auth;
pub mod connector;
pub mod openid;
