//! Device tokens: a browser that has signed in to an account before keeps its own login budget.
//!
//! Logins are limited per username from any address, so that guesses against one account stay
//! few however many addresses make them. That budget is also a way to keep the account's owner
//! out: guessing wrong once every few seconds keeps it empty, and the owner is answered 429 with
//! everyone else. (OWASP's answer, "Slow Down Online Guessing Attacks with Device Cookies".) A
//! successful login or registration therefore answers a *device token* too: `dvc_` followed by an
//! HS256 JWT under a key derived from the platform secret for this purpose alone (so no other
//! token passes as one), naming the username and a random device id, valid for
//! [`DEVICE_TOKEN_TTL_DAYS`]. A login that sends it back for the same username is counted in that
//! device's own bucket instead of the username's (`tacos_http::rate_limit`): the owner's browser
//! gets in while strangers' guesses are refused, and a stolen device token buys its thief one
//! device's budget, as small as the username's. A device that never signed in (a new phone) still
//! shares the username's budget.
//!
//! The token proves nothing else: it is no credential (the password is still checked), and an
//! invalid, expired or another username's token is simply not a device token (the username's
//! budget counts the login).

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::derived_keys::derived_key;

/// How long a device stays known without signing in again.
pub const DEVICE_TOKEN_TTL_DAYS: i64 = 90;
const PREFIX: &str = "dvc_";
const AUDIENCE: &str = "tacos-device";

#[derive(Debug, Serialize, Deserialize)]
struct DeviceClaims {
    /// The device's id: the key of its login budget.
    jti: String,
    /// The username it signed in to, lowercased (usernames are case-insensitive).
    sub: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// A device that signed in to the account a login names: the key of its own login budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice(String);

impl KnownDevice {
    /// The device's id (random; names nothing else).
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// Issues and checks device tokens.
#[derive(Clone)]
pub struct DeviceTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for DeviceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceTokens(<key redacted>)")
    }
}

impl DeviceTokens {
    pub fn new(secret: &str) -> Self {
        let key = derived_key(secret, b"traffic-tacos device tokens v1");
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
        }
    }

    /// A new device's token for `username`, issued `now`.
    pub fn issue(&self, username: &str, now: DateTime<Utc>) -> String {
        let iat = now.timestamp();
        let claims = DeviceClaims {
            jti: crate::ids::random_hex(),
            sub: username.to_ascii_lowercase(),
            aud: AUDIENCE.into(),
            iat,
            exp: iat + DEVICE_TOKEN_TTL_DAYS * 86_400,
        };
        let jwt = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail");
        format!("{PREFIX}{jwt}")
    }

    /// The device `token` names, if it is a device token of ours, unexpired at `now`, for
    /// `username` (any case); `None` for anything else.
    pub fn known(&self, token: &str, username: &str, now: DateTime<Utc>) -> Option<KnownDevice> {
        let jwt = token.strip_prefix(PREFIX)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        validation.validate_exp = false; // checked below against the caller's clock
        let claims = decode::<DeviceClaims>(jwt, &self.decoding, &validation)
            .ok()?
            .claims;
        (claims.exp > now.timestamp() && claims.sub.eq_ignore_ascii_case(username))
            .then_some(KnownDevice(claims.jti))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_token_names_its_username_and_device_until_it_expires() {
        let devices = DeviceTokens::new("secret");
        let now = Utc::now();
        let token = devices.issue("Alice", now);
        let device = devices.known(&token, "alice", now).expect("known");
        assert_eq!(devices.known(&token, "ALICE", now), Some(device.clone()));
        assert_ne!(
            devices.known(&devices.issue("alice", now), "alice", now),
            Some(device),
            "each sign-in is a device of its own"
        );
        assert_eq!(devices.known(&token, "bob", now), None, "another username");
        let later = now + chrono::Duration::days(DEVICE_TOKEN_TTL_DAYS);
        assert_eq!(devices.known(&token, "alice", later), None, "expired");
        assert_eq!(DeviceTokens::new("other").known(&token, "alice", now), None);
        let tampered = token.replace("dvc_", "dvc_x");
        assert_eq!(devices.known(&tampered, "alice", now), None);
        assert_eq!(devices.known(&token[4..], "alice", now), None, "no prefix");
    }

    #[test]
    fn no_other_token_of_the_platform_passes_as_a_device_token() {
        let devices = DeviceTokens::new("secret");
        let now = Utc::now();
        let reservation = crate::domain::reservation_tokens::ReservationTokens::new("secret")
            .issue(
                &crate::ids::EventId::generate(),
                &crate::ids::UserId::generate(),
                &crate::ids::WaitingToken::generate(),
                0,
                now,
            );
        let as_device = reservation.replace("rtkn_", "dvc_");
        assert_eq!(devices.known(&as_device, "alice", now), None);
    }
}
