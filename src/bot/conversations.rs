//! Conversation references: what the bot needs to message a user, team or
//! chat later (proactively), stored per tenant when the app is installed or
//! spoken to.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::activity::Activity;
use crate::ids::TenantId;
use crate::platform::cache::Cache;
use crate::platform::documents::{Container, Document, Documents};
use crate::platform::{PlatformError, PlatformResult};

const TYPE: &str = "conversationRef";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationRef {
    pub service_url: String,
    pub conversation_id: String,
    pub conversation_type: Option<String>,
    pub bot_id: Option<String>,
    /// The user's Entra object id, for personal chats.
    pub user_aad_id: Option<String>,
    pub team_id: Option<String>,
}

impl ConversationRef {
    pub fn of(activity: &Activity) -> Option<Self> {
        let conversation = activity.conversation.as_ref()?;
        Some(ConversationRef {
            service_url: activity.service_url.clone(),
            conversation_id: conversation.id.clone(),
            conversation_type: conversation.conversation_type.clone(),
            bot_id: activity.recipient.as_ref().map(|r| r.id.clone()),
            user_aad_id: activity
                .from
                .as_ref()
                .and_then(|f| f.aad_object_id.as_deref())
                .map(str::to_ascii_lowercase),
            team_id: activity
                .channel_data
                .as_ref()
                .and_then(|d| d.pointer("/team/id"))
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        })
    }

    /// A store-safe id: conversation ids carry `:`, `@`, `;` and more.
    fn doc_id(&self) -> String {
        format!(
            "conv-{}",
            hex::encode(Sha256::digest(self.conversation_id.as_bytes()))
        )
    }
}

pub async fn save(
    docs: &dyn Documents,
    tenant: &TenantId,
    reference: &ConversationRef,
) -> PlatformResult<()> {
    let doc = Document::new(tenant, TYPE, reference.doc_id(), reference)?;
    docs.upsert(Container::Tenants, &doc).await.map(|_| ())
}

/// How long a saved reference is taken as known, so that every message of
/// a chat does not rewrite the same document.
pub const REMEMBERED_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// Saves the reference unless this same reference was saved within
/// [`REMEMBERED_FOR`] (as the shared cache says). A cache that cannot
/// answer means: save.
pub async fn remember(
    docs: &dyn Documents,
    cache: &dyn Cache,
    tenant: &TenantId,
    reference: &ConversationRef,
) -> PlatformResult<()> {
    let bytes = serde_json::to_vec(reference)
        .map_err(|e| PlatformError::Invalid(format!("conversation reference: {e}")))?;
    let key = format!("conv:v1:{tenant}:{}", hex::encode(Sha256::digest(&bytes)));
    match cache.set_if_absent(&key, b"1", REMEMBERED_FOR).await {
        Ok(false) => return Ok(()),
        Ok(true) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cache unavailable; saving the conversation reference")
        }
    }
    if let Err(e) = save(docs, tenant, reference).await {
        let _ = cache.delete(&key).await;
        return Err(e);
    }
    Ok(())
}

pub async fn list(docs: &dyn Documents, tenant: &TenantId) -> PlatformResult<Vec<ConversationRef>> {
    let query = crate::platform::documents::Query::of_type(TYPE);
    docs.query(Container::Tenants, tenant, &query)
        .await?
        .iter()
        .map(Document::parse)
        .collect()
}

/// The bot's 1:1 chat with a user (by Entra object id), if the user has the
/// app installed and has talked to it or installed it since.
pub async fn personal_for(
    docs: &dyn Documents,
    tenant: &TenantId,
    aad_object_id: &str,
) -> PlatformResult<Option<ConversationRef>> {
    let query = crate::platform::documents::Query::of_type(TYPE)
        .with("conversationType", "personal")
        .with("userAadId", aad_object_id.to_ascii_lowercase())
        .limit(1);
    match docs
        .query(Container::Tenants, tenant, &query)
        .await?
        .first()
    {
        Some(doc) => doc.parse().map(Some),
        None => Ok(None),
    }
}
