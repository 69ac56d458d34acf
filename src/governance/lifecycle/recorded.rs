//! Findings as the store keeps them: one document per team and policy in
//! the `findings` container (`<team>~<policy>`), holding the latest
//! explained finding, when it was first and last seen, and what its
//! actions did. A sweep hands each team's findings to [`reconcile`]: new
//! ones are created, changed ones rewritten, unchanged ones left alone (a
//! sweep of an unchanged tenant writes nothing), and findings that no longer
//! hold are resolved: removed, with an audit entry saying so.

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::enforce::Acted;
use super::findings::Finding;
use super::policy::PolicyKind;
use crate::governance::audit;
use crate::ids::TenantId;
use crate::platform::PlatformResult;
use crate::platform::documents::update::{Decision, update};
use crate::platform::documents::{self, Container, Document, Documents, Query, Scope};

const TYPE: &str = "finding";

fn id(team: &str, policy: PolicyKind) -> String {
    format!("{team}~{}", policy.name())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedFinding {
    /// Queryable copies of the finding's own fields.
    pub team_id: String,
    pub policy: PolicyKind,
    pub finding: Finding,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_changed: OffsetDateTime,
    /// What enforcement did for it, oldest first (kept while the finding
    /// holds, whatever its decision becomes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acted: Vec<Acted>,
}

/// What reconciling one team's findings did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub new: u32,
    pub changed: u32,
    pub unchanged: u32,
    pub resolved: u32,
}

impl std::ops::AddAssign for Reconciled {
    fn add_assign(&mut self, other: Reconciled) {
        self.new += other.new;
        self.changed += other.changed;
        self.unchanged += other.unchanged;
        self.resolved += other.resolved;
    }
}

/// Whether two findings say the same (their facts' read times and the
/// dates derived from "now" aside, which move on every sweep).
fn same(a: &Finding, b: &Finding) -> bool {
    a.policy_version == b.policy_version
        && a.decision == b.decision
        && a.action == b.action
        && a.threshold == b.threshold
        && a.enforced == b.enforced
        && a.facts.len() == b.facts.len()
        && a.facts
            .iter()
            .zip(&b.facts)
            .all(|(x, y)| x.name == y.name && x.value == y.value && x.source == y.source)
}

/// The recorded findings of one team.
pub async fn of_team(
    docs: &dyn Documents,
    tenant: &TenantId,
    team: &str,
) -> PlatformResult<Vec<RecordedFinding>> {
    let query = Query::of_type(TYPE).with("teamId", team);
    documents::stream(docs, Container::Findings, Scope::Tenant(tenant), query)
        .and_then(|doc| async move { doc.parse::<RecordedFinding>() })
        .try_collect()
        .await
}

/// Every recorded finding of the tenant, page by page.
pub fn all<'a>(
    docs: &'a dyn Documents,
    tenant: &'a TenantId,
) -> impl futures::Stream<Item = PlatformResult<RecordedFinding>> + Send + 'a {
    documents::stream(
        docs,
        Container::Findings,
        Scope::Tenant(tenant),
        Query::of_type(TYPE),
    )
    .and_then(|doc| async move { doc.parse::<RecordedFinding>() })
}

/// Most moves kept on one finding (the oldest go first).
const MAX_ACTED: usize = 50;

/// Notes `acted` on `team`'s finding of `policy`; `false` when the finding
/// is gone (resolved meanwhile).
pub async fn note(
    docs: &dyn Documents,
    tenant: &TenantId,
    team: &str,
    policy: PolicyKind,
    acted: Acted,
) -> PlatformResult<bool> {
    let written = update::<crate::platform::PlatformError>(
        docs,
        Container::Findings,
        tenant,
        &id(team, policy),
        |doc| {
            let Some(doc) = doc else {
                return Ok(Decision::Keep);
            };
            let mut record: RecordedFinding = doc.parse()?;
            record.acted.push(acted.clone());
            let over = record.acted.len().saturating_sub(MAX_ACTED);
            record.acted.drain(..over);
            Ok(Decision::Write(Document::new(
                tenant,
                TYPE,
                id(team, policy),
                &record,
            )?))
        },
    )
    .await?;
    Ok(written.is_some())
}

/// Records `found` as `team`'s findings at `now`: what is new is created,
/// what changed is rewritten, what no longer holds is resolved.
pub async fn reconcile(
    docs: &dyn Documents,
    tenant: &TenantId,
    team: &str,
    found: &[Finding],
    now: OffsetDateTime,
    actor: &str,
) -> PlatformResult<Reconciled> {
    let before = of_team(docs, tenant, team).await?;
    reconcile_with(docs, tenant, team, &before, found, now, actor).await
}

/// Every recorded finding of the tenant by team, read in one pass (a sweep
/// reconciles each team against these instead of one query per team).
pub async fn by_team(
    docs: &dyn Documents,
    tenant: &TenantId,
) -> PlatformResult<std::collections::HashMap<String, Vec<RecordedFinding>>> {
    let mut out: std::collections::HashMap<String, Vec<RecordedFinding>> = Default::default();
    let mut kept = std::pin::pin!(all(docs, tenant));
    while let Some(record) = kept.try_next().await? {
        out.entry(record.team_id.clone()).or_default().push(record);
    }
    Ok(out)
}

/// [`reconcile`] against `before`, the team's findings as kept.
pub async fn reconcile_with(
    docs: &dyn Documents,
    tenant: &TenantId,
    team: &str,
    before: &[RecordedFinding],
    found: &[Finding],
    now: OffsetDateTime,
    actor: &str,
) -> PlatformResult<Reconciled> {
    let mut done = Reconciled::default();
    for finding in found {
        let kept = before.iter().find(|r| r.policy == finding.policy);
        if kept.is_some_and(|r| same(&r.finding, finding)) {
            done.unchanged += 1;
            continue;
        }
        let record = RecordedFinding {
            team_id: team.to_owned(),
            policy: finding.policy,
            finding: finding.clone(),
            first_seen: kept.map_or(now, |r| r.first_seen),
            last_changed: now,
            acted: kept.map(|r| r.acted.clone()).unwrap_or_default(),
        };
        let doc = Document::new(tenant, TYPE, id(team, finding.policy), &record)?;
        docs.upsert(Container::Findings, &doc).await?;
        if kept.is_some() {
            done.changed += 1;
        } else {
            done.new += 1;
        }
    }
    for gone in before
        .iter()
        .filter(|r| !found.iter().any(|f| f.policy == r.policy))
    {
        // Gone already: another sweep resolved it; the audit says so once.
        if !docs
            .delete(Container::Findings, tenant, &id(team, gone.policy))
            .await?
        {
            continue;
        }
        let details = serde_json::json!({"teamId": team, "policy": gone.policy,
            "decision": gone.finding.decision, "firstSeen": gone.first_seen});
        audit::note(docs, tenant, now, actor, "finding.resolved", details).await?;
        done.resolved += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::macros::datetime;

    use super::*;
    use crate::governance::lifecycle::findings::{Action, Fact};
    use crate::platform::clock::SystemClock;
    use crate::platform::documents::sqlite::SqliteDocuments;

    fn finding(policy: PolicyKind, decision: &str, read_at: OffsetDateTime) -> Finding {
        Finding {
            team_id: "g1".into(),
            team_name: "Falcon".into(),
            policy,
            policy_version: 1,
            facts: vec![Fact {
                name: "owners".into(),
                value: "1".into(),
                source: "Graph".into(),
                read_at,
            }],
            threshold: "at least 2 owners".into(),
            decision: decision.into(),
            action: Action::AskOwnerToNominate,
            due: read_at,
            then: None,
            enforced: false,
        }
    }

    #[tokio::test]
    async fn a_sweep_writes_what_changed_and_resolves_what_no_longer_holds() {
        let dir = tempfile::tempdir().unwrap();
        let docs =
            SqliteDocuments::open(&dir.path().join("d.sqlite"), Arc::new(SystemClock)).unwrap();
        let tenant = TenantId::parse("3f1c2b7a-9d4e-4c5b-8a6f-0e1d2c3b4a59").unwrap();
        let (t1, t2, t3) = (
            datetime!(2026-12-01 06:00 UTC),
            datetime!(2026-12-02 06:00 UTC),
            datetime!(2026-12-03 06:00 UTC),
        );
        let owners = |d: &str, at| finding(PolicyKind::MinimumOwners, d, at);
        let drift = |at| finding(PolicyKind::NamingDrift, "no prefix", at);

        let first = reconcile(
            &docs,
            &tenant,
            "g1",
            &[owners("1 owner", t1), drift(t1)],
            t1,
            "system:test",
        )
        .await
        .unwrap();
        assert_eq!(
            (first.new, first.changed, first.unchanged, first.resolved),
            (2, 0, 0, 0)
        );
        // Read again a day later, saying the same: nothing is written.
        let same = reconcile(
            &docs,
            &tenant,
            "g1",
            &[owners("1 owner", t2), drift(t2)],
            t2,
            "system:test",
        )
        .await
        .unwrap();
        assert_eq!((same.new, same.changed, same.unchanged), (0, 0, 2));
        let kept = of_team(&docs, &tenant, "g1").await.unwrap();
        assert!(kept.iter().all(|r| r.last_changed == t1));
        // What was done for a finding stays with it when its decision changes.
        let asked = crate::governance::lifecycle::enforce::Acted {
            did: crate::governance::lifecycle::enforce::Did::Asked,
            action: Action::AskOwnerToNominate,
            at: t2,
            detail: "card sent to 1 owner".into(),
        };
        assert!(
            note(
                &docs,
                &tenant,
                "g1",
                PolicyKind::MinimumOwners,
                asked.clone()
            )
            .await
            .unwrap()
        );
        // The decision changes; the drift is gone.
        let next = reconcile(
            &docs,
            &tenant,
            "g1",
            &[owners("0 owners", t3)],
            t3,
            "system:test",
        )
        .await
        .unwrap();
        assert_eq!((next.changed, next.resolved), (1, 1));
        let kept = of_team(&docs, &tenant, "g1").await.unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].first_seen, kept[0].last_changed), (t1, t3));
        assert_eq!(kept[0].finding.decision, "0 owners");
        assert_eq!(kept[0].acted, vec![asked.clone()]);
        assert!(
            !note(&docs, &tenant, "g1", PolicyKind::NamingDrift, asked)
                .await
                .unwrap(),
            "a resolved finding is not noted"
        );
        let resolved = audit::trail(&docs, &tenant).await.unwrap();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].action, "finding.resolved");
        assert_eq!(resolved[0].details["policy"], "namingDrift");
        // Another team's findings are its own.
        assert!(of_team(&docs, &tenant, "g2").await.unwrap().is_empty());
    }
}
