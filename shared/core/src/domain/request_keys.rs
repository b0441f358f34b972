//! Idempotency keys kept on the item a request writes anyway, instead of in records of their own.
//!
//! The contract makes a join, a hold and a payment intent carry an `Idempotency-Key`, and a retry
//! with the same key answers byte for byte what the first request did. Done the general way
//! ([`crate::domain::idempotency`]) that costs two writes of its own, a claim before the request
//! and the answer after it: half of an anonymous join's writes, and four of the writes of every
//! ticket sold. Each of these requests writes one new item anyway (a waiting ticket, a
//! reservation, a payment intent), so the key lives there:
//!
//! * the item's identifier is derived from the caller and the key ([`RequestKeys`], an HMAC under
//!   the platform's secret, so nobody else can compute an identifier from a key they saw);
//! * the item is written only if absent, and carries the request's fingerprint and the answer
//!   ([`KeyStamp`]), serialized once, so a replay is the same bytes;
//! * a retry loses that conditional write (or finds its item before it gets that far: a
//!   reservation token already used, a reservation already being paid), finds the item and replays
//!   the stamp; a concurrent duplicate does the same rather than being told 409
//!   `IDEMPOTENCY_IN_PROGRESS`; the same key with another body is 409 `IDEMPOTENCY_CONFLICT`.
//!
//! A request refused wrote no item. A join refused (an unknown event, a closed line) simply runs
//! again when retried; a refused hold or payment intent keeps its answer in the general record,
//! written only then (`Idempotency::remember_first`), so its retry replays the refusal even if
//! the seats are free by then. Replays last as long as the item (a ticket's TTL; a reservation or
//! an intent for good), longer than the 5 minutes of other routes.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::derived_keys::purpose_mac;
use crate::domain::records::get_record;
use crate::error::{Error, Result};
use crate::ids::WaitingToken;
use crate::ports::store::{Key, Store};

/// What makes a request safe to retry: who asked, with which `Idempotency-Key`, for what request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    /// The caller's user id, or its client address for an anonymous join (as the idempotency
    /// layer scopes keys).
    pub owner: String,
    /// The `Idempotency-Key`, in its one spelling.
    pub key: String,
    /// The request's method, path and body, hashed: what the key was first used for.
    pub fingerprint: String,
}

impl RequestKey {
    /// Whether this is the request an item recorded as `key` and `fingerprint` (its key and its
    /// body): the one a stamp answers, where another key or another body under it is not.
    pub fn is(&self, key: &str, fingerprint: &str) -> bool {
        self.key == key && self.fingerprint == fingerprint
    }

    /// What the item this request writes keeps of it: its fingerprint, and `answer` serialized
    /// once, the very bytes the request answers and its retries replay.
    pub fn stamp(&self, answer: &impl Serialize) -> Result<KeyStamp> {
        Ok(KeyStamp {
            fingerprint: self.fingerprint.clone(),
            response: body(answer)?,
        })
    }
}

/// `answer` as the JSON body a keyed request sends, and its retries replay.
pub fn body(answer: &impl Serialize) -> Result<String> {
    serde_json::to_string(answer).map_err(|e| Error::Internal(e.to_string()))
}

/// The first answer to a keyed request, kept on the item it wrote (`stamp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStamp {
    pub fingerprint: String,
    /// The answer's JSON body, as sent.
    pub response: String,
}

/// What a keyed request answers: its body, as sent the first time, and whether this is a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedAnswer {
    Fresh(String),
    Replay(String),
}

/// Derives the identifiers of keyed requests' items.
#[derive(Clone)]
pub struct RequestKeys {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for RequestKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestKeys(<key redacted>)")
    }
}

impl RequestKeys {
    /// Keys derived from the platform's secret (`Config::jwt_secret`) for this one purpose
    /// (the label still says "join": the tokens of joins made before other requests kept their
    /// keys this way must stay the same).
    pub fn new(secret: &str) -> Self {
        Self {
            mac: purpose_mac(secret, b"traffic-tacos join keys v1"),
        }
    }

    /// The waiting token of `join`: the same for the same caller and key, unguessable without
    /// the platform's secret, and shaped as every other token (`wtkn_` and 32 hex digits).
    pub fn token(&self, join: &RequestKey) -> WaitingToken {
        self.derive(None, WaitingToken::PREFIX, join)
    }

    /// The identifier of the item a keyed request writes, with the type's `prefix` (`rsv_`,
    /// `pi_`): the same for the same caller and key, unguessable without the platform's secret.
    /// The prefix is part of what is signed, so a hold and an intent made with one key get
    /// unrelated identifiers.
    pub fn id<T>(&self, prefix: &str, key: &RequestKey) -> T
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Debug,
    {
        self.derive(Some(prefix), prefix, key)
    }

    fn derive<T>(&self, purpose: Option<&str>, prefix: &str, key: &RequestKey) -> T
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Debug,
    {
        let mut mac = self.mac.clone();
        if let Some(purpose) = purpose {
            // A waiting token's input starts with an owner's length (8 bytes, big-endian, far
            // below these letters' values), so no purpose's input is a token's.
            mac.update(purpose.as_bytes());
            mac.update(&[0]);
        }
        // The owner's length first, so no owner and key run together into another pair's.
        mac.update(&(key.owner.len() as u64).to_be_bytes());
        mac.update(key.owner.as_bytes());
        mac.update(key.key.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hex = [0u8; 32];
        hex::encode_to_slice(&digest[..16], &mut hex).expect("16 bytes are 32 hex digits");
        let hex = std::str::from_utf8(&hex).expect("hex is ASCII");
        [prefix, hex]
            .concat()
            .parse()
            .expect("a prefix and hex digits make an identifier")
    }
}

/// What a retry that found the item of its key answers, from that item's `stamp`: the first
/// answer's body, or a conflict when the key was first used for another request. `None` when the
/// item keeps no answer (a join's ticket that lost its account's place to another join and was
/// withdrawn before anyone was told of it: the join should look at the account's place again).
pub(crate) fn replay(stamp: Option<&KeyStamp>, join: &RequestKey) -> Option<Result<String>> {
    let stamp = stamp?;
    Some(if stamp.fingerprint == join.fingerprint {
        Ok(stamp.response.clone())
    } else {
        Err(Error::IdempotencyConflict)
    })
}

/// An item that keeps the answer of the keyed request that wrote it.
pub(crate) trait Stamped: serde::de::DeserializeOwned + Send {
    fn stamp(&self) -> Option<&KeyStamp>;
}

/// What a keyed request that writes the item at `item` answers, given how its `attempt` went: the
/// body it stamped on the item, or, when it was refused, the first answer of the item its key
/// already wrote (a retry, whatever refused it; a concurrent duplicate that lost the item's
/// conditional write), else the refusal.
pub(crate) async fn answer<T: Stamped>(
    store: &dyn Store,
    item: &Key,
    attempt: Result<T>,
    key: &RequestKey,
) -> Result<KeyedAnswer> {
    match attempt {
        Ok(written) => written
            .stamp()
            .map(|s| KeyedAnswer::Fresh(s.response.clone()))
            .ok_or_else(|| Error::Internal("a keyed write kept no answer".into())),
        Err(refused) => {
            let first: Option<T> = get_record(store, item).await?;
            match first.and_then(|first| replay(first.stamp(), key)) {
                Some(answer) => answer.map(KeyedAnswer::Replay),
                None => Err(refused),
            }
        }
    }
}

/// A request of `usr_1` under `key` with `fingerprint`, for tests of what items keep of it.
#[cfg(test)]
pub(crate) fn test_key(key: &str, fingerprint: &str) -> RequestKey {
    RequestKey {
        owner: "usr_1".into(),
        key: key.into(),
        fingerprint: fingerprint.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(owner: &str, key: &str) -> RequestKey {
        RequestKey {
            owner: owner.into(),
            key: key.into(),
            fingerprint: "f".into(),
        }
    }

    #[test]
    fn tokens_are_the_same_for_one_caller_and_key_and_differ_otherwise() {
        let keys = RequestKeys::new("secret");
        let token = keys.token(&join("usr_a", "k1"));
        assert_eq!(token, keys.token(&join("usr_a", "k1")));
        assert_ne!(token, keys.token(&join("usr_b", "k1")));
        assert_ne!(token, keys.token(&join("usr_a", "k2")));
        assert_ne!(token, RequestKeys::new("other").token(&join("usr_a", "k1")));
        // No ambiguity between owner and key.
        assert_ne!(
            keys.token(&join("a\nb", "c")),
            keys.token(&join("a", "b\nc"))
        );
        let hex = token.as_str().strip_prefix("wtkn_").unwrap();
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn ids_differ_by_purpose_and_from_the_token_of_the_same_key() {
        use crate::ids::{PaymentIntentId, ReservationId};
        let keys = RequestKeys::new("secret");
        let k = join("usr_a", "k1");
        let hold: ReservationId = keys.id(ReservationId::PREFIX, &k);
        let intent: PaymentIntentId = keys.id(PaymentIntentId::PREFIX, &k);
        assert_eq!(
            hold,
            keys.id(ReservationId::PREFIX, &k),
            "the same for a retry"
        );
        let token = keys.token(&k);
        let hex = |s: &str, prefix: &str| s.strip_prefix(prefix).unwrap().to_owned();
        let hold_hex = hex(hold.as_str(), ReservationId::PREFIX);
        assert_eq!(hold_hex.len(), 32);
        assert_ne!(hold_hex, hex(intent.as_str(), PaymentIntentId::PREFIX));
        assert_ne!(hold_hex, hex(token.as_str(), WaitingToken::PREFIX));
        let theirs: ReservationId = keys.id(ReservationId::PREFIX, &join("usr_b", "k1"));
        assert_ne!(hold, theirs);
    }
}
