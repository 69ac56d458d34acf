//! `host.json` is edited by hand: any text gives settings or a reason, and
//! any TimeSpan text gives a duration or `None`, never a panic (an hour
//! count near `u64::MAX` once overflowed the seconds).

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// A JSON value of any shape, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
        timespan().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `hh:mm:ss[.fff]` with any numbers in each place.
fn timespan() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        "[0-9]{1,3}",
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9]{1,2}\\.[0-9]{1,9}",
        "(NaN|inf|-0|1e308|-1|\\+5)",
    ];
    proptest::collection::vec(number, 1..5).prop_map(|parts| parts.join(":"))
}

/// A host.json whose known keys hold values of any type.
fn near_host_json() -> impl Strategy<Value = String> {
    let queue_key = prop_oneof![
        Just("maxDequeueCount"),
        Just("batchSize"),
        Just("newBatchThreshold"),
        Just("visibilityTimeout"),
        Just("maxPollingInterval"),
        Just("messageEncoding"),
    ];
    (
        proptest::collection::vec((queue_key, any_json()), 0..6),
        any_json(),
        any_json(),
        any::<bool>(),
    )
        .prop_map(|(queues, prefix, executable, version_ok)| {
            let queues: serde_json::Map<String, Value> =
                queues.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            json!({
                "version": if version_ok { json!("2.0") } else { executable.clone() },
                "customHandler": {"description": {"defaultExecutablePath": executable}},
                "extensions": {"http": {"routePrefix": prefix}, "queues": queues},
            })
            .to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_timespan_text_gives_a_duration_or_none(text in timespan()) {
        if let Some(d) = parse_timespan(&text) {
            let hours: u64 = text.split(':').next().and_then(|h| h.parse().ok()).unwrap_or(0);
            prop_assert!(d.as_secs() / 3600 >= hours);
        }
    }

    #[test]
    fn any_bytes_give_settings_or_a_reason(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(reason) = HostJson::parse(&text) {
            prop_assert!(!reason.is_empty());
        }
    }

    #[test]
    fn known_keys_with_values_of_any_type_never_panic(text in near_host_json()) {
        match HostJson::parse(&text) {
            Ok(host) => {
                prop_assert!((1..=32).contains(&host.batch_size));
                prop_assert!(host.max_dequeue_count >= 1);
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }
}

#[test]
fn an_hour_count_that_overflows_the_seconds_is_refused() {
    assert_eq!(
        parse_timespan(&format!("{}:00:00", u64::MAX / 3600 + 1)),
        None
    );
    assert_eq!(
        parse_timespan(&format!("{}:59:59.5", u64::MAX / 3600)),
        None
    );
    assert_eq!(
        parse_timespan("100000:00:00"),
        Some(Duration::from_secs(360_000_000))
    );
}
