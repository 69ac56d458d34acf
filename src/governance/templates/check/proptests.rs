//! Templates are saved by tenant admins (JSON through the operator command
//! and, soon, the admin tab): a document of any shape reads or is refused,
//! and `problems` judges any template without a panic; a template it finds
//! nothing wrong with holds every limit provisioning relies on.

use proptest::prelude::*;

use crate::proptest_json::tree;
use serde_json::{Value, json};

use super::*;

fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,16}",
        "[a-zA-Z0-9]{0,12}",
        "[~#%&*{}+/\\\\:<>?|'\"_. a-z]{0,8}",
        "[İıẞΣ\u{0}-\u{1f}\u{fffe}\u{feff} ]{0,6}",
        Just("General".to_owned()),
        Just("0b8e4c1a-7d2f-4a3e-9c61-5d4f3a2b1c0d".to_owned()),
        Just("https://wiki.example.com/".to_owned()),
        Just("https://[::1".to_owned()),
        "[a]{50,60}",
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(u64::from(u32::MAX) + 1)),
        odd_string().prop_map(Value::from),
        "(none|manager|named|stages|Private|Public|account|opportunity)".prop_map(Value::from),
    ];
    tree(
        leaf,
        "(name|kind|approvers|stages|aadObjectId|channel|url|private|policy|expiryDays|word|wholeWord|maxLength)",
        4,
        5,
    )
}

fn person() -> impl Strategy<Value = Value> {
    (odd_string(), odd_string()).prop_map(|(id, name)| json!({"aadObjectId": id, "name": name}))
}

/// A template with every field, of the right type most of the time.
fn near_template() -> impl Strategy<Value = Value> {
    let field = |typed: BoxedStrategy<Value>| prop_oneof![5 => typed, 1 => any_json()];
    let channels = proptest::collection::vec(
        (odd_string(), any::<bool>()).prop_map(|(n, p)| json!({"name": n, "private": p})),
        0..8,
    )
    .prop_map(Value::from);
    let tabs = proptest::collection::vec(
        (odd_string(), odd_string(), odd_string())
            .prop_map(|(c, n, u)| json!({"channel": c, "name": n, "url": u})),
        0..4,
    )
    .prop_map(Value::from);
    let people = proptest::collection::vec(person(), 0..3)
        .prop_map(Value::from)
        .boxed();
    let approval = prop_oneof![
        Just(json!({"kind": "none"})),
        Just(json!({"kind": "manager"})),
        people
            .clone()
            .prop_map(|a| json!({"kind": "named", "approvers": a})),
        proptest::collection::vec(proptest::collection::vec(person(), 0..3), 0..7)
            .prop_map(|s| json!({"kind": "stages", "stages": s})),
    ];
    (
        (
            field(odd_string().prop_map(Value::from).boxed()),
            field(odd_string().prop_map(Value::from).boxed()),
            field(any::<u32>().prop_map(Value::from).boxed()),
            field(channels.boxed()),
            field(tabs.boxed()),
        ),
        (
            field(proptest::collection::vec(odd_string(), 0..4).prop_map(Value::from).boxed()),
            field(people.clone().boxed()),
            field(people.boxed()),
            field(approval.boxed()),
            field(
                proptest::option::of(prop_oneof![Just(0u32), any::<u32>()])
                    .prop_map(|d| json!({"policy": "", "expiryDays": d}))
                    .boxed(),
            ),
            any_json(),
        ),
    )
        .prop_map(|((name, code, version, channels, tabs), (apps, owners, members, approval, lifecycle, naming))| {
            json!({
                "name": name, "code": code, "version": version, "channels": channels, "tabs": tabs,
                "apps": apps, "owners": owners, "members": members, "approval": approval,
                "lifecycle": lifecycle, "naming": naming,
            })
        })
}

fn check(template: &Template) -> Result<(), TestCaseError> {
    let problems = template.problems();
    prop_assert!(problems.iter().all(|p| !p.is_empty()));
    if problems.is_empty() {
        prop_assert!(!template.name.trim().is_empty());
        prop_assert!(template.channels.len() <= MAX_CHANNELS);
        prop_assert!(template.tabs.len() <= MAX_TABS && template.apps.len() <= MAX_APPS);
        for channel in &template.channels {
            prop_assert!(channel_name_problem(&channel.name).is_none());
            prop_assert!(channel.name.chars().count() <= MAX_CHANNEL_NAME);
        }
        for p in template.owners.iter().chain(&template.members) {
            prop_assert!(uuid::Uuid::parse_str(&p.aad_object_id).is_ok());
        }
        prop_assert_ne!(template.lifecycle.expiry_days, Some(0));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_give_a_template_or_a_decode_error(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(template) = serde_json::from_slice::<Template>(&bytes) {
            check(&template)?;
        }
    }

    #[test]
    fn near_valid_templates_are_judged_without_a_panic(doc in near_template()) {
        if let Ok(template) = serde_json::from_value::<Template>(doc) {
            check(&template)?;
        }
    }
}
