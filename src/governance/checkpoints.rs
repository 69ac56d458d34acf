//! What checkpointed jobs share (provisioning, governance actions): the
//! list of steps passed, each with when and a note, and the one way a run
//! writes its job document, under the ETag it read, so that a second run
//! of the same job (a duplicate queue delivery) stops rather than racing
//! the first.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::platform::PlatformError;
use crate::platform::documents::{Container, Document, Documents, ETag};

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    Running,
    Done,
    Failed,
}

/// One step passed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint<S> {
    pub step: S,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(default)]
    pub note: String,
}

pub fn is_done<S: PartialEq>(done: &[Checkpoint<S>], step: S) -> bool {
    done.iter().any(|c| c.step == step)
}

/// When `step` was passed.
pub fn done_at<S: PartialEq>(done: &[Checkpoint<S>], step: S) -> Option<OffsetDateTime> {
    done.iter().find(|c| c.step == step).map(|c| c.at)
}

/// Records `step` passed at `at` (once: a resumed run keeps the first time).
pub fn pass<S: PartialEq>(
    done: &mut Vec<Checkpoint<S>>,
    step: S,
    at: OffsetDateTime,
    note: impl Into<String>,
) {
    if !done.iter().any(|c| c.step == step) {
        done.push(Checkpoint {
            step,
            at,
            note: note.into(),
        });
    }
}

/// Why a job document was not written.
#[derive(Debug)]
pub enum WriteError {
    /// Another run of the same job wrote it since this one read it.
    Raced,
    Platform(PlatformError),
}

/// Writes `doc` (a job) to the jobs container: a replace under `etag`, or a
/// create when the run found no document; `etag` becomes the new one.
pub async fn write(
    docs: &dyn Documents,
    doc: &Document,
    etag: &mut Option<ETag>,
) -> Result<(), WriteError> {
    let written = match etag.as_ref() {
        Some(current) => docs.replace(Container::Jobs, doc, current).await,
        None => docs.create(Container::Jobs, doc).await,
    };
    match written {
        Ok(doc) => {
            *etag = doc.etag;
            Ok(())
        }
        Err(PlatformError::PreconditionFailed | PlatformError::Conflict) => Err(WriteError::Raced),
        Err(e) => Err(WriteError::Platform(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_step_is_passed_once_and_keeps_its_first_time() {
        let (first, later) = (
            datetime!(2026-12-02 09:00 UTC),
            datetime!(2026-12-02 10:00 UTC),
        );
        let mut done = Vec::new();
        assert!(!is_done(&done, 1) && done_at(&done, 1).is_none());
        pass(&mut done, 1, first, "made");
        pass(&mut done, 1, later, "again");
        pass(&mut done, 2, later, "");
        assert_eq!(done.len(), 2);
        assert_eq!(done_at(&done, 1), Some(first));
        assert_eq!(done[0].note, "made");
        assert!(is_done(&done, 2) && !is_done(&done, 3));
    }
}
