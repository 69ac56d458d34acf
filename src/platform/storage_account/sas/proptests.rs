//! The SAS helpers take text from outside in two places: the query a
//! storage client wrote (with whatever blob names and markers it holds) and
//! error texts to redact. Any query keeps its own parameters and carries
//! the SAS exactly once; any text loses every signature value.

use proptest::prelude::*;

use super::*;
use crate::platform::storage_account::redact_sas;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_query_carries_the_sas_once_and_keeps_the_rest(
        query in proptest::option::of("[a-z=&%0-9+]{0,40}"),
        sig in "[A-Za-z0-9%]{1,20}",
    ) {
        let sas = format!("sv=2021-08-06&se=x&sig={sig}");
        let out = with_sas(query.as_deref(), &sas);
        prop_assert!(out.ends_with(&sas));
        let sigs = out.split('&').filter(|p| p.split('=').next() == Some("sig")).count();
        prop_assert_eq!(sigs, 1, "{}", out);
        let sas_keys = ["sv", "se", "sig"];
        let kept: Vec<&str> = query
            .as_deref()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty() && !sas_keys.contains(&p.split('=').next().unwrap_or_default()))
            .collect();
        let expected = if kept.is_empty() { sas.clone() } else { format!("{}&{sas}", kept.join("&")) };
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn any_text_loses_its_signatures(
        before in "\\PC{0,20}",
        sig in "Zq9[A-Za-z0-9%+/=]{5,27}",
        end in "(&|\\)| |\"|'|>|)",
        after in "[a-z &=]{0,10}",
    ) {
        let text = format!("{before}?sv=1&sig={sig}{end}{after}");
        let out = redact_sas(&text);
        prop_assert!(!out.contains(&sig), "{out:?} still holds {sig:?}");
        prop_assert!(out.contains("sig=REDACTED"));
    }

    #[test]
    fn any_key_and_account_sign_without_a_panic(
        account in "\\PC{0,30}",
        key in proptest::collection::vec(any::<u8>(), 0..100),
        start in -377_705_116_800i64..253_402_300_799,
        validity in 0i64..100_000,
        allow_http in any::<bool>(),
    ) {
        let start = OffsetDateTime::from_unix_timestamp(start).expect("in range");
        let expiry = start.checked_add(Duration::seconds(validity)).unwrap_or(start);
        let sas = sign_account_sas(&account, &key, start, expiry, allow_http);
        prop_assert_eq!(sas.expose_secret().matches("&sig=").count(), 1);
    }
}
