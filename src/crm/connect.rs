//! Connecting a Salesforce org: the OAuth web-server flow as a multi-org
//! SaaS runs it. An admin starts it from the admin tab ([`start`]): we
//! keep a pending connection under a random `state` and send them to
//! Salesforce's authorize page; Salesforce sends them back to our callback
//! with a code ([`finish`]), which we exchange for a refresh token and
//! store sealed in the tenant's connection.
//!
//! The callback carries no token of ours, so the tenant comes only from
//! the pending connection the `state` names: a binding we made for the
//! admin who started it. A state is used once and lives ten minutes; only
//! its hash is stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use url::Url;

use super::connections::{Connection, NewConnection, Target};
use super::salesforce::{self, SalesforceConfig};
use super::service::Crm;
use super::{CrmError, WriteBack};
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::documents::{Container, Document};

const PENDING_TYPE: &str = "crmPendingConnection";
/// Long enough to sign in to Salesforce (with MFA), short enough that a
/// leaked link is soon useless.
const PENDING_SECS: u32 = 600;
/// A `state` or `code` longer than this is nobody's.
const MAX_PARAM_CHARS: usize = 512;

fn partition() -> TenantId {
    TenantId::system("crm_oauth")
}

fn pending_id(state: &str) -> String {
    format!("state-{}", hex::encode(Sha256::digest(state.as_bytes())))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pending {
    tenant: TenantId,
    admin: String,
    login_url: Url,
    write_back: WriteBack,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

/// Why a callback connected nothing.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Unknown, used or expired state, or a malformed callback: nothing
    /// is done (a 400).
    #[error("{0}")]
    Refused(&'static str),
    /// Salesforce refused the code, or could not be reached.
    #[error(transparent)]
    Crm(#[from] CrmError),
}

impl From<PlatformError> for ConnectError {
    fn from(e: PlatformError) -> Self {
        ConnectError::Crm(CrmError::Platform(e))
    }
}

/// Starts connecting the tenant's Salesforce org: the URL of Salesforce's
/// authorize page to send the admin to.
pub async fn start(
    crm: &Crm,
    tenant: &TenantId,
    admin: &str,
    login_url: Option<Url>,
    write_back: WriteBack,
) -> Result<Url, CrmError> {
    let app = crm.shared().salesforce.as_ref().ok_or_else(|| {
        CrmError::NotSetUp(
            "this deployment has no Salesforce connected app (SALESFORCE_CLIENT_ID)".into(),
        )
    })?;
    let login_url = login_url.unwrap_or_else(|| app.login_url.clone());
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let state = URL_SAFE_NO_PAD.encode(raw);
    let pending = Pending {
        tenant: tenant.clone(),
        admin: admin.to_owned(),
        login_url: login_url.clone(),
        write_back,
        expires_at: crm.now() + time::Duration::seconds(PENDING_SECS.into()),
    };
    let doc = Document::new(&partition(), PENDING_TYPE, pending_id(&state), &pending)?
        .with_ttl(PENDING_SECS);
    crm.docs().create(Container::Tenants, &doc).await?;
    Ok(salesforce::authorize_url(app, &login_url, &state))
}

/// Finishes a connection from Salesforce's callback (`code`, `state`):
/// the tenant the state was made for, and its stored connection.
pub async fn finish(
    crm: &Crm,
    state: &str,
    code: &str,
) -> Result<(TenantId, Connection), ConnectError> {
    if state.is_empty()
        || code.is_empty()
        || state.len() > MAX_PARAM_CHARS
        || code.len() > MAX_PARAM_CHARS
    {
        return Err(ConnectError::Refused(
            "the callback has no usable state or code",
        ));
    }
    let id = pending_id(state);
    let doc = crm
        .docs()
        .get(Container::Tenants, &partition(), &id)
        .await?;
    let Some(pending) = Document::parse_if_kind::<Pending>(doc.as_ref(), PENDING_TYPE)? else {
        return Err(ConnectError::Refused(
            "this sign-in link is unknown or was used already",
        ));
    };
    // Used once: whoever deletes it goes on.
    if !crm
        .docs()
        .delete(Container::Tenants, &partition(), &id)
        .await?
    {
        return Err(ConnectError::Refused("this sign-in link was used already"));
    }
    if pending.expires_at < crm.now() {
        return Err(ConnectError::Refused(
            "this sign-in link expired; start again from the Admin tab",
        ));
    }
    let grant = salesforce::exchange_code(crm.shared(), &pending.login_url, code).await?;
    let target = Target::Salesforce(SalesforceConfig {
        instance_url: grant.instance_url,
        login_url: pending.login_url,
        api_version: salesforce::DEFAULT_API_VERSION.to_owned(),
        user_name: None,
    });
    let connection = crm
        .connections()
        .put(
            &pending.tenant,
            NewConnection {
                target,
                write_back: pending.write_back,
                own_app: None,
                refresh_token: Some(grant.refresh_token),
            },
            &pending.admin,
            crm.now(),
        )
        .await?;
    Ok((pending.tenant, connection))
}
