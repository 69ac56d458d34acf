//! The bot's settings (botbuilder's names): its identity, the Bot Framework
//! endpoints, the Entra ID issuers a SingleTenant bot also trusts, and the
//! local-only switch that turns inbound authentication off.

use secrecy::SecretString;
use url::Url;

use super::{ConfigError, RunMode, invalid, parse_url};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppType {
    MultiTenant,
    SingleTenant,
    UserAssignedMsi,
}

/// The bot's identity and the Bot Framework endpoints (botbuilder's names).
#[derive(Clone, Debug)]
pub struct BotSettings {
    pub app_id: Option<String>,
    pub app_password: Option<SecretString>,
    pub app_type: AppType,
    pub app_tenant_id: Option<String>,
    pub openid_metadata_url: Url,
    pub token_issuer: String,
    /// `ToChannelFromBotLoginUrl`, else the bot's own tenant for a
    /// SingleTenant bot, else `botframework.com`.
    pub login_url: Url,
    pub oauth_scope: String,
    /// A SingleTenant bot also trusts its own tenant's Entra ID tokens.
    pub entra: Option<EntraTrust>,
    /// `SALESTIM_BOT_AUTH_DISABLED`: `handler local` only, and only with no
    /// `MicrosoftAppId`: activities are taken without a token and replies go
    /// out without one, as botbuilder does for local testing.
    pub auth_disabled: bool,
}

/// The Entra ID issuers a SingleTenant bot accepts besides the Bot Framework
/// (botbuilder adds them for `MicrosoftAppTenantId`), and where their keys
/// are published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntraTrust {
    pub tenant_id: String,
    /// The v2.0 (`<ENTRA_AUTHORITY_HOST>/<tenant>/v2.0`) and v1.0
    /// (`https://sts.windows.net/<tenant>/`) token issuers.
    pub issuers: Vec<String>,
    /// `ToBotFromEmulatorOpenIdMetadataUrl` (botbuilder's name for the key
    /// source of Entra-issued tokens), else the tenant's v2.0 OpenID
    /// configuration.
    pub openid_metadata_url: Url,
}

/// Said loudly at start-up, and again for every unauthenticated activity.
pub const AUTH_DISABLED_WARNING: &str = "BOT AUTHENTICATION IS DISABLED (SALESTIM_BOT_AUTH_DISABLED=true): /api/messages accepts activities from anyone, without a token; for local testing only, never deploy this";

pub(super) fn from_lookup(
    mode: RunMode,
    get: &dyn Fn(&str) -> Option<String>,
    entra_authority_host: &Url,
) -> Result<BotSettings, ConfigError> {
    let url = |key: &'static str, default: &str| -> Result<Url, ConfigError> {
        parse_url(key, &get(key).unwrap_or_else(|| default.to_owned()))
    };
    let app_type = match get("MicrosoftAppType")
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("multitenant") => AppType::MultiTenant,
        Some("singletenant") => AppType::SingleTenant,
        Some("userassignedmsi") => AppType::UserAssignedMsi,
        Some(other) => {
            return Err(invalid(
                "MicrosoftAppType",
                format!("must be MultiTenant, SingleTenant or UserAssignedMSI, not {other:?}"),
            ));
        }
    };
    let app_tenant_id = get("MicrosoftAppTenantId");
    if app_type != AppType::MultiTenant && app_tenant_id.is_none() {
        return Err(invalid(
            "MicrosoftAppTenantId",
            "is required for a SingleTenant or UserAssignedMSI bot",
        ));
    }
    let entra_metadata_url = get("ToBotFromEmulatorOpenIdMetadataUrl")
        .map(|u| parse_url("ToBotFromEmulatorOpenIdMetadataUrl", &u))
        .transpose()?;
    let single_tenant = match (app_type, &app_tenant_id) {
        // It names token issuers and the login URL: a GUID, as Entra writes it.
        (AppType::SingleTenant, Some(tenant)) => Some(
            uuid::Uuid::parse_str(tenant)
                .map(|id| id.hyphenated().to_string())
                .map_err(|_| {
                    invalid(
                        "MicrosoftAppTenantId",
                        "must be the tenant's id (a GUID) for a SingleTenant bot",
                    )
                })?,
        ),
        _ => None,
    };
    let login_url = match (get("ToChannelFromBotLoginUrl"), &single_tenant) {
        (Some(raw), _) => parse_url("ToChannelFromBotLoginUrl", &raw)?,
        (None, Some(tenant)) => authority_url(entra_authority_host, &[tenant])?,
        (None, None) => parse_url(
            "ToChannelFromBotLoginUrl",
            "https://login.microsoftonline.com/botframework.com",
        )?,
    };
    let entra = match single_tenant {
        Some(tenant) => Some(EntraTrust {
            issuers: vec![
                format!(
                    "{}/{tenant}/v2.0",
                    entra_authority_host.as_str().trim_end_matches('/')
                ),
                format!("https://sts.windows.net/{tenant}/"),
            ],
            openid_metadata_url: match entra_metadata_url {
                Some(u) => u,
                None => authority_url(
                    entra_authority_host,
                    &[&tenant, "v2.0", ".well-known", "openid-configuration"],
                )?,
            },
            tenant_id: tenant,
        }),
        None => None,
    };

    let app_id = get("MicrosoftAppId");
    let auth_disabled = match get("SALESTIM_BOT_AUTH_DISABLED")
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(invalid(
                "SALESTIM_BOT_AUTH_DISABLED",
                format!("must be true or false, not {other:?}"),
            ));
        }
    };
    if auth_disabled && mode == RunMode::Host {
        return Err(invalid(
            "SALESTIM_BOT_AUTH_DISABLED",
            "is for `handler local` only: under the Functions host the bot never runs without authentication",
        ));
    }
    if auth_disabled && app_id.is_some() {
        return Err(invalid(
            "SALESTIM_BOT_AUTH_DISABLED",
            "cannot be combined with MicrosoftAppId: remove one of them",
        ));
    }

    Ok(BotSettings {
        app_id,
        app_password: get("MicrosoftAppPassword").map(SecretString::from),
        app_type,
        app_tenant_id,
        openid_metadata_url: url(
            "ToBotFromChannelOpenIdMetadataUrl",
            "https://login.botframework.com/v1/.well-known/openidconfiguration",
        )?,
        token_issuer: get("ToBotFromChannelTokenIssuer")
            .unwrap_or_else(|| "https://api.botframework.com".into()),
        login_url,
        oauth_scope: get("ToChannelFromBotOAuthScope")
            .unwrap_or_else(|| "https://api.botframework.com".into()),
        entra,
        auth_disabled,
    })
}

/// `ENTRA_AUTHORITY_HOST` with `segments` appended to its path.
fn authority_url(host: &Url, segments: &[&str]) -> Result<Url, ConfigError> {
    let mut url = host.clone();
    url.path_segments_mut()
        .map_err(|_| invalid("ENTRA_AUTHORITY_HOST", "cannot take a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
mod tests {

    use super::*;

    const TENANT: &str = "72F988BF-86F1-41AF-91AB-2D7CD011DB47";

    use crate::config::tests::settings;

    #[test]
    fn a_single_tenant_bot_logs_in_to_its_tenant_and_trusts_its_entra_issuers() {
        let s = settings(
            RunMode::Local,
            &[
                ("MicrosoftAppType", "SingleTenant"),
                ("MicrosoftAppTenantId", TENANT),
            ],
        )
        .unwrap();
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert_eq!(
            s.bot.login_url.as_str(),
            format!("https://login.microsoftonline.com/{t}")
        );
        let entra = s.bot.entra.expect("a single-tenant bot trusts Entra ID");
        assert_eq!(entra.tenant_id, t);
        assert_eq!(
            entra.issuers,
            [
                format!("https://login.microsoftonline.com/{t}/v2.0"),
                format!("https://sts.windows.net/{t}/"),
            ]
        );
        assert_eq!(
            entra.openid_metadata_url.as_str(),
            format!("https://login.microsoftonline.com/{t}/v2.0/.well-known/openid-configuration")
        );

        // The authority host (sovereign clouds, test stand-ins) and explicit
        // overrides are honoured.
        let s = settings(
            RunMode::Local,
            &[
                ("MicrosoftAppType", "singletenant"),
                ("MicrosoftAppTenantId", TENANT),
                ("ENTRA_AUTHORITY_HOST", "https://login.microsoftonline.us/"),
                (
                    "ToBotFromEmulatorOpenIdMetadataUrl",
                    "http://127.0.0.1:9/openid",
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            s.bot.login_url.as_str(),
            format!("https://login.microsoftonline.us/{t}")
        );
        let entra = s.bot.entra.unwrap();
        assert_eq!(
            entra.issuers[0],
            format!("https://login.microsoftonline.us/{t}/v2.0")
        );
        assert_eq!(
            entra.openid_metadata_url.as_str(),
            "http://127.0.0.1:9/openid"
        );
        let s = settings(
            RunMode::Local,
            &[
                ("MicrosoftAppType", "SingleTenant"),
                ("MicrosoftAppTenantId", TENANT),
                ("ToChannelFromBotLoginUrl", "https://login.example/custom"),
            ],
        )
        .unwrap();
        assert_eq!(s.bot.login_url.as_str(), "https://login.example/custom");

        let err = settings(
            RunMode::Local,
            &[
                ("MicrosoftAppType", "SingleTenant"),
                ("MicrosoftAppTenantId", "contoso.onmicrosoft.com/../x"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.setting, "MicrosoftAppTenantId");
    }

    #[test]
    fn a_multi_tenant_bot_trusts_only_the_bot_framework() {
        let s = settings(RunMode::Local, &[("MicrosoftAppTenantId", TENANT)]).unwrap();
        assert_eq!(s.bot.app_type, AppType::MultiTenant);
        assert!(s.bot.entra.is_none());
        assert_eq!(
            s.bot.login_url.as_str(),
            "https://login.microsoftonline.com/botframework.com"
        );
        assert_eq!(s.bot.token_issuer, "https://api.botframework.com");
    }

    #[test]
    fn bot_auth_can_be_disabled_only_under_handler_local() {
        let host = [
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "4000"),
            (
                "SALESTIM_LOCAL_KEK",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
            ("SALESTIM_BOT_AUTH_DISABLED", "true"),
        ];
        let err = settings(RunMode::Host, &host).unwrap_err();
        assert_eq!(err.setting, "SALESTIM_BOT_AUTH_DISABLED");
        assert!(err.reason.contains("handler local"), "{err}");
        let mut off = host;
        off[2].1 = "false";
        let s = settings(RunMode::Host, &off).unwrap();
        assert!(!s.bot.auth_disabled && s.startup_warnings().is_empty());

        let s = settings(RunMode::Local, &[("SALESTIM_BOT_AUTH_DISABLED", "TRUE")]).unwrap();
        assert!(s.bot.auth_disabled);
        assert_eq!(s.startup_warnings(), [AUTH_DISABLED_WARNING]);

        let err = settings(
            RunMode::Local,
            &[
                ("SALESTIM_BOT_AUTH_DISABLED", "true"),
                ("MicrosoftAppId", "5f6d1e0a-1111-4d5b-9c55-0123456789ab"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.setting, "SALESTIM_BOT_AUTH_DISABLED");
        let err = settings(RunMode::Local, &[("SALESTIM_BOT_AUTH_DISABLED", "yes")]).unwrap_err();
        assert_eq!(err.setting, "SALESTIM_BOT_AUTH_DISABLED");
        assert!(!settings(RunMode::Local, &[]).unwrap().bot.auth_disabled);
    }
}
