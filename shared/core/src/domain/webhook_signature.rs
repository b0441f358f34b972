//! Webhook signatures:
//! `X-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + webhook id + "." + body)>`.
//!
//! The timestamp is inside the MAC and must be within [`TOLERANCE_SECS`] of now, so a captured
//! webhook cannot be replayed later. The webhook id is inside it too, so a replay within the
//! window cannot pass as a new webhook under an id of its own: it is caught by its
//! `X-Webhook-Id`. An id is 1 to [`MAX_ID_LEN`] letters, digits, `_` or `-` (no `.`, so the signed
//! text splits one way only).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Error;

pub const TOLERANCE_SECS: i64 = 300;

/// Longest webhook id accepted.
pub const MAX_ID_LEN: usize = 128;

/// The three headers of a webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHeaders {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
}

#[derive(Clone)]
pub struct WebhookSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSigner(<secret redacted>)")
    }
}

impl WebhookSigner {
    pub fn new(secret: &str) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, timestamp: &str, id: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> WebhookHeaders {
        let timestamp = timestamp.to_string();
        let signature = format!(
            "sha256={}",
            hex::encode(
                self.mac(&timestamp, id, body.as_bytes())
                    .finalize()
                    .into_bytes()
            )
        );
        WebhookHeaders {
            id: id.to_string(),
            timestamp,
            signature,
        }
    }

    /// Checks the signature (in constant time) and the timestamp window.
    pub fn verify(&self, headers: &WebhookHeaders, body: &[u8], now: i64) -> Result<(), Error> {
        let invalid = |why: &str| Error::InvalidSignature(why.to_string());
        let id_ok = (1..=MAX_ID_LEN).contains(&headers.id.len())
            && headers
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(invalid(
                "X-Webhook-Id must be 1 to 128 letters, digits, '_' or '-'",
            ));
        }
        // Digits only, as the document's pattern says: `+1796639500` or a run of leading zeros
        // is the same number to `parse`, another header to whoever reads the document.
        let digits = &headers.timestamp;
        if !(1..=12).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("X-Timestamp is not unix seconds (1 to 12 digits)"));
        }
        let ts: i64 = digits
            .parse()
            .map_err(|_| invalid("X-Timestamp is not unix seconds"))?;
        // `abs_diff`: any i64 is a valid header, and `now - ts` overflows for extreme ones.
        if now.abs_diff(ts) > TOLERANCE_SECS.unsigned_abs() {
            return Err(invalid("X-Timestamp more than 5 minutes off"));
        }
        let hex_sig = headers
            .signature
            .strip_prefix("sha256=")
            .ok_or_else(|| invalid("X-Signature must be sha256=<hex>"))?;
        // One spelling, as the simulator signs and the document's pattern says: 64 lower-case
        // hex digits.
        if hex_sig.len() != 64
            || !hex_sig
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid(
                "X-Signature must be sha256= and 64 lower-case hex digits",
            ));
        }
        let sig = hex::decode(hex_sig).map_err(|_| invalid("X-Signature is not hex"))?;
        self.mac(&headers.timestamp, &headers.id, body)
            .verify_slice(&sig)
            .map_err(|_| invalid("signature mismatch"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_outside_the_documents_patterns_are_refused_though_signed() {
        let signer = WebhookSigner::new("s3cret");
        let body = b"{\"a\":1}";
        let signed = |timestamp: &str| {
            let mut headers = signer.sign("wh_1", 0, "");
            headers.timestamp = timestamp.to_string();
            let mac = signer.mac(timestamp, "wh_1", body).finalize().into_bytes();
            headers.signature = format!("sha256={}", hex::encode(mac));
            headers
        };
        assert!(signer.verify(&signed("1000"), body, 1_000).is_ok());
        for odd in ["+1000", "0000000001000", " 1000", ""] {
            assert!(signer.verify(&signed(odd), body, 1_000).is_err(), "{odd:?}");
        }
        let mut upper = signed("1000");
        upper.signature = upper
            .signature
            .to_uppercase()
            .replacen("SHA256=", "sha256=", 1);
        assert!(
            signer.verify(&upper, body, 1_000).is_err(),
            "upper-case hex"
        );
    }

    #[test]
    fn signatures_round_trip_and_reject_tampering() {
        let signer = WebhookSigner::new("s3cret");
        let headers = signer.sign("wh_1", 1_000, "{\"a\":1}");
        assert!(signer.verify(&headers, b"{\"a\":1}", 1_000).is_ok());
        assert!(signer.verify(&headers, b"{\"a\":2}", 1_000).is_err());
        assert!(signer
            .verify(&headers, b"{\"a\":1}", 1_000 + TOLERANCE_SECS + 1)
            .is_err());
        assert!(WebhookSigner::new("other")
            .verify(&headers, b"{\"a\":1}", 1_000)
            .is_err());
        let mut stale = headers.clone();
        stale.timestamp = "999".into();
        assert!(signer.verify(&stale, b"{\"a\":1}", 1_000).is_err());
        // The id is signed: a captured webhook under a new id is refused.
        let mut renamed = headers.clone();
        renamed.id = "wh_2".into();
        assert!(signer.verify(&renamed, b"{\"a\":1}", 1_000).is_err());
        for bad_id in ["", "wh.1", "wh 1", &"w".repeat(MAX_ID_LEN + 1)] {
            let mut odd = signer.sign(bad_id, 1_000, "{}");
            odd.id = bad_id.to_string();
            assert!(signer.verify(&odd, b"{}", 1_000).is_err(), "{bad_id:?}");
        }
        for extreme in [i64::MIN, i64::MAX] {
            let mut far = headers.clone();
            far.timestamp = extreme.to_string();
            assert!(signer.verify(&far, b"{\"a\":1}", 1_000).is_err());
            assert!(signer.verify(&headers, b"{\"a\":1}", extreme).is_err());
        }
    }
}
