//! `AzureWebJobsStorage` is typed by hand into portals and pipelines: any
//! text gives endpoints and credentials or a reason, never a panic; the
//! reason never repeats a secret; and the endpoints derived from
//! `AccountName` and `EndpointSuffix` are that account's, on that suffix,
//! and nowhere else (a request signed with the key goes only there).

use proptest::prelude::*;
use secrecy::ExposeSecret;

use super::*;

const KEYS: [&str; 9] = [
    "DefaultEndpointsProtocol",
    "AccountName",
    "AccountKey",
    "EndpointSuffix",
    "BlobEndpoint",
    "QueueEndpoint",
    "SharedAccessSignature",
    "UseDevelopmentStorage",
    "accountname",
];

/// The secret every generated key and SAS carries, to look for in errors.
const SECRET: &str = "c2VjcmV0c2VjcmV0";

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(SECRET.to_owned()),
        Just(format!("sv=2021-08-06&sig={SECRET}")),
        Just(format!("?sig={SECRET}%3D")),
        "(https|http|HTTP|ftp|true|false|)",
        "[a-z0-9]{1,26}",
        "[a-z0-9.-]{0,20}",
        "https?://[a-z0-9.:@/?#\\[\\]-]{0,24}",
        "[ -:<-~]{0,16}",
        "\\PC{0,8}",
    ]
}

fn near_connection_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            proptest::sample::select(KEYS.to_vec()),
            value(),
            "[ ;]{0,2}",
        ),
        0..7,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v, sep)| format!("{k}={v};{sep}"))
            .collect()
    })
}

fn check(raw: &str) -> Result<(), TestCaseError> {
    match parse(raw) {
        Ok(parsed) => {
            for url in [&parsed.blob_endpoint, &parsed.queue_endpoint] {
                prop_assert!(matches!(url.scheme(), "http" | "https"));
                prop_assert!(url.query().is_none() && url.fragment().is_none(), "{}", url);
                prop_assert!(url.host_str().is_some(), "{}", url);
            }
        }
        Err(e) => {
            let message = e.to_string();
            prop_assert!(!message.contains(SECRET), "{message:?} repeats a secret");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_gives_a_connection_or_a_reason(raw in "\\PC{0,80}") {
        check(&raw)?;
    }

    #[test]
    fn near_valid_strings_never_panic_nor_leak(raw in near_connection_string()) {
        check(&raw)?;
    }

    #[test]
    fn derived_endpoints_are_the_accounts_own(
        account in "[a-z0-9]{3,24}",
        suffix in prop_oneof![
            "[a-z0-9-]{1,10}(\\.[a-z0-9-]{1,10}){0,3}",
            "[a-z0-9./?#@:%\\[\\]-]{1,24}",
        ],
    ) {
        let raw = format!("AccountName={account};AccountKey=a2V5;EndpointSuffix={suffix}");
        if let Ok(parsed) = parse(&raw) {
            for (url, service) in [(&parsed.blob_endpoint, "blob"), (&parsed.queue_endpoint, "queue")] {
                let expected = format!("{account}.{service}.{}", suffix.to_ascii_lowercase());
                prop_assert_eq!(url.host_str(), Some(expected.as_str()), "{:?} gave {}", suffix, url);
                prop_assert_eq!(url.path(), "/");
                prop_assert!(url.query().is_none() && url.fragment().is_none());
                prop_assert!(url.username().is_empty() && url.port().is_none());
            }
            match parsed.auth {
                ParsedAuth::Key { account: a, key } => {
                    prop_assert_eq!(a, account);
                    prop_assert_eq!(key.expose_secret(), b"key");
                }
                ParsedAuth::Sas(_) => prop_assert!(false, "an account key was given"),
            }
        }
    }
}

#[test]
fn a_suffix_that_is_not_a_host_name_is_refused() {
    for suffix in [
        "#",
        "core.windows.net/x",
        "core.windows.net?sv=1",
        "core.windows.net:8443",
        "x@attacker.example",
    ] {
        let raw = format!("AccountName=abc;AccountKey=a2V5;EndpointSuffix={suffix}");
        let message = match parse(&raw) {
            Ok(p) => panic!("{suffix:?} gave {}", p.blob_endpoint),
            Err(e) => e.to_string(),
        };
        assert!(message.contains("EndpointSuffix"), "{message}");
    }
    let sovereign = parse("AccountName=abc;AccountKey=a2V5;EndpointSuffix=Core.ChinaCloudAPI.cn")
        .expect("a DNS suffix");
    assert_eq!(
        sovereign.queue_endpoint.as_str(),
        "https://abc.queue.core.chinacloudapi.cn/"
    );
}
