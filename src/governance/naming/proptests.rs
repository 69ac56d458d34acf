//! Naming policies are saved by tenant admins and applied to what
//! requesters type: a policy document of any shape reads or is refused,
//! and applying any policy to any name (any unicode, blocked words whose
//! lower case is longer or shorter than they are) gives a name or a
//! `NamingError`, never a panic.

use proptest::prelude::*;

use crate::proptest_json::tree;
use serde_json::{Value, json};

use super::*;

/// Text with the characters that trip up case folding and slicing.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,20}",
        "[İıẞßΣσςǅﬀ\u{307}\u{301}aA ]{0,12}",
        "[\u{0}-\u{1f}\u{85}\u{2028}\u{fffe}\u{feff} a-z]{0,12}",
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(1e300)),
        tricky_text().prop_map(Value::from),
        "(text|attribute|Department|Country|TemplateCode|CrmRecord)".prop_map(Value::from),
    ];
    tree(
        leaf,
        "(prefix|suffix|blockedWords|maxLength|word|wholeWord|text|attribute)",
        3,
        4,
    )
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        tricky_text().prop_map(Part::Text),
        prop_oneof![
            Just(Attribute::Department),
            Just(Attribute::Country),
            Just(Attribute::TemplateCode),
        ]
        .prop_map(Part::Attribute),
    ]
}

fn tricky_policy() -> impl Strategy<Value = NamingPolicy> {
    (
        proptest::collection::vec(part(), 0..3),
        proptest::collection::vec(part(), 0..3),
        proptest::collection::vec((tricky_text(), any::<bool>()), 0..4),
        prop_oneof![Just(0usize), 1usize..300, Just(usize::MAX)],
    )
        .prop_map(|(prefix, suffix, words, max_length)| NamingPolicy {
            prefix,
            suffix,
            blocked_words: words
                .into_iter()
                .map(|(word, whole_word)| BlockedWord { word, whole_word })
                .collect(),
            max_length,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_policy_document_of_any_shape_reads_or_is_refused(doc in any_json()) {
        if let Ok(policy) = serde_json::from_value::<NamingPolicy>(doc) {
            let _ = policy.problems();
            let _ = apply(&policy, "Falcon", &Attributes::default());
        }
    }

    #[test]
    fn any_policy_and_any_name_give_a_name_or_an_error(
        policy in tricky_policy(),
        requested in tricky_text(),
        attribute in proptest::option::of(tricky_text()),
    ) {
        let attributes = Attributes {
            department: attribute.clone(),
            country: attribute.clone(),
            template_code: attribute,
            crm_record: None,
        };
        let _ = policy.problems();
        if let Ok(name) = apply(&policy, &requested, &attributes) {
            prop_assert!(!name.display_name.is_empty());
            prop_assert!(name.display_name.chars().count() <= MAX_DISPLAY_NAME);
            prop_assert!(name.mail_nickname.len() <= MAX_MAIL_NICKNAME);
            prop_assert!(name.mail_nickname.chars().all(nickname_char));
        }
    }

    #[test]
    fn blocked_words_with_any_unicode_never_panic(
        name in tricky_text(),
        words in proptest::collection::vec((tricky_text(), any::<bool>()), 0..4),
    ) {
        let blocked: Vec<BlockedWord> = words
            .into_iter()
            .map(|(word, whole_word)| BlockedWord { word, whole_word })
            .collect();
        let _ = blocked_word(&name, &blocked);
        // The name itself, as a blocked word, is always found in it.
        let tidied = tidy(&name);
        if !tidied.is_empty() {
            let own = [BlockedWord { word: tidied.clone(), whole_word: true }];
            prop_assert!(blocked_word(&tidied, &own).is_some(), "{tidied:?}");
        }
    }

    #[test]
    fn drift_gives_a_verdict_on_any_name(
        policy in tricky_policy(),
        name in tricky_text(),
        attribute in proptest::option::of(tricky_text()),
    ) {
        let attributes = Attributes { department: attribute, ..Attributes::default() };
        if let Some(drift) = drift(&policy, &name, &attributes) {
            prop_assert!(!drift.reasons.is_empty());
        }
    }

    #[test]
    fn a_name_the_policy_made_never_drifts(
        prefix in proptest::collection::vec(plain_part(), 0..3),
        suffix in proptest::collection::vec(plain_part(), 0..3),
        requested in "[A-Za-z][A-Za-z0-9 ]{0,20}",
        code in "[A-Z]{1,4}",
        country in "[A-Z]{2}",
    ) {
        let policy = NamingPolicy { prefix, suffix, ..NamingPolicy::default() };
        let attributes = Attributes {
            template_code: Some(code),
            country: Some(country),
            ..Attributes::default()
        };
        let made = apply(&policy, &requested, &attributes).unwrap();
        prop_assert_eq!(drift(&policy, &made.display_name, &attributes), None);
    }
}

/// Prefix and suffix parts as admins write them: short text with
/// separators, or an attribute.
fn plain_part() -> impl Strategy<Value = Part> {
    prop_oneof![
        "[A-Za-z0-9_.()-]{1,5}".prop_map(Part::Text),
        prop_oneof![Just(Attribute::Country), Just(Attribute::TemplateCode)]
            .prop_map(Part::Attribute),
    ]
}
