//! Activities are the bot's outside input: any bytes give an activity or a
//! decode error (before any token is looked at, the body is only parsed),
//! and what parses can be read (`tenant_id`, `reply`) and written back
//! without a panic or a loss.

use proptest::prelude::*;

use crate::proptest_json::{scalar, tree};
use serde_json::{Value, json};

use super::*;

/// Strings that stress a parser: empty, odd unicode, near-GUIDs, long.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,16}",
        "[\u{0}-\u{1f}\u{7f}\u{fffe}\u{ffff}\u{feff}\u{202e}\u{10ffff}]{0,8}",
        "[0-9A-Fa-f-]{30,40}",
        Just("72F988BF-86F1-41AF-91AB-2D7CD011DB47".to_owned()),
        "[a]{300,1200}",
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![scalar(), odd_string().prop_map(Value::from)];
    tree(
        leaf,
        "(id|tenant|tenantId|name|aadObjectId|[a-z]{1,5})",
        4,
        4,
    )
}

/// An activity with the fields the bot reads, each holding a value of the
/// right type most of the time and of any type otherwise.
fn near_activity() -> impl Strategy<Value = Value> {
    let account = (
        odd_string(),
        proptest::option::of(odd_string()),
        proptest::option::of(odd_string()),
    )
        .prop_map(|(id, name, aad)| json!({"id": id, "name": name, "aadObjectId": aad}))
        .boxed();
    let conversation = (
        odd_string(),
        proptest::option::of(odd_string()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(id, tenant, group)| json!({"id": id, "tenantId": tenant, "isGroup": group}));
    let field = |typed: BoxedStrategy<Value>| prop_oneof![4 => typed, 1 => any_json()];
    (
        field(odd_string().prop_map(Value::from).boxed()),
        field(account.clone().boxed()),
        field(account.clone().boxed()),
        field(conversation.boxed()),
        field(odd_string().prop_map(|t| json!({"tenant": {"id": t}})).boxed()),
        field(proptest::collection::vec(account, 0..3).prop_map(Value::from).boxed()),
        field(
            proptest::collection::vec((odd_string(), any_json()), 0..3)
                .prop_map(|a| a.into_iter().map(|(t, c)| json!({"contentType": t, "content": c})).collect())
                .boxed(),
        ),
        any_json(),
        proptest::collection::vec(("[a-z]{1,8}", any_json()), 0..3),
    )
        .prop_map(|(kind, from, recipient, conversation, channel_data, added, attachments, value, extra)| {
            let mut a = json!({
                "type": kind, "from": from, "recipient": recipient, "conversation": conversation,
                "channelData": channel_data, "membersAdded": added, "attachments": attachments,
                "value": value, "serviceUrl": "https://smba.trafficmanager.net/emea/",
            });
            for (k, v) in extra {
                a[k] = v;
            }
            a
        })
}

fn exercise(activity: &Activity) -> Result<(), TestCaseError> {
    if let Some(tenant) = activity.tenant_id() {
        prop_assert!(uuid::Uuid::parse_str(tenant.as_str()).is_ok());
    }
    let reply = activity.reply().with_text("ok");
    prop_assert_eq!(reply.reply_to_id.as_ref(), activity.id.as_ref());
    // Written back and read again: the same activity, extra fields included.
    let written = serde_json::to_string(activity).expect("an activity serialises");
    let again: Activity = serde_json::from_str(&written).expect("what we wrote reads back");
    prop_assert_eq!(&again, activity);
    Ok(())
}

/// An activity as Teams sends them: every field of the right type, none
/// null, accounts and attachments with the properties Teams adds (`role`,
/// `contentUrl`, `name`…), an image with no `content` at all.
fn teams_activity() -> impl Strategy<Value = Value> {
    let text = "[a-zA-Z0-9 :._-]{1,12}";
    let account = (
        text,
        proptest::option::of(text),
        proptest::option::of("(user|bot)"),
    )
        .prop_map(|(id, name, role)| {
            let mut a = json!({"id": id});
            if let Some(n) = name {
                a["name"] = Value::from(n);
            }
            if let Some(r) = role {
                a["role"] = Value::from(r);
            }
            a
        })
        .boxed();
    let attachment = prop_oneof![
        (text, any_json().prop_filter("not null", |v| !v.is_null()))
            .prop_map(|(t, c)| json!({"contentType": t, "content": c})),
        (text, text).prop_map(|(t, u)| json!({"contentType": format!("image/{t}"), "contentUrl": format!("https://x/{u}"), "name": u})),
    ];
    (
        "(message|invoke|conversationUpdate|installationUpdate)",
        account.clone(),
        account,
        (text, "(personal|channel|groupChat)", any::<bool>())
            .prop_map(|(id, kind, group)| json!({"id": id, "conversationType": kind, "isGroup": group, "name": "x"})),
        proptest::collection::vec(attachment, 1..3),
        proptest::collection::vec(("(locale|entities|timestamp|x[a-z]{1,5})", any_json()), 0..3),
    )
        .prop_map(|(kind, from, recipient, conversation, attachments, extra)| {
            let mut a = json!({"type": kind, "id": "1", "from": from, "recipient": recipient,
                "conversation": conversation, "attachments": attachments, "channelId": "msteams"});
            for (k, v) in extra {
                a[k] = v;
            }
            a
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_bytes_give_an_activity_or_a_decode_error(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(activity) = serde_json::from_slice::<Activity>(&bytes) {
            exercise(&activity)?;
        }
    }

    #[test]
    fn fields_of_any_type_give_an_activity_or_a_decode_error(raw in near_activity()) {
        let bytes = serde_json::to_vec(&raw).expect("a JSON value serialises");
        if let Ok(activity) = serde_json::from_slice::<Activity>(&bytes) {
            exercise(&activity)?;
        }
    }

    #[test]
    fn a_teams_activity_reads_and_writes_back_unchanged(raw in teams_activity()) {
        let activity: Activity = serde_json::from_value(raw.clone())
            .map_err(|e| TestCaseError::fail(format!("{e}: {raw}")))?;
        prop_assert_eq!(serde_json::to_value(&activity).expect("serialises"), raw);
    }
}

#[test]
fn deep_nesting_is_a_decode_error_not_a_stack_overflow() {
    for field in ["value", "channelData", "entities"] {
        let deep = format!(
            "{{\"type\":\"message\",\"{field}\":{}{}}}",
            "[".repeat(50_000),
            "]".repeat(50_000)
        );
        assert!(serde_json::from_str::<Activity>(&deep).is_err(), "{field}");
    }
}

#[test]
fn a_message_with_a_pasted_image_reads_and_keeps_its_attachment() {
    let raw = json!({
        "type": "message", "id": "1", "text": "look",
        "from": {"id": "29:1", "aadObjectId": "00000000-0000-0000-0000-000000000001", "role": "user"},
        "conversation": {"id": "a:1", "conversationType": "personal", "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "name": "chat"},
        "attachments": [
            {"contentType": "image/*", "contentUrl": "https://smba.trafficmanager.net/emea/v3/attachments/x/views/original"},
            {"contentType": "text/html", "content": "<p>look</p>"}
        ]
    });
    let activity: Activity = serde_json::from_value(raw.clone()).expect("a message Teams sends");
    assert_eq!(activity.attachments.len(), 2);
    assert_eq!(serde_json::to_value(&activity).unwrap(), raw);
    assert_eq!(activity.reply().conversation.unwrap().extra["name"], "chat");
}
