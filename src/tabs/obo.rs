//! The on-behalf-of flow: the few tab calls that must act as the user in
//! another API (Microsoft Graph) trade the user's tab token for a token to
//! that API at the tenant's token endpoint, through the shared outbound
//! stack. When Entra ID wants the user to act first (MFA, sign in again,
//! consent), the caller gets a 401 whose `WWW-Authenticate` the tab acts on.

use std::time::Duration;

use base64::Engine;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::TabUser;
use crate::app::App;
use crate::error::AppError;
use crate::outbound::send::{Unobserved, send};
use crate::outbound::{Call, Failure, RetryPolicy, Rules};
use crate::platform::PlatformError;

/// The token endpoint throttles and fails too: three attempts, a short cap.
const OBO_RULES: Rules = Rules {
    service: "token endpoint (on behalf of)",
    policy: RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(10),
    },
    timeout: Duration::from_secs(15),
    retryable: |status| matches!(status, 429 | 500 | 502 | 503 | 504),
    throttle: |status| status == 429,
};

/// The answers of the token endpoint that ask the user to act (sign in
/// again, pass MFA, consent), which the client handles.
const INTERACTION_ERRORS: [&str; 3] = ["interaction_required", "invalid_grant", "consent_required"];

#[derive(Deserialize)]
struct OboToken {
    access_token: String,
}

/// Trades the user's token for one to `scope` (`https://graph.microsoft.com/.default`)
/// with the on-behalf-of flow. When Entra ID wants the user to act, the
/// answer is a 401 whose `WWW-Authenticate` is
/// `Bearer error="interaction_required", claims="<base64 of the claims JSON>"`
/// (as Entra's own claims challenges carry them), for the client to pass to
/// a new sign-in.
pub async fn on_behalf_of(app: &App, user: &TabUser, scope: &str) -> Result<String, AppError> {
    let auth = &app.tab_auth;
    if auth.dev.as_ref().is_some_and(|d| d.tenant() == user.tenant) {
        return Err(AppError::NotConfigured(
            "acting as the user (not with the development sign-in)",
        ));
    }
    let (Some(client_id), Some(secret)) = (&auth.client_id, &auth.client_secret) else {
        return Err(AppError::NotConfigured(
            "acting as the user (SALESTIM_TAB_CLIENT_ID, SALESTIM_TAB_CLIENT_SECRET)",
        ));
    };
    let url = format!("{}/{}/oauth2/v2.0/token", auth.authority, user.tenant);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.expose_secret()),
        ("assertion", user.token.expose_secret()),
        ("scope", scope),
        ("requested_token_use", "on_behalf_of"),
    ];
    let call = Call {
        rules: &OBO_RULES,
        idempotent: true,
        path: "/oauth2/v2.0/token",
    };
    let build = || async { Ok::<_, AppError>(auth.http.post(&url).form(&form)) };
    let answer = match send(call, build, || async { false }, &Unobserved).await {
        Ok(answer) => answer,
        Err(Failure::Prepare(e)) => return Err(e),
        Err(Failure::Transport { error, .. }) => {
            return Err(PlatformError::unavailable("Entra ID token endpoint", error).into());
        }
        Err(Failure::Status { answer, .. }) => {
            let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            return Err(obo_refusal(answer.status, &body));
        }
    };
    let token: OboToken = serde_json::from_slice(&answer.body)
        .map_err(|e| anyhow::anyhow!("the token endpoint's answer is not a token: {e}"))?;
    Ok(token.access_token)
}

/// What the caller is told when the token endpoint refused.
fn obo_refusal(status: u16, body: &serde_json::Value) -> AppError {
    let code = body["error"].as_str().unwrap_or("unknown");
    if INTERACTION_ERRORS.contains(&code) {
        let mut challenge = String::from("Bearer error=\"interaction_required\"");
        if let Some(claims) = body["claims"].as_str().filter(|c| !c.is_empty()) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(claims);
            challenge.push_str(&format!(", claims=\"{encoded}\""));
        }
        return AppError::Challenge {
            detail: format!("Microsoft Entra ID needs you to sign in again or consent ({code})"),
            challenge,
        };
    }
    if status == 429 || status >= 500 {
        return PlatformError::unavailable("Entra ID token endpoint", format!("HTTP {status}"))
            .into();
    }
    // Our registration or request is wrong: the operator's to fix.
    let description = body["error_description"].as_str().unwrap_or_default();
    AppError::Internal(anyhow::anyhow!(
        "the on-behalf-of request was refused: HTTP {status} {code}: {description}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn interaction_and_consent_errors_become_a_challenge_with_the_claims() {
        let claims = r#"{"access_token":{"polids":{"essential":true,"values":["x"]}}}"#;
        let e = obo_refusal(
            400,
            &json!({"error": "interaction_required", "error_description": "AADSTS50079: MFA", "claims": claims}),
        );
        assert_eq!(e.status().as_u16(), 401);
        let challenge = e.www_authenticate().unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(claims);
        assert_eq!(
            challenge,
            format!("Bearer error=\"interaction_required\", claims=\"{encoded}\"")
        );
        let e = obo_refusal(400, &json!({"error": "invalid_grant"}));
        assert_eq!(
            e.www_authenticate(),
            Some("Bearer error=\"interaction_required\"")
        );
        assert!(e.public_detail().contains("invalid_grant"));
    }

    #[test]
    fn other_refusals_are_ours_to_fix_or_transient() {
        let e = obo_refusal(
            401,
            &json!({"error": "invalid_client", "error_description": "AADSTS7000215: secret"}),
        );
        assert_eq!(e.status().as_u16(), 500);
        assert!(!e.problem().to_string().contains("AADSTS"));
        assert_eq!(obo_refusal(503, &json!({})).status().as_u16(), 503);
    }
}
