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
//! Two ways to keep a key, by what the request writes:
//!
//! * Join, hold and payment intent each write one new item anyway, so the key lives there
//!   ([`crate::domain::request_keys`]): the item's id is derived from the caller and the key, and
//!   its conditional write is the claim. A request looks here first ([`Idempotency::prior`]) only
//!   for a refusal kept by a hold or intent that wrote nothing ([`Idempotency::remember_first`]).
//! * Enter, confirm and process change items that exist (a ticket, a reservation, an intent), so
//!   nothing they write could tell one request under a key from another request under the same
//!   key. They claim the key here before they run ([`Idempotency::claim`]), with what it was sent
//!   for, and keep their answer after ([`Idempotency::remember_first`]; an entry and a payment's
//!   processing keep their claim alone, the item they changed answering a repeat, [`Repeats`]).
//!   The claim is what refuses another request sent at once under the same key (409
//!   `IDEMPOTENCY_CONFLICT`): without it, two such requests both found no record and both ran,
//!   two payments under one key (a hostile client's probe, 5 tries in 8; and on Lambda no process
//!   could have told, each instance running one request). A duplicate of the same request that finds the claim runs too and is
//!   answered alike (each of these routes answers a repeat as it answered the first), its side
//!   effect the first's, rather than being told 409 `IDEMPOTENCY_IN_PROGRESS`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::records::{from_item, to_item, ttl_after};
use crate::error::Result;
use crate::functions::Route;
use crate::ports::store::{Condition, Key, StoreError, Write};
use crate::ports::Ports;

/// How long a response is replayed.
pub const REPLAY_WINDOW_MS: i64 = 5 * 60 * 1000;
/// After this long an in-flight claim is presumed dead and may be retaken by another request:
/// its process crashed, or the store went away before the claim could be released. A little over
/// the HTTP functions' 10 s Lambda timeout, the longest a request can run there (the container
/// and the embedded server answer within it too: the slowest 503 of the fault runs took 5.1 s). Shorter than the 30 s a
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
    /// First time, or a duplicate of a first still running (both run, answered alike): run it,
    /// then [`Idempotency::remember_first`] its answer.
    Proceed,
    /// A repeat of a request whose route answers repeats by running again ([`Repeats::RunAgain`]):
    /// run it; its answer is the first's, and is a replay.
    Repeat,
    Replay(StoredResponse),
    Conflict,
}

/// How a keyed route that claims its key answers a repeat of a request whose first ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeats {
    /// With the answer kept after the first ran ([`Idempotency::remember_first`]); until then
    /// the key's claim is in flight. Confirming a hold: nothing it writes keeps its answer.
    Replayed,
    /// By running again: the route's own item answers a repeat exactly as it answered the first
    /// (an entry's ticket keeps its key and its reservation token's making,
    /// [`crate::domain::queue::entry`]; a payment's intent the status its processing answered,
    /// [`crate::domain::payments::ProcessStamp`]), so the claim stays the key's record and only
    /// an answer the item does not keep (a refusal, which wrote nothing; a payment another
    /// request decided) is kept. One write fewer on every entry and every payment.
    RunAgain,
}

/// A key's record: an answer, or a claim in flight, whose `response` is not there yet.
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
    /// The claim of a request with `fingerprint` on a route that answers repeats as `repeats`
    /// says, starting at `now`.
    fn claim(now: DateTime<Utc>, fingerprint: &str, repeats: Repeats) -> Self {
        let now_ms = now.timestamp_millis();
        Record {
            state: match repeats {
                Repeats::Replayed => IN_FLIGHT,
                Repeats::RunAgain => RUN_AGAIN,
            }
            .into(),
            fingerprint: fingerprint.into(),
            started_ms: now_ms,
            expires_at_ms: now_ms + REPLAY_WINDOW_MS,
            expires_at: ttl_after(now, REPLAY_WINDOW_MS / 1000 + 60),
            response: None,
        }
    }

    /// The answer of a request with `fingerprint`, made at `now`: replayed for
    /// [`REPLAY_WINDOW_MS`] from then.
    fn answered(now: DateTime<Utc>, fingerprint: &str, response: StoredResponse) -> Self {
        Record {
            state: DONE.into(),
            response: Some(response),
            ..Self::claim(now, fingerprint, Repeats::Replayed)
        }
    }

    /// What a request with `fingerprint` is told of this live record of its key: a conflict when
    /// the key was used for another request, else its answer, that it is to run again, or (a
    /// claim of this same request, still running) to run too, answered alike.
    fn verdict(self, fingerprint: &str) -> Begin {
        if self.fingerprint != fingerprint {
            return Begin::Conflict;
        }
        match self.response {
            Some(response) => Begin::Replay(response),
            None if self.state == RUN_AGAIN => Begin::Repeat,
            None => Begin::Proceed,
        }
    }
}

/// The state of a claim in flight, whose answer will be kept.
const IN_FLIGHT: &str = "in_flight";
/// The state of a record that holds its answer.
const DONE: &str = "done";
/// The state of a claim whose route answers repeats by running again ([`Repeats::RunAgain`]):
/// never presumed dead, since no answer is to come.
const RUN_AGAIN: &str = "run_again";

/// What a key's record may be replaced by, at `now_ms`: none there, or one that expired, or a
/// claim left in flight longer than a request runs.
fn free_or_dead(now_ms: i64) -> Vec<Condition> {
    vec![
        Condition::NotExists,
        Condition::LessThan("expires_at_ms".into(), now_ms),
        Condition::And(vec![
            Condition::equals("state", IN_FLIGHT),
            Condition::LessThan("started_ms".into(), now_ms - STALE_IN_FLIGHT_MS),
        ]),
    ]
}

/// A claim of the request `fingerprint` itself, with no answer yet.
fn own_claim(fingerprint: &str) -> Condition {
    Condition::And(vec![
        Condition::Or(vec![
            Condition::equals("state", IN_FLIGHT),
            Condition::equals("state", RUN_AGAIN),
        ]),
        Condition::equals("fingerprint", fingerprint),
    ])
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

    /// Claims `idempotency_key` of `caller` on `route` for the request `fingerprint`, before it
    /// runs: `Proceed` when the key is free (or its record expired, or a claim was left in flight
    /// longer than a request runs), and also when a duplicate of this same request holds it
    /// (both run, answered alike); `Repeat` when the route answers repeats by running again and
    /// this request ran before; `Replay` of the answer kept for this request; `Conflict` when the
    /// key is held or was answered for another request. One conditional write; a read only when
    /// the key is taken.
    pub async fn claim(
        &self,
        route: Route,
        repeats: Repeats,
        caller: &str,
        idempotency_key: &str,
        fingerprint: &str,
    ) -> Result<Begin> {
        let now = self.ports.clock.now();
        let record_key = key(route, caller, idempotency_key);
        let write = Write::Put {
            item: to_item(&record_key, &Record::claim(now, fingerprint, repeats)),
            condition: Some(Condition::Or(free_or_dead(now.timestamp_millis()))),
        };
        match self.ports.store.write(write).await {
            Ok(()) => return Ok(Begin::Proceed),
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // Taken: by whom, and for what. (Gone again by now, its claim released: run.)
        let Some(item) = self.ports.store.get(&record_key).await? else {
            return Ok(Begin::Proceed);
        };
        Ok(from_item::<Record>(item)?.verdict(fingerprint))
    }

    /// Gives up the claim of a request that could not be answered (a 5xx: nothing happened that
    /// a retry could duplicate), so that the key is free at once, for another request too. A
    /// claim that cannot be released is retaken once it is stale.
    pub async fn release(
        &self,
        route: Route,
        caller: &str,
        idempotency_key: &str,
        fingerprint: &str,
    ) -> Result<()> {
        let write = Write::Delete {
            key: key(route, caller, idempotency_key),
            condition: Some(own_claim(fingerprint)),
        };
        match self.ports.store.write(write).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// What a request that keeps its key on its own item (a hold, an intent) finds here before
    /// it runs: `Proceed` unless it was refused before under this key (`Replay` of that refusal,
    /// or `Conflict` when the key was used for another request).
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
        Ok(existing.verdict(fingerprint))
    }

    /// Keeps the answer of a request (its claim, or [`Idempotency::prior`], said `Proceed`), so
    /// a retry replays it: in place of its own claim, or of none. The first answer stays: a
    /// duplicate answered at the same moment leaves it as it is, and so does another request's
    /// claim still in flight (it stores its own answer); a claim left in flight longer than a
    /// request runs is replaced.
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
            condition: Some(Condition::Or(
                free_or_dead(now_ms)
                    .into_iter()
                    .chain([own_claim(fingerprint)])
                    .collect(),
            )),
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
    /// ran, alike). For another request under the same key, both ran where the claims should
    /// have let one: the first's claim was presumed dead (it ran longer than
    /// `STALE_IN_FLIGHT_MS`) and retaken. Rare, and found only here, after both: so it is logged
    /// for the operator, not passed over.
    async fn note_a_race(&self, record_key: &Key, fingerprint: &str) {
        let Ok(Some(item)) = self.ports.store.get(record_key).await else {
            return;
        };
        if let Ok(first) = from_item::<Record>(item) {
            if first.fingerprint != fingerprint {
                tracing::warn!(
                    record = %record_key.pk,
                    "an idempotency key was used for two different requests, the first still \
                     running when its claim was presumed dead; both ran (the first answer kept \
                     is the one replayed)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::in_process::{ports_over, MemoryStore};
    use crate::ports::ManualClock;

    const ROUTE: Route = Route::PaymentProcess;

    fn idempotency() -> (Idempotency, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        let ports = ports_over(Arc::new(MemoryStore::default()), clock.clone());
        (Idempotency::new(ports), clock)
    }

    fn answer(body: &str) -> StoredResponse {
        StoredResponse {
            status: 200,
            content_type: "application/json".into(),
            body: body.into(),
        }
    }

    #[tokio::test]
    async fn a_claimed_key_refuses_another_request_and_lets_a_duplicate_run() {
        let (keys, _) = idempotency();
        let claim = |fp: &'static str| keys.claim(ROUTE, Repeats::Replayed, "usr_a", "k", fp);
        assert_eq!(claim("pay pi_1").await.unwrap(), Begin::Proceed);
        assert_eq!(
            claim("pay pi_2").await.unwrap(),
            Begin::Conflict,
            "sent at once"
        );
        assert_eq!(
            claim("pay pi_1").await.unwrap(),
            Begin::Proceed,
            "a duplicate"
        );
        keys.remember_first(ROUTE, "usr_a", "k", "pay pi_1", answer("first"))
            .await
            .unwrap();
        assert_eq!(
            claim("pay pi_1").await.unwrap(),
            Begin::Replay(answer("first"))
        );
        assert_eq!(claim("pay pi_2").await.unwrap(), Begin::Conflict, "after");
        // The duplicate's answer does not replace the first.
        keys.remember_first(ROUTE, "usr_a", "k", "pay pi_1", answer("second"))
            .await
            .unwrap();
        assert_eq!(
            claim("pay pi_1").await.unwrap(),
            Begin::Replay(answer("first"))
        );
    }

    #[tokio::test]
    async fn a_route_that_runs_repeats_again_keeps_its_claim_and_only_a_refusal() {
        let (keys, clock) = idempotency();
        let route = Route::QueueEnter;
        let claim = |fp: &'static str| keys.claim(route, Repeats::RunAgain, "usr_a", "k", fp);
        assert_eq!(claim("enter wtkn_1").await.unwrap(), Begin::Proceed);
        // Answered without a record: a repeat runs again, and is a replay; another request is
        // refused, even long after (the claim is not presumed dead: no answer is to come).
        assert_eq!(claim("enter wtkn_1").await.unwrap(), Begin::Repeat);
        clock.advance(chrono::Duration::milliseconds(STALE_IN_FLIGHT_MS + 1));
        assert_eq!(claim("enter wtkn_2").await.unwrap(), Begin::Conflict);
        assert_eq!(claim("enter wtkn_1").await.unwrap(), Begin::Repeat);
        // A refusal replaces the claim and is replayed.
        let (keys2, _) = idempotency();
        let claim2 = |fp: &'static str| keys2.claim(route, Repeats::RunAgain, "usr_a", "k", fp);
        assert_eq!(claim2("enter wtkn_1").await.unwrap(), Begin::Proceed);
        keys2
            .remember_first(route, "usr_a", "k", "enter wtkn_1", answer("not ready"))
            .await
            .unwrap();
        assert_eq!(
            claim2("enter wtkn_1").await.unwrap(),
            Begin::Replay(answer("not ready"))
        );
    }

    #[tokio::test]
    async fn keys_are_per_caller_and_per_route() {
        let (keys, _) = idempotency();
        assert_eq!(
            keys.claim(ROUTE, Repeats::Replayed, "usr_a", "k", "pay pi_1")
                .await
                .unwrap(),
            Begin::Proceed
        );
        assert_eq!(
            keys.claim(ROUTE, Repeats::Replayed, "usr_b", "k", "pay pi_2")
                .await
                .unwrap(),
            Begin::Proceed
        );
        assert_eq!(
            keys.claim(
                Route::Confirm,
                Repeats::Replayed,
                "usr_a",
                "k",
                "confirm rsv_1"
            )
            .await
            .unwrap(),
            Begin::Proceed
        );
    }

    #[tokio::test]
    async fn a_released_or_dead_claim_frees_the_key_for_another_request() {
        let (keys, clock) = idempotency();
        keys.claim(ROUTE, Repeats::Replayed, "usr_a", "k", "pay pi_1")
            .await
            .unwrap();
        keys.release(ROUTE, "usr_a", "k", "pay pi_1").await.unwrap();
        assert_eq!(
            keys.claim(ROUTE, Repeats::Replayed, "usr_a", "k", "pay pi_2")
                .await
                .unwrap(),
            Begin::Proceed,
            "released after a 5xx"
        );
        // Another request's release leaves the claim alone.
        keys.release(ROUTE, "usr_a", "k", "pay pi_1").await.unwrap();
        assert_eq!(
            keys.claim(ROUTE, Repeats::Replayed, "usr_a", "k", "pay pi_3")
                .await
                .unwrap(),
            Begin::Conflict
        );
        // A claim whose request died holds the key only as long as a request can run.
        clock.advance(chrono::Duration::milliseconds(STALE_IN_FLIGHT_MS + 1));
        assert_eq!(
            keys.claim(ROUTE, Repeats::Replayed, "usr_a", "k", "pay pi_3")
                .await
                .unwrap(),
            Begin::Proceed
        );
        // An answer lasts its window.
        keys.remember_first(ROUTE, "usr_a", "k", "pay pi_3", answer("third"))
            .await
            .unwrap();
        clock.advance(chrono::Duration::milliseconds(REPLAY_WINDOW_MS + 1));
        assert_eq!(
            keys.claim(ROUTE, Repeats::Replayed, "usr_a", "k", "pay pi_4")
                .await
                .unwrap(),
            Begin::Proceed
        );
    }
}
