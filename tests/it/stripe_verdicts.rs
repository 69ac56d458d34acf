//! Our `Stripe-Signature` verdicts against Stripe's own: a corpus of headers
//! (hand-picked corners, then structured generation with a fixed seed) goes
//! to the official Node verifier (npm `stripe`,
//! `webhooks.signature.verifyHeader`, installed in `tests/tools` by
//! `scripts/test`), and each accept/refuse verdict is compared with
//! `billing::signature::verify`.
//!
//! We never accept what Stripe refuses. We refuse what Stripe accepts only
//! in the classes listed in [`Stricter`] (and in the README), and each class
//! must show up in the corpus as a case Stripe accepts, so the list stays
//! honest both ways.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use hmac::{Hmac, Mac};
use salestim::billing::signature::{self, MAX_ENTRIES, MAX_HEADER_BYTES};
use secrecy::SecretString;
use serde_json::json;

use crate::support::app::repo_root;

const NOW: i64 = 1_700_000_000;
const TOLERANCE: i64 = 300;
const GENERATED: usize = 3000;

/// Where we are deliberately stricter than Stripe, decided from the header
/// alone (not from our verifier's answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stricter {
    /// Longer than `MAX_HEADER_BYTES` or more than `MAX_ENTRIES` entries:
    /// refused before any MAC, so refusing stays cheap.
    Bounds,
    /// More than one `t`: Stripe's Node library takes the last, its Python
    /// library the first; either choice accepts what the other refuses.
    SecondTimestamp,
    /// A `t` that is not a plain integer (`1000abc`, ` 1000`, `1000.5`, an
    /// empty or missing value, beyond i64): Stripe's `parseInt` reads a
    /// prefix or `NaN` and signs that, which no Stripe header needs.
    LenientTimestamp,
    /// A `t` more than the tolerance in the future: Stripe checks only the
    /// age; a signature from the future means a wrong clock or a signer
    /// that is not Stripe, and accepting it would stretch the replay window.
    FutureTimestamp,
}

fn plain_integer(v: &str) -> Option<i64> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn stricter(header: &str, now: i64) -> Option<Stricter> {
    if header.len() > MAX_HEADER_BYTES || header.split(',').count() > MAX_ENTRIES {
        return Some(Stricter::Bounds);
    }
    let ts: Vec<Option<&str>> = header
        .split(',')
        .filter_map(|item| {
            let mut kv = item.split('=');
            (kv.next() == Some("t")).then(|| kv.next())
        })
        .collect();
    if ts.len() > 1 {
        return Some(Stricter::SecondTimestamp);
    }
    match ts.first() {
        Some(v) => match v.and_then(plain_integer) {
            None => Some(Stricter::LenientTimestamp),
            Some(t) if t > now + TOLERANCE => Some(Stricter::FutureTimestamp),
            Some(_) => None,
        },
        None => None,
    }
}

struct Case {
    header: String,
    body: String,
    secrets: Vec<&'static str>,
}

fn hmac_hex(secret: &str, signed_t: &str, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(signed_t.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// SplitMix64: a fixed seed gives the same corpus on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const BODIES: &[&str] = &[
    r#"{"id":"evt_1","object":"event","type":"invoice.paid"}"#,
    "{\"id\":\"evt_2\",\"name\":\"Zoë – 日本\",\"sep\":\"\u{2028}\"}\r\n",
    r#"{"id":"evt_3","note":"t=1,v1=00,a,b=c"}"#,
];
const SECRET_SETS: &[&[&str]] = &[&["whsec_a"], &["whsec_a", "whsec_b"], &["whsec_b"]];
const SIGNERS: &[&str] = &["whsec_a", "whsec_a", "whsec_b", "whsec_c"];
const DELTAS: &[i64] = &[
    -100_000, -301, -300, -299, -1, 0, 0, 0, 0, 0, 1, 299, 300, 301, 100_000,
];

/// A `t` entry as written in the header, and the timestamp Stripe's
/// `parseInt` signs for it (`None`: the entry has no `=`).
fn timestamp_entry(rng: &mut Rng) -> (String, String) {
    let n = NOW + rng.pick(DELTAS);
    let (raw, signed): (Option<String>, String) = match rng.below(20) {
        0..=10 => (Some(n.to_string()), n.to_string()),
        11 => (Some(format!("+{n}")), n.to_string()),
        12 => (Some(format!("00{n}")), n.to_string()),
        13 => (Some(format!("{n}abc")), n.to_string()),
        14 => (Some(format!(" {n}")), n.to_string()),
        15 => (Some(format!("{n}.5")), n.to_string()),
        16 => (Some(String::new()), "NaN".into()),
        17 => (None, "NaN".into()),
        18 => (Some("abc".into()), "NaN".into()),
        _ => (
            Some("99999999999999999999".into()),
            "100000000000000000000".into(),
        ),
    };
    match raw {
        Some(v) => (format!("t={v}"), signed),
        None => ("t".into(), signed),
    }
}

fn signature_entry(rng: &mut Rng, signed_t: &str, body: &str) -> String {
    let signer = rng.pick(SIGNERS);
    let good = hmac_hex(signer, signed_t, body);
    let value = match rng.below(16) {
        0..=7 => Some(good),
        8 => Some(good.to_uppercase()),
        9 => Some(format!(" {good}")),
        10 => Some(format!("{good} ")),
        11 => Some(format!("{good}=tail")),
        12 => Some(good[..63].to_owned()),
        13 => Some(hmac_hex(signer, signed_t, "{}")),
        14 => Some(String::new()),
        _ => None,
    };
    let key = *rng.pick(&[
        "v1", "v1", "v1", "v1", "v1", "v1", "v1", "v1", "v1", " v1", "V1", "v0", "v2", "v1 ",
    ]);
    match value {
        Some(v) => format!("{key}={v}"),
        None => key.to_owned(),
    }
}

fn filler(rng: &mut Rng) -> String {
    rng.pick(&["garbage", "", "x=y", "v0=00", "scheme=v1", "=", "v1=a=b"])
        .to_string()
}

fn generated(rng: &mut Rng) -> Case {
    let body = rng.pick(BODIES).to_string();
    let secrets = rng.pick(SECRET_SETS).to_vec();
    let mut entries = Vec::new();
    let t_count = *rng.pick(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 2]);
    let ts: Vec<(String, String)> = (0..t_count).map(|_| timestamp_entry(rng)).collect();
    let signed_t = match ts.len() {
        0 => (NOW).to_string(),
        _ if rng.chance(15) => ts[0].1.clone(),
        _ => ts[ts.len() - 1].1.clone(),
    };
    for _ in 0..1 + rng.below(2) {
        entries.push(signature_entry(rng, &signed_t, &body));
    }
    for _ in 0..rng.below(3).saturating_sub(1) {
        entries.push(filler(rng));
    }
    if rng.chance(3) {
        // Many entries, or one long one: what a forger sends.
        let n = *rng.pick(&[MAX_ENTRIES, 40, 3000]);
        for _ in 0..n {
            entries.push("v0=00".into());
        }
        if rng.chance(30) {
            entries.push(format!("v0={}", "0".repeat(MAX_HEADER_BYTES)));
        }
    }
    // Shuffle the non-timestamp entries, then put each `t` somewhere, in order.
    for i in (1..entries.len()).rev() {
        entries.swap(i, rng.below(i + 1));
    }
    let mut at = 0;
    for (t, _) in ts {
        at = at + rng.below(entries.len() - at + 1);
        entries.insert(at, t);
        at += 1;
    }
    Case {
        header: entries.join(","),
        body,
        secrets,
    }
}

/// The corners named in the issue, written out.
fn hand_picked() -> Vec<Case> {
    let body = BODIES[0];
    let sig = |t: &str| hmac_hex("whsec_a", t, body);
    let now = NOW.to_string();
    let good = sig(&now);
    let mut headers = vec![
        format!("t={now},v1={good}"),
        format!("t={now},v1={}", good.to_uppercase()),
        format!("t={now}, v1={good}"),
        format!(" t={now},v1={good}"),
        format!("t={now},t={now},v1={good}"),
        format!("t={},t={now},v1={good}", NOW - 1000),
        format!("t={now},t={},v1={good}", NOW - 1000),
        format!("v1={good}"),
        format!("t={now}"),
        format!("t={now},v0={good}"),
        format!("t={now},v2={good},scheme={good}"),
        format!("t={now},v1="),
        format!("t={now},v1=,v1={good}"),
        format!("t={now},v1={good},v1="),
        format!("t={now}abc,v1={good}"),
        format!("t=+{now},v1={good}"),
        format!("t=-{now},v1={}", sig(&format!("-{now}"))),
        format!("t=0{now},v1={good}"),
        format!("t=,v1={}", sig("NaN")),
        format!("t,v1={}", sig("NaN")),
        format!("t={now},v1=zz,v1={good}"),
        format!("t={now},v1={good}=x"),
        format!("t={now}=x,v1={good}"),
        format!("t={now},garbage,,v1={good}"),
        format!("t={now},v1={good}{}", ",v1=".repeat(3000)),
        format!("t={now}{},v1={good}", ",v0=00".repeat(3000)),
        format!("t={now}{},v1={good}", ",v0=00".repeat(MAX_ENTRIES - 2)),
        format!("t={now}{},v1={good}", ",v0=00".repeat(MAX_ENTRIES - 1)),
        String::new(),
        ",,,".into(),
        "t=1=2=3".into(),
    ];
    for d in [-301, -300, -299, 299, 300, 301, 86_400] {
        let t = (NOW + d).to_string();
        headers.push(format!("t={t},v1={}", sig(&t)));
    }
    headers
        .into_iter()
        .map(|header| Case {
            header,
            body: body.to_owned(),
            secrets: vec!["whsec_a"],
        })
        .collect()
}

/// A case for a failure message: long headers cut, the secrets named.
fn shown(case: &Case) -> String {
    let header: String = case.header.chars().take(300).collect();
    let cut = if header.len() < case.header.len() {
        "…"
    } else {
        ""
    };
    format!(
        "{header:?}{cut} ({} bytes, secrets {:?})",
        case.header.len(),
        case.secrets
    )
}

fn stripe_verdicts(cases: &[Case]) -> Vec<bool> {
    let input = json!({
        "tolerance": TOLERANCE,
        "cases": cases.iter().map(|c| json!({"header": c.header, "body": c.body, "secrets": c.secrets, "now": NOW})).collect::<Vec<_>>(),
    });
    let mut child = Command::new("node")
        .arg(repo_root().join("tests/tools/stripe-verdicts.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (npm ci --prefix tests/tools installs stripe)");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let text = serde_json::to_vec(&input).expect("JSON");
    let writer = std::thread::spawn(move || stdin.write_all(&text));
    let out = child.wait_with_output().expect("node finishes");
    writer
        .join()
        .expect("the writer thread")
        .expect("the corpus reaches node");
    assert!(
        out.status.success(),
        "Stripe's verifier did not run (npm ci --prefix tests/tools): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<bool> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    assert_eq!(verdicts.len(), cases.len());
    verdicts
}

#[test]
fn our_signature_verdicts_are_stripes_except_where_we_are_deliberately_stricter() {
    let mut rng = Rng(0x5a1e_5717);
    let mut cases = hand_picked();
    cases.extend((0..GENERATED).map(|_| generated(&mut rng)));
    let theirs = stripe_verdicts(&cases);

    let mut differences = Vec::new();
    let mut stricter_seen: BTreeMap<Stricter, usize> = BTreeMap::new();
    let (mut accepted, mut refused) = (0, 0);
    for (case, &stripe) in cases.iter().zip(&theirs) {
        let secrets: Vec<SecretString> = case
            .secrets
            .iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect();
        let ours =
            signature::verify(&case.header, case.body.as_bytes(), &secrets, NOW, TOLERANCE).is_ok();
        if ours {
            accepted += 1;
        } else {
            refused += 1;
        }
        match (ours, stripe) {
            (a, b) if a == b => {}
            (false, true) => match stricter(&case.header, NOW) {
                Some(class) => *stricter_seen.entry(class).or_default() += 1,
                None => differences.push(format!("we refuse, Stripe accepts: {}", shown(case))),
            },
            _ => differences.push(format!("we accept, Stripe refuses: {}", shown(case))),
        }
    }
    eprintln!(
        "{} headers: {accepted} accepted, {refused} refused; refused where Stripe accepts, by class: {stricter_seen:?}",
        cases.len()
    );
    let first: Vec<&String> = differences.iter().take(20).collect();
    assert!(
        differences.is_empty(),
        "{} of {} verdicts differ from Stripe's: {first:#?}",
        differences.len(),
        cases.len()
    );
    for class in [
        Stricter::Bounds,
        Stricter::SecondTimestamp,
        Stricter::LenientTimestamp,
        Stricter::FutureTimestamp,
    ] {
        assert!(
            stricter_seen.get(&class).is_some_and(|&n| n > 0),
            "the corpus never shows {class:?}, where we say we are stricter than Stripe: {stricter_seen:?}"
        );
    }
    assert!(
        accepted > 100 && refused > 100,
        "the corpus tests both verdicts: {accepted} accepted, {refused} refused"
    );
}
