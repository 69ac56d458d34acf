//! The behaviour every [`Documents`] implementation must show, written once.
//!
//! Each case uses fresh tenant ids and a type unique to the run, so the suite
//! also runs against a shared real account without seeing earlier runs, and
//! it deletes what it wrote.

use salestim::ids::TenantId;
use salestim::platform::PlatformError;
use salestim::platform::PlatformResult;
use salestim::platform::documents::{
    self, Container, Document, Documents, ETag, MAX_PAGE_SIZE, Query, Scope,
};
use serde_json::{Value, json};

/// Every partition's documents, collected (what timers walk page by page).
trait QueryAll {
    async fn query_all(&self, c: Container, q: &Query) -> PlatformResult<Vec<Document>>;
}

impl QueryAll for dyn Documents {
    async fn query_all(&self, c: Container, q: &Query) -> PlatformResult<Vec<Document>> {
        documents::collect(self, c, Scope::AllTenants, q).await
    }
}

/// Everything, in order; `ensure` first and twice (it must be idempotent).
pub async fn suite(store: &dyn Documents) {
    store.ensure().await.expect("ensure");
    store.ensure().await.expect("ensure again");
    store.ping().await.expect("ping");
    let run = Run::new();
    crud_and_etags(store, &run).await;
    query_filters_compare_by_json_type(store, &run).await;
    tenants_are_isolated(store, &run).await;
    ttl_documents_are_readable_before_expiry(store, &run).await;
    bad_input_is_refused(store, &run).await;
    large_answers_come_in_pages(store, &run).await;
}

/// Names unique to one run of the suite.
struct Run {
    kind: String,
}

impl Run {
    fn new() -> Self {
        Run {
            kind: format!("probe-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        }
    }

    fn tenant(&self) -> TenantId {
        TenantId::parse(&uuid::Uuid::new_v4().to_string()).expect("a v4 uuid is a tenant id")
    }

    fn doc(&self, tenant: &TenantId, id: &str, body: Value) -> Document {
        Document::new(tenant, &self.kind, id, &body).expect("object body")
    }
}

/// The ids a query finds, comma-separated.
async fn matching(store: &dyn Documents, c: Container, tenant: &TenantId, query: Query) -> String {
    ids(&store.query(c, tenant, &query).await.expect("query")).join(",")
}

fn ids(docs: &[Document]) -> Vec<&str> {
    docs.iter().map(|d| d.id.as_str()).collect()
}

async fn clean(store: &dyn Documents, container: Container, docs: &[(&TenantId, &str)]) {
    for (tenant, id) in docs {
        store
            .delete(container, tenant, id)
            .await
            .expect("cleanup delete");
    }
}

async fn crud_and_etags(store: &dyn Documents, run: &Run) {
    let c = Container::Requests;
    let a = run.tenant();
    let body = json!({ "title": "Sales EMEA", "n": 1, "ratio": 0.25, "tags": ["x", "y"],
                       "owner": { "upn": "ann@contoso.com", "guest": false }, "note": null });
    let doc = run.doc(&a, "req-1", body.clone());
    assert_eq!(store.get(c, &a, "req-1").await.expect("get"), None);

    let created = store.create(c, &doc).await.expect("create");
    let etag1 = created.etag.clone().expect("create returns an etag");
    assert!(
        etag1.0.starts_with('"') && etag1.0.ends_with('"'),
        "quoted: {etag1:?}"
    );
    assert_eq!(created.body, doc.body);

    let read = store
        .get(c, &a, "req-1")
        .await
        .expect("get")
        .expect("created");
    assert_eq!(
        read.body,
        body.as_object().cloned().expect("object"),
        "body round-trips"
    );
    assert_eq!(
        (read.id.as_str(), &read.tenant_id, read.kind.as_str()),
        ("req-1", &a, run.kind.as_str())
    );
    assert_eq!(read.ttl, None);
    assert_eq!(read.etag.as_ref(), Some(&etag1));

    let again = store.create(c, &doc).await;
    assert!(matches!(again, Err(PlatformError::Conflict)), "{again:?}");

    let v2 = run.doc(&a, "req-1", json!({ "title": "Sales EMEA", "n": 2 }));
    let replaced = store
        .replace(c, &v2, &etag1)
        .await
        .expect("replace with current etag");
    let etag2 = replaced.etag.clone().expect("replace returns an etag");
    assert_ne!(etag2, etag1, "every write gets a new etag");
    let stale = store
        .replace(c, &run.doc(&a, "req-1", json!({ "n": 99 })), &etag1)
        .await;
    assert!(
        matches!(stale, Err(PlatformError::PreconditionFailed)),
        "{stale:?}"
    );
    let read = store
        .get(c, &a, "req-1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(read.body["n"], 2, "a stale replace changes nothing");
    assert_eq!(read.etag, Some(etag2.clone()));

    let v3 = run.doc(&a, "req-1", json!({ "n": 3 }));
    let upserted = store
        .upsert(c, &v3)
        .await
        .expect("upsert over an existing document");
    assert_ne!(upserted.etag.as_ref(), Some(&etag2));
    let read = store
        .get(c, &a, "req-1")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(read.body, v3.body, "upsert replaces the whole body");
    let fresh = store
        .upsert(c, &run.doc(&a, "req-2", json!({ "n": 4 })))
        .await
        .expect("upsert new");
    assert!(fresh.etag.is_some());
    assert!(store.get(c, &a, "req-2").await.expect("get").is_some());

    assert!(store.delete(c, &a, "req-1").await.expect("delete"));
    assert_eq!(store.get(c, &a, "req-1").await.expect("get"), None);
    assert!(!store.delete(c, &a, "req-1").await.expect("delete again"));
    let gone = store.replace(c, &v3, &etag2).await;
    assert!(matches!(gone, Err(PlatformError::NotFound)), "{gone:?}");
    clean(store, c, &[(&a, "req-2")]).await;
}

async fn query_filters_compare_by_json_type(store: &dyn Documents, run: &Run) {
    let c = Container::Teams;
    let a = run.tenant();
    let other_kind = Document::new(
        &a,
        &format!("{}-other", run.kind),
        "t0",
        &json!({ "status": "active" }),
    )
    .expect("doc");
    let docs = [
        (
            "t3",
            json!({ "status": "active", "n": 1, "flag": true, "gone": null,
                        "sub": { "state": "on", "level": 2 } }),
        ),
        (
            "t1",
            json!({ "status": "archived", "n": 2, "flag": false, "gone": "x",
                        "sub": { "state": "off", "level": 1 } }),
        ),
        (
            "t4",
            json!({ "status": "active", "n": 1.5, "flag": 1, "sub": { "state": "on" } }),
        ),
        (
            "t2",
            json!({ "status": "1", "n": "1", "flag": "true", "gone": "null" }),
        ),
    ];
    for (id, body) in &docs {
        store
            .create(c, &run.doc(&a, id, body.clone()))
            .await
            .expect("create");
    }
    store
        .create(c, &other_kind)
        .await
        .expect("create other type");

    let a_ref = &a;
    let q = |query: Query| matching(store, c, a_ref, query);
    let k = || Query::of_type(&run.kind);
    assert_eq!(q(k()).await, "t1,t2,t3,t4", "type only, ordered by id");
    assert_eq!(q(k().with("status", "active")).await, "t3,t4");
    assert_eq!(
        q(k().with("status", "1")).await,
        "t2",
        "a string is not a number"
    );
    assert_eq!(q(k().with("n", 1)).await, "t3", "a number is not a string");
    assert_eq!(q(k().with("n", 1.0)).await, "t3", "1.0 equals 1");
    assert_eq!(q(k().with("n", 1.5)).await, "t4");
    assert_eq!(
        q(k().with("flag", true)).await,
        "t3",
        "true is neither 1 nor \"true\""
    );
    assert_eq!(q(k().with("flag", false)).await, "t1");
    assert_eq!(
        q(k().with("gone", Value::Null)).await,
        "t3",
        "null is neither missing nor \"null\""
    );
    assert_eq!(q(k().with("sub.state", "on")).await, "t3,t4");
    assert_eq!(
        q(k().with("sub.state", "on").with("sub.level", 2)).await,
        "t3"
    );
    assert_eq!(q(k().with("status", "none")).await, "");
    assert_eq!(
        q(k().limit(2)).await,
        "t1,t2",
        "limit keeps the first by id"
    );
    assert_eq!(q(k().with("status", "active").limit(1)).await, "t3");
    assert_eq!(q(k().limit(0)).await, "");
    assert_eq!(
        ids(&store
            .query(c, &a, &Query::of_type(&other_kind.kind))
            .await
            .expect("q")),
        ["t0"]
    );

    let read = store.query(c, &a, &k().with("n", 2)).await.expect("query");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].tenant_id, a);
    assert!(read[0].etag.is_some(), "query results carry their etag");
    assert_eq!(
        Some(&read[0]),
        store.get(c, &a, "t1").await.expect("get").as_ref()
    );

    clean(
        store,
        c,
        &[(&a, "t1"), (&a, "t2"), (&a, "t3"), (&a, "t4"), (&a, "t0")],
    )
    .await;
}

async fn tenants_are_isolated(store: &dyn Documents, run: &Run) {
    let c = Container::Findings;
    let (a, b) = (run.tenant(), run.tenant());
    let doc_a = store
        .create(c, &run.doc(&a, "f-1", json!({ "owner": "a" })))
        .await
        .expect("create a");
    let etag_a: ETag = doc_a.etag.clone().expect("etag");

    assert_eq!(store.get(c, &b, "f-1").await.expect("get as b"), None);
    assert!(
        store
            .query(c, &b, &Query::of_type(&run.kind))
            .await
            .expect("query b")
            .is_empty()
    );
    let as_b = run.doc(&b, "f-1", json!({ "owner": "b" }));
    let replaced = store.replace(c, &as_b, &etag_a).await;
    assert!(
        matches!(replaced, Err(PlatformError::NotFound)),
        "{replaced:?}"
    );
    assert!(!store.delete(c, &b, "f-1").await.expect("delete as b"));
    let still = store
        .get(c, &a, "f-1")
        .await
        .expect("get a")
        .expect("a's document survives");
    assert_eq!(
        (still.body["owner"].as_str(), still.etag),
        (Some("a"), Some(etag_a))
    );

    // The same id in another partition is another document.
    store.create(c, &as_b).await.expect("same id, other tenant");
    store
        .create(c, &run.doc(&b, "f-0", json!({ "owner": "b" })))
        .await
        .expect("create");
    let all = store
        .query_all(c, &Query::of_type(&run.kind))
        .await
        .expect("all tenants");
    let mut seen: Vec<(String, String)> = all
        .iter()
        .map(|d| (d.id.clone(), d.tenant_id.to_string()))
        .collect();
    assert_eq!(ids(&all)[0], "f-0", "ordered by id");
    seen.sort();
    let mut expected = vec![
        ("f-0".to_owned(), b.to_string()),
        ("f-1".to_owned(), a.to_string()),
        ("f-1".to_owned(), b.to_string()),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    let only_b = store
        .query_all(c, &Query::of_type(&run.kind).with("owner", "b"))
        .await
        .expect("filtered");
    assert!(
        only_b.iter().all(|d| d.tenant_id == b) && only_b.len() == 2,
        "{only_b:?}"
    );
    let one = store
        .query_all(c, &Query::of_type(&run.kind).limit(1))
        .await
        .expect("limit");
    assert_eq!(ids(&one), ["f-0"]);

    clean(store, c, &[(&a, "f-1"), (&b, "f-1"), (&b, "f-0")]).await;
}

async fn ttl_documents_are_readable_before_expiry(store: &dyn Documents, run: &Run) {
    let c = Container::Events;
    let a = run.tenant();
    let doc = run
        .doc(&a, "evt-1", json!({ "source": "bot" }))
        .with_ttl(3600);
    store.create(c, &doc).await.expect("create with ttl");
    let read = store
        .get(c, &a, "evt-1")
        .await
        .expect("get")
        .expect("readable before expiry");
    assert_eq!(read.ttl, Some(3600));
    assert_eq!(read.body, doc.body, "ttl is not part of the body");
    let found = store
        .query(c, &a, &Query::of_type(&run.kind))
        .await
        .expect("query");
    assert_eq!(found.first().and_then(|d| d.ttl), Some(3600));
    let upserted = store
        .upsert(c, &doc.clone().with_ttl(7200))
        .await
        .expect("upsert");
    assert_eq!(upserted.ttl, Some(7200));
    assert_eq!(
        store
            .get(c, &a, "evt-1")
            .await
            .expect("get")
            .and_then(|d| d.ttl),
        Some(7200)
    );
    clean(store, c, &[(&a, "evt-1")]).await;
}

async fn bad_input_is_refused(store: &dyn Documents, run: &Run) {
    let c = Container::Templates;
    let a = run.tenant();
    for id in ["", "a/b", "a\\b", "a?b", "a#b"] {
        let result = store.create(c, &run.doc(&a, id, json!({}))).await;
        assert!(
            matches!(result, Err(PlatformError::Invalid(_))),
            "id {id:?}: {result:?}"
        );
    }
    let zero_ttl = store
        .create(c, &run.doc(&a, "z", json!({})).with_ttl(0))
        .await;
    assert!(
        matches!(zero_ttl, Err(PlatformError::Invalid(_))),
        "{zero_ttl:?}"
    );
    for query in [
        Query::of_type(&run.kind).with("a;b", 1),
        Query::of_type(&run.kind).with("a.", 1),
        Query::of_type(&run.kind).with("1a", 1),
        Query::of_type(&run.kind).with("obj", json!({ "x": 1 })),
        Query::of_type(&run.kind).with("arr", json!([1])),
        Query::of_type(""),
    ] {
        let result = store.query(c, &a, &query).await;
        assert!(
            matches!(result, Err(PlatformError::Invalid(_))),
            "{query:?}: {result:?}"
        );
        let result = store.query_all(c, &query).await;
        assert!(
            matches!(result, Err(PlatformError::Invalid(_))),
            "{query:?}: {result:?}"
        );
    }
    assert_eq!(
        store.get(c, &a, "z").await.expect("get"),
        None,
        "refused writes wrote nothing"
    );
}

/// More documents than any one answer used to hold (5,000): every one is
/// read exactly once, page by page, in one partition and across them, with
/// filters and a limit honoured across pages; a continuation that is not
/// the store's is refused.
async fn large_answers_come_in_pages(store: &dyn Documents, run: &Run) {
    use futures::{StreamExt, TryStreamExt};
    const BIG: usize = 5_050;
    const SMALL: usize = 60;
    let c = Container::Audit;
    let (a, b) = (run.tenant(), run.tenant());
    let kind = format!("{}-big", run.kind);
    let docs: Vec<Document> = (0..BIG)
        .map(|i| (&a, i))
        .chain((0..SMALL).map(|i| (&b, i)))
        .map(|(t, i)| {
            Document::new(t, &kind, format!("d-{i:05}"), &json!({"even": i % 2 == 0}))
                .expect("object body")
        })
        .collect();
    futures::stream::iter(&docs)
        .map(|d| store.create(c, d))
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("create many");

    async fn walk(store: &dyn Documents, scope: Scope<'_>, query: Query) -> Vec<(String, String)> {
        documents::stream(store, Container::Audit, scope, query)
            .map_ok(|d| (d.tenant_id.as_str().to_owned(), d.id))
            .try_collect::<Vec<_>>()
            .await
            .expect("walk")
    }
    let in_a = walk(store, Scope::Tenant(&a), Query::of_type(&kind)).await;
    let mut unique = in_a.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((in_a.len(), unique.len()), (BIG, BIG), "each once");
    assert!(in_a.iter().all(|(t, _)| t == a.as_str()));

    let everywhere = walk(store, Scope::AllTenants, Query::of_type(&kind)).await;
    assert_eq!(everywhere.len(), BIG + SMALL);
    let even = walk(
        store,
        Scope::Tenant(&a),
        Query::of_type(&kind).with("even", true),
    )
    .await;
    assert_eq!(even.len(), BIG.div_ceil(2));
    let limited = walk(
        store,
        Scope::AllTenants,
        Query::of_type(&kind).limit(1_234).page_size(100),
    )
    .await;
    assert_eq!(limited.len(), 1_234, "a limit holds across pages");

    // Page by page by hand: no page is larger than asked, and the last says so.
    let query = Query::of_type(&kind).page_size(MAX_PAGE_SIZE);
    let (mut seen, mut pages, mut from) = (0, 0, None::<String>);
    loop {
        let page = store
            .query_page(c, Scope::Tenant(&a), &query, from.as_deref())
            .await
            .expect("page");
        assert!(page.documents.len() <= MAX_PAGE_SIZE);
        seen += page.documents.len();
        pages += 1;
        assert!(pages < 100, "pages end");
        match page.continuation {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, BIG);
    assert!(pages >= BIG.div_ceil(MAX_PAGE_SIZE));

    let refused = store
        .query_page(c, Scope::Tenant(&a), &query, Some("not-a-continuation"))
        .await;
    assert!(refused.is_err(), "a foreign continuation: {refused:?}");
    let too_big = Query::of_type(&kind).page_size(MAX_PAGE_SIZE + 1);
    assert!(matches!(
        store.query_page(c, Scope::Tenant(&a), &too_big, None).await,
        Err(PlatformError::Invalid(_))
    ));

    futures::stream::iter(&docs)
        .map(|d| store.delete(c, &d.tenant_id, &d.id))
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("clean up");
}
