//! The tabs' settings: the app registration whose tokens the tabs' API
//! takes (Teams SSO) and uses on behalf of the user, the development
//! sign-in of `handler local`, the web app's build folder, and the
//! Intercom Messenger's identity.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use url::Url;

use super::{ConfigError, RunMode, invalid, parse_url};

#[derive(Clone, Debug)]
pub struct TabSettings {
    /// `SALESTIM_TAB_CLIENT_ID`, else `MicrosoftAppId`: the app registration
    /// the tabs' SSO tokens are for (`aud` is it, or `api://<host>/<it>`).
    /// `None`: Teams SSO is not configured.
    pub client_id: Option<String>,
    /// `SALESTIM_TAB_CLIENT_SECRET`, else `MicrosoftAppPassword`: the secret
    /// of that registration, for the on-behalf-of flow.
    pub client_secret: Option<SecretString>,
    /// `SALESTIM_TAB_ACCEPT_V1`: also take v1.0 tokens (issuer
    /// `https://sts.windows.net/<tid>/`), for a registration whose
    /// `accessTokenAcceptedVersion` is not 2. Off: a v1.0 token is refused.
    pub accept_v1: bool,
    /// `SALESTIM_DEV_SIGNIN`: the development sign-in (`handler local`
    /// only). On by default there unless Teams SSO is configured; asking
    /// for it under the Functions host stops the start.
    pub dev_signin: bool,
    /// `SALESTIM_TABS_DIR`: the web app's build folder, which the `Tabs`
    /// function serves. By default `tabs/` beside the running executable
    /// when it exists (the deployed package), else `web/dist` under the
    /// working directory (a checkout).
    pub files_dir: PathBuf,
}

/// Intercom identity verification for the Messenger in the tabs.
#[derive(Clone, Debug)]
pub struct SupportSettings {
    /// `INTERCOM_APP_ID`: the workspace the Messenger boots into.
    pub app_id: Option<String>,
    /// `INTERCOM_LEGACY_USER_HASH`: also hand out the legacy `user_hash`,
    /// while the workspace still checks it.
    pub legacy_user_hash: bool,
    /// `INTERCOM_API_BASE`: a regional workspace's API host.
    pub api_base: Option<Url>,
}

fn flag(
    get: &dyn Fn(&str) -> Option<String>,
    key: &'static str,
) -> Result<Option<bool>, ConfigError> {
    match get(key).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(invalid(
            key,
            format!("must be true or false, not {other:?}"),
        )),
    }
}

pub(super) fn from_lookup(
    mode: RunMode,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(TabSettings, SupportSettings), ConfigError> {
    let client_id = match get("SALESTIM_TAB_CLIENT_ID") {
        Some(id) => Some(
            uuid::Uuid::parse_str(&id)
                .map(|id| id.hyphenated().to_string())
                .map_err(|_| {
                    invalid(
                        "SALESTIM_TAB_CLIENT_ID",
                        "must be the app registration's client id (a GUID)",
                    )
                })?,
        ),
        None => get("MicrosoftAppId"),
    };
    let dev_signin = match (mode, flag(get, "SALESTIM_DEV_SIGNIN")?) {
        (RunMode::Host, Some(true)) => {
            return Err(invalid(
                "SALESTIM_DEV_SIGNIN",
                "is for `handler local` only: under the Functions host the tabs take Teams SSO tokens only",
            ));
        }
        (RunMode::Host, _) => false,
        (RunMode::Local, Some(on)) => on,
        (RunMode::Local, None) => client_id.is_none(),
    };
    let tabs = TabSettings {
        client_secret: get("SALESTIM_TAB_CLIENT_SECRET")
            .or_else(|| get("MicrosoftAppPassword"))
            .map(SecretString::from),
        client_id,
        accept_v1: flag(get, "SALESTIM_TAB_ACCEPT_V1")?.unwrap_or(false),
        dev_signin,
        files_dir: match get("SALESTIM_TABS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => default_files_dir(
                std::env::current_exe()
                    .ok()
                    .as_deref()
                    .and_then(Path::parent),
            ),
        },
    };
    let support = SupportSettings {
        app_id: get("INTERCOM_APP_ID"),
        legacy_user_hash: flag(get, "INTERCOM_LEGACY_USER_HASH")?.unwrap_or(false),
        api_base: get("INTERCOM_API_BASE")
            .map(|u| parse_url("INTERCOM_API_BASE", &u))
            .transpose()?,
    };
    Ok((tabs, support))
}

/// `tabs/` beside the executable (the app package puts the build there),
/// else `web/dist` (relative: the working directory, a checkout).
fn default_files_dir(executable_dir: Option<&Path>) -> PathBuf {
    executable_dir
        .map(|dir| dir.join("tabs"))
        .filter(|dir| dir.is_dir())
        .unwrap_or_else(|| PathBuf::from("web").join("dist"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::settings;

    const HOST: [(&str, &str); 2] = [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "4000"),
        (
            "SALESTIM_LOCAL_KEK",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
    ];

    #[test]
    fn the_development_sign_in_is_for_handler_local_only() {
        assert!(settings(RunMode::Local, &[]).unwrap().tabs.dev_signin);
        let sso = [(
            "SALESTIM_TAB_CLIENT_ID",
            "5F6D1E0A-1111-4D5B-9C55-0123456789AB",
        )];
        let s = settings(RunMode::Local, &sso).unwrap();
        assert!(!s.tabs.dev_signin, "real SSO configured: off unless asked");
        assert_eq!(
            s.tabs.client_id.as_deref(),
            Some("5f6d1e0a-1111-4d5b-9c55-0123456789ab")
        );
        let both = [sso[0], ("SALESTIM_DEV_SIGNIN", "true")];
        assert!(settings(RunMode::Local, &both).unwrap().tabs.dev_signin);
        let off = [("SALESTIM_DEV_SIGNIN", "FALSE")];
        assert!(!settings(RunMode::Local, &off).unwrap().tabs.dev_signin);

        assert!(!settings(RunMode::Host, &HOST).unwrap().tabs.dev_signin);
        let asked = [HOST[0], HOST[1], ("SALESTIM_DEV_SIGNIN", "true")];
        let err = settings(RunMode::Host, &asked).unwrap_err();
        assert_eq!(err.setting, "SALESTIM_DEV_SIGNIN");
        assert!(err.reason.contains("handler local"), "{err}");
        let err = settings(RunMode::Local, &[("SALESTIM_DEV_SIGNIN", "yes")]).unwrap_err();
        assert_eq!(err.setting, "SALESTIM_DEV_SIGNIN");
    }

    #[test]
    fn the_tab_registration_defaults_to_the_bots() {
        let s = settings(
            RunMode::Local,
            &[
                ("MicrosoftAppId", "bot-app"),
                ("MicrosoftAppPassword", "pw"),
            ],
        )
        .unwrap();
        assert_eq!(s.tabs.client_id.as_deref(), Some("bot-app"));
        assert!(s.tabs.client_secret.is_some() && !s.tabs.accept_v1);
        let err = settings(RunMode::Local, &[("SALESTIM_TAB_CLIENT_ID", "api://x")]).unwrap_err();
        assert_eq!(err.setting, "SALESTIM_TAB_CLIENT_ID");
        let s = settings(
            RunMode::Local,
            &[
                ("INTERCOM_APP_ID", "abc123"),
                ("INTERCOM_LEGACY_USER_HASH", "true"),
            ],
        )
        .unwrap();
        assert_eq!(s.support.app_id.as_deref(), Some("abc123"));
        assert!(s.support.legacy_user_hash && s.support.api_base.is_none());
    }

    #[test]
    fn the_tabs_are_served_from_the_package_else_from_the_checkout() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            default_files_dir(Some(dir.path())),
            PathBuf::from("web/dist")
        );
        assert_eq!(default_files_dir(None), PathBuf::from("web/dist"));
        std::fs::create_dir(dir.path().join("tabs")).unwrap();
        assert_eq!(default_files_dir(Some(dir.path())), dir.path().join("tabs"));
        let s = settings(RunMode::Local, &[("SALESTIM_TABS_DIR", "/srv/tabs")]).unwrap();
        assert_eq!(s.tabs.files_dir, PathBuf::from("/srv/tabs"));
    }
}
