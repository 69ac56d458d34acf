//! The app registrations the app signs in as (the Graph app, the bot):
//! their client secret in use and every certificate, by expiry, read from
//! Graph with `GET /applications(appId='…')` in the tenant that holds them
//! (which needs `Application.Read.All` there). The secret in use is told
//! apart by Graph's `hint`, its first characters; an old secret left beside
//! it does not fail the check.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use time::OffsetDateTime;

use super::identity::{graph_app, graph_token};
use super::{Check, EXPIRY_WARNING_DAYS, Verdict, bounded};
use crate::config::Settings;

/// One row per app registration (the Graph app, the bot; one row when they
/// are the same): its client secrets and certificates, by expiry.
pub async fn app_credentials(
    settings: &Settings,
    home_tenant: Option<&str>,
    http: &reqwest::Client,
    timeout: Duration,
    now: OffsetDateTime,
) -> Vec<Check> {
    let apps = registrations(settings);
    if apps.is_empty() {
        return Vec::new();
    }
    let name = |app: &Registration| format!("app {} ({}): credentials", app.id, app.roles);
    let cannot = |why: String| -> Vec<Check> {
        apps.iter()
            .map(|app| Check::warn(name(app), format!("not read: {why}")))
            .collect()
    };
    if graph_app(settings).is_none() {
        return cannot("no Graph credentials to read them with".into());
    }
    let Some(home) = home_tenant else {
        return cannot(
            "the tenant holding the registration is unknown (set MicrosoftAppTenantId or pass --home-tenant)"
                .into(),
        );
    };
    // It goes into the token endpoint's path: a tenant id or domain only.
    if home.is_empty()
        || !home
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return cannot(format!("{home:?} is not a tenant id or domain"));
    }
    let token = match graph_token(settings, home, http, timeout).await {
        Ok(token) => SecretString::from(token),
        Err(why) => return cannot(format!("no Graph token in the home tenant {home}: {why}")),
    };
    let reads = apps.iter().map(|app| async {
        let verdict = match read_registration(settings, &app.id, &token, http, timeout).await {
            Ok(registration) => judge(&registration, &app.secrets, now),
            Err(why) => (Verdict::Warn, format!("not read: {why}")),
        };
        Check::new(name(app), verdict.0, verdict.1)
    });
    futures::future::join_all(reads).await
}

/// An app registration the app signs in as, and the secrets it uses.
struct Registration {
    id: String,
    roles: String,
    secrets: Vec<SecretString>,
}

fn registrations(settings: &Settings) -> Vec<Registration> {
    let mut apps: Vec<Registration> = Vec::new();
    let mut add = |id: &Option<String>, secret: &Option<SecretString>, role: &str| {
        let Some(id) = id else { return };
        match apps.iter_mut().find(|a| a.id.eq_ignore_ascii_case(id)) {
            Some(app) => {
                app.roles.push_str(" and ");
                app.roles.push_str(role);
                app.secrets.extend(secret.clone());
            }
            None => apps.push(Registration {
                id: id.clone(),
                roles: role.to_owned(),
                secrets: secret.iter().cloned().collect(),
            }),
        }
    };
    add(
        &settings.graph_client_id,
        &settings.graph_client_secret,
        "Graph",
    );
    add(&settings.bot.app_id, &settings.bot.app_password, "bot");
    apps
}

async fn read_registration(
    settings: &Settings,
    app_id: &str,
    token: &SecretString,
    http: &reqwest::Client,
    timeout: Duration,
) -> Result<Value, String> {
    let id = uuid::Uuid::parse_str(app_id).map_err(|_| "the app id is not a GUID".to_owned())?;
    let url = format!(
        "{}/applications(appId='{}')?$select=passwordCredentials,keyCredentials",
        settings.graph_base_url.as_str().trim_end_matches('/'),
        id.hyphenated()
    );
    let answer = async {
        let res = http
            .get(&url)
            .bearer_auth(token.expose_secret())
            .send()
            .await?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or_default();
        Ok::<_, reqwest::Error>((status, body))
    };
    let (status, body) = bounded(timeout, answer).await?;
    match status {
        200 => Ok(body),
        403 => Err(format!(
            "Graph answered 403 {} (reading a registration needs Application.Read.All in its tenant)",
            body["error"]["code"].as_str().unwrap_or("Forbidden")
        )),
        404 => Err("Graph has no such registration in the home tenant".into()),
        other => Err(format!(
            "Graph answered {other} {}",
            body["error"]["code"].as_str().unwrap_or_default()
        )),
    }
}

/// A credential's name and end, as Graph lists it.
struct Credential {
    label: String,
    end: OffsetDateTime,
}

fn credentials(registration: &Value, field: &str, kind: &str) -> Vec<(Credential, String)> {
    registration[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let end = c["endDateTime"].as_str()?;
            let end =
                OffsetDateTime::parse(end, &time::format_description::well_known::Rfc3339).ok()?;
            let name = c["displayName"].as_str().unwrap_or_default();
            let label = if name.is_empty() {
                format!("{kind} {}", c["keyId"].as_str().unwrap_or("(no id)"))
            } else {
                format!("{kind} \"{name}\"")
            };
            let hint = c["hint"].as_str().unwrap_or_default().to_owned();
            Some((Credential { label, end }, hint))
        })
        .collect()
}

/// The verdict on a registration's credentials: the secret in use (told
/// apart by Graph's `hint`, its first characters) and every certificate.
fn judge(registration: &Value, in_use: &[SecretString], now: OffsetDateTime) -> (Verdict, String) {
    let secrets = credentials(registration, "passwordCredentials", "secret");
    let certificates = credentials(registration, "keyCredentials", "certificate");
    let matches =
        |hint: &str| !hint.is_empty() && in_use.iter().any(|s| s.expose_secret().starts_with(hint));
    let used: Vec<&Credential> = secrets
        .iter()
        .filter(|(_, hint)| matches(hint))
        .map(|(c, _)| c)
        .collect();
    let mut parts: Vec<(Verdict, String)> = Vec::new();
    let secret = if used.is_empty() {
        // Not told apart: the one that lasts longest may be the one in use.
        secrets.iter().map(|(c, _)| c).max_by_key(|c| c.end)
    } else {
        used.into_iter().max_by_key(|c| c.end)
    };
    match secret {
        Some(c) => parts.push(by_expiry(c, now)),
        None => parts.push((Verdict::Warn, "no client secret listed".into())),
    }
    parts.extend(certificates.iter().map(|(c, _)| by_expiry(c, now)));
    let verdict = parts.iter().map(|(v, _)| *v).max().unwrap_or(Verdict::Ok);
    let reason: Vec<String> = parts.into_iter().map(|(_, r)| r).collect();
    (verdict, reason.join("; "))
}

fn by_expiry(c: &Credential, now: OffsetDateTime) -> (Verdict, String) {
    let date = c.end.date();
    let days = (c.end - now).whole_days();
    if c.end <= now {
        (Verdict::Fail, format!("{} expired on {date}", c.label))
    } else if days < EXPIRY_WARNING_DAYS {
        (
            Verdict::Warn,
            format!("{} expires on {date} (in {days} days)", c.label),
        )
    } else {
        (Verdict::Ok, format!("{} valid until {date}", c.label))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-02 12:00 UTC);

    fn secret(name: &str, hint: &str, end: &str) -> Value {
        json!({"displayName": name, "hint": hint, "keyId": "k", "endDateTime": end, "secretText": null})
    }

    #[test]
    fn the_secret_in_use_is_judged_by_its_expiry() {
        let in_use = [SecretString::from("abcdef-the-secret")];
        let app = |end: &str| json!({"passwordCredentials": [secret("prod", "abc", end)], "keyCredentials": []});
        let (v, reason) = judge(&app("2027-06-01T00:00:00Z"), &in_use, NOW);
        assert_eq!(v, Verdict::Ok, "{reason}");
        assert_eq!(reason, "secret \"prod\" valid until 2027-06-01");
        let (v, reason) = judge(&app("2026-12-20T00:00:00Z"), &in_use, NOW);
        assert_eq!(
            (v, reason.as_str()),
            (
                Verdict::Warn,
                "secret \"prod\" expires on 2026-12-20 (in 17 days)"
            )
        );
        let (v, reason) = judge(&app("2026-11-30T00:00:00.1234567Z"), &in_use, NOW);
        assert_eq!(
            (v, reason.as_str()),
            (Verdict::Fail, "secret \"prod\" expired on 2026-11-30")
        );
    }

    #[test]
    fn an_old_secret_beside_the_one_in_use_does_not_fail_and_certificates_count() {
        let in_use = [SecretString::from("new-secret")];
        let app = json!({
            "passwordCredentials": [
                secret("old", "old", "2025-01-01T00:00:00Z"),
                secret("new", "new", "2028-01-01T00:00:00Z"),
            ],
            "keyCredentials": [{"displayName": "cert", "keyId": "c", "endDateTime": "2026-12-10T00:00:00Z", "type": "AsymmetricX509Cert", "usage": "Verify"}],
        });
        let (v, reason) = judge(&app, &in_use, NOW);
        assert_eq!(v, Verdict::Warn);
        assert_eq!(
            reason,
            "secret \"new\" valid until 2028-01-01; certificate \"cert\" expires on 2026-12-10 (in 7 days)"
        );
        assert!(!reason.contains("new-secret"));
    }
}
