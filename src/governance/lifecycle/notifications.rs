//! What Graph posts to our notification and lifecycle URLs, read and
//! sorted: which items are really ours and which tenants they name. The
//! tenant is decided by our binding of the subscription id in the claimed
//! tenant's partition, never by the item's `tenantId` alone (see
//! [`super::subscriptions`]), then the item's `clientState` must be that
//! tenant's secret, compared in constant time.
//!
//! A notification is never trusted as data: all it does is ask for an
//! incremental delta round of its tenant (or a renewal, for a lifecycle
//! event). So only the fields that find the subscription and prove the
//! sender are read; `resource`, `resourceData` and the rest are ignored.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;

use secrecy::zeroize::Zeroizing;
use sha2::{Digest, Sha256};

use super::subscriptions;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::documents::Documents;
use crate::platform::keys::envelope::Envelope;

/// More items than Graph batches in one POST; a body with more is refused.
pub const MAX_ITEMS: usize = 1000;
/// The longest validation token we echo (Graph's are a few hundred bytes).
pub const MAX_VALIDATION_TOKEN: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub subscription_id: String,
    #[serde(default)]
    pub client_state: Option<String>,
    /// Only where to look for our binding; never whose the item is.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Lifecycle items only: `reauthorizationRequired`,
    /// `subscriptionRemoved`, `missed`.
    #[serde(default)]
    pub lifecycle_event: Option<String>,
}

#[derive(Deserialize)]
struct Batch {
    value: Vec<Item>,
}

/// The items of a notification body, or why it is malformed.
pub fn parse(body: &[u8]) -> Result<Vec<Item>, String> {
    let batch: Batch =
        serde_json::from_slice(body).map_err(|e| format!("not a notification batch: {e}"))?;
    if batch.value.len() > MAX_ITEMS {
        return Err(format!("more than {MAX_ITEMS} items"));
    }
    Ok(batch.value)
}

/// Whose a notification item is, if anybody's.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Valid(TenantId),
    /// No binding of ours for that subscription in that tenant.
    Unknown,
    WrongClientState(TenantId),
}

/// Checks the items of one batch: each (tenant, subscription) binding read
/// once, each tenant's secret opened once. A batch is bounded by
/// [`MAX_ITEMS`], so are the reads; a genuine batch may mix many tenants,
/// and none is dropped.
pub struct Verifier<'a> {
    docs: &'a dyn Documents,
    envelope: &'a Envelope,
    secrets: HashMap<TenantId, Option<Zeroizing<Vec<u8>>>>,
    bound: HashMap<(TenantId, String), bool>,
}

impl<'a> Verifier<'a> {
    pub fn new(docs: &'a dyn Documents, envelope: &'a Envelope) -> Self {
        Verifier {
            docs,
            envelope,
            secrets: HashMap::new(),
            bound: HashMap::new(),
        }
    }

    /// Checks one item: `claimed_tenant` (the item's `tenantId`) only names
    /// the partition where our binding for `subscription` must be.
    pub async fn check(
        &mut self,
        claimed_tenant: &str,
        subscription: &str,
        client_state: &str,
    ) -> PlatformResult<Verdict> {
        let Ok(tenant) = TenantId::parse(claimed_tenant) else {
            return Ok(Verdict::Unknown);
        };
        let key = (tenant.clone(), subscription.to_owned());
        let bound = match self.bound.get(&key) {
            Some(bound) => *bound,
            None => {
                let bound = subscriptions::is_bound(self.docs, &tenant, subscription).await?;
                self.bound.insert(key, bound);
                bound
            }
        };
        if !bound {
            return Ok(Verdict::Unknown);
        }
        if !self.secrets.contains_key(&tenant) {
            let secret = subscriptions::client_state(self.docs, self.envelope, &tenant).await?;
            self.secrets.insert(tenant.clone(), secret);
        }
        match self.secrets.get(&tenant).and_then(Option::as_ref) {
            Some(secret) if same_secret(secret, client_state.as_bytes()) => {
                Ok(Verdict::Valid(tenant))
            }
            Some(_) => Ok(Verdict::WrongClientState(tenant)),
            None => Ok(Verdict::Unknown),
        }
    }
}

/// Equal, in time that depends on neither value: both are hashed, and the
/// digests compared without an early exit.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (x, y) = (Sha256::digest(a), Sha256::digest(b));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

/// The items sorted: those of ours, and how many were not.
#[derive(Debug, Default)]
pub struct Sorted<'a> {
    /// (tenant, item) for every item whose subscription and client state
    /// are ours.
    pub valid: Vec<(TenantId, &'a Item)>,
    pub unknown: usize,
    pub wrong_client_state: usize,
}

impl Sorted<'_> {
    /// Each tenant once.
    pub fn tenants(&self) -> BTreeSet<&TenantId> {
        self.valid.iter().map(|(t, _)| t).collect()
    }
}

/// Checks every item; the ones that are not ours are logged, once per
/// claimed tenant, subscription and verdict in a batch (never the client
/// state sent).
pub async fn sort<'a>(
    verifier: &mut Verifier<'_>,
    items: &'a [Item],
) -> PlatformResult<Sorted<'a>> {
    let mut sorted = Sorted::default();
    let mut said = HashSet::new();
    for item in items {
        let claimed = item.tenant_id.as_deref().unwrap_or_default();
        let client_state = item.client_state.as_deref().unwrap_or_default();
        let subscription = item.subscription_id.as_str();
        let verdict = verifier.check(claimed, subscription, client_state).await?;
        let unknown = matches!(verdict, Verdict::Unknown);
        let say = said.insert((claimed, subscription, unknown));
        match verdict {
            Verdict::Valid(tenant) => sorted.valid.push((tenant, item)),
            Verdict::Unknown => {
                if say {
                    tracing::warn!(
                        subscription,
                        claimed_tenant = claimed,
                        "a notification for a subscription we do not have in that tenant; ignored"
                    );
                }
                sorted.unknown += 1;
            }
            Verdict::WrongClientState(tenant) => {
                if say {
                    tracing::warn!(subscription, %tenant, "a notification whose clientState is not the tenant's; ignored");
                }
                sorted.wrong_client_state += 1;
            }
        }
    }
    Ok(sorted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn a_batch_is_read_leniently_but_must_be_one() {
        let body = br#"{"value":[{"subscriptionId":"s1","clientState":"c","tenantId":"t",
            "changeType":"updated","resource":"Groups/x","resourceData":{"id":"x",
            "members@delta":[{"id":"u","@removed":"deleted"}]}}]}"#;
        let items = parse(body).unwrap();
        assert_eq!(items[0].subscription_id, "s1");
        assert!(parse(b"{}").is_err());
        assert!(parse(b"[1,2]").is_err());
        assert!(parse(br#"{"value":[{"clientState":"c"}]}"#).is_err());
        let many = format!(
            "{{\"value\":[{}]}}",
            vec![r#"{"subscriptionId":"s"}"#; MAX_ITEMS + 1].join(",")
        );
        assert!(parse(many.as_bytes()).is_err());
    }
}
