//! Queues in Azure Storage Queues, through `azure_storage_queue` 1.x.
//!
//! Message text goes to the service as is: host.json sets the queue
//! `messageEncoding` to `none`, so the Functions host reads what we wrote
//! without base64. XML escaping of the text is the SDK's job. The checks
//! shared with the local queues ([`validate_message_text`],
//! [`visibility_secs`]) run before any request, so an oversized message
//! fails the same way here and locally, and nothing is sent.

use std::time::Duration;

use async_trait::async_trait;
use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderName;
use azure_core::http::{ClientOptions, RequestContent, XmlFormat};
use azure_storage_queue::QueueServiceClient;
use azure_storage_queue::models::{
    QueueClientGetPropertiesResultHeaders as _, QueueClientReceiveMessagesOptions,
    QueueClientSendMessageOptions, QueueMessage as WireMessage, ReceivedMessage,
};
use time::OffsetDateTime;

use super::{QueueMessage, QueueName, Queues};
use super::{validate_message_text, validate_receive_count, visibility_secs};
use crate::platform::storage_account::{StorageAccount, StorageConfigError, map_storage_error};
use crate::platform::{PlatformError, PlatformResult};

const SERVICE: &str = "queues";

pub struct AzureQueues {
    service: QueueServiceClient,
}

impl std::fmt::Debug for AzureQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureQueues")
            .field("endpoint", &self.service.url().as_str())
            .finish()
    }
}

impl AzureQueues {
    /// `options` carries retry and transport settings (tests make them short).
    pub fn new(
        account: &StorageAccount,
        options: ClientOptions,
    ) -> Result<Self, StorageConfigError> {
        Ok(AzureQueues {
            service: account.queue_service_client(options)?,
        })
    }

    fn client(&self, queue: &QueueName) -> PlatformResult<azure_storage_queue::QueueClient> {
        self.service.queue_client(queue.as_str()).map_err(map)
    }
}

fn map(err: azure_core::Error) -> PlatformError {
    map_storage_error(SERVICE, err)
}

/// For delete and release: the service answers a stale receipt with 400
/// `PopReceiptMismatch`; the trait calls that `NotFound` (someone else
/// holds the message now, or it is gone).
fn map_receipt(err: azure_core::Error) -> PlatformError {
    match err.kind() {
        ErrorKind::HttpResponse {
            error_code: Some(code),
            ..
        } if code == "PopReceiptMismatch" => PlatformError::NotFound,
        _ => map(err),
    }
}

/// Message ids are GUIDs; the SDK pastes them into the URL path unescaped,
/// so anything else is refused before it can reshape the request.
fn check_id(id: &str) -> PlatformResult<()> {
    if !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        Ok(())
    } else {
        Err(PlatformError::Invalid(format!("invalid message id {id:?}")))
    }
}

fn secs_i32(secs: u64) -> i32 {
    i32::try_from(secs).unwrap_or(i32::MAX)
}

fn missing(field: &str) -> PlatformError {
    PlatformError::backend(SERVICE, format!("received message without {field}"))
}

fn convert(message: ReceivedMessage) -> PlatformResult<QueueMessage> {
    let time = |t: Option<OffsetDateTime>, field| t.ok_or_else(|| missing(field));
    Ok(QueueMessage {
        id: message.message_id.ok_or_else(|| missing("an id"))?,
        pop_receipt: message
            .pop_receipt
            .ok_or_else(|| missing("a pop receipt"))?,
        text: message.message_text.unwrap_or_default(),
        dequeue_count: message
            .dequeue_count
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| missing("a dequeue count"))?,
        insertion_time: time(message.insertion_time, "an insertion time")?,
        expiration_time: time(message.expiration_time, "an expiration time")?,
        next_visible_time: time(message.time_next_visible, "a next-visible time")?,
    })
}

#[async_trait]
impl Queues for AzureQueues {
    async fn ensure(&self, queue: &QueueName) -> PlatformResult<()> {
        match self.client(queue)?.create(None).await {
            Ok(_) => Ok(()),
            // Exists with other metadata: still a queue we can use.
            Err(e) if matches!(e.kind(), ErrorKind::HttpResponse { error_code: Some(code), .. } if code == "QueueAlreadyExists") => {
                Ok(())
            }
            Err(e) => Err(map(e)),
        }
    }

    async fn send(
        &self,
        queue: &QueueName,
        text: &str,
        delay: Option<Duration>,
    ) -> PlatformResult<String> {
        validate_message_text(text)?;
        let delay = delay.map(|d| visibility_secs(d, 0)).transpose()?;
        let body: RequestContent<WireMessage, XmlFormat> = WireMessage {
            message_text: Some(text.to_owned()),
        }
        .try_into()
        .map_err(map)?;
        let options = QueueClientSendMessageOptions {
            visibility_timeout: delay.filter(|secs| *secs > 0).map(secs_i32),
            ..Default::default()
        };
        let sent = self
            .client(queue)?
            .send_message(body, Some(options))
            .await
            .map_err(map)?
            .into_model()
            .map_err(map)?;
        sent.items
            .and_then(|items| items.into_iter().next())
            .and_then(|item| item.message_id)
            .ok_or_else(|| PlatformError::backend(SERVICE, "send answered without a message id"))
    }

    async fn receive(
        &self,
        queue: &QueueName,
        max: u32,
        visibility: Duration,
    ) -> PlatformResult<Vec<QueueMessage>> {
        validate_receive_count(max)?;
        let options = QueueClientReceiveMessagesOptions {
            number_of_messages: Some(i32::try_from(max).unwrap_or(32)),
            visibility_timeout: Some(secs_i32(visibility_secs(visibility, 1)?)),
            ..Default::default()
        };
        let received = self
            .client(queue)?
            .receive_messages(Some(options))
            .await
            .map_err(map)?
            .into_model()
            .map_err(map)?;
        received
            .items
            .unwrap_or_default()
            .into_iter()
            .map(convert)
            .collect()
    }

    async fn delete(&self, queue: &QueueName, id: &str, pop_receipt: &str) -> PlatformResult<()> {
        check_id(id)?;
        self.client(queue)?
            .delete_message(id, pop_receipt, None)
            .await
            .map(|_| ())
            .map_err(map_receipt)
    }

    async fn release(
        &self,
        queue: &QueueName,
        id: &str,
        pop_receipt: &str,
        visibility: Duration,
    ) -> PlatformResult<String> {
        check_id(id)?;
        let secs = secs_i32(visibility_secs(visibility, 0)?);
        let response = self
            .client(queue)?
            .update_message(id, pop_receipt, secs, None)
            .await
            .map_err(map_receipt)?;
        response
            .headers()
            .get_optional_string(&HeaderName::from_static("x-ms-popreceipt"))
            .ok_or_else(|| PlatformError::backend(SERVICE, "update answered without a pop receipt"))
    }

    async fn count(&self, queue: &QueueName) -> PlatformResult<u64> {
        let response = self
            .client(queue)?
            .get_properties(None)
            .await
            .map_err(map)?;
        let count = response.approximate_messages_count().map_err(map)?;
        Ok(count.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    async fn ping(&self) -> PlatformResult<()> {
        let probe = QueueName::parse("salestim-ping")?;
        self.client(&probe)?.exists().await.map(|_| ()).map_err(map)
    }
}
