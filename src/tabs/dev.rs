//! The development sign-in of `handler local`: a newcomer opens the tabs in
//! a plain browser, picks a demo user, and gets a token for the demo tenant
//! ("Contoso (demo)") that this process signs with an RSA key made in
//! memory on first use. The tab authenticator trusts that key for the demo
//! tenant only, and the token carries what an Entra ID v2.0 token for the
//! tabs carries (issuer `{authority}/{demo tenant}/v2.0`, `aud` the dev
//! client id, `scp` `access_as_user`, an hour of life), so it goes through
//! every check a Teams SSO token does.
//!
//! Never under the Functions host: the settings refuse to start with it
//! there, the authenticator does not build it, and `DevSignIn` answers 404.

use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;

use super::{Role, SCOPE_CLAIM};
use crate::ids::TenantId;

/// The demo tenant (not a real Entra ID tenant).
pub const DEMO_TENANT_ID: &str = "c0de5a1e-7ab5-4d3e-9a5c-0000000d3e70";
pub const DEMO_TENANT_NAME: &str = "Contoso (demo)";
/// The `aud` of development tokens: no real app registration.
pub const DEV_CLIENT_ID: &str = "de7c11e7-0000-4000-8000-00000000d3e7";
/// How long a development token lives.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

/// A demo user and the role they are there to show.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct DemoUser {
    pub id: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub roles: &'static [Role],
}

/// The demo directory: one user per role.
pub const DEMO_USERS: [DemoUser; 6] = [
    DemoUser {
        id: "0a1d0000-0000-4000-8000-00000000ad01",
        name: "Adele Vance",
        email: "adele.vance@contoso.example",
        roles: &[Role::Admin],
    },
    DemoUser {
        id: "0a1d0000-0000-4000-8000-00000000ca72",
        name: "Megan Bowen",
        email: "megan.bowen@contoso.example",
        roles: &[Role::CatalogManager],
    },
    DemoUser {
        id: "0a1d0000-0000-4000-8000-00000000b011",
        name: "Lee Gu",
        email: "lee.gu@contoso.example",
        roles: &[Role::PolicyManager],
    },
    DemoUser {
        id: "0a1d0000-0000-4000-8000-00000000a0d1",
        name: "Isaiah Langer",
        email: "isaiah.langer@contoso.example",
        roles: &[Role::Auditor],
    },
    DemoUser {
        id: "0a1d0000-0000-4000-8000-00000000a991",
        name: "Nestor Wilke",
        email: "nestor.wilke@contoso.example",
        roles: &[Role::Approver],
    },
    DemoUser {
        id: "0a1d0000-0000-4000-8000-00000000e3b1",
        name: "Alex Wilber",
        email: "alex.wilber@contoso.example",
        roles: &[Role::Member],
    },
];

/// The demo user with this id (compared as GUIDs), if any.
pub fn demo_user(id: &str) -> Option<&'static DemoUser> {
    let id = uuid::Uuid::parse_str(id.trim()).ok()?;
    DEMO_USERS
        .iter()
        .find(|u| uuid::Uuid::parse_str(u.id).ok() == Some(id))
}

pub fn demo_tenant() -> TenantId {
    TenantId::parse(DEMO_TENANT_ID).expect("the demo tenant id is a GUID")
}

struct DevKey {
    kid: String,
    pair: KeyPair,
    public: DecodingKey,
}

/// Signs the development tokens; made once per process.
pub struct DevIssuer {
    issuer: String,
    key: OnceLock<DevKey>,
}

impl DevIssuer {
    /// Issues as `{authority}/{demo tenant}/v2.0`.
    pub fn new(authority: &str) -> Self {
        DevIssuer {
            issuer: format!("{authority}/{DEMO_TENANT_ID}/v2.0"),
            key: OnceLock::new(),
        }
    }

    pub fn tenant(&self) -> TenantId {
        demo_tenant()
    }

    pub fn audience(&self) -> &'static str {
        DEV_CLIENT_ID
    }

    fn key(&self) -> &DevKey {
        self.key.get_or_init(|| {
            // Key generation fails only when the crypto library cannot run
            // at all, and then nothing in this process can sign or verify.
            let pair = KeyPair::generate(KeySize::Rsa2048)
                .expect("the crypto library generates an RSA key");
            let public = DecodingKey::from_rsa_der(pair.public_key().as_ref());
            let kid = format!("dev-{}", uuid::Uuid::new_v4().simple());
            tracing::info!(%kid, "development sign-in: made its signing key");
            DevKey { kid, pair, public }
        })
    }

    /// The key id and the public key the authenticator trusts for the demo
    /// tenant.
    pub(crate) fn verification_key(&self) -> (&str, &DecodingKey) {
        let key = self.key();
        (&key.kid, &key.public)
    }

    /// A token for `user` of the demo tenant, valid from `now` for
    /// [`TOKEN_LIFETIME_SECS`].
    pub fn issue(&self, user: &DemoUser, now: OffsetDateTime) -> anyhow::Result<String> {
        let key = self.key();
        let now = now.unix_timestamp();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.kid});
        let claims = json!({
            "aud": DEV_CLIENT_ID,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_SECS,
            "azp": DEV_CLIENT_ID,
            "name": user.name,
            "oid": user.id,
            "preferred_username": user.email,
            "scp": SCOPE_CLAIM,
            "sub": user.id,
            "tid": DEMO_TENANT_ID,
            "ver": "2.0",
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
        );
        let mut signature = vec![0u8; key.pair.public_modulus_len()];
        key.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| anyhow::anyhow!("signing a development token failed"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_directory_has_one_user_per_role_with_distinct_guids() {
        for role in Role::ALL {
            assert!(DEMO_USERS.iter().any(|u| u.roles == [role]), "{role:?}");
        }
        let mut ids: Vec<_> = DEMO_USERS
            .iter()
            .map(|u| uuid::Uuid::parse_str(u.id).expect("a GUID"))
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), DEMO_USERS.len());
        assert_eq!(demo_tenant().as_str(), DEMO_TENANT_ID);
        assert!(demo_user(&DEMO_USERS[2].id.to_uppercase()).is_some());
        assert!(demo_user("0a1d0000-0000-4000-8000-000000000000").is_none());
        assert!(demo_user("not a guid").is_none());
    }

    #[test]
    fn a_development_token_verifies_with_the_published_key_only() {
        let dev = DevIssuer::new("https://login.example");
        let token = dev
            .issue(&DEMO_USERS[0], OffsetDateTime::now_utc())
            .unwrap();
        let (kid, key) = dev.verification_key();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(kid));
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[DEV_CLIENT_ID]);
        validation.set_issuer(&[format!("https://login.example/{DEMO_TENANT_ID}/v2.0")]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(&token, key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["oid"], DEMO_USERS[0].id);
        assert_eq!(claims["scp"], "access_as_user");
        let other = DevIssuer::new("https://login.example");
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(
                &token,
                other.verification_key().1,
                &validation
            )
            .is_err()
        );
    }
}
