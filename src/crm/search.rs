//! Searches and record look-ups, cached in the shared cache (Redis in
//! Azure) for a short time, so a user paging back and forth, or a chat
//! where everyone unfurls the same link, asks the CRM once.
//!
//! Keys name the tenant, the connection's revision (a rotated or removed
//! connection's entries are never read again) and, when the connection
//! acts as each user, the user: one user never reads what the CRM showed
//! another. The search text is hashed into the key, so no key holds what
//! someone typed. A page keeps the CRM's marker for the next one, which is
//! how the next page costs one request.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{
    Connector, CrmError, Page, PageRequest, Record, RecordId, RecordType, SearchText, Viewer,
};
use crate::ids::TenantId;
use crate::platform::cache::Cache;

/// Cached answers larger than this are not kept (a page of 25 records is a
/// few kilobytes).
const MAX_CACHED_BYTES: usize = 256 * 1024;

/// Whose cached answers these are.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub tenant: &'a TenantId,
    /// The connection's id and revision (changes on every rotation).
    pub connection: &'a str,
    pub revision: u64,
}

/// The cache in front of one connector.
pub struct Cached<'a> {
    pub cache: &'a dyn Cache,
    pub ttl: Duration,
    pub scope: Scope<'a>,
    pub connector: &'a dyn Connector,
}

impl Cached<'_> {
    fn key(&self, viewer: Viewer<'_>, what: &str, parts: &[&str]) -> String {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
        }
        let who = match (self.connector.per_user(), viewer.aad_object_id) {
            (true, Some(oid)) => oid.to_ascii_lowercase(),
            (true, None) => "anonymous".to_owned(),
            (false, _) => "all".to_owned(),
        };
        format!(
            "crm:{}:{}:{}:{}:{what}:{}",
            self.scope.tenant,
            self.scope.connection,
            self.scope.revision,
            who,
            hex::encode(&hash.finalize()[..16])
        )
    }

    async fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.cache.get(key).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "CRM cache unreadable; asking the CRM");
                None
            }
        }
    }

    async fn keep<T: serde::Serialize>(&self, key: &str, value: &T) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        if bytes.len() > MAX_CACHED_BYTES {
            return;
        }
        if let Err(e) = self.cache.set(key, &bytes, self.ttl).await {
            tracing::warn!(error = %e, "could not cache a CRM answer");
        }
    }

    fn page_key(&self, viewer: Viewer<'_>, text: &SearchText, skip: usize, count: usize) -> String {
        let (skip, count) = (skip.to_string(), count.to_string());
        self.key(viewer, "search", &[text.as_str(), &skip, &count])
    }

    /// A page of results, from the cache or the CRM. The page before it,
    /// when cached, lends its marker so the CRM continues where it left off.
    pub async fn search(
        &self,
        viewer: Viewer<'_>,
        text: &SearchText,
        skip: usize,
        count: usize,
    ) -> Result<(Page, bool), CrmError> {
        let key = self.page_key(viewer, text, skip, count);
        if let Some(page) = self.read::<Page>(&key).await {
            return Ok((page, true));
        }
        let continuation = match skip.checked_sub(count) {
            Some(before) if skip > 0 => self
                .read::<Page>(&self.page_key(viewer, text, before, count))
                .await
                .and_then(|p| p.next),
            _ => None,
        };
        let request = PageRequest {
            skip,
            count,
            continuation,
        };
        let page = self.connector.search(viewer, text, &request).await?;
        self.keep(&key, &page).await;
        Ok((page, false))
    }

    /// One record, from the cache or the CRM (a record that does not exist
    /// is not cached: it may be made in a minute).
    pub async fn record(
        &self,
        viewer: Viewer<'_>,
        record_type: RecordType,
        id: &RecordId,
    ) -> Result<Option<Record>, CrmError> {
        let key = self.key(viewer, "record", &[record_type.as_str(), id.as_str()]);
        if let Some(record) = self.read::<Record>(&key).await {
            return Ok(Some(record));
        }
        let record = self.connector.record(viewer, record_type, id).await?;
        if let Some(record) = &record {
            self.keep(&key, record).await;
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use url::Url;

    use super::*;
    use crate::crm::{CrmKind, RecordRef, TeamLink, WriteBack};
    use crate::platform::cache::memory::MemoryCache;
    use crate::platform::clock::SystemClock;

    /// What the connector was asked: (viewer, skip, continuation).
    type Asked = (Option<String>, usize, Option<String>);

    /// Answers from a list of names, remembering what it was asked.
    struct Names {
        names: Vec<&'static str>,
        per_user: bool,
        asked: Mutex<Vec<Asked>>,
    }

    fn record(name: &str) -> Record {
        Record {
            crm: CrmKind::Salesforce,
            record_type: RecordType::Account,
            id: RecordId::parse("001000000000001AAA").unwrap(),
            title: name.to_owned(),
            subtitle: String::new(),
            fields: Vec::new(),
            owner: None,
            url: "https://x.lightning.force.com/lightning/r/Account/001000000000001AAA/view".into(),
        }
    }

    #[async_trait]
    impl Connector for Names {
        fn kind(&self) -> CrmKind {
            CrmKind::Salesforce
        }
        fn per_user(&self) -> bool {
            self.per_user
        }
        async fn search(
            &self,
            viewer: Viewer<'_>,
            text: &SearchText,
            page: &PageRequest,
        ) -> Result<Page, CrmError> {
            self.asked.lock().unwrap().push((
                viewer.aad_object_id.map(str::to_owned),
                page.skip,
                page.continuation.clone(),
            ));
            let matching: Vec<_> = self
                .names
                .iter()
                .filter(|n| n.contains(text.as_str()))
                .collect();
            let end = (page.skip + page.count).min(matching.len());
            Ok(Page {
                records: matching[page.skip.min(end)..end]
                    .iter()
                    .map(|n| record(n))
                    .collect(),
                next: (end < matching.len()).then(|| format!("after-{end}")),
            })
        }
        async fn record(
            &self,
            _viewer: Viewer<'_>,
            _record_type: RecordType,
            _id: &RecordId,
        ) -> Result<Option<Record>, CrmError> {
            self.asked.lock().unwrap().push((None, 0, None));
            Ok(self.names.first().map(|n| record(n)))
        }
        async fn link_team(
            &self,
            _record: &RecordRef,
            _team: &TeamLink<'_>,
            _how: &WriteBack,
        ) -> Result<String, CrmError> {
            Ok(String::new())
        }
        async fn check(&self) -> Result<String, CrmError> {
            Ok(String::new())
        }
        fn parse_link(&self, _url: &Url) -> Option<(RecordType, RecordId)> {
            None
        }
    }

    fn names(per_user: bool) -> Names {
        Names {
            names: vec!["acme 1", "acme 2", "acme 3", "globex"],
            per_user,
            asked: Mutex::default(),
        }
    }

    fn cached<'a>(
        cache: &'a MemoryCache,
        tenant: &'a TenantId,
        revision: u64,
        connector: &'a Names,
    ) -> Cached<'a> {
        Cached {
            cache,
            ttl: Duration::from_secs(60),
            scope: Scope {
                tenant,
                connection: "salesforce",
                revision,
            },
            connector,
        }
    }

    fn viewer(oid: &str) -> Viewer<'_> {
        Viewer {
            aad_object_id: Some(oid),
        }
    }

    #[tokio::test]
    async fn a_page_is_asked_once_and_the_next_continues_from_its_marker() {
        let cache = MemoryCache::new(Arc::new(SystemClock));
        let tenant = TenantId::parse("00000000-0000-0000-0000-00000000000a").unwrap();
        let crm = names(false);
        let c = cached(&cache, &tenant, 1, &crm);
        let text = SearchText::parse("acme").unwrap();
        let (first, hit) = c.search(viewer("u1"), &text, 0, 2).await.unwrap();
        assert!(!hit);
        assert_eq!(first.records.len(), 2);
        // Another user, same tenant, a connection that acts as SalesTim: cached.
        let (again, hit) = c.search(viewer("u2"), &text, 0, 2).await.unwrap();
        assert!(hit);
        assert_eq!(again, first);
        let (second, _) = c.search(viewer("u1"), &text, 2, 2).await.unwrap();
        assert_eq!(second.records.len(), 1);
        let asked = crm.asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert_eq!(
            asked[1].2.as_deref(),
            Some("after-2"),
            "page 2 continues from page 1's marker"
        );
    }

    #[tokio::test]
    async fn users_tenants_and_revisions_never_share_answers() {
        let cache = MemoryCache::new(Arc::new(SystemClock));
        let a = TenantId::parse("00000000-0000-0000-0000-00000000000a").unwrap();
        let b = TenantId::parse("00000000-0000-0000-0000-00000000000b").unwrap();
        let text = SearchText::parse("acme").unwrap();
        let crm = names(true);
        cached(&cache, &a, 1, &crm)
            .search(viewer("u1"), &text, 0, 5)
            .await
            .unwrap();
        // Another user of a connection that acts as each user.
        let (_, hit) = cached(&cache, &a, 1, &crm)
            .search(viewer("u2"), &text, 0, 5)
            .await
            .unwrap();
        assert!(!hit);
        // The same user id in another tenant.
        let (_, hit) = cached(&cache, &b, 1, &crm)
            .search(viewer("u1"), &text, 0, 5)
            .await
            .unwrap();
        assert!(!hit);
        // The connection rotated.
        let (_, hit) = cached(&cache, &a, 2, &crm)
            .search(viewer("u1"), &text, 0, 5)
            .await
            .unwrap();
        assert!(!hit);
        assert_eq!(crm.asked.lock().unwrap().len(), 4);
        // No key holds what was typed.
        let key = cached(&cache, &a, 1, &crm).page_key(viewer("u1"), &text, 0, 5);
        assert!(!key.contains("acme"), "{key}");
    }

    #[tokio::test]
    async fn records_are_cached_and_a_zero_ttl_keeps_nothing() {
        let cache = MemoryCache::new(Arc::new(SystemClock));
        let tenant = TenantId::parse("00000000-0000-0000-0000-00000000000a").unwrap();
        let crm = names(false);
        let id = RecordId::parse("001000000000001AAA").unwrap();
        let c = cached(&cache, &tenant, 1, &crm);
        c.record(viewer("u"), RecordType::Account, &id)
            .await
            .unwrap();
        c.record(viewer("u"), RecordType::Account, &id)
            .await
            .unwrap();
        assert_eq!(crm.asked.lock().unwrap().len(), 1);
        let off = Cached {
            ttl: Duration::ZERO,
            ..cached(&cache, &tenant, 9, &crm)
        };
        off.record(viewer("u"), RecordType::Account, &id)
            .await
            .unwrap();
        off.record(viewer("u"), RecordType::Account, &id)
            .await
            .unwrap();
        assert_eq!(crm.asked.lock().unwrap().len(), 3);
    }
}
