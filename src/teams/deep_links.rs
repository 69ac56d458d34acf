//! Teams deep links, with every part URL-encoded as Teams expects.

use url::Url;

use crate::http::encode_uri_component;

/// `https://teams.microsoft.com/l/<segments>`, each segment encoded as
/// `encodeURIComponent` does.
fn with_segments(segments: &[&str]) -> Url {
    let mut url = Url::parse("https://teams.microsoft.com/").expect("a constant URL");
    let path: Vec<String> = segments.iter().map(|s| encode_uri_component(s)).collect();
    url.set_path(&format!("/l/{}", path.join("/")));
    url
}

/// Drops a `?` left with nothing after it.
fn tidy(mut url: Url) -> Url {
    if url.query() == Some("") {
        url.set_query(None);
    }
    url
}

/// A chat with these users (UPNs), optionally with a topic and a draft.
pub fn chat(users: &[&str], topic: Option<&str>, message: Option<&str>) -> Url {
    let mut url = with_segments(&["chat", "0", "0"]);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("users", &users.join(","));
        if let Some(t) = topic {
            q.append_pair("topicName", t);
        }
        if let Some(m) = message {
            q.append_pair("message", m);
        }
    }
    url
}

/// A channel of a team (the team's Entra group id).
pub fn channel(channel_id: &str, channel_name: &str, group_id: &str, tenant_id: &str) -> Url {
    let mut url = with_segments(&["channel", channel_id, channel_name]);
    url.query_pairs_mut()
        .append_pair("groupId", group_id)
        .append_pair("tenantId", tenant_id);
    url
}

/// A team, through its General channel (Teams has no other team link).
pub fn team(general_channel_id: &str, team_name: &str, group_id: &str, tenant_id: &str) -> Url {
    let mut url = with_segments(&["team", general_channel_id, team_name]);
    url.query_pairs_mut()
        .append_pair("groupId", group_id)
        .append_pair("tenantId", tenant_id);
    url
}

/// A tab of this app (`app_id` is the manifest id) with an entity and a
/// context (`subEntityId`, `channelId`).
pub fn entity(
    app_id: &str,
    entity_id: &str,
    web_url: Option<&str>,
    label: Option<&str>,
    sub_entity_id: Option<&str>,
    channel_id: Option<&str>,
) -> Url {
    let mut url = with_segments(&["entity", app_id, entity_id]);
    {
        let mut q = url.query_pairs_mut();
        if let Some(w) = web_url {
            q.append_pair("webUrl", w);
        }
        if let Some(l) = label {
            q.append_pair("label", l);
        }
        let mut context = serde_json::Map::new();
        if let Some(s) = sub_entity_id {
            context.insert("subEntityId".into(), s.into());
        }
        if let Some(c) = channel_id {
            context.insert("channelId".into(), c.into());
        }
        if !context.is_empty() {
            q.append_pair("context", &serde_json::Value::Object(context).to_string());
        }
    }
    tidy(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_and_names_are_encoded_inside_their_segments() {
        let url = channel("19:abc@thread.tacv2", "Sales & Marketing/EU", "g-1", "t-1");
        assert_eq!(
            url.as_str(),
            "https://teams.microsoft.com/l/channel/19%3Aabc%40thread.tacv2/Sales%20%26%20Marketing%2FEU?groupId=g-1&tenantId=t-1"
        );
        let back = Url::parse(url.as_str()).unwrap();
        assert_eq!(
            back.path_segments().unwrap().count(),
            4,
            "the name's slash stays inside its segment"
        );
    }

    #[test]
    fn chat_links_list_users_and_encode_the_message() {
        let url = chat(
            &["a@contoso.com", "b@contoso.com"],
            Some("Q3 plan"),
            Some("Hi & welcome?"),
        );
        assert_eq!(
            url.as_str(),
            "https://teams.microsoft.com/l/chat/0/0?users=a%40contoso.com%2Cb%40contoso.com&topicName=Q3+plan&message=Hi+%26+welcome%3F"
        );
    }

    #[test]
    fn entity_links_carry_an_encoded_json_context() {
        let url = entity(
            "app-id",
            "requests",
            Some("https://app.example/tab?x=1"),
            Some("My requests"),
            Some("req-42"),
            None,
        );
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs["webUrl"], "https://app.example/tab?x=1");
        assert_eq!(pairs["label"], "My requests");
        let context: serde_json::Value = serde_json::from_str(&pairs["context"]).unwrap();
        assert_eq!(context, serde_json::json!({"subEntityId": "req-42"}));
        assert!(url.path().starts_with("/l/entity/app-id/requests"));
        assert!(
            !entity("a", "e", None, None, None, None)
                .as_str()
                .contains('?')
        );
    }

    #[test]
    fn team_links_go_through_the_general_channel() {
        let url = team("19:general@thread.tacv2", "Project Falcon", "g", "t");
        assert!(url.as_str().starts_with("https://teams.microsoft.com/l/team/19%3Ageneral%40thread.tacv2/Project%20Falcon?groupId=g"));
    }
}
