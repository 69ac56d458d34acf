//! Parsing of a storage connection string, the classic form of
//! `AzureWebJobsStorage`.
//!
//! The grammar is the one every Azure SDK accepts: `key=value` pairs
//! separated by `;`, keys case-insensitive, values taken verbatim up to the
//! next `;` (account keys and SAS tokens contain `=`). Error messages name
//! the key that is wrong and never repeat a value, since values are secrets.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{SecretSlice, SecretString};
use url::Url;

use super::StorageConfigError;

/// The account every storage emulator serves (Azurite, the old emulator).
pub const DEV_ACCOUNT_NAME: &str = "devstoreaccount1";

/// The emulator's published, well-known account key. It is public (it ships
/// in every Azure SDK and in Azurite's docs), so it is no secret of ours.
const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How requests to the account are authorised, as the connection string says.
pub(super) enum ParsedAuth {
    /// Shared key: the account SAS is signed here.
    Key {
        account: String,
        key: SecretSlice<u8>,
    },
    /// A SAS token handed over as is (without the leading `?`).
    Sas(SecretString),
}

pub(super) struct ParsedConnectionString {
    pub blob_endpoint: Url,
    pub queue_endpoint: Url,
    pub auth: ParsedAuth,
}

fn invalid(reason: impl Into<String>) -> StorageConfigError {
    StorageConfigError::ConnectionString(reason.into())
}

/// Splits `k=v;k=v` into a map keyed by lower-cased key.
fn split_pairs(raw: &str) -> Result<HashMap<String, &str>, StorageConfigError> {
    let mut pairs = HashMap::new();
    for (index, segment) in raw.split(';').enumerate() {
        let segment = segment.trim();
        if segment.is_empty() {
            continue;
        }
        let Some((key, value)) = segment.split_once('=') else {
            return Err(invalid(format!(
                "segment {} has no '=' (expected key=value pairs separated by ';')",
                index + 1
            )));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(invalid(format!("segment {} has an empty key", index + 1)));
        }
        if pairs
            .insert(key.to_ascii_lowercase(), value.trim())
            .is_some()
        {
            return Err(invalid(format!("{key} is given more than once")));
        }
    }
    if pairs.is_empty() {
        return Err(invalid("it is empty"));
    }
    Ok(pairs)
}

/// Parses an endpoint URL, dropping the trailing slash the storage clients
/// reject (they answer 400 to `//container`). The error says what is wrong
/// with it; the caller names the setting.
pub(super) fn parse_endpoint(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim_end_matches('/')).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err("must be an http(s) URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not carry a query (a SAS goes in SharedAccessSignature)".into());
    }
    Ok(url)
}

fn account_endpoint(
    protocol: &str,
    account: &str,
    service: &str,
    suffix: &str,
) -> Result<Url, StorageConfigError> {
    let host = format!("{account}.{service}.{suffix}");
    let url = Url::parse(&format!("{protocol}://{host}")).map_err(|e| {
        invalid(format!(
            "AccountName/EndpointSuffix do not make a valid {service} URL: {e}"
        ))
    })?;
    // The suffix must stay a host name: a `/`, `?`, `#`, `@` or `:` in it
    // would send the signed requests to another path, query or host.
    let only_host = url.host_str() == Some(host.to_ascii_lowercase().as_str())
        && url.username().is_empty()
        && url.password().is_none()
        && url.port().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    if !only_host {
        return Err(invalid(
            "EndpointSuffix must be a DNS suffix such as core.windows.net",
        ));
    }
    Ok(url)
}

fn dev_storage() -> ParsedConnectionString {
    let endpoint = |port: u16| {
        Url::parse(&format!("http://127.0.0.1:{port}/{DEV_ACCOUNT_NAME}"))
            .expect("the emulator URL is well-formed")
    };
    ParsedConnectionString {
        blob_endpoint: endpoint(10000),
        queue_endpoint: endpoint(10001),
        auth: ParsedAuth::Key {
            account: DEV_ACCOUNT_NAME.to_owned(),
            key: BASE64
                .decode(DEV_ACCOUNT_KEY)
                .expect("the emulator key is valid base64")
                .into(),
        },
    }
}

pub(super) fn parse(raw: &str) -> Result<ParsedConnectionString, StorageConfigError> {
    let pairs = split_pairs(raw)?;
    let get = |key: &str| pairs.get(&key.to_ascii_lowercase()).copied();

    if let Some(dev) = get("UseDevelopmentStorage") {
        if !dev.eq_ignore_ascii_case("true") {
            return Err(invalid("UseDevelopmentStorage must be 'true' when given"));
        }
        if pairs.len() > 1 {
            return Err(invalid(
                "UseDevelopmentStorage=true cannot be combined with other settings",
            ));
        }
        return Ok(dev_storage());
    }

    let protocol = get("DefaultEndpointsProtocol").unwrap_or("https");
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "https" => "https",
        "http" => "http",
        _ => {
            return Err(invalid(
                "DefaultEndpointsProtocol must be 'https' or 'http'",
            ));
        }
    };
    let account = get("AccountName").filter(|a| !a.is_empty());
    if let Some(name) = account {
        let valid = (3..=24).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid {
            return Err(invalid(
                "AccountName must be 3-24 lower-case letters and digits",
            ));
        }
    }
    let suffix = get("EndpointSuffix").unwrap_or("core.windows.net");

    let endpoint = |key: &str, service: &str| -> Result<Url, StorageConfigError> {
        match (get(key), account) {
            (Some(explicit), _) => {
                parse_endpoint(explicit).map_err(|reason| invalid(format!("{key} {reason}")))
            }
            (None, Some(account)) => account_endpoint(protocol, account, service, suffix),
            (None, None) => Err(invalid(format!("{key} or AccountName is required"))),
        }
    };
    let blob_endpoint = endpoint("BlobEndpoint", "blob")?;
    let queue_endpoint = endpoint("QueueEndpoint", "queue")?;

    let auth = match (get("AccountKey"), get("SharedAccessSignature")) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "give either AccountKey or SharedAccessSignature, not both",
            ));
        }
        (Some(key), None) => {
            let Some(account) = account else {
                return Err(invalid("AccountKey needs AccountName to sign requests"));
            };
            let key = BASE64
                .decode(key)
                .map_err(|_| invalid("AccountKey is not valid base64"))?;
            if key.is_empty() {
                return Err(invalid("AccountKey is empty"));
            }
            ParsedAuth::Key {
                account: account.to_owned(),
                key: key.into(),
            }
        }
        (None, Some(sas)) => {
            let sas = sas.trim_start_matches('?');
            if !sas.split('&').any(|pair| pair.starts_with("sig=")) {
                return Err(invalid("SharedAccessSignature has no sig= parameter"));
            }
            ParsedAuth::Sas(SecretString::from(sas.to_owned()))
        }
        (None, None) => {
            return Err(invalid(
                "AccountKey or SharedAccessSignature is required (or UseDevelopmentStorage=true)",
            ));
        }
    };

    Ok(ParsedConnectionString {
        blob_endpoint,
        queue_endpoint,
        auth,
    })
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn err(raw: &str) -> String {
        match parse(raw) {
            Ok(_) => panic!("{raw:?} should not parse"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn development_storage_points_at_the_emulator_ports() {
        let parsed = parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            parsed.blob_endpoint.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        assert_eq!(
            parsed.queue_endpoint.as_str(),
            "http://127.0.0.1:10001/devstoreaccount1"
        );
        match parsed.auth {
            ParsedAuth::Key { account, key } => {
                assert_eq!(account, DEV_ACCOUNT_NAME);
                assert_eq!(key.expose_secret().len(), 64);
            }
            ParsedAuth::Sas(_) => panic!("expected a key"),
        }
    }

    #[test]
    fn account_key_form_derives_endpoints_from_the_suffix() {
        let parsed = parse(
            "DefaultEndpointsProtocol=https;AccountName=salestimprod;AccountKey=a2V5a2V5;EndpointSuffix=core.chinacloudapi.cn;",
        )
        .unwrap();
        assert_eq!(
            parsed.blob_endpoint.as_str(),
            "https://salestimprod.blob.core.chinacloudapi.cn/"
        );
        assert_eq!(
            parsed.queue_endpoint.as_str(),
            "https://salestimprod.queue.core.chinacloudapi.cn/"
        );
        match parsed.auth {
            ParsedAuth::Key { account, key } => {
                assert_eq!(account, "salestimprod");
                assert_eq!(key.expose_secret(), b"keykey");
            }
            ParsedAuth::Sas(_) => panic!("expected a key"),
        }
    }

    #[test]
    fn keys_are_case_insensitive_and_default_suffix_applies() {
        let parsed = parse("accountname=abc;accountkey=a2V5").unwrap();
        assert_eq!(
            parsed.blob_endpoint.as_str(),
            "https://abc.blob.core.windows.net/"
        );
    }

    #[test]
    fn explicit_endpoints_win_and_lose_their_trailing_slash() {
        let parsed = parse(
            "AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:4000/devstoreaccount1/;QueueEndpoint=http://127.0.0.1:4001/devstoreaccount1",
        )
        .unwrap();
        assert_eq!(
            parsed.blob_endpoint.as_str(),
            "http://127.0.0.1:4000/devstoreaccount1"
        );
        assert_eq!(
            parsed.queue_endpoint.as_str(),
            "http://127.0.0.1:4001/devstoreaccount1"
        );
    }

    #[test]
    fn sas_form_keeps_the_token_without_question_mark() {
        let parsed = parse(
            "BlobEndpoint=https://a.blob.core.windows.net;QueueEndpoint=https://a.queue.core.windows.net;SharedAccessSignature=?sv=2021-08-06&ss=bq&sig=abc%3D",
        )
        .unwrap();
        match parsed.auth {
            ParsedAuth::Sas(sas) => {
                assert_eq!(sas.expose_secret(), "sv=2021-08-06&ss=bq&sig=abc%3D")
            }
            ParsedAuth::Key { .. } => panic!("expected a SAS"),
        }
    }

    #[test]
    fn malformed_strings_say_what_is_wrong_without_echoing_secrets() {
        let cases = [
            ("", "empty"),
            ("AccountName=abc;garbage", "segment 2 has no '='"),
            (
                "AccountName=abc;AccountName=def;AccountKey=a2V5",
                "more than once",
            ),
            (
                "AccountName=abc",
                "AccountKey or SharedAccessSignature is required",
            ),
            (
                "AccountName=abc;AccountKey=not*base64!",
                "AccountKey is not valid base64",
            ),
            ("AccountName=ABC;AccountKey=a2V5", "AccountName must be"),
            ("AccountKey=a2V5", "BlobEndpoint or AccountName is required"),
            (
                "BlobEndpoint=http://x/a;QueueEndpoint=http://x/b;AccountKey=a2V5",
                "AccountKey needs AccountName",
            ),
            (
                "AccountName=abc;AccountKey=a2V5;SharedAccessSignature=sig=x",
                "not both",
            ),
            (
                "AccountName=abc;AccountKey=a2V5;BlobEndpoint=nope",
                "BlobEndpoint is not a URL",
            ),
            (
                "AccountName=abc;AccountKey=a2V5;QueueEndpoint=ftp://x/y",
                "QueueEndpoint must be",
            ),
            (
                "AccountName=abc;AccountKey=a2V5;DefaultEndpointsProtocol=gopher",
                "DefaultEndpointsProtocol",
            ),
            ("UseDevelopmentStorage=false", "must be 'true'"),
            (
                "UseDevelopmentStorage=true;AccountName=abc",
                "cannot be combined",
            ),
            (
                "BlobEndpoint=http://x/a;QueueEndpoint=http://x/b;SharedAccessSignature=sv=1",
                "no sig=",
            ),
        ];
        for (raw, expected) in cases {
            let message = err(raw);
            assert!(
                message.contains(expected),
                "{raw:?}: {message:?} should mention {expected:?}"
            );
            assert!(!message.contains("a2V5"), "{message:?} leaks the key");
        }
    }
}
