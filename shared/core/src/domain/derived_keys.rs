//! Keys derived from the platform's one secret (`Config::jwt_secret`), one per purpose.
//!
//! Each purpose's key is the HMAC-SHA256 of its label under the secret, so a token or tag made for
//! one purpose (a reservation token, a device token, a join's challenge, a request's key) never
//! verifies for another, and no key tells anything of the secret or of another purpose's key.
//! A label, once used, is kept: changing it changes every token and tag made under it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key of `purpose` (its label, e.g. `b"traffic-tacos reservation tokens v1"`) under `secret`.
pub fn derived_key(secret: &str, purpose: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

/// An HMAC-SHA256 keyed with the key of `purpose` under `secret`, for tags of that purpose.
pub fn purpose_mac(secret: &str, purpose: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(&derived_key(secret, purpose)).expect("HMAC takes any key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_purpose_and_each_secret_has_a_key_of_its_own() {
        let a = derived_key("secret", b"one purpose");
        assert_eq!(
            a,
            derived_key("secret", b"one purpose"),
            "the same every time"
        );
        assert_ne!(a, derived_key("secret", b"another purpose"));
        assert_ne!(a, derived_key("another secret", b"one purpose"));
    }
}
