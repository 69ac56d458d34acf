//! JSON batching: up to twenty requests in one `POST /$batch`.
//!
//! Requests linked by `dependsOn` must travel in the same batch, so they are
//! packed as whole groups. Graph answers the sub-requests in any order and
//! throttles each on its own (an inner 429 with its own `Retry-After`), so
//! the answers are put back in the caller's order, and only the throttled
//! sub-requests (with what depended on them) are sent again in a new batch.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use super::retry::{is_throttle, parse_retry_after};
use super::{Graph, GraphError, Payload, resolve};
use crate::ids::TenantId;

/// Graph's limit of requests in one batch.
pub const MAX_BATCH: usize = 20;

#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// Unique within one [`Graph::batch`] call.
    pub id: String,
    pub method: reqwest::Method,
    /// Relative to the version: `/teams/{id}/channels`.
    pub url: String,
    /// Sent with `Content-Type: application/json`, or with
    /// [`Self::content_type`] as a base64 string (binary content).
    pub body: Option<Value>,
    /// The content type of a binary body; `None` for JSON.
    pub content_type: Option<String>,
    pub depends_on: Vec<String>,
}

impl BatchRequest {
    pub fn get(id: impl Into<String>, url: impl Into<String>) -> Self {
        BatchRequest {
            id: id.into(),
            method: reqwest::Method::GET,
            url: url.into(),
            body: None,
            content_type: None,
            depends_on: Vec::new(),
        }
    }

    pub fn post(id: impl Into<String>, url: impl Into<String>, body: Value) -> Self {
        BatchRequest {
            id: id.into(),
            method: reqwest::Method::POST,
            url: url.into(),
            body: Some(body),
            content_type: None,
            depends_on: Vec::new(),
        }
    }

    /// A `PUT` of binary content (a picture), base64 in the batch as
    /// JSON batching carries non-JSON bodies.
    pub fn put_bytes(
        id: impl Into<String>,
        url: impl Into<String>,
        content_type: &str,
        bytes: &[u8],
    ) -> Self {
        use base64::Engine;
        BatchRequest {
            id: id.into(),
            method: reqwest::Method::PUT,
            url: url.into(),
            body: Some(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into(),
            ),
            content_type: Some(content_type.to_owned()),
            depends_on: Vec::new(),
        }
    }

    /// Any method, with an optional JSON body.
    pub fn new(
        id: impl Into<String>,
        method: reqwest::Method,
        url: impl Into<String>,
        body: Option<Value>,
    ) -> Self {
        BatchRequest {
            id: id.into(),
            method,
            url: url.into(),
            body,
            content_type: None,
            depends_on: Vec::new(),
        }
    }

    /// Runs only after `id` succeeded (Graph answers 424 otherwise).
    pub fn depends_on(mut self, id: impl Into<String>) -> Self {
        self.depends_on.push(id.into());
        self
    }

    /// The wire form, naming only the dependencies in `sent` (the others
    /// already succeeded in an earlier batch).
    fn to_wire(&self, sent: &HashSet<&str>) -> Value {
        let mut wire = json!({"id": self.id, "method": self.method.as_str(), "url": self.url});
        if let Some(body) = &self.body {
            wire["body"] = body.clone();
            let content_type = self.content_type.as_deref().unwrap_or("application/json");
            wire["headers"] = json!({ "Content-Type": content_type });
        }
        let depends_on: Vec<&str> = self
            .depends_on
            .iter()
            .map(String::as_str)
            .filter(|d| sent.contains(d))
            .collect();
        if !depends_on.is_empty() {
            wire["dependsOn"] = json!(depends_on);
        }
        wire
    }
}

#[derive(Debug, Clone)]
pub struct BatchResponse {
    pub id: String,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl BatchResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `None` when 2xx; else the error `send` would give for this status
    /// and body (a throttle left over reports `attempts: 0`: not known here).
    pub fn error(&self) -> Option<GraphError> {
        if self.is_success() {
            None
        } else if is_throttle(self.status) {
            Some(GraphError::Throttled {
                status: self.status,
                attempts: 0,
            })
        } else {
            Some(GraphError::from_answer(self.status, &self.body))
        }
    }

    /// A header by name, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits `requests` (by index) into batches of at most [`MAX_BATCH`],
/// keeping every `dependsOn`-connected group in one batch and the order
/// within it. Fails on duplicate or unknown ids and on a group over the
/// limit.
pub(super) fn plan_chunks(requests: &[BatchRequest]) -> Result<Vec<Vec<usize>>, GraphError> {
    let mut index = HashMap::new();
    for (i, r) in requests.iter().enumerate() {
        if r.id.is_empty() || index.insert(r.id.as_str(), i).is_some() {
            return Err(GraphError::Invalid(format!(
                "batch request ids must be unique and non-empty: {:?}",
                r.id
            )));
        }
    }
    // Union-find over dependsOn links.
    let mut parent: Vec<usize> = (0..requests.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, r) in requests.iter().enumerate() {
        for dep in &r.depends_on {
            let Some(&j) = index.get(dep.as_str()) else {
                return Err(GraphError::Invalid(format!(
                    "batch request {:?} depends on unknown {dep:?}",
                    r.id
                )));
            };
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            parent[a] = b;
        }
    }
    // Groups in order of first appearance.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of_root = HashMap::new();
    for i in 0..requests.len() {
        let r = root(&mut parent, i);
        let g = *group_of_root.entry(r).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    for group in groups {
        if group.len() > MAX_BATCH {
            return Err(GraphError::Invalid(format!(
                "{} batch requests linked by dependsOn (at most {MAX_BATCH})",
                group.len()
            )));
        }
        match chunks.last_mut() {
            Some(chunk) if chunk.len() + group.len() <= MAX_BATCH => chunk.extend(group),
            _ => chunks.push(group),
        }
    }
    Ok(chunks)
}

/// The sub-responses of one `$batch` answer, by request id.
pub(super) fn parse_responses(body: &Value) -> Result<HashMap<String, BatchResponse>, GraphError> {
    let Some(responses) = body["responses"].as_array() else {
        return Err(GraphError::Decode(
            "a $batch answer without `responses`".into(),
        ));
    };
    let mut by_id = HashMap::new();
    for r in responses {
        let (Some(id), Some(status)) = (r["id"].as_str(), r["status"].as_u64()) else {
            return Err(GraphError::Decode(
                "a $batch response without id or status".into(),
            ));
        };
        let headers = r["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        by_id.insert(
            id.to_owned(),
            BatchResponse {
                id: id.to_owned(),
                status: u16::try_from(status).unwrap_or(500),
                headers,
                body: r.get("body").cloned().unwrap_or_default(),
            },
        );
    }
    Ok(by_id)
}

/// Which requests to send again after a round: the throttled ones, and a
/// 424 whose dependencies all either succeeded or are sent again (one
/// failed for good keeps it failed).
pub(super) fn to_resend(
    requests: &[BatchRequest],
    answers: &[Option<BatchResponse>],
    round: &[usize],
) -> Vec<usize> {
    let index: HashMap<&str, usize> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let status = |i: usize| answers[i].as_ref().map_or(0, |a| a.status);
    let mut again: HashSet<usize> = round
        .iter()
        .copied()
        .filter(|&i| is_throttle(status(i)))
        .collect();
    loop {
        let before = again.len();
        for &i in round {
            if status(i) != 424 || again.contains(&i) {
                continue;
            }
            let deps: Vec<usize> = requests[i]
                .depends_on
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect();
            let waits_on_a_resend = deps.iter().any(|d| again.contains(d));
            let rest_fine = deps
                .iter()
                .all(|&d| again.contains(&d) || (200..300).contains(&status(d)));
            if waits_on_a_resend && rest_fine {
                again.insert(i);
            }
        }
        if again.len() == before {
            break;
        }
    }
    round
        .iter()
        .copied()
        .filter(|i| again.contains(i))
        .collect()
}

impl Graph {
    /// JSON batching: `POST {base}/$batch` in chunks of at most 20, groups
    /// linked by `dependsOn` kept together (`Invalid` if one exceeds 20).
    /// Answers come back in the order of `requests`. Sub-requests answered
    /// 429/503 are re-sent in a new batch (after the largest inner
    /// `Retry-After`, else back-off) up to the retry policy, then returned
    /// as they are. Other statuses are returned for the caller to judge
    /// ([`BatchResponse::error`]).
    pub async fn batch(
        &self,
        tenant: &TenantId,
        requests: Vec<BatchRequest>,
    ) -> Result<Vec<BatchResponse>, GraphError> {
        let policy = self.inner.config.retry;
        let url = resolve(&self.inner.config.base_url, "/$batch")?;
        plan_chunks(&requests)?;
        let mut answers: Vec<Option<BatchResponse>> = vec![None; requests.len()];
        let mut pending: Vec<usize> = (0..requests.len()).collect();
        let mut round = 0;
        while !pending.is_empty() {
            round += 1;
            let subset: Vec<BatchRequest> = pending.iter().map(|&i| requests[i].clone()).collect();
            let sent: HashSet<&str> = subset.iter().map(|r| r.id.as_str()).collect();
            for chunk in plan_chunks(&subset)? {
                let wire: Vec<Value> = chunk.iter().map(|&c| subset[c].to_wire(&sent)).collect();
                let body = json!({"requests": wire});
                self.observers().each(|c| c.batched.add(chunk.len() as u64));
                // The $batch POST may be sent again after a 502/504 when
                // every request in it may be.
                let idempotent = chunk
                    .iter()
                    .all(|&c| subset[c].method != reqwest::Method::POST);
                let res = self
                    .execute_with(
                        tenant,
                        reqwest::Method::POST,
                        url.clone(),
                        Payload::Json(&body),
                        idempotent,
                        chunk.len() as u32,
                    )
                    .await?;
                let mut by_id = parse_responses(&res.body)?;
                for &c in &chunk {
                    let i = pending[c];
                    let answer = by_id.remove(&requests[i].id).ok_or_else(|| {
                        GraphError::Decode(format!("$batch lost request {:?}", requests[i].id))
                    })?;
                    if is_throttle(answer.status) {
                        self.observers().each(|c| c.throttled.inc());
                    }
                    answers[i] = Some(answer);
                }
            }
            let again = to_resend(&requests, &answers, &pending);
            if again.is_empty() {
                break;
            }
            let retry_after = again
                .iter()
                .filter_map(|&i| answers[i].as_ref()?.header("retry-after"))
                .filter_map(parse_retry_after)
                .max();
            if let Some(wait) = retry_after {
                // The tenant's other requests wait too.
                self.inner.governor.pause(tenant, wait);
            }
            let wait = retry_after.unwrap_or_else(|| policy.backoff(round));
            if round >= policy.max_attempts || wait > policy.max_retry_after {
                tracing::warn!(tenant = %tenant, throttled = again.len(), round,
                    wait_ms = wait.as_millis() as u64, "Graph still throttling batch requests; returning them");
                break;
            }
            tracing::info!(tenant = %tenant, throttled = again.len(), round,
                wait_ms = wait.as_millis() as u64, "Graph throttled batch requests; re-sending them");
            self.observers().each(|c| c.retries.add(again.len() as u64));
            tokio::time::sleep(wait).await;
            pending = again;
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every request was answered or the batch failed"))
            .collect())
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(requests: &[BatchRequest], chunks: &[Vec<usize>]) -> Vec<Vec<String>> {
        chunks
            .iter()
            .map(|c| c.iter().map(|&i| requests[i].id.clone()).collect())
            .collect()
    }

    #[test]
    fn independent_requests_fill_batches_of_twenty() {
        let requests: Vec<_> = (0..45)
            .map(|i| BatchRequest::get(i.to_string(), "/me"))
            .collect();
        let chunks = plan_chunks(&requests).unwrap();
        let sizes: Vec<_> = chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, [20, 20, 5]);
        assert_eq!(chunks.concat(), (0..45).collect::<Vec<_>>());
    }

    #[test]
    fn dependency_groups_stay_in_one_batch() {
        let mut requests: Vec<_> = (0..18)
            .map(|i| BatchRequest::get(format!("a{i}"), "/me"))
            .collect();
        // A chain of three that does not fit after the first 18.
        requests.push(BatchRequest::post("g1", "/groups", json!({})));
        requests.push(BatchRequest::get("g2", "/x").depends_on("g1"));
        requests.push(BatchRequest::get("g3", "/y").depends_on("g2"));
        // A dependency on an earlier request pulls it into the same group.
        requests.push(BatchRequest::get("late", "/z").depends_on("a0"));
        let chunks = plan_chunks(&requests).unwrap();
        let named = ids(&requests, &chunks);
        assert_eq!(named.len(), 2);
        assert!(named[0].contains(&"a0".to_owned()) && named[0].contains(&"late".to_owned()));
        assert_eq!(named[1], ["g1", "g2", "g3"]);
    }

    #[test]
    fn bad_plans_are_refused() {
        let mut chain = vec![BatchRequest::get("0", "/me")];
        for i in 1..21 {
            chain.push(BatchRequest::get(i.to_string(), "/me").depends_on((i - 1).to_string()));
        }
        assert!(matches!(plan_chunks(&chain), Err(GraphError::Invalid(_))));
        let dup = vec![BatchRequest::get("1", "/a"), BatchRequest::get("1", "/b")];
        assert!(matches!(plan_chunks(&dup), Err(GraphError::Invalid(_))));
        let unknown = vec![BatchRequest::get("1", "/a").depends_on("9")];
        assert!(matches!(plan_chunks(&unknown), Err(GraphError::Invalid(_))));
    }

    #[test]
    fn responses_in_any_order_are_found_by_id() {
        let body = json!({"responses": [
            {"id": "2", "status": 404, "body": {"error": {"code": "NotFound", "message": "no"}}},
            {"id": "1", "status": 200, "headers": {"Retry-After": "3"}, "body": {"id": "x"}},
        ]});
        let by_id = parse_responses(&body).unwrap();
        assert!(by_id["1"].is_success() && by_id["1"].error().is_none());
        assert_eq!(by_id["1"].header("retry-after"), Some("3"));
        assert!(by_id["2"].error().unwrap().is_not_found());
        assert!(parse_responses(&json!({})).is_err());
    }

    #[test]
    fn only_throttled_requests_and_what_waited_on_them_are_resent() {
        let requests = vec![
            BatchRequest::get("a", "/a"),
            BatchRequest::get("b", "/b").depends_on("a"),
            BatchRequest::get("c", "/c"),
            BatchRequest::get("d", "/d").depends_on("c"),
            BatchRequest::get("e", "/e"),
        ];
        let answer = |id: &str, status| {
            Some(BatchResponse {
                id: id.into(),
                status,
                headers: BTreeMap::new(),
                body: Value::Null,
            })
        };
        let answers = vec![
            answer("a", 429),
            answer("b", 424),
            answer("c", 400),
            answer("d", 424),
            answer("e", 200),
        ];
        assert_eq!(to_resend(&requests, &answers, &[0, 1, 2, 3, 4]), [0, 1]);
        let sent: HashSet<&str> = ["b"].into();
        assert!(requests[1].to_wire(&sent).get("dependsOn").is_none());
        let wire = BatchRequest::post("p", "/groups", json!({"a": 1})).to_wire(&sent);
        assert_eq!(wire["headers"]["Content-Type"], "application/json");
        let picture =
            BatchRequest::put_bytes("p", "/groups/g/photo/$value", "image/png", b"\x89PNG");
        let wire = picture.to_wire(&sent);
        assert_eq!(wire["method"], "PUT");
        assert_eq!(wire["headers"]["Content-Type"], "image/png");
        assert_eq!(wire["body"], "iVBORw==");
    }
}
