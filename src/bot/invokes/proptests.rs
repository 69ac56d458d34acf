//! Invoke values are written by Teams from what a user typed, clicked or
//! shared, and a replayed or forged card can put anything in them: every
//! reader of a value takes any JSON without a panic, keeps only what is ours
//! (ids of our own shape), and holds what it keeps to a bounded size, so
//! the memory it uses does not follow a huge message.

use proptest::prelude::*;

use crate::proptest_json::{scalar, tree};
use serde_json::{Value, json};

use super::Activity;
use super::compose_action::{message_text, prefill};
use super::compose_query::{option, search_text};
use super::id_in;
use super::request_flow::{draft_id, form_from};
use super::task_module::action;
use crate::governance::requests::MAX_TEXT_CHARS;
use crate::test_alloc::peak_bytes;

fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[a-zA-Z0-9-]{0,120}",
        "req-[a-z0-9-]{0,100}",
        "[<>&;#a-z ]{0,40}",
        "[\u{0}-\u{1f}\u{fffe}\u{ffff}\u{200b}\u{202e}\u{10ffff}]{0,8}",
        "&(nbsp|lt|gt|quot|#39|amp);[a-z]{0,3}",
    ]
}

/// The keys the invoke readers look for, and others.
const KEYS: &str = "(action|type|verb|data|requestId|groupId|draftId|templateId|displayName|description|justification|owners|members|commandId|parameters|name|value|queryOptions|skip|count|messagePayload|body|content|contentType|subject|[a-z]{1,3})";

fn any_json() -> impl Strategy<Value = Value> {
    tree(
        prop_oneof![scalar(), odd_string().prop_map(Value::from)],
        KEYS,
        5,
        5,
    )
}

fn our_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 100 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn card_and_form_readers_keep_only_our_ids(value in any_json()) {
        for name in ["requestId", "groupId"] {
            if let Some(id) = id_in(&value, name) {
                prop_assert!(our_id(&id), "{id:?}");
            }
        }
        if let Some(id) = draft_id(&value) {
            prop_assert!(our_id(&id) && id.starts_with("req-"), "{id:?}");
        }
        let form = form_from(&value);
        prop_assert!(form.owners.len() <= 50 && form.members.len() <= 50);
        prop_assert!(form.owners.iter().chain(&form.members).all(|e| !e.is_empty() && e.trim() == e));
        let _ = action(&value);
    }

    #[test]
    fn search_readers_take_any_value(value in any_json(), wrapped in any::<bool>()) {
        let value = if wrapped { json!({"parameters": [value.clone()], "queryOptions": value}) } else { value };
        let _ = search_text(&value);
        let _ = option(&value, "skip", 0);
        let _ = option(&value, "count", 25);
    }

    #[test]
    fn a_shared_message_prefills_a_bounded_form(
        content in prop_oneof![odd_string(), "[<a-z> &;]{0,2000}"],
        subject in proptest::option::of(odd_string()),
        html in any::<bool>(),
        other in any_json(),
    ) {
        let mut payload = json!({"body": {"content": content, "contentType": if html { "html" } else { "text" }}});
        if let Some(s) = subject {
            payload["subject"] = Value::from(s);
        }
        for value in [json!({"messagePayload": payload}), json!({"messagePayload": other})] {
            let form = prefill(&value);
            prop_assert!(form.display_name.chars().count() <= 60);
            prop_assert!(form.description.chars().count() <= MAX_TEXT_CHARS);
            prop_assert_eq!(form.display_name.trim(), form.display_name.as_str());
            let text = message_text(value.get("messagePayload").unwrap_or(&Value::Null));
            prop_assert!(!text.contains("  ") && text.trim() == text);
        }
    }

    #[test]
    fn acting_user_is_a_guid_or_none(raw in any_json(), aad in odd_string()) {
        let mut raw = json!({"type": "invoke", "from": raw});
        if raw["from"].is_object() && aad.len() % 2 == 0 {
            raw["from"]["aadObjectId"] = Value::from(aad);
        }
        if let Ok(activity) = serde_json::from_value::<Activity>(raw)
            && let Some(user) = super::acting_user(&activity)
        {
            prop_assert!(uuid::Uuid::parse_str(&user.aad_object_id).is_ok());
        }
    }
}

/// A message of any size is read in bounded memory: what the form keeps is
/// cut, and so is what is looked at to make it.
#[test]
fn a_huge_shared_message_is_read_in_bounded_memory() {
    for (content, html) in [
        ("<b>x</b> &amp; ".repeat(200_000), true),
        ("🦀".repeat(1_000_000), false),
        (" ".repeat(3_000_000), true),
    ] {
        let value = json!({"messagePayload": {"body": {"content": content, "contentType": if html { "html" } else { "text" }}}});
        let (form, peak) = peak_bytes(|| prefill(&value));
        assert!(form.description.chars().count() <= MAX_TEXT_CHARS);
        assert!(
            peak < 1 << 20,
            "{peak} bytes for a {} byte message",
            content.len()
        );
    }
}
