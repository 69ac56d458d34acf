//! What the Intercom Messenger needs to boot for the signed-in user
//! (`window.intercomSettings`, as intercom-rails writes it):
//!
//! - `user_id`: stable and not guessable, so one user's id says nothing
//!   about another's: hex HMAC-SHA256 under `INTERCOM_IDENTITY_SECRET` of
//!   `tenant:user` (the token's `tid` and `oid`). Rolling the secret gives
//!   every user a new Intercom id (their history stays on the old one).
//! - `intercom_user_jwt`: HS256 under the same secret, with `user_id`, the
//!   signed fields `email` and `name`, and an `exp` [`JWT_LIFETIME_SECS`]
//!   after now (by the injected clock): the Messenger re-fetches it.
//! - the legacy `user_hash` (hex HMAC-SHA256 of `user_id`), only while the
//!   workspace still checks it (`INTERCOM_LEGACY_USER_HASH=true`).
//!
//! The user is always the token's: nothing in the request names another.

use hmac::{Hmac, Mac};
use jsonwebtoken::{EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::config::SupportSettings;
use crate::tabs::TabUser;

/// How long an identity JWT is good for.
pub const JWT_LIFETIME_SECS: i64 = 15 * 60;

/// The Messenger's boot settings for one user.
#[derive(Debug, Serialize)]
pub struct Identity {
    pub app_id: String,
    pub user_id: String,
    pub intercom_user_jwt: String,
    pub email: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    user_id: &'a str,
    email: &'a str,
    name: &'a str,
    iat: i64,
    exp: i64,
}

fn hmac_hex(secret: &SecretString, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The Intercom `user_id` of `user`.
pub fn user_id(secret: &SecretString, user: &TabUser) -> String {
    hmac_hex(secret, &format!("{}:{}", user.tenant, user.user_id))
}

/// The identity of `user` for the workspace `settings` names, at `now`.
pub fn identity(
    settings: &SupportSettings,
    app_id: &str,
    secret: &SecretString,
    user: &TabUser,
    now: OffsetDateTime,
) -> anyhow::Result<Identity> {
    let user_id = user_id(secret, user);
    let now = now.unix_timestamp();
    let claims = Claims {
        user_id: &user_id,
        email: &user.email,
        name: &user.name,
        iat: now,
        exp: now + JWT_LIFETIME_SECS,
    };
    let jwt = jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )?;
    Ok(Identity {
        app_id: app_id.to_owned(),
        user_hash: settings
            .legacy_user_hash
            .then(|| hmac_hex(secret, &user_id)),
        intercom_user_jwt: jwt,
        email: user.email.clone(),
        name: user.name.clone(),
        api_base: settings
            .api_base
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_owned()),
        user_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;

    fn user(tenant: &str, oid: &str) -> TabUser {
        TabUser {
            tenant: TenantId::parse(tenant).unwrap(),
            user_id: oid.into(),
            name: "Ada".into(),
            email: "ada@contoso.example".into(),
            token: SecretString::from("t".to_owned()),
        }
    }

    #[test]
    fn user_ids_are_stable_distinct_and_not_the_object_id() {
        let secret = SecretString::from("s3cret".to_owned());
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let a = user(t, "11111111-1111-4111-8111-111111111111");
        let b = user(t, "22222222-2222-4222-8222-222222222222");
        let id = user_id(&secret, &a);
        assert_eq!(id, user_id(&secret, &a));
        assert_ne!(id, user_id(&secret, &b));
        assert!(!id.contains("1111") && id.len() == 64);
        let other_tenant = user("0a1d0000-0000-4000-8000-00000000ad01", &a.user_id);
        assert_ne!(id, user_id(&secret, &other_tenant));
    }

    #[test]
    fn the_legacy_hash_is_there_only_when_asked() {
        let secret = SecretString::from("s3cret".to_owned());
        let mut settings = SupportSettings {
            app_id: Some("app".into()),
            legacy_user_hash: false,
            api_base: None,
        };
        let u = user(
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "11111111-1111-4111-8111-111111111111",
        );
        let now = OffsetDateTime::now_utc();
        assert!(
            identity(&settings, "app", &secret, &u, now)
                .unwrap()
                .user_hash
                .is_none()
        );
        settings.legacy_user_hash = true;
        let id = identity(&settings, "app", &secret, &u, now).unwrap();
        assert_eq!(id.user_hash.unwrap(), hmac_hex(&secret, &id.user_id));
    }
}
