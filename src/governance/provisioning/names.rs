//! Reserving a mailNickname for one request, in our own store, before the
//! group is created. Graph's list of taken nicknames cannot tell two jobs
//! running at once that they picked the same name; a reservation document
//! (one per nickname, created or refused atomically in the tenant's
//! partition) can. With it, a group found by the nickname after a failed
//! create can only be this request's own, or one made outside SalesTim,
//! which the caller tells apart by its display name.

use serde::{Deserialize, Serialize};

use super::ProvisionError;
use crate::governance::naming;
use crate::ids::TenantId;
use crate::platform::PlatformError;
use crate::platform::documents::{Container, Document, Documents};

const TYPE: &str = "mailNicknameReservation";
/// Candidates tried against reservations of other requests in one run.
const MAX_TRIES: usize = 50;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reservation {
    request_id: String,
    mail_nickname: String,
}

fn reservation_id(nickname: &str) -> String {
    format!("nickname-{}", nickname.to_ascii_lowercase())
}

/// A nickname free in Graph (`taken` says which are not) and reserved for
/// `request_id`: the first candidate from `base` that no other request holds.
pub(super) async fn reserve(
    docs: &dyn Documents,
    tenant: &TenantId,
    request_id: &str,
    base: &str,
    taken: &[String],
) -> Result<String, ProvisionError> {
    let mut held: Vec<String> = Vec::new();
    for _ in 0..MAX_TRIES {
        let candidate = naming::unique_nickname(base, |n| {
            taken.iter().chain(&held).any(|t| t.eq_ignore_ascii_case(n))
        })
        .map_err(|e| ProvisionError::Permanent(e.to_string()))?;
        let reservation = Reservation {
            request_id: request_id.to_owned(),
            mail_nickname: candidate.clone(),
        };
        let doc = Document::new(tenant, TYPE, reservation_id(&candidate), &reservation)?;
        match docs.create(Container::Jobs, &doc).await {
            Ok(_) => return Ok(candidate),
            Err(PlatformError::Conflict) => {
                if holder(docs, tenant, &candidate).await?.as_deref() == Some(request_id) {
                    return Ok(candidate);
                }
                held.push(candidate);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProvisionError::Transient(format!(
        "no free mail name from {base} after {MAX_TRIES} reserved by other requests"
    )))
}

/// The request holding `nickname`, if any.
async fn holder(
    docs: &dyn Documents,
    tenant: &TenantId,
    nickname: &str,
) -> Result<Option<String>, ProvisionError> {
    Ok(
        match docs
            .get(Container::Jobs, tenant, &reservation_id(nickname))
            .await?
        {
            Some(doc) if doc.kind == TYPE => Some(doc.parse::<Reservation>()?.request_id),
            _ => None,
        },
    )
}

/// Frees `nickname` if `request_id` holds it (its job failed before any
/// group was made with it).
pub(super) async fn release(
    docs: &dyn Documents,
    tenant: &TenantId,
    request_id: &str,
    nickname: &str,
) -> Result<(), ProvisionError> {
    if holder(docs, tenant, nickname).await?.as_deref() == Some(request_id) {
        docs.delete(Container::Jobs, tenant, &reservation_id(nickname))
            .await?;
    }
    Ok(())
}
