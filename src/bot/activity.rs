//! The Bot Framework Activity, as far as the platform reads and writes it.
//! Unknown fields are kept (`extra`, on the activity and on each account and
//! attachment) so an activity round-trips unchanged, and only what the
//! schema requires is required: an image attachment has a `contentUrl` and
//! no `content`, and must not make the whole activity unreadable.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::TenantId;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
    /// `role`, `userPrincipalName`…: kept as Teams sent them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    /// `name`, `conversationType` details…: kept as Teams sent them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub content_type: String,
    /// Absent (null) for attachments sent by URL (`contentUrl`, in `extra`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub content: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members_added: Vec<ChannelAccount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Activity {
    /// The Entra tenant the activity comes from (`channelData.tenant.id`,
    /// else `conversation.tenantId`), once the token has been validated.
    pub fn tenant_id(&self) -> Option<TenantId> {
        let from_channel_data = self
            .channel_data
            .as_ref()
            .and_then(|d| d.pointer("/tenant/id"))
            .and_then(Value::as_str);
        let from_conversation = self
            .conversation
            .as_ref()
            .and_then(|c| c.tenant_id.as_deref());
        from_channel_data
            .or(from_conversation)
            .and_then(|t| TenantId::parse(t).ok())
    }

    /// A message replying to this activity: same conversation, roles swapped.
    pub fn reply(&self) -> Activity {
        Activity {
            kind: "message".into(),
            service_url: self.service_url.clone(),
            channel_id: self.channel_id.clone(),
            from: self.recipient.clone(),
            recipient: self.from.clone(),
            conversation: self.conversation.clone(),
            reply_to_id: self.id.clone(),
            ..Default::default()
        }
    }

    /// An empty message (proactive: the outbox fills in the conversation).
    pub fn message() -> Activity {
        Activity {
            kind: "message".into(),
            ..Default::default()
        }
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    pub fn with_card(mut self, card: Value) -> Self {
        self.attachments.push(Attachment {
            content_type: ADAPTIVE_CARD.into(),
            content: card,
            extra: Map::new(),
        });
        self
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_teams_message_parses_and_round_trips() {
        let raw = json!({
            "type": "message", "id": "1700000000000", "channelId": "msteams", "serviceUrl": "https://smba.trafficmanager.net/emea/",
            "from": {"id": "29:1abc", "name": "Megan", "aadObjectId": "00000000-0000-0000-0000-000000000001"},
            "recipient": {"id": "28:bot", "name": "SalesTim"},
            "conversation": {"id": "a:1xyz", "conversationType": "personal", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"},
            "channelData": {"tenant": {"id": "72F988BF-86F1-41AF-91AB-2D7CD011DB47"}},
            "text": "<at>SalesTim</at> help", "locale": "en-US", "entities": [{"type": "mention"}]
        });
        let activity: Activity = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(
            activity.tenant_id().unwrap().as_str(),
            "72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
        assert_eq!(serde_json::to_value(&activity).unwrap(), raw);
        let reply = activity.reply().with_text("hi");
        assert_eq!(reply.recipient.unwrap().id, "29:1abc");
        assert_eq!(reply.reply_to_id.as_deref(), Some("1700000000000"));
    }

    #[test]
    fn a_tenant_that_is_not_a_guid_counts_as_none() {
        let a: Activity = serde_json::from_value(
            json!({"type": "message", "channelData": {"tenant": {"id": "../x"}}}),
        )
        .unwrap();
        assert_eq!(a.tenant_id(), None);
    }
}
