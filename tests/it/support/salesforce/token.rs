//! The stand-in's token endpoint (`POST /services/oauth2/token`): the
//! web-server flow's code exchange and the refresh grant, answering as
//! Salesforce does: no `expires_in`, the `instance_url` to use, the
//! identity URL in `id`, and `{"error","error_description"}` refusals
//! (`invalid_grant` for a used code or a revoked refresh token).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{ADMIN_ID, CLIENT_ID, CLIENT_SECRET, ORG_ID, State};

fn oauth_error(error: &str, description: &str) -> (u16, Option<Value>) {
    (
        400,
        Some(json!({"error": error, "error_description": description})),
    )
}

pub(super) fn token(st: &mut State, body: &[u8]) -> (u16, Option<Value>) {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    *st.grants.entry(field("grant_type").to_owned()).or_default() += 1;
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    let refresh_token = match field("grant_type") {
        "authorization_code" => {
            if field("redirect_uri") != st.redirect_uri {
                return oauth_error(
                    "redirect_uri_mismatch",
                    "redirect_uri must match configuration",
                );
            }
            if !st.codes.remove(field("code")) {
                return oauth_error("invalid_grant", "invalid authorization code");
            }
            let token = format!("5Aep{}", uuid::Uuid::new_v4().simple());
            st.refresh_tokens.insert(token.clone());
            Some(token)
        }
        "refresh_token" => {
            if !st.refresh_tokens.contains(field("refresh_token")) {
                return oauth_error("invalid_grant", "expired access/refresh token");
            }
            None
        }
        _ => return oauth_error("unsupported_grant_type", "grant type not supported"),
    };
    let access_token = format!("00D5g!{}", uuid::Uuid::new_v4().simple());
    if !st.refuse_all_sessions {
        st.sessions.insert(access_token.clone());
    }
    let mut answer = json!({
        "access_token": access_token,
        "signature": "c2lnbmF0dXJl",
        "scope": "api refresh_token",
        "instance_url": st.instance_url,
        "id": format!("{}/id/{ORG_ID}/{ADMIN_ID}", st.instance_url),
        "token_type": "Bearer",
        "issued_at": "1767225600000",
    });
    if let Some(token) = refresh_token {
        answer["refresh_token"] = json!(token);
    }
    (200, Some(answer))
}
