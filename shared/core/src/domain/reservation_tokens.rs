//! Reservation tokens: proof that a buyer came through the waiting room.
//!
//! `rtkn_` followed by an HS256 JWT under a key derived from the platform secret for this purpose
//! alone, so an access token can never pass as a reservation token or the other way round. It names
//! the event, the user, the waiting token and its admission batch, and lives 30 s. It is single-use
//! because the hold that consumes it marks its `jti` used on the account's purchase-cap counter for
//! the event, under the condition that no such mark is there, in the same transaction
//! ([`crate::domain::reservations`]' `purchase_cap`): a token names its user and event, so that
//! counter is the one item every use of it must write.

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::derived_keys::derived_key;
use crate::error::Error;
use crate::ids::{EventId, UserId, WaitingToken};

pub const RESERVATION_TOKEN_TTL_SECS: i64 = 30;
const PREFIX: &str = "rtkn_";
const AUDIENCE: &str = "tacos-reservation";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationClaims {
    pub jti: String,
    pub sub: UserId,
    pub evt: EventId,
    pub wtkn: WaitingToken,
    /// Admission batch the holder was let in with.
    pub batch: u64,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// What makes one token of a holder its own: its id, when it was issued, its admission batch
/// (the rest of its claims are the holder's). Small enough to keep on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub jti: String,
    pub iat: i64,
    pub batch: u64,
}

impl Issue {
    /// A new token's: a random id, issued `now`.
    pub fn new(batch: u64, now: DateTime<Utc>) -> Self {
        Self {
            jti: crate::ids::random_hex(),
            iat: now.timestamp(),
            batch,
        }
    }
}

#[derive(Clone)]
pub struct ReservationTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for ReservationTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReservationTokens(<key redacted>)")
    }
}

impl ReservationTokens {
    pub fn new(secret: &str) -> Self {
        let key = derived_key(secret, b"traffic-tacos reservation tokens v1");
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
        }
    }

    pub fn issue(
        &self,
        event: &EventId,
        user: &UserId,
        waiting: &WaitingToken,
        batch: u64,
        now: DateTime<Utc>,
    ) -> String {
        self.sign(event, user, waiting, &Issue::new(batch, now))
    }

    /// The token `issue` describes, for `event`, `user` and `waiting`: the same bytes every time
    /// (HS256 is deterministic), so an entry kept on its ticket ([`Issue`]) answers its retry
    /// with the very token it answered first.
    pub fn sign(
        &self,
        event: &EventId,
        user: &UserId,
        waiting: &WaitingToken,
        issue: &Issue,
    ) -> String {
        let claims = ReservationClaims {
            jti: issue.jti.clone(),
            sub: user.clone(),
            evt: event.clone(),
            wtkn: waiting.clone(),
            batch: issue.batch,
            aud: AUDIENCE.into(),
            iat: issue.iat,
            exp: issue.iat + RESERVATION_TOKEN_TTL_SECS,
        };
        let jwt = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail");
        format!("{PREFIX}{jwt}")
    }

    /// Checks signature, expiry, event and user; single use is checked by the hold's transaction.
    pub fn verify(
        &self,
        token: &str,
        event: &EventId,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<ReservationClaims, Error> {
        let invalid = |why: &str| Error::InvalidReservationToken(why.to_string());
        let jwt = token
            .strip_prefix(PREFIX)
            .ok_or_else(|| invalid("not a reservation token"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        validation.validate_exp = false; // checked below against the injected clock
        let claims = decode::<ReservationClaims>(jwt, &self.decoding, &validation)
            .map_err(|_| invalid("bad signature or malformed"))?
            .claims;
        if claims.exp <= now.timestamp() {
            return Err(invalid("expired"));
        }
        if &claims.evt != event {
            return Err(invalid("issued for another event"));
        }
        if &claims.sub != user {
            return Err(invalid("issued to another user"));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_event_user_and_key() {
        let tokens = ReservationTokens::new("secret");
        let now = Utc::now();
        let (event, user, waiting) = (
            EventId::generate(),
            UserId::generate(),
            WaitingToken::generate(),
        );
        let token = tokens.issue(&event, &user, &waiting, 0, now);
        assert!(tokens.verify(&token, &event, &user, now).is_ok());
        let issue = Issue::new(3, now);
        assert_eq!(
            tokens.sign(&event, &user, &waiting, &issue),
            tokens.sign(&event, &user, &waiting, &issue),
            "signed again, the same token"
        );
        assert!(tokens
            .verify(&token, &EventId::generate(), &user, now)
            .is_err());
        assert!(tokens
            .verify(&token, &event, &UserId::generate(), now)
            .is_err());
        assert!(tokens
            .verify(&token, &event, &user, now + chrono::Duration::seconds(31))
            .is_err());
        assert!(ReservationTokens::new("other")
            .verify(&token, &event, &user, now)
            .is_err());
        let tampered = token.replace("rtkn_", "rtkn_x");
        assert!(tokens.verify(&tampered, &event, &user, now).is_err());
    }
}
