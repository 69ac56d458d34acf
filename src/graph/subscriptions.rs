//! Graph change-notification subscriptions: create, renew (a PATCH of the
//! expiry, which also reauthorizes), read and delete. What they are for and
//! when each is called is `governance::lifecycle::subscriptions`' business;
//! here are only the calls and what Graph answers.
//!
//! A group subscription lives at most 41,760 minutes (just under 29 days);
//! groups get `updated,deleted` only (a new or soft-deleted group arrives
//! as `updated`).

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Graph, GraphError};
use crate::ids::TenantId;

/// Graph's longest life for a group subscription.
pub const GROUP_MAX_LIFETIME: time::Duration = time::Duration::minutes(41_760);
/// What we ask for: an hour under the maximum, so clock skew between us
/// and Graph never makes a request "too long".
pub const GROUP_LIFETIME: time::Duration = time::Duration::minutes(41_760 - 60);

/// A subscription as Graph reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub id: String,
    pub expires_at: OffsetDateTime,
}

/// What a new subscription asks for.
pub struct NewSubscription<'a> {
    pub resource: &'a str,
    pub change_type: &'a str,
    pub notification_url: &'a str,
    pub lifecycle_url: &'a str,
    pub client_state: &'a str,
    pub expires_at: OffsetDateTime,
}

fn timestamp(t: OffsetDateTime) -> Result<String, GraphError> {
    t.format(&Rfc3339)
        .map_err(|e| GraphError::Invalid(format!("an expiry: {e}")))
}

fn parse(body: &Value) -> Result<Subscription, GraphError> {
    let id = body["id"]
        .as_str()
        .filter(|id| is_subscription_id(id))
        .ok_or_else(|| GraphError::Decode("a subscription without a usable id".into()))?;
    let expires_at = body["expirationDateTime"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .ok_or_else(|| GraphError::Decode("a subscription without expirationDateTime".into()))?;
    Ok(Subscription {
        id: id.to_owned(),
        expires_at,
    })
}

/// Graph's subscription ids are GUIDs; we accept what can safely be part
/// of a path and a document id.
pub fn is_subscription_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `POST /subscriptions`. Graph calls both URLs back (the validation
/// handshake) before it answers; a URL that does not answer gives 400.
pub async fn create(
    graph: &Graph,
    tenant: &TenantId,
    new: &NewSubscription<'_>,
) -> Result<Subscription, GraphError> {
    let body = json!({
        "changeType": new.change_type,
        "notificationUrl": new.notification_url,
        "lifecycleNotificationUrl": new.lifecycle_url,
        "resource": new.resource,
        "expirationDateTime": timestamp(new.expires_at)?,
        "clientState": new.client_state,
        "includeResourceData": false,
    });
    let created = graph
        .send(tenant, reqwest::Method::POST, "/subscriptions", Some(&body))
        .await?;
    parse(&created.body)
}

/// `PATCH /subscriptions/{id}` with a new expiry: renews and reauthorizes.
/// `None` when Graph no longer has it (404).
pub async fn renew(
    graph: &Graph,
    tenant: &TenantId,
    id: &str,
    expires_at: OffsetDateTime,
) -> Result<Option<Subscription>, GraphError> {
    let body = json!({"expirationDateTime": timestamp(expires_at)?});
    let path = path(id)?;
    match graph
        .send(tenant, reqwest::Method::PATCH, &path, Some(&body))
        .await
    {
        Ok(res) => parse(&res.body).map(Some),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// `GET /subscriptions/{id}`; `None` when Graph no longer has it.
pub async fn get(
    graph: &Graph,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<Subscription>, GraphError> {
    match graph.get(tenant, &path(id)?).await {
        Ok(body) => parse(&body).map(Some),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn path(id: &str) -> Result<String, GraphError> {
    if !is_subscription_id(id) {
        return Err(GraphError::Invalid(format!("a subscription id {id:?}")));
    }
    Ok(format!("/subscriptions/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_lifetime_stays_under_graphs_limit_for_groups() {
        assert!(GROUP_LIFETIME < GROUP_MAX_LIFETIME);
        assert!(GROUP_LIFETIME > time::Duration::days(28));
    }

    #[test]
    fn only_path_safe_ids_are_subscription_ids() {
        assert!(is_subscription_id("7f105c7d-2dc5-4530-97cd-4e7ae6534c07"));
        assert!(!is_subscription_id("../users"));
        assert!(!is_subscription_id(""));
        assert!(!is_subscription_id(&"a".repeat(65)));
    }

    #[test]
    fn a_subscription_answer_needs_an_id_and_an_expiry() {
        let ok = json!({"id": "abc-1", "expirationDateTime": "2026-01-01T00:00:00Z"});
        assert_eq!(parse(&ok).unwrap().id, "abc-1");
        assert!(parse(&json!({"id": "abc-1"})).is_err());
        assert!(
            parse(&json!({"id": "a/b", "expirationDateTime": "2026-01-01T00:00:00Z"})).is_err()
        );
    }
}
