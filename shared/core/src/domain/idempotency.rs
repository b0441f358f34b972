//! Idempotency keys, as the contract defines them.
//!
//! A keyed request's answer is stored under `(route, caller, key)` with the request's fingerprint
//! and replayed byte for byte for 5 minutes; the same key with another body is a conflict. Records
//! are keyed by caller, so one caller's key never replays another's response. A 5xx is not stored:
//! nothing happened that a retry could duplicate.
//!
//! A key is scoped to its route as well as its caller: the same key sent to another route is
//! another key. A retry is always to the route it retries, so nothing a key guards is lost; and
//! the routes that keep their key on the item they write ([`crate::domain::request_keys`]: a
//! ticket, a reservation, an intent) could be told of a key used elsewhere only by reading every
//! other route's item for it on every request, three reads more on each join of a rush. One rule
//! for all six routes rather than a conflict on some pairs and not on others.
//!
//! Nothing is claimed before a request runs. Every keyed request either keeps its key on the item
//! it writes anyway ([`crate::domain::request_keys`]: join, hold, payment intent; a refused hold or
//! intent, which wrote nothing, keeps its refusal here) or answers a repeat exactly as it
//! answered the first (enter, whose ticket keeps its key, [`crate::domain::queue::entry`];
//! confirm; process). So a request looks here first ([`Idempotency::prior`]) and its answer is
//! stored after ([`Idempotency::remember_first`]): one write, where a claim before and the answer
//! after made two. A concurrent duplicate runs too and is answered alike, its side effect the
//! first's, rather than told 409 `IDEMPOTENCY_IN_PROGRESS`, which is left for a claim an earlier
//! release (which claimed keys before running) still holds.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::{from_item, to_item, ttl_after};
use crate::error::Result;
use crate::functions::Route;
use crate::ports::store::{Condition, Key, StoreError, Write};
use crate::ports::Ports;

/// How long a response is replayed.
pub const REPLAY_WINDOW_MS: i64 = 5 * 60 * 1000;
/// After this long an in-flight claim (written by an earlier release, which claimed keys before
/// running a request) is presumed dead and may be retaken: its process crashed, or the store went
/// away before the claim could be released. A little over the HTTP functions'
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
    /// First time: run it, then [`Idempotency::remember_first`] its answer.
    Proceed,
    Replay(StoredResponse),
    Conflict,
    InProgress,
}

/// A key's record: an answer, or (written by an earlier release) a claim in flight, whose
/// `response` is not there yet.
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
    /// The answer of a request with `fingerprint`, made at `now`: replayed for
    /// [`REPLAY_WINDOW_MS`] from then.
    fn answered(now: DateTime<Utc>, fingerprint: &str, response: StoredResponse) -> Self {
        let now_ms = now.timestamp_millis();
        Record {
            state: "done".into(),
            fingerprint: fingerprint.into(),
            started_ms: now_ms,
            expires_at_ms: now_ms + REPLAY_WINDOW_MS,
            expires_at: ttl_after(now, REPLAY_WINDOW_MS / 1000 + 60),
            response: Some(response),
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

/// The record of `idempotency_key` as `caller` used it on `route`: its own partition. The route
/// is named by the function that serves it, which never changes (a path may be renamed).
fn key(route: Route, caller: &str, idempotency_key: &str) -> Key {
    Key::new(
        [
            "IDEM#",
            route.function().name(),
            "#",
            caller,
            "#",
            idempotency_key,
        ]
        .concat(),
        "IDEM",
    )
}

#[derive(Clone)]
pub struct Idempotency {
    ports: Ports,
}

impl Idempotency {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    /// What a request that claims nothing finds here before it runs: `Proceed` unless its key
    /// was answered before (`Replay` of that answer, or `Conflict` when the key was used for
    /// another request), or is claimed by a request that still runs (`InProgress`; a claim an
    /// earlier release left in flight longer than a request can run is taken over).
    pub async fn prior(
        &self,
        route: Route,
        caller: &str,
        idempotency_key: &str,
        fingerprint: &str,
    ) -> Result<Begin> {
        let Some(item) = self
            .ports
            .store
            .get(&key(route, caller, idempotency_key))
            .await?
        else {
            return Ok(Begin::Proceed);
        };
        let existing: Record = from_item(item)?;
        let now_ms = self.ports.clock.now_ms();
        if existing.expires_at_ms < now_ms {
            return Ok(Begin::Proceed);
        }
        let stale = existing.started_ms < now_ms - STALE_IN_FLIGHT_MS;
        Ok(match existing.verdict(fingerprint) {
            // A claim its process left behind: taken over.
            Begin::InProgress if stale => Begin::Proceed,
            verdict => verdict,
        })
    }

    /// Keeps the answer of a request ([`Idempotency::prior`] said `Proceed`), so a retry replays
    /// it. The first answer stays: a duplicate answered at the same moment leaves it as it is,
    /// and so does a claim an earlier release's request still holds (it stores its own answer);
    /// a claim left in flight longer than a request runs is replaced.
    pub async fn remember_first(
        &self,
        route: Route,
        caller: &str,
        idempotency_key: &str,
        fingerprint: &str,
        response: StoredResponse,
    ) -> Result<()> {
        let now = self.ports.clock.now();
        let now_ms = now.timestamp_millis();
        let record = Record::answered(now, fingerprint, response);
        let write = Write::Put {
            item: to_item(&key(route, caller, idempotency_key), &record),
            condition: Some(Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan("expires_at_ms".into(), now_ms),
                Condition::And(vec![
                    Condition::equals("state", "in_flight"),
                    Condition::LessThan("started_ms".into(), now_ms - STALE_IN_FLIGHT_MS),
                ]),
            ])),
        };
        let record_key = key(route, caller, idempotency_key);
        match self.ports.store.write(write).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => {
                self.note_a_race(&record_key, fingerprint).await;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Another answer was kept first. For a duplicate of this request that is the design (both
    /// ran, alike). For another request under the same key, both ran where the contract wants
    /// one refused: each process refuses that while both are its own (`tacos_http`'s keys in
    /// flight), but two processes (two Lambda instances) each read no record and ran. Rare, and
    /// found only here, after both: so it is logged for the operator, not passed over.
    async fn note_a_race(&self, record_key: &Key, fingerprint: &str) {
        let Ok(Some(item)) = self.ports.store.get(record_key).await else {
            return;
        };
        if let Ok(first) = from_item::<Record>(item) {
            if first.fingerprint != fingerprint {
                tracing::warn!(
                    record = %record_key.pk,
                    "an idempotency key was used for two different requests at once, in two \
                     processes; both ran (the first answer is the one replayed)"
                );
            }
        }
    }
}
