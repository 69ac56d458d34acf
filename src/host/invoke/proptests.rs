//! Invocation payloads come from the Functions host, but their contents
//! (queue message text, metadata) are whatever was enqueued: any bytes give
//! a request or a decode error, and any request gives a trigger or a clear
//! `HostError::Payload`, never a panic.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,16}".prop_map(Value::from),
        // The host's double encoding, of numbers and of objects.
        any::<u64>().prop_map(|n| Value::from(format!("\"{n}\""))),
        Just(Value::from("\"1\"")),
        Just(Value::from("{\"MethodName\":\"X\"}")),
        Just(Value::from("2019-10-09T17:58:31+00:00")),
        Just(Value::from("9999-12-31T23:59:60+23:59")),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                "(msg|timer|Schedule|ScheduleStatus|IsPastDue|Last|Next|LastUpdated|MethodName|[a-z]{1,4})",
                inner.clone(),
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
            // The same, JSON-encoded once more, as the host does.
            inner.prop_map(|v| Value::from(v.to_string())),
        ]
    })
}

/// A payload with the keys the handler reads, holding anything.
fn near_request() -> impl Strategy<Value = Value> {
    let meta_key = prop_oneof![
        Just("DequeueCount"),
        Just("Id"),
        Just("InsertionTime"),
        Just("sys"),
    ];
    (
        any_json(),
        any_json(),
        proptest::collection::vec((meta_key, any_json()), 0..5),
    )
        .prop_map(|(msg, timer, meta)| {
            let meta: serde_json::Map<String, Value> =
                meta.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            json!({"Data": {"msg": msg, "timer": timer}, "Metadata": meta})
        })
}

fn exercise(req: &InvokeRequest) -> Result<(), TestCaseError> {
    for binding in ["msg", "timer", "absent"] {
        match req.queue_trigger(binding) {
            Ok(q) => prop_assert!(q.dequeue_count > 0 || req.metadata.contains_key("DequeueCount")),
            Err(e) => prop_assert!(matches!(e, HostError::Payload(_))),
        }
        if let Err(e) = req.timer(binding) {
            prop_assert!(matches!(e, HostError::Payload(_)));
        }
    }
    let _ = req.method_name();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_give_a_request_or_a_decode_error(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(req) = serde_json::from_slice::<InvokeRequest>(&bytes) {
            exercise(&req)?;
        }
    }

    #[test]
    fn payloads_with_values_of_any_type_never_panic(payload in near_request()) {
        let text = payload.to_string();
        let req: InvokeRequest = serde_json::from_str(&text).expect("Data and Metadata are objects");
        exercise(&req)?;
    }

    #[test]
    fn a_queue_message_is_read_back_as_it_was_sent(text in "\\PC{0,64}", twice in any::<bool>()) {
        // Plain, or JSON-encoded once more by the host.
        let sent = if twice { Value::from(Value::from(text.clone()).to_string()) } else { Value::from(text.clone()) };
        let req = InvokeRequest {
            data: [("msg".to_owned(), sent)].into_iter().collect(),
            ..Default::default()
        };
        let q = req.queue_trigger("msg").expect("a string message");
        // A plain text that is itself a JSON string literal reads as its content.
        let expected = match (twice, serde_json::from_str::<Value>(&text)) {
            (false, Ok(Value::String(inner))) => inner,
            _ => text,
        };
        prop_assert_eq!(q.text, expected);
    }
}

#[test]
fn deep_nesting_is_a_decode_error_not_a_stack_overflow() {
    let deep = format!(
        "{{\"Data\":{{\"msg\":{}{}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(serde_json::from_str::<InvokeRequest>(&deep).is_err());
    // Inside a string, decoded a second time.
    let inner = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let req = InvokeRequest {
        data: [("timer".to_owned(), Value::from(inner))]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    assert!(req.timer("timer").is_err());
}
