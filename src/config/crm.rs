//! The CRM connectors' deployment settings: how long CRM answers are
//! cached, where Dataverse tokens come from, and our Salesforce connected
//! app (the web-server flow's client, one for every customer org).

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::{ConfigError, invalid, parse_url};

const CACHE_SECS: &str = "SALESTIM_CRM_CACHE_SECS";
/// Longer than this and a renamed or reassigned record stays stale in
/// every chat for too long.
const MAX_CACHE_SECS: u64 = 3600;
const DEFAULT_CACHE_SECS: u64 = 60;

#[derive(Clone, Debug)]
pub struct CrmSettings {
    /// `SALESTIM_CRM_CACHE_SECS` (0 to 3600, default 60): how long search
    /// results and records are kept in the shared cache; 0 keeps nothing.
    pub cache_ttl: Duration,
    /// `CRM_AUTHORITY_HOST`: where Dataverse's client-credential tokens
    /// are asked for (Entra ID's, as Graph's, unless set).
    pub authority_host: Url,
    /// `SALESFORCE_CLIENT_ID` + `SALESFORCE_CLIENT_SECRET` (+
    /// `SALESFORCE_LOGIN_URL`, default `https://login.salesforce.com`).
    pub salesforce: Option<SalesforceSettings>,
    /// `CRM_EXTRA_HOSTS` (comma-separated host names): CRM hosts admins
    /// may connect to beyond Dynamics 365's and Salesforce's own domains
    /// (a private cloud's; the tests' stand-ins on 127.0.0.1).
    pub extra_hosts: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct SalesforceSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub login_url: Url,
}

pub(super) fn from_lookup(
    get: &dyn Fn(&str) -> Option<String>,
    entra_authority_host: &Url,
) -> Result<CrmSettings, ConfigError> {
    let cache_secs = match get(CACHE_SECS) {
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_CACHE_SECS)
            .ok_or_else(|| {
                invalid(
                    CACHE_SECS,
                    format!(
                        "must be a whole number of seconds from 0 to {MAX_CACHE_SECS}, not {raw:?}"
                    ),
                )
            })?,
        None => DEFAULT_CACHE_SECS,
    };
    let authority_host = match get("CRM_AUTHORITY_HOST") {
        Some(raw) => parse_url("CRM_AUTHORITY_HOST", &raw)?,
        None => entra_authority_host.clone(),
    };
    let salesforce = match (get("SALESFORCE_CLIENT_ID"), get("SALESFORCE_CLIENT_SECRET")) {
        (Some(client_id), Some(secret)) => Some(SalesforceSettings {
            client_id,
            client_secret: SecretString::from(secret),
            login_url: match get("SALESFORCE_LOGIN_URL") {
                Some(raw) => parse_url("SALESFORCE_LOGIN_URL", &raw)?,
                None => Url::parse("https://login.salesforce.com").expect("a valid URL"),
            },
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(invalid(
                "SALESFORCE_CLIENT_SECRET",
                "is required with SALESFORCE_CLIENT_ID (the connected app's consumer secret)",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "SALESFORCE_CLIENT_ID",
                "is required with SALESFORCE_CLIENT_SECRET (the connected app's consumer key)",
            ));
        }
    };
    let extra_hosts = get("CRM_EXTRA_HOSTS")
        .map(|raw| {
            raw.split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(CrmSettings {
        extra_hosts,
        cache_ttl: Duration::from_secs(cache_secs),
        authority_host,
        salesforce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> Result<CrmSettings, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let get = move |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        from_lookup(
            &get,
            &Url::parse("https://login.microsoftonline.com").unwrap(),
        )
    }

    #[test]
    fn defaults_and_refusals() {
        let s = lookup(&[]).unwrap();
        assert_eq!(s.cache_ttl, Duration::from_secs(60));
        assert!(s.salesforce.is_none());
        assert_eq!(
            s.authority_host.as_str(),
            "https://login.microsoftonline.com/"
        );
        assert_eq!(
            lookup(&[(CACHE_SECS, "3601")]).unwrap_err().setting,
            CACHE_SECS
        );
        assert_eq!(
            lookup(&[(CACHE_SECS, "x")]).unwrap_err().setting,
            CACHE_SECS
        );
        assert_eq!(
            lookup(&[("SALESFORCE_CLIENT_ID", "id")])
                .unwrap_err()
                .setting,
            "SALESFORCE_CLIENT_SECRET"
        );
        let s = lookup(&[
            ("SALESFORCE_CLIENT_ID", "id"),
            ("SALESFORCE_CLIENT_SECRET", "s"),
            ("SALESFORCE_LOGIN_URL", "https://test.salesforce.com"),
        ])
        .unwrap();
        assert_eq!(
            s.salesforce.unwrap().login_url.as_str(),
            "https://test.salesforce.com/"
        );
    }
}
