//! The app's identities, as Entra sees them: for each onboarded tenant a
//! fresh app-only Graph token (client credentials, as `graph::token` asks)
//! and its `roles` against [`super::permissions`]; and the bot's token for
//! the Bot Connector (as `bot::connector` asks). The app registrations
//! behind them are in [`super::credentials`].
//!
//! Tokens are fetched fresh, never from the shared cache (a cached token
//! says nothing about the secret today), used once, and never shown.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use secrecy::SecretString;

use super::setting_checks::host_of;
use super::{Check, Stores, Verdict, bounded, permissions};
use crate::bot::connector::{self, ConnectorConfig};
use crate::config::Settings;
use crate::governance::tenants::Tenants;
use crate::outbound::{ClientCredentials, client_credentials};
use crate::platform::clock::SystemClock;

/// Tenants checked at once.
const TENANTS_AT_ONCE: usize = 8;

/// The Graph app's client id and secret, when configured.
pub(super) fn graph_app(settings: &Settings) -> Option<(&str, &SecretString)> {
    match (&settings.graph_client_id, &settings.graph_client_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        _ => None,
    }
}

/// A fresh app-only Graph token in `tenant`.
pub(super) async fn graph_token(
    settings: &Settings,
    tenant: &str,
    http: &reqwest::Client,
    timeout: Duration,
) -> Result<String, String> {
    let (client_id, secret) = graph_app(settings).ok_or("no Graph credentials")?;
    let token_url = format!(
        "{}/{tenant}/oauth2/v2.0/token",
        settings.entra_authority_host.as_str().trim_end_matches('/')
    );
    let scope = format!(
        "{}/.default",
        settings.graph_base_url.origin().ascii_serialization()
    );
    let request = ClientCredentials {
        token_url: &token_url,
        client_id,
        client_secret: secret,
        scope: &scope,
    };
    bounded(timeout, client_credentials(http, request))
        .await
        .map(|t| t.access_token)
}

/// A row on the tenant list, then two per onboarded tenant: its Graph
/// token, and the permissions the token carries.
pub async fn tenants(
    settings: &Settings,
    stores: &Stores,
    http: &reqwest::Client,
    timeout: Duration,
) -> Vec<Check> {
    const NAME: &str = "tenants";
    let docs = match &stores.documents.built {
        Ok(docs) => docs.clone(),
        Err(_) => return vec![Check::fail(NAME, "not listed: the document store is down")],
    };
    let tenants = Tenants::new(docs, std::sync::Arc::new(SystemClock));
    let listed = bounded(
        timeout,
        tenants
            .all()
            .map_ok(|(id, t)| (id, t.onboarding.admin_consent))
            .try_collect::<Vec<_>>(),
    )
    .await;
    let all = match listed {
        Ok(all) => all,
        Err(why) => return vec![Check::fail(NAME, format!("not listed: {why}"))],
    };
    let onboarded: Vec<String> = all
        .iter()
        .filter(|(_, consented)| *consented)
        .map(|(id, _)| id.to_string())
        .collect();
    let summary = format!(
        "{} onboarded, {} without admin consent (not checked)",
        onboarded.len(),
        all.len() - onboarded.len()
    );
    if graph_app(settings).is_none() {
        let verdict = if onboarded.is_empty() {
            Verdict::Ok
        } else {
            Verdict::Warn
        };
        return vec![Check::new(
            NAME,
            verdict,
            format!("{summary}; no Graph credentials, so no tokens checked"),
        )];
    }
    let mut rows = vec![Check::ok(NAME, summary)];
    let per_tenant: Vec<Vec<Check>> = futures::stream::iter(&onboarded)
        .map(|tenant| tenant_rows(settings, tenant, http, timeout))
        .buffered(TENANTS_AT_ONCE)
        .collect()
        .await;
    rows.extend(per_tenant.into_iter().flatten());
    rows
}

async fn tenant_rows(
    settings: &Settings,
    tenant: &str,
    http: &reqwest::Client,
    timeout: Duration,
) -> Vec<Check> {
    let token_row = format!("tenant {tenant}: Graph token");
    let roles_row = format!("tenant {tenant}: Graph permissions");
    let token = match graph_token(settings, tenant, http, timeout).await {
        Ok(token) => token,
        Err(why) => {
            return vec![
                Check::fail(token_row, format!("none: {why}")),
                Check::fail(roles_row, "not checked: no token"),
            ];
        }
    };
    let Some(roles) = permissions::roles_of(&token) else {
        return vec![
            Check::ok(token_row, "issued"),
            Check::warn(roles_row, "not checked: the token is not a readable JWT"),
        ];
    };
    let token_check = Check::ok(
        token_row,
        format!("issued, with {} application permissions", roles.len()),
    );
    let missing = permissions::missing(settings, &roles);
    let roles_check = if missing.is_empty() {
        Check::ok(
            roles_row,
            format!(
                "every feature's permissions granted ({})",
                permissions::enabled(settings).join(", ")
            ),
        )
    } else {
        let lacking: Vec<String> = missing
            .iter()
            .map(|(feature, perms)| format!("{feature} needs {}", perms.join(", ")))
            .collect();
        Check::fail(roles_row, format!("missing: {}", lacking.join("; ")))
    };
    vec![token_check, roles_check]
}

/// The bot's token for the Bot Connector.
pub async fn bot_connector(
    settings: &Settings,
    azure: bool,
    http: &reqwest::Client,
    timeout: Duration,
) -> Check {
    const NAME: &str = "bot: Connector token";
    let bot = &settings.bot;
    if bot.auth_disabled {
        return Check::warn(NAME, "none: bot authentication is disabled (local testing)");
    }
    let (Some(app_id), Some(password)) = (&bot.app_id, &bot.app_password) else {
        let verdict = if azure { Verdict::Fail } else { Verdict::Ok };
        return Check::new(
            NAME,
            verdict,
            "not checked: no bot identity, the bot is off",
        );
    };
    let config = ConnectorConfig {
        app_id: app_id.clone(),
        app_password: password.clone(),
        login_url: bot.login_url.clone(),
        oauth_scope: bot.oauth_scope.clone(),
    };
    let login = host_of(&bot.login_url);
    match bounded(timeout, connector::request_token(http, &config)).await {
        Ok(token) => Check::ok(
            NAME,
            format!(
                "issued by {login} for {}, valid {} s",
                bot.oauth_scope, token.expires_in
            ),
        ),
        Err(why) => Check::fail(NAME, format!("none from {login}: {why}")),
    }
}
