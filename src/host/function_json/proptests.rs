//! `function.json` files are edited by hand: any text gives a function (or
//! `None` for a disabled one) or a reason, never a panic, and what parses
//! holds what the local host relies on.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        "(in|out|get|POST|anonymous|Admin|health|/x/|billing-events|0 0 3 \\* \\* \\*|00:05:00|99999999999999999999\\.00:00:00)"
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        proptest::collection::vec(inner, 0..3).prop_map(Value::from)
    })
}

/// A binding with the known keys, each present or not, with fitting values
/// most of the time and any value otherwise.
fn near_binding() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type"),
        Just("direction"),
        Just("name"),
        Just("authLevel"),
        Just("methods"),
        Just("route"),
        Just("schedule"),
        Just("runOnStartup"),
        Just("useMonitor"),
        Just("queueName"),
        Just("connection"),
        Just("scriptFile"),
    ];
    let kind = "(httpTrigger|timerTrigger|queueTrigger|http|queue|blobTrigger)";
    (
        kind,
        "(in|out|inout)",
        "[a-z]{1,5}",
        proptest::collection::vec((key, any_value()), 0..6),
    )
        .prop_map(|(kind, direction, name, rest)| {
            let mut b = json!({"type": kind, "direction": direction, "name": name});
            for (k, v) in rest {
                b[k] = v;
            }
            b
        })
}

fn near_function() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(near_binding(), 0..4),
        proptest::option::of(any_value()),
    )
        .prop_map(|(bindings, disabled)| {
            let mut f = json!({"bindings": bindings});
            if let Some(d) = disabled {
                f["disabled"] = d;
            }
            f.to_string()
        })
}

fn check(name: &str, json: &str) -> Result<(), TestCaseError> {
    match FunctionDef::parse(name, json) {
        Ok(Some(def)) => {
            prop_assert_eq!(&def.name, name);
            if let Trigger::Http { route, .. } = &def.trigger {
                prop_assert!(!route.is_empty() && !route.starts_with('/') && !route.ends_with('/'));
            }
        }
        Ok(None) => {}
        Err(reason) => prop_assert!(!reason.is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_gives_a_function_or_a_reason(name in "\\PC{0,12}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check(&name, &String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn bindings_with_values_of_any_type_never_panic(json in near_function()) {
        check("Fn", &json)?;
    }
}
