//! Shared by the token targets: the fixed secrets the seeds were made with, and an independent
//! HS256 check (HMAC-SHA256 over `header.payload`, compared with the decoded signature).

#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `TACOS_JWT_SECRET` of the fuzzed platform (the seed tokens are signed with it).
pub const JWT_SECRET: &str = "fuzz-jwt-secret-0123456789abcdef";
/// `TACOS_WEBHOOK_SECRET` of the fuzzed platform.
pub const WEBHOOK_SECRET: &str = "fuzz-webhook-secret";

/// Whether `jwt` is `header.payload.signature` with a correct HS256 signature under `key` and a
/// header naming HS256: what any token a verifier accepts must be.
pub fn genuinely_signed(jwt: &str, key: &[u8]) -> bool {
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let Ok(header_json) = URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    let alg_ok = serde_json::from_slice::<serde_json::Value>(&header_json)
        .ok()
        .and_then(|h| h.get("alg").and_then(|a| a.as_str()).map(|a| a == "HS256"))
        .unwrap_or(false);
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key");
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    alg_ok && mac.verify_slice(&signature).is_ok()
}

/// The claims of a JWT, without checking anything.
pub fn claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}
