//! Abandonment: a waiting person not seen for a while loses their place.
//!
//! People close the tab. Left in line, they inflate everyone's position and ETA behind them, and
//! when the cursor reaches them their admission is wasted for a whole window. So a waiting
//! ticket is *seen* whenever its status is asked (a poll, or a tick of a live stream or socket,
//! which ask it every 2 s), and one not seen for `Config::queue_abandon_secs` (2 minutes by
//! default) is given up like a leaver's: a marker at its order ([`super::positions`]), so it
//! stops counting in positions, ETAs and admission. Someone who comes back in time keeps their
//! place; one who comes back later is told `expired` and may join again.
//!
//! Seen is recorded per [`BUCKET_MS`] bucket of time: one item per (event, bucket, ticket), keyed
//! by the ticket's order, in partitions sharded by order ([`SHARDS`]), so a line of 30,000 people
//! polling writes about 1,000 items a second spread over eight partitions. Each process writes a
//! ticket's presence once per bucket, whatever it polls.
//!
//! The *sweep* that gives places up runs at most once per bucket per event, in whichever status
//! claims it first (a conditional write of the queue's `SWEEP` item): it reads the presence of the
//! last buckets and the leavers, and marks every ticket between the cursor and the line's end as
//! it stood the abandonment time ago (so nobody who joined since is judged) that nobody saw, one
//! marker per run of consecutive orders ([`super::positions`]): at most
//! [`MAX_MARKERS_PER_SWEEP`] markers a sweep, the rest at the next. A crowd that stopped asking
//! together (bots that joined and never asked, everyone beyond the stock closing the tab at once)
//! is given up in a few markers; people who stopped asking one here and one there take a marker
//! each, so a sweep gives up at least 500 of them. A join that took an order but never wrote its
//! ticket (a crash between the two) is given up the same way.
//!
//! *A store outage is not abandonment.* While the store refuses writes (a full disk, a throttled
//! or unreachable table), nobody's presence can be recorded, however often they ask: the buckets
//! of the outage hold nobody. Read as "nobody seen", they would give up the whole line at the
//! first sweep after an outage as long as the abandonment time. So a sweep judges nobody while a
//! bucket of its window, or the one before it, recorded nobody at all although people were
//! waiting (they were: the sweep judges only tickets in line since before its window, still
//! ahead of the cursor). The evidence is in the store itself, so it holds for every process of a
//! deployment whichever claims the sweep, and needs no marker written during the outage (which
//! could not be written). The bucket before the window is a margin: the bucket an outage ends in
//! has presence only from its recovery on, so a window starting there could miss someone whose
//! asks that bucket all fell before it. The cost is on a line where *nobody* asks for a whole
//! bucket (everyone left at once and nobody else came): its people are given up only once the
//! abandonment time has gone by with someone asking, not at the first ask after the silence;
//! while nobody asks, nobody is kept waiting behind them. An outage shorter than a bucket can
//! leave every bucket with someone in it; with the default 2 minutes it cannot cost a place (a
//! window is 4 buckets), with the shortest (30 s) it can cost the place of someone whose asks all
//! fell in it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::keys::queue_pk;
use super::order::Line;
use super::positions::{left_run, read_leavers, MAX_RUN};
use crate::domain::records::{get_record, sort_key, sortable, to_item};
use crate::error::Result;
use crate::ids::EventId;
use crate::ports::store::{Condition, Key, SkRange, Store, StoreError, Write};

/// The time one presence bucket covers.
pub const BUCKET_MS: i64 = 30_000;

/// Partitions of one bucket's presence, by order.
const SHARDS: u64 = 8;

/// Most markers one sweep writes, each a run of up to [`MAX_RUN`] people (the rest at the next):
/// bounds its writes to the queue's partition.
pub const MAX_MARKERS_PER_SWEEP: usize = 500;

/// Line ends the sweep item remembers, one per bucket swept.
const ENDS_KEPT: usize = 16;

/// How long a presence item is kept before the store may purge it.
const PRESENCE_TTL_SECS: i64 = 600;

fn presence_pk(event: &EventId, bucket: i64, shard: u64) -> String {
    [
        "SEEN#",
        event.as_str(),
        "#",
        &sortable(bucket.max(0) as u64),
        "#",
        &shard.to_string(),
    ]
    .concat()
}

fn presence_key(event: &EventId, bucket: i64, order: u64) -> Key {
    Key::new(
        presence_pk(event, bucket, order % SHARDS),
        sort_key("O#", order),
    )
}

fn sweep_key(event: &EventId) -> Key {
    Key::new(queue_pk(event), "SWEEP")
}

/// The sweep's bookkeeping: the last bucket swept and the line's end at each bucket swept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SweepRecord {
    bucket: i64,
    ends: Vec<(i64, u64)>,
}

/// The tickets one process recorded as seen in one bucket, by event (found by a borrowed id:
/// every status of a waiting ticket asks, and a key of the event's id and the order cloned the
/// id each time).
#[derive(Default)]
struct Recorded {
    bucket: i64,
    tickets: HashMap<EventId, HashSet<u64>>,
}

impl Recorded {
    /// Notes `order` of `event`; whether it was not noted yet.
    fn note(&mut self, event: &EventId, order: u64) -> bool {
        match self.tickets.get_mut(event) {
            Some(orders) => orders.insert(order),
            None => {
                self.tickets.insert(event.clone(), HashSet::from([order]));
                true
            }
        }
    }

    fn forget(&mut self, event: &EventId, order: u64) {
        if let Some(orders) = self.tickets.get_mut(event) {
            orders.remove(&order);
        }
    }
}

/// Records who is seen and gives up those who are not.
#[derive(Clone)]
pub(super) struct Presence {
    /// Seconds unseen after which a place is given up (0: never).
    abandon_secs: i64,
    /// What this process recorded in the bucket it is in.
    recorded: Arc<Mutex<Recorded>>,
    /// The last bucket each event's sweep is known (to this process) to be done for: a status
    /// of the same bucket reads nothing more.
    swept: Arc<Mutex<HashMap<EventId, i64>>>,
}

impl Presence {
    pub(super) fn new(abandon_secs: u64) -> Self {
        Self {
            abandon_secs: i64::try_from(abandon_secs).unwrap_or(i64::MAX),
            recorded: Arc::default(),
            swept: Arc::default(),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.abandon_secs > 0
    }

    /// Buckets a place may go unseen before it is given up (and one more, the current one,
    /// which a sweep early in it has barely seen).
    fn buckets_kept(&self) -> i64 {
        (self.abandon_secs * 1_000 + BUCKET_MS - 1) / BUCKET_MS
    }

    /// Records that the waiting ticket at `order` was seen at `now_ms` (once per bucket and
    /// process).
    pub(super) async fn seen(
        &self,
        store: &dyn Store,
        event: &EventId,
        order: u64,
        now_ms: i64,
    ) -> Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let bucket = now_ms.div_euclid(BUCKET_MS);
        {
            let mut recorded = self.recorded.lock();
            if recorded.bucket != bucket {
                *recorded = Recorded {
                    bucket,
                    tickets: HashMap::new(),
                };
            }
            if !recorded.note(event, order) {
                return Ok(());
            }
        }
        let expires_at = now_ms / 1_000 + PRESENCE_TTL_SECS;
        let item = to_item(
            &presence_key(event, bucket, order),
            &serde_json::json!({ "order": order, "expires_at": expires_at }),
        );
        if let Err(e) = store.write(Write::put(item)).await {
            // Not recorded: let a later status of this bucket try again.
            self.recorded.lock().forget(event, order);
            return Err(e.into());
        }
        Ok(())
    }

    /// Gives up the places of tickets not seen for the abandonment time, if this bucket's sweep
    /// of `event` is not done yet and this call claims it. `line` and `cursor` are the queue as
    /// just read, `also_left` the drawn places of the lobby's leavers (who have no marker).
    /// Returns how many places were given up.
    pub(super) async fn sweep(
        &self,
        store: &dyn Store,
        event: &EventId,
        line: &Line,
        cursor: u64,
        also_left: &[u64],
        now_ms: i64,
    ) -> Result<usize> {
        if !self.enabled() {
            return Ok(0);
        }
        let bucket = now_ms.div_euclid(BUCKET_MS);
        if self.swept.lock().get(event).is_some_and(|&b| b >= bucket) {
            return Ok(0);
        }
        let before: Option<SweepRecord> = get_record(store, &sweep_key(event)).await?;
        self.swept.lock().insert(event.clone(), bucket);
        if before.as_ref().is_some_and(|r| r.bucket >= bucket) {
            return Ok(0);
        }
        let mut after = before.clone().unwrap_or_default();
        after.bucket = bucket;
        after.ends.push((bucket, line.end()));
        if after.ends.len() > ENDS_KEPT {
            after.ends.drain(..after.ends.len() - ENDS_KEPT);
        }
        let claim = Write::Put {
            item: to_item(&sweep_key(event), &after),
            condition: Some(match &before {
                None => Condition::NotExists,
                Some(r) => Condition::equals("bucket", r.bucket),
            }),
        };
        match store.write(claim).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
        // Seen in any bucket from `horizon` on: unseen for at least the abandonment time. Judge
        // only tickets already in line before `horizon` began (the line's end at a sweep of an
        // earlier bucket), so nobody who joined since is judged on buckets they were not there
        // for.
        let horizon = bucket - self.buckets_kept();
        let Some(end) = after
            .ends
            .iter()
            .rev()
            .find(|(b, _)| *b < horizon)
            .map(|&(_, end)| end)
        else {
            return Ok(0);
        };
        if end <= cursor {
            return Ok(0);
        }
        // One bucket before the window too: the margin the module's doc explains.
        let presence = self.presence(store, event, horizon - 1, bucket).await?;
        if let Some(dark) = ((horizon - 1)..bucket).find(|b| !presence.contains_key(b)) {
            tracing::warn!(
                event_id = %event,
                unrecorded_at = dark * BUCKET_MS,
                "nobody's presence recorded for a half-minute while people were waiting (a store outage): nobody given up until the abandonment time is recorded again"
            );
            return Ok(0);
        }
        let seen: HashSet<u64> = presence
            .range(horizon..)
            .flat_map(|(_, orders)| orders.iter().copied())
            .collect();
        let leavers: HashSet<u64> = read_leavers(store, event, cursor, end)
            .await?
            .into_iter()
            .chain(also_left.iter().copied())
            .collect();
        let abandoned = runs(
            (cursor..end)
                .filter(|&o| line.is_ticket(o) && !leavers.contains(&o) && !seen.contains(&o)),
            MAX_MARKERS_PER_SWEEP,
        );
        for chunk in abandoned.chunks(25) {
            let markers = chunk
                .iter()
                .map(|&(start, count)| left_run(event, start, count, now_ms))
                .collect();
            store.transact(markers).await?;
        }
        let given_up: u64 = abandoned.iter().map(|&(_, count)| count).sum();
        if given_up > 0 {
            tracing::info!(event_id = %event, given_up, markers = abandoned.len(), "places of people not seen given up");
        }
        Ok(given_up as usize)
    }

    /// The orders seen in each of buckets `from..=to` that recorded anybody (a bucket that
    /// recorded nobody is absent).
    async fn presence(
        &self,
        store: &dyn Store,
        event: &EventId,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<i64, HashSet<u64>>> {
        let reads = (from..=to).flat_map(|bucket| {
            (0..SHARDS).map(move |shard| async move {
                store
                    .query(&presence_pk(event, bucket, shard), &SkRange::prefix("O#"))
                    .await
                    .map(|page| (bucket, page))
            })
        });
        let pages = futures::future::try_join_all(reads).await?;
        let mut seen: BTreeMap<i64, HashSet<u64>> = BTreeMap::new();
        for (bucket, page) in pages {
            let orders = page
                .iter()
                .filter_map(|item| item.get("order").and_then(|v| v.as_u64()));
            for order in orders {
                seen.entry(bucket).or_default().insert(order);
            }
        }
        Ok(seen)
    }
}

/// `orders` (ascending) as runs of consecutive orders, `(start, count)` with `count` at most
/// [`MAX_RUN`]: the first `limit` runs.
fn runs(orders: impl IntoIterator<Item = u64>, limit: usize) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for order in orders {
        let full = runs.len() == limit;
        match runs.last_mut() {
            Some((start, count)) if *start + *count == order && *count < MAX_RUN => *count += 1,
            _ if full => break,
            _ => runs.push((order, 1)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_orders_make_one_run_up_to_the_longest() {
        assert_eq!(runs([1, 2, 3, 5, 6, 9], 10), [(1, 3), (5, 2), (9, 1)]);
        assert_eq!(runs([1, 2, 3, 5, 6, 9], 2), [(1, 3), (5, 2)]);
        assert_eq!(
            runs(0..2_500, 10),
            [(0, 1_000), (1_000, 1_000), (2_000, 500)]
        );
        assert_eq!(runs(0..2_500, 2), [(0, 1_000), (1_000, 1_000)]);
        assert_eq!(runs([], 5), []);
    }
}
