//! Queue contracts: for each queue the app writes to, its name, the message
//! type that travels on it, and the one way it is encoded and decoded.
//!
//! The functions decode their trigger with these; the domain and the bot
//! enqueue with them. So arrows point down: nothing here knows the App, a
//! function, or HTTP; it takes the queues it sends to.
//!
//! Every message is JSON text. Storage Queues carry XML, whose character
//! set leaves out U+FFFE and U+FFFF (and controls, which JSON already
//! escapes); a person may still type them into a justification. [`encode`]
//! writes those two as `\uFFFE` / `\uFFFF` escapes, which JSON reads back
//! as the same characters, so every string round-trips on both queue
//! implementations and no message is refused for what someone typed.

pub mod billing_events;
pub mod bot_outbox;
pub mod governance_action;
pub mod graph_subscription;
pub mod provision_team;
pub mod sweep_tenant;
pub mod tenant_work;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::platform::queues::{QueueName, Queues};
use crate::platform::{PlatformError, PlatformResult};

/// A message type and the queue it travels on.
pub trait Job: Serialize + DeserializeOwned {
    /// The queue's name (valid by construction; the route table uses it too).
    const QUEUE: &'static str;

    fn queue() -> QueueName {
        QueueName::parse(Self::QUEUE).expect("job queue names are valid constants")
    }
}

/// A queue message that could not be read as its job.
#[derive(Debug, thiserror::Error)]
#[error("{queue} message is not readable: {reason}")]
pub struct DecodeError {
    pub queue: &'static str,
    pub reason: String,
}

/// The JSON text for `job`, with the characters XML cannot carry escaped.
pub fn encode(job: &impl Serialize) -> PlatformResult<String> {
    let text = serde_json::to_string(job)
        .map_err(|e| PlatformError::Invalid(format!("a queue message: {e}")))?;
    // Outside strings JSON is ASCII, so these can only stand inside one,
    // where the escape means the same character.
    if text.contains(['\u{FFFE}', '\u{FFFF}']) {
        return Ok(text
            .replace('\u{FFFE}', "\\ufffe")
            .replace('\u{FFFF}', "\\uffff"));
    }
    Ok(text)
}

/// Reads a message of `J` from its queue text.
pub fn decode<J: Job>(text: &str) -> Result<J, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError {
        queue: J::QUEUE,
        reason: e.to_string(),
    })
}

/// Sends `job` on its queue, visible after `delay`; returns the message id.
pub async fn send<J: Job>(
    queues: &dyn Queues,
    job: &J,
    delay: Option<Duration>,
) -> PlatformResult<String> {
    queues.send(&J::queue(), &encode(job)?, delay).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::queues::validate_message_text;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Note {
        text: String,
    }

    impl Job for Note {
        const QUEUE: &'static str = "notes";
    }

    #[test]
    fn every_string_round_trips_through_text_a_storage_queue_takes() {
        let awkward =
            "tab\there, nul\u{0} bell\u{7} \u{FFFE}\u{FFFF} \u{FFFD} \u{10FFFF} \"quoted\" \\";
        let note = Note {
            text: awkward.into(),
        };
        let text = encode(&note).unwrap();
        validate_message_text(&text).expect("XML can carry it");
        assert_eq!(decode::<Note>(&text).unwrap(), note);
    }

    #[test]
    fn a_message_that_is_not_the_job_says_which_queue() {
        let e = decode::<Note>("{\"text\": 1}").unwrap_err();
        assert_eq!(e.queue, "notes");
    }
}
