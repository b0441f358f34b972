//! Idempotency keys, as the contract defines them.
//!
//! The first request with a key claims it with a conditional write (an *in-flight* record), so a
//! concurrent duplicate is told 409 `IDEMPOTENCY_IN_PROGRESS` instead of running twice. The
//! finished response is stored on the record and replayed byte for byte for 5 minutes. Records are
//! keyed by caller, so one caller's key never replays another's response. A request that failed
//! with 5xx releases its key, since nothing happened that a retry could duplicate.
//!
//! Requests that keep their key on the item they write ([`crate::domain::request_keys`]: join,
//! hold, payment intent) write no claim and no record when they succeed; a hold or an intent that
//! is refused keeps its refusal here ([`Idempotency::remember_first`]), the one write of a path
//! that wrote nothing else, and looks here first ([`Idempotency::prior`]) so a retry replays it.
//!
//! Requests whose handler answers a repeat exactly as it answered the first (processing a
//! payment, confirming a hold) claim nothing either: they look here first ([`Idempotency::prior`])
//! and keep their answer after ([`Idempotency::remember_first`]), one write instead of two. A
//! concurrent duplicate then runs too and is answered alike; its side effect is the first's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::{from_item, to_item, ttl_after};
use crate::error::Result;
use crate::ports::store::{Condition, Key, StoreError, Write};
use crate::ports::Ports;

/// How long a response is replayed.
pub const REPLAY_WINDOW_MS: i64 = 5 * 60 * 1000;
/// After this long an in-flight claim is presumed dead and may be retaken: its process crashed, or
/// the store went away before the claim could be released. A little over the HTTP functions'
/// 10 s Lambda timeout, the longest a request can run there (the container and the embedded server
/// answer within it too: the slowest 503 of the fault runs took 5.1 s). Shorter than the 30 s a
/// reservation token lives, so a buyer whose hold was caught by an outage can retry it with the
/// same key and the same token. A duplicate let through after this long still has no second
/// effect: every state change below is itself conditional.
const STALE_IN_FLIGHT_MS: i64 = 12_000;

/// A response as stored for replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time: run it, then [`Idempotency::complete`] or [`Idempotency::abandon`].
    Proceed,
    Replay(StoredResponse),
    Conflict,
    InProgress,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    state: String,
    fingerprint: String,
    started_ms: i64,
    expires_at_ms: i64,
    expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<StoredResponse>,
}

impl Record {
    /// A record made at `now`: in flight until it has its `response`, then done, replayed for
    /// [`REPLAY_WINDOW_MS`] from `now`.
    fn new(now: DateTime<Utc>, fingerprint: &str, response: Option<StoredResponse>) -> Self {
        let now_ms = now.timestamp_millis();
        let state = if response.is_some() {
            "done"
        } else {
            "in_flight"
        };
        Record {
            state: state.into(),
            fingerprint: fingerprint.into(),
            started_ms: now_ms,
            expires_at_ms: now_ms + REPLAY_WINDOW_MS,
            expires_at: ttl_after(now, REPLAY_WINDOW_MS / 1000 + 60),
            response,
        }
    }

    /// What a request with `fingerprint` is told of this live record of its key: a conflict when
    /// the key was used for another request, else its answer, or that it is still running.
    fn verdict(self, fingerprint: &str) -> Begin {
        if self.fingerprint != fingerprint {
            return Begin::Conflict;
        }
        match self.response {
            Some(response) => Begin::Replay(response),
            None => Begin::InProgress,
        }
    }
}

fn key(caller: &str, idempotency_key: &str) -> Key {
    Key::new(["IDEM#", caller, "#", idempotency_key].concat(), "IDEM")
}

#[derive(Clone)]
pub struct Idempotency {
    ports: Ports,
}

impl Idempotency {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// Claims the key for this request, or says why not.
    pub async fn begin(
        &self,
        caller: &str,
        idempotency_key: &str,
        fingerprint: &str,
    ) -> Result<Begin> {
        let now = self.ports.clock.now();
        let now_ms = now.timestamp_millis();
        let record = Record::new(now, fingerprint, None);
        let claim = Write::Put {
            item: to_item(&key(caller, idempotency_key), &record),
            condition: Some(Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan("expires_at_ms".into(), now_ms),
                Condition::And(vec![
                    Condition::equals("state", "in_flight"),
                    Condition::LessThan("started_ms".into(), now_ms - STALE_IN_FLIGHT_MS),
                ]),
            ])),
        };
        match self.ports.store.write(claim).await {
            Ok(()) => return Ok(Begin::Proceed),
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(item) = self.ports.store.get(&key(caller, idempotency_key)).await? else {
            // Released between the two calls: the caller may simply retry.
            return Ok(Begin::InProgress);
        };
        let existing: Record = from_item(item)?;
        Ok(existing.verdict(fingerprint))
    }

    /// Stores the response for replay.
    pub async fn complete(
        &self,
        caller: &str,
        idempotency_key: &str,
        fingerprint: &str,
        response: StoredResponse,
    ) -> Result<()> {
        let record = Record::new(self.ports.clock.now(), fingerprint, Some(response));
        self.ports
            .store
            .write(Write::put(to_item(&key(caller, idempotency_key), &record)))
            .await?;
        Ok(())
    }

    /// Releases the key after a failure that changed nothing.
    pub async fn abandon(&self, caller: &str, idempotency_key: &str) -> Result<()> {
        self.ports
            .store
            .write(Write::Delete {
                key: key(caller, idempotency_key),
                condition: None,
            })
            .await?;
        Ok(())
    }

    /// What a request that claims nothing finds here before it runs: `Proceed` unless its key
    /// was answered before (`Replay` of that answer, or `Conflict` when the key was used for
    /// another request), or is claimed by a request that still runs (`InProgress`; a claim older
    /// than a request can run is taken over, as [`Idempotency::begin`] does).
    pub async fn prior(
        &self,
        caller: &str,
        idempotency_key: &str,
        fingerprint: &str,
    ) -> Result<Begin> {
        let Some(item) = self.ports.store.get(&key(caller, idempotency_key)).await? else {
            return Ok(Begin::Proceed);
        };
        let existing: Record = from_item(item)?;
        let now_ms = self.ports.clock.now_ms();
        if existing.expires_at_ms < now_ms {
            return Ok(Begin::Proceed);
        }
        let stale = existing.started_ms < now_ms - STALE_IN_FLIGHT_MS;
        Ok(match existing.verdict(fingerprint) {
            // A claim its process left behind: taken over, as `begin` does.
            Begin::InProgress if stale => Begin::Proceed,
            verdict => verdict,
        })
    }

    /// Keeps the answer of a request that claimed nothing ([`Idempotency::prior`]), so a retry
    /// replays it. The first answer stays: a duplicate answered at the same moment leaves it as
    /// it is (a claim a request still holds is left too: that request stores its own answer).
    pub async fn remember_first(
        &self,
        caller: &str,
        idempotency_key: &str,
        fingerprint: &str,
        response: StoredResponse,
    ) -> Result<()> {
        let now = self.ports.clock.now();
        let now_ms = now.timestamp_millis();
        let record = Record::new(now, fingerprint, Some(response));
        let write = Write::Put {
            item: to_item(&key(caller, idempotency_key), &record),
            condition: Some(Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan("expires_at_ms".into(), now_ms),
            ])),
        };
        match self.ports.store.write(write).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
