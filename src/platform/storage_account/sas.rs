//! Account SAS tokens, signed here from the account key.
//!
//! The 1.x storage clients authenticate only with Entra ID tokens or with a
//! SAS in the URL; they do not sign Shared Key requests. So, given an account
//! key, we sign a short-lived account SAS ourselves and let a pipeline policy
//! put it on every request. The token lives one hour and is renewed at half
//! its life, so no request ever carries one close to expiry, and a leaked
//! token is worth little.
//!
//! The string-to-sign is the account SAS one for `sv=2021-08-06`:
//! `account\nsp\nss\nsrt\nst\nse\nsip\nspr\nsv\nses\n`.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;
use time::macros::format_description;
use time::{Duration, OffsetDateTime};
use url::form_urlencoded::byte_serialize;

use crate::platform::clock::Clock;

const SAS_VERSION: &str = "2021-08-06";
/// Read, write, delete, list, add, create, update, process: what blobs and
/// queues need (process = receive and delete messages).
const PERMISSIONS: &str = "rwdlacup";
const SERVICES: &str = "bq";
const RESOURCE_TYPES: &str = "sco";
const VALIDITY: Duration = Duration::hours(1);
/// Backdating the start tolerates a server clock slightly behind ours.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// Signs an account SAS for blobs and queues, valid from `start` to
/// `expiry`. `allow_http` adds `http` to the allowed protocols (emulators).
/// Returns the query string (no leading `?`).
pub fn sign_account_sas(
    account: &str,
    key: &[u8],
    start: OffsetDateTime,
    expiry: OffsetDateTime,
    allow_http: bool,
) -> SecretString {
    let st = format_time(start);
    let se = format_time(expiry);
    let spr = if allow_http { "https,http" } else { "https" };
    let string_to_sign = format!(
        "{account}\n{PERMISSIONS}\n{SERVICES}\n{RESOURCE_TYPES}\n{st}\n{se}\n\n{spr}\n{SAS_VERSION}\n\n"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(string_to_sign.as_bytes());
    let sig = BASE64.encode(mac.finalize().into_bytes());
    let encode = |value: &str| byte_serialize(value.as_bytes()).collect::<String>();
    SecretString::from(format!(
        "sv={SAS_VERSION}&ss={SERVICES}&srt={RESOURCE_TYPES}&sp={PERMISSIONS}&se={}&st={}&spr={}&sig={}",
        encode(&se),
        encode(&st),
        encode(spr),
        encode(&sig)
    ))
}

/// `2025-01-01T00:00:00Z`: seconds precision, as the service expects.
fn format_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("a UTC date-time formats with a fixed description")
}

/// Signs account SAS tokens from a key and keeps the current one until half
/// of its life has passed.
pub(super) struct AccountSasSigner {
    account: String,
    key: SecretSlice<u8>,
    allow_http: bool,
    clock: Arc<dyn Clock>,
    current: Mutex<Option<(SecretString, OffsetDateTime)>>,
}

impl AccountSasSigner {
    pub(super) fn new(
        account: String,
        key: SecretSlice<u8>,
        allow_http: bool,
        clock: Arc<dyn Clock>,
    ) -> Self {
        AccountSasSigner {
            account,
            key,
            allow_http,
            clock,
            current: Mutex::new(None),
        }
    }

    /// The SAS to use now, signed afresh once the last one is half-way
    /// through its life (or the clock went backwards).
    pub(super) fn token(&self) -> SecretString {
        let now = self.clock.now();
        let mut current = self.current.lock().expect("SAS cache lock poisoned");
        if let Some((token, issued)) = current.as_ref()
            && now >= *issued
            && now < *issued + VALIDITY / 2
        {
            return token.clone();
        }
        let token = sign_account_sas(
            &self.account,
            self.key.expose_secret(),
            now - CLOCK_SKEW,
            now + VALIDITY,
            self.allow_http,
        );
        *current = Some((token.clone(), now));
        token
    }
}

impl fmt::Debug for AccountSasSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountSasSigner")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Where the SAS on each request comes from.
#[derive(Debug)]
pub(super) enum SasSource {
    /// Given in the connection string; we cannot renew it.
    Fixed(SecretString),
    Signed(AccountSasSigner),
}

/// A per-try pipeline policy that puts the current SAS on the request URL.
/// It replaces any SAS parameters already there, so a retried request (the
/// same `Request`, sent again) carries one SAS, and a fresh one.
#[derive(Debug, Clone)]
pub(super) struct SasPolicy(pub(super) Arc<SasSource>);

impl SasPolicy {
    fn token(&self) -> SecretString {
        match self.0.as_ref() {
            SasSource::Fixed(token) => token.clone(),
            SasSource::Signed(signer) => signer.token(),
        }
    }
}

/// Rewrites `query` so it holds the SAS parameters exactly once. Other
/// parameters stay byte for byte as the client wrote them.
fn with_sas(query: Option<&str>, sas: &str) -> String {
    let key = |pair: &str| pair.split('=').next().unwrap_or_default().to_owned();
    let sas_keys: Vec<String> = sas.split('&').map(key).collect();
    let mut pairs: Vec<&str> = query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !sas_keys.contains(&key(pair)))
        .collect();
    pairs.push(sas);
    pairs.join("&")
}

#[async_trait]
impl Policy for SasPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let token = self.token();
        let url = request.url_mut();
        let query = with_sas(url.query(), token.expose_secret());
        url.set_query(Some(&query));
        next[0].send(ctx, request, &next[1..]).await
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::platform::clock::ManualClock;

    /// Key bytes 0..64, account `salestimtest`. The expected signature was
    /// computed independently with Python's hmac/hashlib/base64 over the
    /// same string-to-sign.
    #[test]
    fn signature_matches_an_independently_computed_vector() {
        let key: Vec<u8> = (0u8..64).collect();
        let sas = sign_account_sas(
            "salestimtest",
            &key,
            datetime!(2025-01-01 00:00:00 UTC),
            datetime!(2025-01-01 01:00:00 UTC),
            false,
        );
        assert_eq!(
            sas.expose_secret(),
            "sv=2021-08-06&ss=bq&srt=sco&sp=rwdlacup&se=2025-01-01T01%3A00%3A00Z\
             &st=2025-01-01T00%3A00%3A00Z&spr=https\
             &sig=b%2BfYVo%2B5I4y7paF21MMohX8bRt9etxcvhpHA5jEz9zU%3D"
        );
        let with_http = sign_account_sas(
            "salestimtest",
            &key,
            datetime!(2025-01-01 00:00:00 UTC),
            datetime!(2025-01-01 01:00:00 UTC),
            true,
        );
        assert!(
            with_http.expose_secret().ends_with(
                "&spr=https%2Chttp&sig=Tli2uI10mwIieL35Yc%2FQmUwRngjfb4l5DBzjCf9Ri7w%3D"
            )
        );
    }

    #[test]
    fn times_are_whole_seconds_in_utc() {
        let at = datetime!(2025-06-30 23:59:59.987 +02:00);
        assert_eq!(format_time(at), "2025-06-30T21:59:59Z");
    }

    #[test]
    fn token_is_kept_until_half_life_then_renewed() {
        let clock = Arc::new(ManualClock::new(datetime!(2025-01-01 00:00:00 UTC)));
        let signer =
            AccountSasSigner::new("acct".into(), vec![1u8; 32].into(), true, clock.clone());
        let first = signer.token().expose_secret().to_owned();
        clock.advance(Duration::minutes(29));
        assert_eq!(signer.token().expose_secret(), first);
        clock.advance(Duration::minutes(2));
        let second = signer.token().expose_secret().to_owned();
        assert_ne!(second, first);
        assert!(second.contains("se=2025-01-01T01%3A31%3A00Z"), "{second}");
        assert!(second.contains("st=2025-01-01T00%3A26%3A00Z"), "{second}");
    }

    #[test]
    fn sas_replaces_earlier_sas_parameters_and_keeps_the_rest() {
        let sas = "sv=1&sig=new";
        assert_eq!(with_sas(None, sas), "sv=1&sig=new");
        assert_eq!(
            with_sas(Some("comp=list&marker=a%2Bb"), sas),
            "comp=list&marker=a%2Bb&sv=1&sig=new"
        );
        assert_eq!(
            with_sas(Some("popreceipt=x&sv=1&sig=old"), sas),
            "popreceipt=x&sv=1&sig=new"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let clock = Arc::new(ManualClock::new(datetime!(2025-01-01 00:00:00 UTC)));
        let signer = AccountSasSigner::new("acct".into(), vec![7u8; 32].into(), true, clock);
        let source = SasSource::Signed(signer);
        let shown = format!("{source:?}");
        assert!(shown.contains("acct"));
        assert!(!shown.contains("7, 7"));
    }
}
