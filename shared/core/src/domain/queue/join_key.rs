//! A join's idempotency, kept on its ticket instead of in records of its own.
//!
//! The contract makes every join carry an `Idempotency-Key`, and a retry with the same key answers
//! byte for byte what the first request did. Done the general way ([`crate::domain::idempotency`])
//! that costs two writes of its own, a claim before the join and the answer after it: half of an
//! anonymous join's writes, and half of the capacity of the rush the waiting room exists for. A
//! join writes one new item anyway, its ticket, so the key lives there:
//!
//! * the ticket's token is derived from the caller and the key ([`JoinKeys::token`], an HMAC
//!   under the platform's secret, so nobody else can compute a token from a key they saw);
//! * the ticket is written only if absent, and carries the request's fingerprint and the answer
//!   ([`JoinStamp`]), serialized once, so a replay is the same bytes;
//! * a retry loses that conditional write (or, for an account, finds the ticket as its place),
//!   gives back the order it took, and replays the stamp; a concurrent duplicate does the same
//!   rather than being told 409 `IDEMPOTENCY_IN_PROGRESS`; the same key with another body is 409
//!   `IDEMPOTENCY_CONFLICT`.
//!
//! What a join refused (an unknown event, a closed line) wrote nothing, so a retry simply runs
//! again. Replays last as long as the ticket (its TTL), longer than the 5 minutes of other routes.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::ids::WaitingToken;

/// What makes a join safe to retry: who asked, with which `Idempotency-Key`, for what request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinKey {
    /// The caller's user id, or its client address for an anonymous join (as the idempotency
    /// layer scopes keys).
    pub owner: String,
    /// The `Idempotency-Key`, in its one spelling.
    pub key: String,
    /// The request's method, path and body, hashed: what the key was first used for.
    pub fingerprint: String,
}

/// The first answer to a keyed join, kept on its ticket (`stamp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinStamp {
    pub fingerprint: String,
    /// The answer's JSON body, as sent.
    pub response: String,
}

/// What a keyed join answers: its body, as sent the first time, and whether this is a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedJoin {
    Fresh(String),
    Replay(String),
}

/// Derives the waiting token of a keyed join.
#[derive(Clone)]
pub struct JoinKeys {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for JoinKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JoinKeys(<key redacted>)")
    }
}

impl JoinKeys {
    /// Keys derived from the platform's secret (`Config::jwt_secret`) for this one purpose.
    pub fn new(secret: &str) -> Self {
        let mut derive =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
        derive.update(b"traffic-tacos join keys v1");
        let key = derive.finalize().into_bytes();
        Self {
            mac: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key"),
        }
    }

    /// The waiting token of `join`: the same for the same caller and key, unguessable without
    /// the platform's secret, and shaped as every other token (`wtkn_` and 32 hex digits).
    pub fn token(&self, join: &JoinKey) -> WaitingToken {
        let mut mac = self.mac.clone();
        // The owner's length first, so no owner and key run together into another pair's.
        mac.update(&(join.owner.len() as u64).to_be_bytes());
        mac.update(join.owner.as_bytes());
        mac.update(join.key.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hex = [0u8; 32];
        hex::encode_to_slice(&digest[..16], &mut hex).expect("16 bytes are 32 hex digits");
        let hex = std::str::from_utf8(&hex).expect("hex is ASCII");
        [WaitingToken::PREFIX, hex]
            .concat()
            .parse()
            .expect("a prefix and hex digits make a token")
    }
}

/// What a retry that found the ticket of its key answers, from that ticket's `stamp`: the first
/// answer's body, or a conflict when the key was first used for another request. `None` when the ticket
/// keeps no answer: it lost its account's place to another join and was withdrawn before anyone
/// was told of it, so the join should look at the account's place again.
pub(super) fn replay(stamp: Option<&JoinStamp>, join: &JoinKey) -> Option<Result<String>> {
    let stamp = stamp?;
    Some(if stamp.fingerprint == join.fingerprint {
        Ok(stamp.response.clone())
    } else {
        Err(Error::IdempotencyConflict)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(owner: &str, key: &str) -> JoinKey {
        JoinKey {
            owner: owner.into(),
            key: key.into(),
            fingerprint: "f".into(),
        }
    }

    #[test]
    fn tokens_are_the_same_for_one_caller_and_key_and_differ_otherwise() {
        let keys = JoinKeys::new("secret");
        let token = keys.token(&join("usr_a", "k1"));
        assert_eq!(token, keys.token(&join("usr_a", "k1")));
        assert_ne!(token, keys.token(&join("usr_b", "k1")));
        assert_ne!(token, keys.token(&join("usr_a", "k2")));
        assert_ne!(token, JoinKeys::new("other").token(&join("usr_a", "k1")));
        // No ambiguity between owner and key.
        assert_ne!(
            keys.token(&join("a\nb", "c")),
            keys.token(&join("a", "b\nc"))
        );
        let hex = token.as_str().strip_prefix("wtkn_").unwrap();
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
