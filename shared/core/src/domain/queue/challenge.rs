//! Proof of work at join: bot friction an operator turns on per event (`join_challenge_bits` of
//! its sale, [`crate::domain::sale`]; off, 0, by default).
//!
//! Hashcash-style. `GET /queue/challenge?event_id=` hands the caller a challenge; a join then
//! carries `{"challenge", "solution"}` such that SHA-256 of `challenge:idempotency-key:solution`
//! starts with at least `bits` zero bits. Finding a solution takes about 2^bits hashes (the web
//! app does it in a worker); checking one takes one hash and one HMAC, microseconds
//! (BENCHMARKS.md §11). Nothing is stored:
//!
//! * the challenge carries its difficulty, when it was issued and a random nonce, under an HMAC
//!   of the platform's secret that also covers the event and who asked for it (the account, or
//!   the client address of an anonymous caller, as idempotency keys are scoped): it cannot be
//!   forged, made easier, or solved once and handed to other callers;
//! * the work covers the join's `Idempotency-Key`, and each key is one place in line
//!   ([`crate::domain::request_keys`]): every further place costs new work, while a retry of the same join
//!   (same key, same solution) replays its answer;
//! * a challenge lasts [`CHALLENGE_TTL_SECS`]; a challenge easier than the event now asks (the
//!   operator raised it) is refused, and the client asks for a new one.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::derived_keys::purpose_mac;
use crate::ids::EventId;

/// How long a challenge may be used, from when it was issued.
pub const CHALLENGE_TTL_SECS: i64 = 600;

/// The hardest challenge an operator may set: about 270 million hashes, minutes on a phone.
pub const MAX_CHALLENGE_BITS: u32 = 28;

/// The version tag that starts every challenge.
const VERSION: &str = "c1";

/// The longest solution accepted, in characters (the web app sends a decimal counter); the API
/// document's `maxLength`, refused with 400 at the request's edge whatever the sale asks.
pub const MAX_SOLUTION_CHARS: usize = 64;

/// What `GET /queue/challenge` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Challenge {
    pub challenge: String,
    /// Leading zero bits the hash must have (0: the event asks for no work).
    pub bits: u32,
    pub expires_at: DateTime<Utc>,
    /// How the work is checked, for clients: SHA-256 of `challenge:idempotency-key:solution`.
    pub algorithm: &'static str,
}

/// The work a join carries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChallengeAnswer {
    pub challenge: String,
    pub solution: String,
}

/// Why a join's work is refused; each is told to the client (428 `CHALLENGE_REQUIRED`), which
/// asks for a new challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeRefusal {
    #[error(
        "this event asks joins for proof of work: solve GET /queue/challenge and send `challenge`"
    )]
    Missing,
    #[error("the challenge is not one this platform issued for this event and caller")]
    Forged,
    #[error("the challenge expired; ask for a new one")]
    Expired,
    #[error("the event now asks for harder work; ask for a new challenge")]
    TooEasy,
    #[error("the solution does not solve the challenge for this Idempotency-Key")]
    Unsolved,
}

/// Issues and checks challenges under a key derived from the platform's secret.
#[derive(Clone)]
pub struct JoinChallenges {
    mac: Hmac<Sha256>,
}

/// The parts of a challenge, as sent.
struct Parts<'a> {
    bits: u32,
    issued_ms: i64,
    nonce: &'a str,
    tag: &'a str,
}

impl<'a> Parts<'a> {
    fn parse(challenge: &'a str) -> Option<Self> {
        let mut parts = challenge.split('.');
        let version = parts.next()?;
        let bits = parts.next()?.parse().ok()?;
        let issued_ms = parts.next()?.parse().ok()?;
        let nonce = parts.next()?;
        let tag = parts.next()?;
        (version == VERSION && parts.next().is_none() && bits <= MAX_CHALLENGE_BITS).then_some(
            Self {
                bits,
                issued_ms,
                nonce,
                tag,
            },
        )
    }
}

impl JoinChallenges {
    /// Keys derived from the platform's secret (`Config::jwt_secret`) for this one purpose.
    pub fn new(secret: &str) -> Self {
        Self {
            mac: purpose_mac(secret, b"traffic-tacos join challenges v1"),
        }
    }

    /// A challenge of `bits` for `owner` (an account's user id, or `addr:` and a client
    /// address) to join `event`.
    pub fn issue(&self, event: &EventId, owner: &str, bits: u32, now: DateTime<Utc>) -> Challenge {
        let issued_ms = now.timestamp_millis();
        let nonce = hex::encode(rand::random::<[u8; 8]>());
        let tag = self.tag(event, owner, bits, issued_ms, &nonce);
        Challenge {
            challenge: format!("{VERSION}.{bits}.{issued_ms}.{nonce}.{tag}"),
            bits,
            expires_at: now + chrono::Duration::seconds(CHALLENGE_TTL_SECS),
            algorithm: "sha256",
        }
    }

    /// Whether `answer` is work of at least `required` bits, on a challenge issued to `owner`
    /// for `event` and still valid at `now`, for the join keyed `key`.
    pub fn check(
        &self,
        event: &EventId,
        owner: &str,
        key: &str,
        required: u32,
        answer: Option<&ChallengeAnswer>,
        now: DateTime<Utc>,
    ) -> Result<(), ChallengeRefusal> {
        if required == 0 {
            return Ok(());
        }
        let answer = answer.ok_or(ChallengeRefusal::Missing)?;
        let parts = Parts::parse(&answer.challenge).ok_or(ChallengeRefusal::Forged)?;
        let mut mac = self.mac.clone();
        self.cover(
            &mut mac,
            event,
            owner,
            parts.bits,
            parts.issued_ms,
            parts.nonce,
        );
        let tag = hex::decode(parts.tag)
            .ok()
            .filter(|tag| tag.len() == TAG_BYTES)
            .ok_or(ChallengeRefusal::Forged)?;
        // Constant time: a forger learns nothing from how long the refusal took.
        mac.verify_truncated_left(&tag)
            .map_err(|_| ChallengeRefusal::Forged)?;
        let age_ms = now.timestamp_millis() - parts.issued_ms;
        if !(-5_000..CHALLENGE_TTL_SECS * 1_000).contains(&age_ms) {
            return Err(ChallengeRefusal::Expired);
        }
        if parts.bits < required {
            return Err(ChallengeRefusal::TooEasy);
        }
        if answer.solution.chars().count() > MAX_SOLUTION_CHARS
            || leading_zero_bits(&answer.challenge, key, &answer.solution) < parts.bits
        {
            return Err(ChallengeRefusal::Unsolved);
        }
        Ok(())
    }

    fn tag(&self, event: &EventId, owner: &str, bits: u32, issued_ms: i64, nonce: &str) -> String {
        let mut mac = self.mac.clone();
        self.cover(&mut mac, event, owner, bits, issued_ms, nonce);
        hex::encode(&mac.finalize().into_bytes()[..TAG_BYTES])
    }

    /// What the tag covers, each part length-prefixed so no two run together into another's.
    fn cover(
        &self,
        mac: &mut Hmac<Sha256>,
        event: &EventId,
        owner: &str,
        bits: u32,
        issued_ms: i64,
        nonce: &str,
    ) {
        for part in [event.as_str(), owner, nonce] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.update(&bits.to_be_bytes());
        mac.update(&issued_ms.to_be_bytes());
    }
}

/// Bytes of HMAC kept in a challenge: 128 bits, beyond guessing.
const TAG_BYTES: usize = 16;

/// Leading zero bits of SHA-256 of `challenge:key:solution`.
pub fn leading_zero_bits(challenge: &str, key: &str, solution: &str) -> u32 {
    let digest = Sha256::new()
        .chain_update(challenge)
        .chain_update(b":")
        .chain_update(key)
        .chain_update(b":")
        .chain_update(solution)
        .finalize();
    let mut bits = 0;
    for byte in digest {
        bits += byte.leading_zeros();
        if byte != 0 {
            break;
        }
    }
    bits
}

/// A solution to `challenge` for `key`, found by counting up: what a client does (tests and
/// benchmarks).
pub fn solve(challenge: &Challenge, key: &str) -> ChallengeAnswer {
    let solution = (0u64..)
        .map(|n| n.to_string())
        .find(|s| leading_zero_bits(&challenge.challenge, key, s) >= challenge.bits)
        .expect("some counter solves it");
    ChallengeAnswer {
        challenge: challenge.challenge.clone(),
        solution,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0b6f2c1e-9b1a-4a47-8f57-3f0c7b4a2f10";

    fn event() -> EventId {
        "evt_show".parse().unwrap()
    }

    fn check(
        challenges: &JoinChallenges,
        owner: &str,
        key: &str,
        required: u32,
        answer: &ChallengeAnswer,
        now: DateTime<Utc>,
    ) -> Result<(), ChallengeRefusal> {
        challenges.check(&event(), owner, key, required, Some(answer), now)
    }

    #[test]
    fn solved_work_passes_and_everything_else_is_refused() {
        let challenges = JoinChallenges::new("secret");
        let now = Utc::now();
        let issued = challenges.issue(&event(), "addr:10.0.0.1", 8, now);
        let answer = solve(&issued, KEY);
        assert_eq!(
            check(&challenges, "addr:10.0.0.1", KEY, 8, &answer, now),
            Ok(())
        );
        // Another key (another place in line) needs its own work.
        let other_key = (0..)
            .map(|n| format!("7d1c0e36-58a6-4b2e-9a53-3b8f0f2b{n:04}"))
            .find(|k| leading_zero_bits(&issued.challenge, k, &answer.solution) < 8)
            .unwrap();
        assert_eq!(
            check(&challenges, "addr:10.0.0.1", &other_key, 8, &answer, now),
            Err(ChallengeRefusal::Unsolved)
        );
        // Another caller, another event, another platform: forged.
        assert_eq!(
            check(&challenges, "addr:10.0.0.2", KEY, 8, &answer, now),
            Err(ChallengeRefusal::Forged)
        );
        assert_eq!(
            challenges.check(
                &"evt_other".parse().unwrap(),
                "addr:10.0.0.1",
                KEY,
                8,
                Some(&answer),
                now
            ),
            Err(ChallengeRefusal::Forged)
        );
        assert_eq!(
            check(
                &JoinChallenges::new("other"),
                "addr:10.0.0.1",
                KEY,
                8,
                &answer,
                now
            ),
            Err(ChallengeRefusal::Forged)
        );
        // Made easier by hand: the tag no longer matches.
        let easier = ChallengeAnswer {
            challenge: answer.challenge.replacen(".8.", ".1.", 1),
            solution: answer.solution.clone(),
        };
        assert_eq!(
            check(&challenges, "addr:10.0.0.1", KEY, 1, &easier, now),
            Err(ChallengeRefusal::Forged)
        );
        // Late, or the operator asks for more now.
        let late = now + chrono::Duration::seconds(CHALLENGE_TTL_SECS);
        assert_eq!(
            check(&challenges, "addr:10.0.0.1", KEY, 8, &answer, late),
            Err(ChallengeRefusal::Expired)
        );
        assert_eq!(
            check(&challenges, "addr:10.0.0.1", KEY, 9, &answer, now),
            Err(ChallengeRefusal::TooEasy)
        );
        // No work, or wrong work.
        assert_eq!(
            challenges.check(&event(), "addr:10.0.0.1", KEY, 8, None, now),
            Err(ChallengeRefusal::Missing)
        );
        let unsolved = (0u64..)
            .map(|n| n.to_string())
            .find(|s| leading_zero_bits(&issued.challenge, KEY, s) < 8)
            .unwrap();
        let wrong = ChallengeAnswer {
            challenge: issued.challenge.clone(),
            solution: unsolved,
        };
        assert_eq!(
            check(&challenges, "addr:10.0.0.1", KEY, 8, &wrong, now),
            Err(ChallengeRefusal::Unsolved)
        );
        for garbage in ["", "c1", "c1.8.x.y.z", "c1.99.1.ab.cd", "c2.8.1.ab.cd"] {
            let answer = ChallengeAnswer {
                challenge: garbage.into(),
                solution: "1".into(),
            };
            assert_eq!(
                check(&challenges, "addr:10.0.0.1", KEY, 8, &answer, now),
                Err(ChallengeRefusal::Forged),
                "{garbage}"
            );
        }
    }

    #[test]
    fn no_work_is_asked_when_the_event_sets_none() {
        let challenges = JoinChallenges::new("secret");
        assert_eq!(
            challenges.check(&event(), "usr_a", KEY, 0, None, Utc::now()),
            Ok(())
        );
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        // A solution of 12 bits has at least 12: the count runs across whole zero bytes.
        let challenges = JoinChallenges::new("secret");
        let issued = challenges.issue(&event(), "usr_a", 12, Utc::now());
        let answer = solve(&issued, KEY);
        assert!(leading_zero_bits(&issued.challenge, KEY, &answer.solution) >= 12);
    }
}
