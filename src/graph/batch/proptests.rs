//! Graph's answers are outside input: a `$batch` answer of any shape gives
//! sub-responses or a `Decode` error, never a panic, and a plan of any
//! requests (cycles, self-dependencies, duplicates) is a valid plan or an
//! `Invalid` error. A page's `@odata.nextLink` resolves only to the
//! configured Graph host, whatever it says.

use proptest::prelude::*;

use crate::proptest_json::{scalar, tree};
use serde_json::{Value, json};

use super::*;
use url::Url;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        scalar(),
        prop_oneof![0u64..1000, Just(65_536u64), Just(u64::MAX)].prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        "[0-9]{1,3}".prop_map(Value::from),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    tree(
        leaf(),
        "(id|status|headers|body|error|code|message|Retry-After|[a-z]{1,4})",
        4,
        4,
    )
}

/// A `$batch` answer with sub-responses whose fields are of the right type
/// most of the time.
fn near_batch_answer() -> impl Strategy<Value = Value> {
    let field = |typed: BoxedStrategy<Value>| prop_oneof![4 => typed, 1 => any_json()];
    let response = (
        field("[0-9a-z]{0,3}".prop_map(Value::from).boxed()),
        field(prop_oneof![100u64..600, any::<u64>()].prop_map(Value::from).boxed()),
        field(
            proptest::collection::btree_map("(Retry-After|retry-after|Location|[a-z]{1,5})", leaf(), 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
                .boxed(),
        ),
        any_json(),
    )
        .prop_map(|(id, status, headers, body)| json!({"id": id, "status": status, "headers": headers, "body": body}));
    field(
        proptest::collection::vec(response, 0..6)
            .prop_map(Value::from)
            .boxed(),
    )
    .prop_map(|responses| json!({"responses": responses}))
}

fn check_answer(body: &Value) -> Result<(), TestCaseError> {
    match parse_responses(body) {
        Ok(by_id) => {
            for (id, r) in &by_id {
                prop_assert_eq!(id, &r.id);
                let _ = r.error();
                if let Some(wait) = r.header("retry-after") {
                    let _ = parse_retry_after(wait);
                }
                prop_assert_eq!(r.error().is_none(), r.is_success());
            }
        }
        Err(e) => prop_assert!(matches!(e, GraphError::Decode(_))),
    }
    Ok(())
}

/// Requests with ids from a small alphabet (so duplicates happen) and
/// dependencies on any of them (so cycles and self-links happen).
fn any_plan() -> impl Strategy<Value = Vec<BatchRequest>> {
    proptest::collection::vec(
        ("[a-z]{0,2}", proptest::collection::vec("[a-z]{1,2}", 0..3)),
        0..50,
    )
    .prop_map(|specs| {
        specs
            .into_iter()
            .map(|(id, deps)| {
                deps.into_iter()
                    .fold(BatchRequest::get(id, "/me"), BatchRequest::depends_on)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_batch_answer_gives_responses_or_a_decode_error(body in any_json()) {
        check_answer(&body)?;
        check_answer(&json!({"responses": body}))?;
    }

    #[test]
    fn near_valid_batch_answers_never_panic(body in near_batch_answer()) {
        check_answer(&body)?;
    }

    #[test]
    fn any_plan_is_valid_or_refused(requests in any_plan()) {
        match plan_chunks(&requests) {
            Ok(chunks) => {
                let mut all: Vec<usize> = chunks.concat();
                prop_assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= MAX_BATCH));
                all.sort_unstable();
                prop_assert_eq!(all, (0..requests.len()).collect::<Vec<_>>());
                // Every dependency travels in its dependant's batch.
                for chunk in &chunks {
                    let ids: HashSet<&str> = chunk.iter().map(|&i| requests[i].id.as_str()).collect();
                    for &i in chunk {
                        prop_assert!(requests[i].depends_on.iter().all(|d| ids.contains(d.as_str())));
                    }
                }
            }
            Err(e) => prop_assert!(matches!(e, GraphError::Invalid(_))),
        }
    }

    #[test]
    fn resend_picks_only_from_the_round(
        requests in any_plan(),
        statuses in proptest::collection::vec(prop_oneof![Just(200u16), Just(424), Just(429), Just(503), Just(400), any::<u16>()], 50),
        answered in proptest::collection::vec(any::<bool>(), 50),
    ) {
        let answers: Vec<Option<BatchResponse>> = requests
            .iter()
            .enumerate()
            .map(|(i, r)| answered[i].then(|| BatchResponse {
                id: r.id.clone(),
                status: statuses[i],
                headers: BTreeMap::new(),
                body: Value::Null,
            }))
            .collect();
        let round: Vec<usize> = (0..requests.len()).collect();
        let again = to_resend(&requests, &answers, &round);
        prop_assert!(again.windows(2).all(|w| w[0] < w[1]));
        for i in again {
            let status = answers[i].as_ref().map_or(0, |a| a.status);
            prop_assert!(is_throttle(status) || status == 424);
        }
    }

    #[test]
    fn a_next_link_never_leaves_the_graph_host(
        link in prop_oneof![
            "\\PC{0,30}",
            "https://graph\\.microsoft\\.com[/?@:#.\\\\%a-z0-9]{0,20}",
            "https://graph\\.microsoft\\.com/v1\\.0[/?@:#.\\\\%a-z0-9]{0,20}",
            "(https?:)?//[a-z.@:]{0,20}/v1\\.0/[a-z]{0,5}",
            "/[/\\\\@.a-z:]{0,20}",
        ],
    ) {
        let base = Url::parse("https://graph.microsoft.com/v1.0").expect("a URL");
        if let Ok(url) = resolve(&base, &link) {
            prop_assert_eq!(url.scheme(), "https");
            prop_assert_eq!(url.host_str(), Some("graph.microsoft.com"), "{:?} -> {}", link, url);
            prop_assert_eq!(url.port_or_known_default(), Some(443));
            prop_assert!(url.username().is_empty() && url.password().is_none());
        }
    }
}
