//! Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=..]`,
//! where each `v1` is hex HMAC-SHA256 over `"{t}.{raw body}"` with the
//! endpoint's `whsec_` secret. Any `v1` may match (secrets roll); `v0` and
//! unknown schemes are ignored; the timestamp must be within the tolerance.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Stripe's libraries' default tolerance.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("Stripe-Signature header is malformed")]
    Malformed,
    #[error("Stripe-Signature has no timestamp")]
    NoTimestamp,
    #[error("Stripe-Signature has no v1 signature")]
    NoSignature,
    #[error("Stripe-Signature timestamp is outside the tolerance")]
    Stale,
    #[error("Stripe-Signature does not match the payload")]
    Mismatch,
}

/// Checks `header` against the raw `body` with any of `secrets` at `now`
/// (Unix seconds). The comparison is constant-time (`Mac::verify_slice`).
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[SecretString],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    if (now - t).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let matches = secrets.iter().any(|secret| {
        signatures
            .iter()
            .any(|sig| mac_for(secret, t, body).verify_slice(sig).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn mac_for(secret: &SecretString, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Builds a `Stripe-Signature` header the way Stripe does; used by tests,
/// benchmarks and the local tooling that replays events.
pub fn sign(body: &[u8], secret: &SecretString, t: i64) -> String {
    let sig = mac_for(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn matches_a_signature_computed_independently() {
        // python3: hmac.new(b"whsec_test", b'1700000000.{"id":"evt_1"}', hashlib.sha256).hexdigest()
        let body = br#"{"id":"evt_1"}"#;
        let header =
            "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925";
        assert_eq!(sign(body, &secret("whsec_test"), 1_700_000_000), header);
        assert_eq!(
            verify(header, body, &[secret("whsec_test")], 1_700_000_100, 300),
            Ok(())
        );
    }

    #[test]
    fn accepts_any_v1_and_any_secret_and_ignores_v0() {
        let body = b"{}";
        let good = sign(body, &secret("whsec_new"), 1000);
        let good_sig = good.split_once(",v1=").unwrap().1;
        let header = format!("t=1000,v0=00,v1={},v1={good_sig},scheme=x", "ab".repeat(32));
        assert_eq!(
            verify(
                &header,
                body,
                &[secret("whsec_old"), secret("whsec_new")],
                1000,
                300
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_each_kind_of_bad_header() {
        let s = [secret("whsec_test")];
        let body = b"{\"a\":1}";
        let good = sign(body, &s[0], 1000);
        assert_eq!(
            verify(&good, b"{\"a\":2}", &s, 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&good, body, &[secret("whsec_other")], 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&good, body, &s, 1301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&good, body, &s, 699, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("garbage", body, &s, 1000, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("t=abc,v1=00", body, &s, 1000, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("v1=00", body, &s, 1000, 300),
            Err(SignatureError::NoTimestamp)
        );
        assert_eq!(
            verify("t=1000,v0=00", body, &s, 1000, 300),
            Err(SignatureError::NoSignature)
        );
        assert_eq!(
            verify("t=1000,v1=zz", body, &s, 1000, 300),
            Err(SignatureError::Malformed)
        );
    }
}
