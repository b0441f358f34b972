//! Webhook signature verification (`WebhookSigner::verify`) over arbitrary headers, bodies and
//! clocks: never a panic (no overflow on extreme timestamps), and a delivery passes only with
//! the exact HMAC-SHA256 of `timestamp.id.body` under the secret, within 5 minutes of now, with an
//! id of letters, digits, `_` and `-`.
//! Inputs with an even first byte are deliveries as text (the seeds are real ones); the others
//! start from a genuine signature and change one thing of it.

#![no_main]

use hmac::{Hmac, Mac};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use tacos_core::domain::webhook_signature::{WebhookHeaders, WebhookSigner, TOLERANCE_SECS};

#[path = "common.rs"]
mod common;

/// The half of the inputs that start from a genuine signature (first byte odd).
#[derive(Debug, Arbitrary)]
struct Tampered {
    timestamp: i64,
    skew: i16,
    body: Vec<u8>,
    change: Change,
}

enum Input {
    /// Headers exactly as a client could send them.
    Raw {
        id: String,
        timestamp: String,
        signature: String,
        body: Vec<u8>,
        now: i64,
    },
    /// A genuine delivery, one part of it changed.
    Tampered {
        timestamp: i64,
        skew: i16,
        body: Vec<u8>,
        change: Change,
    },
}

#[derive(Debug, Arbitrary)]
enum Change {
    Nothing,
    BodyByte { at: usize, xor: u8 },
    BodyAppend(u8),
    BodyTruncate(usize),
    Timestamp(String),
    Id(String),
    SignatureChar { at: usize, to: u8 },
    Secret(String),
}

fn expected(secret: &[u8], timestamp: &str, id: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// What a correct verifier decides, written independently of the platform's.
fn oracle(secret: &[u8], headers: &WebhookHeaders, body: &[u8], now: i64) -> bool {
    // The document's patterns: `X-Timestamp` 1 to 12 digits, `X-Signature` `sha256=` and 64
    // lower-case hex digits.
    let digits = &headers.timestamp;
    if digits.is_empty() || digits.len() > 12 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let Ok(ts) = digits.parse::<i64>() else {
        return false;
    };
    let in_window = i128::from(now).abs_diff(i128::from(ts)) <= TOLERANCE_SECS as u128;
    let sig = headers
        .signature
        .strip_prefix("sha256=")
        .filter(|h| h.len() == 64 && h.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')))
        .and_then(|h| hex::decode(h).ok());
    !headers.id.is_empty()
        && headers.id.len() <= 128
        && headers
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && in_window
        && sig.is_some_and(|s| s == expected(secret, &headers.timestamp, &headers.id, body))
}

/// A delivery as text (the seeds are real ones): `X-Webhook-Id: …`, `X-Timestamp: …`,
/// `X-Signature: …` and `Now: <unix seconds>` lines, an empty line, the body.
fn delivery(data: &[u8]) -> (WebhookHeaders, Vec<u8>, i64) {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut headers = WebhookHeaders {
        id: String::new(),
        timestamp: String::new(),
        signature: String::new(),
    };
    let mut now = 0;
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim().to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "x-webhook-id" => headers.id = value,
            "x-timestamp" => headers.timestamp = value,
            "x-signature" => headers.signature = value,
            "now" => now = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    (headers, body.to_vec(), now)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let input = if first % 2 == 0 {
        let (headers, body, now) = delivery(rest);
        Input::Raw {
            id: headers.id,
            timestamp: headers.timestamp,
            signature: headers.signature,
            body,
            now,
        }
    } else {
        match Tampered::arbitrary(&mut arbitrary::Unstructured::new(rest)) {
            Ok(t) => Input::Tampered {
                timestamp: t.timestamp,
                skew: t.skew,
                body: t.body,
                change: t.change,
            },
            Err(_) => return,
        }
    };
    let secret = common::WEBHOOK_SECRET;
    let signer = WebhookSigner::new(secret);
    match input {
        Input::Raw {
            id,
            timestamp,
            signature,
            body,
            now,
        } => {
            let headers = WebhookHeaders {
                id,
                timestamp,
                signature,
            };
            let verdict = signer.verify(&headers, &body, now).is_ok();
            assert_eq!(
                verdict,
                oracle(secret.as_bytes(), &headers, &body, now),
                "{headers:?}"
            );
        }
        Input::Tampered {
            timestamp,
            skew,
            body,
            change,
        } => {
            let now = timestamp.saturating_add(i64::from(skew));
            let Ok(text) = String::from_utf8(body.clone()) else {
                return;
            };
            let signed = signer.sign("wh_fuzz", timestamp, &text);
            let mut headers = signed.clone();
            let mut body = body;
            let mut verifier_secret = secret.to_string();
            match change {
                Change::Nothing => {}
                Change::BodyByte { at, xor } => {
                    if !body.is_empty() {
                        let i = at % body.len();
                        body[i] ^= xor;
                    }
                }
                Change::BodyAppend(b) => body.push(b),
                Change::BodyTruncate(n) => body.truncate(n),
                Change::Timestamp(t) => headers.timestamp = t,
                Change::Id(id) => headers.id = id,
                Change::SignatureChar { at, to } => {
                    let mut bytes = headers.signature.clone().into_bytes();
                    let i = at % bytes.len();
                    bytes[i] = to;
                    match String::from_utf8(bytes) {
                        Ok(s) => headers.signature = s,
                        Err(_) => return,
                    }
                }
                Change::Secret(s) => verifier_secret = s,
            }
            let verdict = WebhookSigner::new(&verifier_secret)
                .verify(&headers, &body, now)
                .is_ok();
            assert_eq!(
                verdict,
                oracle(verifier_secret.as_bytes(), &headers, &body, now),
                "{headers:?}"
            );
            if verdict {
                // Only the exact (timestamp, body, secret) that was signed passes, with the very
                // signature the signer wrote (its hex in one spelling).
                assert_eq!(body, text.as_bytes(), "accepted a changed body");
                assert_eq!(
                    headers.signature, signed.signature,
                    "accepted another spelling"
                );
                assert_eq!(
                    headers.timestamp,
                    timestamp.to_string(),
                    "accepted a changed timestamp"
                );
                assert_eq!(verifier_secret, secret, "accepted under another secret");
                assert_eq!(headers.id, "wh_fuzz", "accepted under another id");
                assert!(i128::from(now).abs_diff(i128::from(timestamp)) <= 300);
            }
        }
    }
});
