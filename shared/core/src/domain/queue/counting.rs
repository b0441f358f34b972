//! Join counters raised once for every join waiting at the same moment.
//!
//! Every join takes its order from one of the event's join counters ([`super::order`]): a write
//! of that counter, answered with the new count. In one process with many joins at once (the
//! embedded server at the rush) that write was most of a join's cost: the store's writer thread
//! updated the counter's row once per join, and each join waited for its own answer before it
//! could write its ticket (BENCHMARKS §8.15). Here the joins of one process share the raises:
//!
//! * the joins that ask while a raise is under way wait for the next one together, which adds
//!   their number to the counter in one write and hands them its orders in the order they asked;
//! * in a crowd (more than [`MIN_CROWD`] joins asked during the raise before), a raise of the
//!   line's counters also takes as many orders again as joins asked then (at most
//!   [`MAX_SPARE`]), kept as *spare* orders: the joins arriving meanwhile take one each at once,
//!   with no write and no wait. Spare orders nobody took within [`SPARE_LIFE_MS`] of their raise
//!   are given back by lowering the counter again, under the conditions that nothing raised it since
//!   and that the cursor has not passed them (then the next join stands at the cursor, never
//!   behind it), so that the line counts only people once the crowd has passed. A process with one join at a
//!   time (a Lambda instance), or a few, takes none: its raises add one per join, as before.
//!
//! What stays as before: each order comes from the counter's own count, so no order is given
//! twice, by this process or by another raising the same counters; the counter is raised before
//! any of its orders is used; a raise that fails fails every join waiting for it and gives out
//! nothing. An order taken and never used (a join whose client went away while it waited; spare
//! orders of a process that stopped, or that could not be given back because the counter was
//! raised meanwhile) is a place nobody holds, as when a join's ticket is never written: the
//! presence sweep gives it up like someone who stopped asking ([`super::presence`]). While a
//! crowd joins, the line's end counts up to [`MAX_SPARE`] orders not yet handed out; nobody's
//! position does, since spare orders are handed out in turn, each after every order before it.
//!
//! Raises run in a task of their own, so no caller's cancellation can strand the joins waiting
//! behind one.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::admission::read_cursor;
use super::keys::{counter_key, lobby_counter_key, state_key};
use crate::error::{Error, Result};
use crate::ids::EventId;
use crate::ports::store::{Condition, Key, Store, StoreError, Update, Write};

/// Most spare orders one raise takes: at the rush a raise takes well under a millisecond on the
/// embedded server, in which a few dozen joins arrive.
pub(super) const MAX_SPARE: u64 = 64;

/// Joins asking during one raise above which the next takes spare orders: a crowd, not a few
/// people joining at once (whose raises stay one order each, and the line's count exact).
pub(super) const MIN_CROWD: u64 = 16;

/// How long a raise's spare orders are kept: those nobody took by then are given back. In a
/// crowd they are all taken within milliseconds; a spare order is never handed out more than
/// this long after its raise (its place may have been passed by the cursor meanwhile, when the
/// line was empty: the join that takes it is admitted at once, by an advance this recent).
pub(super) const SPARE_LIFE_MS: u64 = 250;

/// Which of an event's counter families an order is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counters {
    /// The line's join counters: an order is a place in line.
    Line,
    /// The lobby's ([`super::lobby`]): an order is a place in the lobby, before the draw.
    Lobby,
}

impl Counters {
    fn key(self, event: &EventId, shard: u32) -> Key {
        match self {
            Self::Line => counter_key(event, shard),
            Self::Lobby => lobby_counter_key(event, shard),
        }
    }
}

type Waiter = oneshot::Sender<std::result::Result<u64, StoreError>>;

/// Counts `next..end` of counter `shard` of `shards`, raised and not yet handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spare {
    shard: u32,
    shards: u32,
    next: u64,
    end: u64,
}

impl Spare {
    /// The order of count `k` of this spare's counter.
    fn order(&self, k: u64) -> u64 {
        order(k, self.shards, self.shard)
    }
}

/// One family of one event's counters, as this process takes from them.
struct Slot {
    counters: Counters,
    event: EventId,
    /// The event's counters: fixed when the event is created (`Event::queue_shards`).
    shards: u32,
    /// Joins waiting for the next raise, in the order they asked.
    waiting: Vec<Waiter>,
    spare: Option<Spare>,
    /// Joins that asked since the last raise began: how many spare orders the next one takes.
    asked: u64,
    /// Whether a task is raising these counters now.
    raising: bool,
}

impl Slot {
    fn is(&self, counters: Counters, event: &EventId) -> bool {
        self.counters == counters && self.event == *event
    }

    /// The next spare order, if any is left.
    fn take_spare(&mut self) -> Option<u64> {
        let spare = self.spare.as_mut()?;
        let order = spare.order(spare.next);
        spare.next += 1;
        if spare.next >= spare.end {
            self.spare = None;
        }
        Some(order)
    }
}

/// The slot of `counters` of `event`, if this process keeps one.
fn slot_of<'s>(slots: &'s mut [Slot], counters: Counters, event: &EventId) -> Option<&'s mut Slot> {
    slots.iter_mut().find(|slot| slot.is(counters, event))
}

/// The order of the count `k + 1` (0-based `k`) of counter `shard` of `shards`.
fn order(k: u64, shards: u32, shard: u32) -> u64 {
    k * u64::from(shards) + u64::from(shard)
}

/// Orders taken from events' sharded counters, one counter write per round of the joins
/// waiting at once. Kept by the waiting room for all its events.
#[derive(Default)]
pub(super) struct Counting {
    /// The families with a raise under way, joins waiting or spare orders: a few (the events
    /// joined this moment), so a list looked through beats a map keyed by an event id each join
    /// would have to copy. A slot with nothing under way is removed.
    slots: Mutex<Vec<Slot>>,
}

impl Counting {
    /// The next order of one of `event`'s `shards` counters of `counters`: the `k`-th count of
    /// counter `s` is order `(k-1)·shards + s`. A raise chooses its counter at random.
    pub(super) async fn take(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        counters: Counters,
        event: &EventId,
        shards: u32,
    ) -> Result<u64> {
        let answer = {
            let mut slots = self.slots.lock();
            let i = match slots.iter().position(|slot| slot.is(counters, event)) {
                Some(i) => i,
                None => {
                    slots.push(Slot {
                        counters,
                        event: event.clone(),
                        shards,
                        waiting: Vec::new(),
                        spare: None,
                        asked: 0,
                        raising: false,
                    });
                    slots.len() - 1
                }
            };
            let slot = &mut slots[i];
            slot.asked += 1;
            if let Some(order) = slot.take_spare() {
                return Ok(order);
            }
            let (sender, answer) = oneshot::channel();
            slot.waiting.push(sender);
            if !slot.raising {
                slot.raising = true;
                let raising = Raising {
                    counting: self.clone(),
                    store: store.clone(),
                    counters,
                    event: event.clone(),
                    done: false,
                };
                tokio::spawn(raising.run());
            }
            answer
        };
        match answer.await {
            Ok(Ok(order)) => Ok(order),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Error::Unavailable(
                "the join counter could not be raised; retry".into(),
            )),
        }
    }
}

/// The task raising one family's counters while joins wait for them. Dropped before it is done
/// (a panic, or the runtime shutting down), it lets the joins waiting go (with an error) and the
/// next join start a new task.
struct Raising {
    counting: Arc<Counting>,
    store: Arc<dyn Store>,
    counters: Counters,
    event: EventId,
    done: bool,
}

/// One raise: its waiting joins, and how far to raise.
struct Round {
    waiting: Vec<Waiter>,
    shards: u32,
    spare: u64,
}

impl Raising {
    async fn run(mut self) {
        while let Some(round) = self.next_round() {
            let shard = if round.shards > 1 {
                rand::random::<u32>() % round.shards
            } else {
                0
            };
            let n = round.waiting.len() as u64 + round.spare;
            let raised = self
                .store
                .update(Update::new(self.counters.key(&self.event, shard)).add("count", n as i64))
                .await
                .map(|item| item.get("count").and_then(|v| v.as_u64()).unwrap_or(n));
            match raised {
                Ok(count) => {
                    // This raise's counts are the last `n`: first to its waiting joins, in the
                    // order they asked, then to whoever asked since, the rest kept spare.
                    let mut k = count.saturating_sub(n);
                    for waiter in round.waiting {
                        let _ = waiter.send(Ok(order(k, round.shards, shard)));
                        k += 1;
                    }
                    self.keep_spare(Spare {
                        shard,
                        shards: round.shards,
                        next: k,
                        end: count,
                    });
                }
                Err(e) => {
                    for waiter in round.waiting {
                        let _ = waiter.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// The joins waiting now and how many spare orders to take, or `None` (the task's end,
    /// decided under the lock joins look for a raise under) when nobody waits.
    fn next_round(&mut self) -> Option<Round> {
        let mut slots = self.counting.slots.lock();
        let Some(slot) = slot_of(&mut slots, self.counters, &self.event) else {
            self.done = true;
            return None;
        };
        if slot.waiting.is_empty() {
            slot.raising = false;
            self.done = true;
            forget_if_idle(&mut slots, self.counters, &self.event);
            return None;
        }
        let spare = match self.counters {
            Counters::Line if slot.asked > MIN_CROWD => (slot.asked - 1).min(MAX_SPARE),
            _ => 0,
        };
        slot.asked = 0;
        Some(Round {
            waiting: std::mem::take(&mut slot.waiting),
            shards: slot.shards,
            spare,
        })
    }

    /// Keeps a raise's spare orders, first handing them to the joins that asked during it.
    fn keep_spare(&mut self, spare: Spare) {
        let mut slots = self.counting.slots.lock();
        let Some(slot) = slot_of(&mut slots, self.counters, &self.event) else {
            return;
        };
        if spare.next >= spare.end {
            return;
        }
        debug_assert!(
            slot.spare.is_none(),
            "a raise starts only when none is spare"
        );
        slot.spare = Some(spare);
        for waiter in std::mem::take(&mut slot.waiting) {
            match slot.take_spare() {
                Some(order) => {
                    let _ = waiter.send(Ok(order));
                }
                None => slot.waiting.push(waiter),
            }
        }
        if slot.spare.is_some() {
            let giving = GivingBack {
                counting: self.counting.clone(),
                store: self.store.clone(),
                counters: self.counters,
                event: self.event.clone(),
            };
            tokio::spawn(giving.run(spare));
        }
    }
}

/// The task that gives back what is left of one raise's spare orders [`SPARE_LIFE_MS`] after
/// the raise.
struct GivingBack {
    counting: Arc<Counting>,
    store: Arc<dyn Store>,
    counters: Counters,
    event: EventId,
}

impl GivingBack {
    async fn run(self, made: Spare) {
        tokio::time::sleep(std::time::Duration::from_millis(SPARE_LIFE_MS)).await;
        if let Some(left) = self.take_left(made) {
            self.give_back(left).await;
        }
    }

    /// What is left of the spare orders `made`, taken out of the slot: none if they were all
    /// taken (a later raise's are its own). The crowd has passed: the next join is not one.
    fn take_left(&self, made: Spare) -> Option<Spare> {
        let mut slots = self.counting.slots.lock();
        let slot = slot_of(&mut slots, self.counters, &self.event)?;
        let left = slot
            .spare
            .filter(|spare| spare.shard == made.shard && spare.end == made.end);
        if left.is_some() {
            slot.spare = None;
            slot.asked = 0;
        }
        forget_if_idle(&mut slots, self.counters, &self.event);
        left
    }

    /// Lowers the counter by the orders nobody took, if nothing raised it since they were
    /// taken. Orders the cursor has already passed stay counted: they were admitted (places
    /// nobody holds, whose admissions come back when their window closes), and a counter lowered
    /// below the cursor would put the next join behind it, admitted by an advance long gone. So
    /// the lowering is one transaction with a check that the cursor is still at or below the
    /// first order given back, which an advance between the read of the cursor and the write
    /// fails. Anything not given back is a place nobody holds, which the presence sweep gives
    /// up. (Only the line's counters keep spare orders; the cursor is the line's.)
    async fn give_back(&self, spare: Spare) {
        let store = &*self.store;
        let cursor = match read_cursor(store, &self.event).await {
            Ok(cursor) => cursor,
            Err(e) => return self.left(spare, &format!("the cursor could not be read: {e}")),
        };
        let first = spare
            .next
            .max(counts_below(cursor, spare.shards, spare.shard));
        if first >= spare.end {
            return self.left(
                spare,
                "the cursor passed them (admitted as places nobody holds)",
            );
        }
        let behind_cursor = Write::Check {
            key: state_key(&self.event),
            condition: Condition::LessThan("cursor".into(), spare.order(first) as i64 + 1),
        };
        let lowered = Update::new(self.counters.key(&self.event, spare.shard))
            .set("count", first as i64)
            .when(Condition::equals("count", spare.end));
        match store
            .transact(vec![behind_cursor, Write::Update(lowered)])
            .await
        {
            Ok(()) => tracing::debug!(
                event_id = %self.event, given_back = spare.end - first, "spare orders given back"
            ),
            Err(StoreError::ConditionFailed { .. }) => self.left(
                spare,
                "the counter was raised or the cursor moved meanwhile",
            ),
            Err(e) => tracing::warn!(
                event_id = %self.event, left = spare.end - spare.next, error = %e,
                "spare orders could not be given back; the presence sweep gives them up"
            ),
        }
    }

    fn left(&self, spare: Spare, why: &str) {
        tracing::info!(
            event_id = %self.event, left = spare.end - spare.next, why,
            "spare orders left to the presence sweep"
        );
    }
}

/// Removes the slot of `counters` of `event` if nothing is under way in it (no raise, nobody
/// waiting, no spare orders), so that the slots are those of the events joined this moment, not
/// of every event ever joined: a join looks through them all.
fn forget_if_idle(slots: &mut Vec<Slot>, counters: Counters, event: &EventId) {
    if let Some(i) = slots.iter().position(|slot| {
        slot.is(counters, event) && !slot.raising && slot.waiting.is_empty() && slot.spare.is_none()
    }) {
        slots.swap_remove(i);
    }
}

/// How many counts of counter `shard` of `shards` have orders below `cursor`.
fn counts_below(cursor: u64, shards: u32, shard: u32) -> u64 {
    cursor
        .saturating_sub(u64::from(shard))
        .div_ceil(u64::from(shards))
}

impl Drop for Raising {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut slots = self.counting.slots.lock();
        if let Some(slot) = slot_of(&mut slots, self.counters, &self.event) {
            slot.raising = false;
            slot.waiting.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::to_item;
    use crate::ports::store::Item;
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn event() -> EventId {
        "evt_counting".parse().unwrap()
    }

    /// The memory store, holding the event's queue state with its cursor at `cursor`.
    fn store_at(cursor: u64) -> Arc<dyn Store> {
        let store = crate::in_process::MemoryStore::new();
        let state = to_item(
            &state_key(&event()),
            &serde_json::json!({ "cursor": cursor }),
        );
        futures::executor::block_on(store.write(Write::put(state))).unwrap();
        Arc::new(store)
    }

    fn store() -> Arc<dyn Store> {
        store_at(0)
    }

    /// Moves the cursor in the stored queue state, as an advance does.
    async fn move_cursor(store: &dyn Store, cursor: u64) {
        let moved = Update::new(state_key(&event())).set("cursor", cursor as i64);
        store.write(Write::Update(moved)).await.unwrap();
    }

    /// The orders `shards` line counters have counted.
    async fn counted(store: &dyn Store, shards: u32) -> BTreeSet<u64> {
        let mut counted = BTreeSet::new();
        for shard in 0..shards {
            let item = store.get(&counter_key(&event(), shard)).await.unwrap();
            let count = item.and_then(|i| i.get("count").and_then(|v| v.as_u64()));
            for k in 0..count.unwrap_or(0) {
                counted.insert(order(k, shards, shard));
            }
        }
        counted
    }

    /// One join of the line, spawned now (it asks when first run).
    fn join(
        store: &Arc<dyn Store>,
        counting: &Arc<Counting>,
        shards: u32,
    ) -> tokio::task::JoinHandle<u64> {
        let (store, counting) = (store.clone(), counting.clone());
        tokio::spawn(async move {
            counting
                .take(&store, Counters::Line, &event(), shards)
                .await
                .unwrap()
        })
    }

    /// `n` joins at once.
    fn crowd(
        n: usize,
        store: &Arc<dyn Store>,
        counting: &Arc<Counting>,
        shards: u32,
    ) -> Vec<tokio::task::JoinHandle<u64>> {
        (0..n).map(|_| join(store, counting, shards)).collect()
    }

    /// A crowd of `n` on `shards` counters of the slow store, all answered: the store, its
    /// counting and the orders given (`n` of them, none twice).
    async fn a_crowd(
        n: usize,
        shards: u32,
    ) -> (Arc<Slow>, Arc<dyn Store>, Arc<Counting>, BTreeSet<u64>) {
        let slow = Slow::new(0);
        let store: Arc<dyn Store> = slow.clone();
        let counting = Arc::new(Counting::default());
        let orders = distinct(crowd(n, &store, &counting, shards)).await;
        assert_eq!(orders.len(), n);
        (slow, store, counting, orders)
    }

    async fn distinct(joins: Vec<tokio::task::JoinHandle<u64>>) -> BTreeSet<u64> {
        let mut orders = BTreeSet::new();
        for join in joins {
            assert!(orders.insert(join.await.unwrap()), "an order given twice");
        }
        orders
    }

    /// A crowd of 200 on one counter, gone: the slow store, its counting, and the spare orders
    /// the crowd's last raise left.
    async fn after_a_crowd() -> (Arc<Slow>, Arc<dyn Store>, Arc<Counting>, Spare) {
        let (slow, store, counting, _) = a_crowd(200, 1).await;
        assert_task_ends(&counting).await;
        let spare = counting.slots.lock()[0].spare.expect("spare orders");
        (slow, store, counting, spare)
    }

    /// A crowd of 400 on one counter and on sixteen: every order is given once; while the crowd
    /// lasts the counters count what was given and at most [`MAX_SPARE`] spare orders, and once
    /// nobody has taken a spare order for [`SPARE_LIFE_MS`], exactly what was given.
    #[tokio::test(flavor = "current_thread")]
    async fn a_crowd_gets_an_order_each_and_the_spare_orders_are_given_back() {
        for shards in [1u32, 16] {
            let (_, store, counting, orders) = a_crowd(400, shards).await;
            assert_task_ends(&counting).await;
            let spare: BTreeSet<u64> = counting.slots.lock()[0]
                .spare
                .map(|s| (s.next..s.end).map(|k| order(k, shards, s.shard)).collect())
                .unwrap_or_default();
            assert!(
                (1..=MAX_SPARE as usize).contains(&spare.len()),
                "{shards} shards: a crowd's raise keeps spare orders: {}",
                spare.len()
            );
            assert!(orders.is_disjoint(&spare), "an order given and kept");
            let given_or_spare: BTreeSet<u64> = orders.union(&spare).copied().collect();
            assert_eq!(counted(&*store, shards).await, given_or_spare);

            tokio::time::sleep(std::time::Duration::from_millis(3 * SPARE_LIFE_MS)).await;
            assert_eq!(
                counted(&*store, shards).await,
                orders,
                "{shards} shards: after the lull the counters count the orders given"
            );
            assert!(counting.slots.lock().is_empty(), "nothing left under way");
        }
    }

    /// Spare orders the cursor has passed were admitted (as places nobody holds): the counter
    /// is lowered only to the cursor, so the next join stands at the cursor, not behind it.
    #[tokio::test(flavor = "current_thread")]
    async fn spare_orders_the_cursor_passed_stay_counted() {
        let (_, store, counting, spare) = after_a_crowd().await;
        move_cursor(&*store, spare.next + 3).await;
        tokio::time::sleep(std::time::Duration::from_millis(3 * SPARE_LIFE_MS)).await;
        assert_eq!(counted(&*store, 1).await.len() as u64, spare.next + 3);
        let next = counting.take(&store, Counters::Line, &event(), 1).await;
        assert_eq!(next.unwrap(), spare.next + 3, "at the cursor");

        // An advance past every spare order: none is given back.
        let (_, store, _counting, spare) = after_a_crowd().await;
        move_cursor(&*store, spare.end).await;
        tokio::time::sleep(std::time::Duration::from_millis(3 * SPARE_LIFE_MS)).await;
        assert_eq!(counted(&*store, 1).await.len() as u64, spare.end);
    }

    /// An advance between the give-back's read of the cursor and its write (here: a read that
    /// answers the state from before the advance) fails the write's check: the counter stays.
    #[tokio::test(flavor = "current_thread")]
    async fn spare_orders_are_kept_when_the_cursor_moves_while_they_are_given_back() {
        let (slow, store, counting, spare) = after_a_crowd().await;
        *slow.stale_state.lock() = store.get(&state_key(&event())).await.unwrap();
        move_cursor(&*store, spare.end - 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(3 * SPARE_LIFE_MS)).await;
        assert_eq!(
            counted(&*store, 1).await.len() as u64,
            spare.end,
            "not lowered below the cursor it did not see"
        );
        assert!(counting.slots.lock().is_empty(), "left to the sweep");
    }

    /// Spare orders live [`SPARE_LIFE_MS`] from their raise, however often they are taken: a
    /// trickle of joins takes them until then, and the next join after raises again.
    #[tokio::test(flavor = "current_thread")]
    async fn spare_orders_are_handed_out_only_while_young() {
        let (slow, store, counting, spare) = after_a_crowd().await;
        let raises = slow.raises.load(Ordering::SeqCst);
        let trickle = |after_ms: u64| {
            let (store, counting) = (store.clone(), counting.clone());
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(after_ms)).await;
                counting
                    .take(&store, Counters::Line, &event(), 1)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(trickle(50).await, spare.next);
        assert_eq!(trickle(50).await, spare.next + 1);
        assert_eq!(slow.raises.load(Ordering::SeqCst), raises, "spare orders");
        assert_eq!(trickle(SPARE_LIFE_MS + 50).await, spare.next + 2);
        assert_eq!(
            slow.raises.load(Ordering::SeqCst),
            raises + 1,
            "the rest given back, the next join raised the counter"
        );
    }

    /// The same on four threads, in real time: no order given twice, and every order counted was
    /// given once the spare ones are given back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn joins_on_many_threads_each_get_an_order_of_their_own() {
        for shards in [1u32, 16] {
            let (_, store, _counting, orders) = a_crowd(400, shards).await;
            let mut counted_now = counted(&*store, shards).await;
            for _ in 0..100 {
                if counted_now == orders {
                    break;
                }
                assert!(counted_now.is_superset(&orders));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                counted_now = counted(&*store, shards).await;
            }
            assert_eq!(counted_now, orders, "{shards} shards");
        }
    }

    /// Spare orders are not given back over a raise they did not make (another process's, or
    /// the line's opening): the counter stays where that raise left it.
    #[tokio::test(flavor = "current_thread")]
    async fn spare_orders_are_not_given_back_once_the_counter_moved_on() {
        let (_, store, counting, spare) = after_a_crowd().await;
        store
            .update(Update::new(counter_key(&event(), 0)).add("count", 5))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(3 * SPARE_LIFE_MS)).await;
        assert_eq!(
            counted(&*store, 1).await.len() as u64,
            spare.end + 5,
            "the counter is where the other raise left it"
        );
        assert!(counting.slots.lock().is_empty(), "left to the sweep");
        let next = counting.take(&store, Counters::Line, &event(), 1).await;
        assert_eq!(next.unwrap(), spare.end + 5);
    }

    /// The raising task ends once nobody waits: it answers the last join just before it looks
    /// again, so it is given a moment.
    async fn assert_task_ends(counting: &Counting) {
        for _ in 0..1_000 {
            if counting.slots.lock().iter().all(|slot| !slot.raising) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("the raising task never ended");
    }

    /// With one counter, one join at a time gets the orders in turn, and the line's and the
    /// lobby's counters are apart.
    #[tokio::test]
    async fn one_at_a_time_the_orders_follow_each_other() {
        let (store, counting) = (store(), Arc::new(Counting::default()));
        for expected in 0..5 {
            let order = counting.take(&store, Counters::Line, &event(), 1).await;
            assert_eq!(order.unwrap(), expected);
        }
        let lobby = counting.take(&store, Counters::Lobby, &event(), 1).await;
        assert_eq!(lobby.unwrap(), 0);
        assert_task_ends(&counting).await;
        assert!(
            counting.slots.lock().is_empty(),
            "nothing is kept for counters nobody is raising"
        );
    }

    /// The memory store behind counter raises that each take `delay_ms`, the first `failures`
    /// of them failing; counts the raises.
    struct Slow {
        inner: Arc<dyn Store>,
        delay_ms: u64,
        failures: AtomicU32,
        raises: AtomicU32,
        /// What a read of the queue state answers instead of the state, when set: the state as
        /// it was before an advance this reader has not seen.
        stale_state: parking_lot::Mutex<Option<Item>>,
    }

    impl Slow {
        fn new(failures: u32) -> Arc<Self> {
            Self::taking(20, failures)
        }

        fn taking(delay_ms: u64, failures: u32) -> Arc<Self> {
            Arc::new(Self {
                inner: store(),
                delay_ms,
                failures: AtomicU32::new(failures),
                raises: AtomicU32::new(0),
                stale_state: parking_lot::Mutex::new(None),
            })
        }
    }

    #[async_trait::async_trait]
    impl Store for Slow {
        async fn get(&self, key: &Key) -> std::result::Result<Option<Item>, StoreError> {
            if *key == state_key(&event()) {
                if let Some(stale) = self.stale_state.lock().clone() {
                    return Ok(Some(stale));
                }
            }
            self.inner.get(key).await
        }
        async fn query(
            &self,
            pk: &str,
            range: &crate::ports::store::SkRange,
        ) -> std::result::Result<Vec<Item>, StoreError> {
            self.inner.query(pk, range).await
        }
        async fn update(&self, update: Update) -> std::result::Result<Item, StoreError> {
            self.raises.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(self.delay_ms)).await;
            let left = self.failures.load(Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, Ordering::SeqCst);
                return Err(StoreError::Unavailable("throttled".into()));
            }
            self.inner.update(update).await
        }
        async fn transact(&self, writes: Vec<Write>) -> std::result::Result<(), StoreError> {
            self.inner.transact(writes).await
        }
        async fn ping(&self) -> std::result::Result<(), StoreError> {
            Ok(())
        }
    }

    /// A raise that fails fails the joins that waited for it, as unavailable (a 503 the client
    /// retries), and gives out nothing: the next joins start again from the counter's count.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_raise_fails_its_joins_and_gives_nothing_out() {
        let store: Arc<dyn Store> = Slow::new(1);
        let counting = Arc::new(Counting::default());
        let joins: Vec<_> = (0..8)
            .map(|_| {
                let (store, counting) = (store.clone(), counting.clone());
                tokio::spawn(
                    async move { counting.take(&store, Counters::Line, &event(), 1).await },
                )
            })
            .collect();
        let mut failed = 0;
        let mut orders = BTreeSet::new();
        for join in joins {
            match join.await.unwrap() {
                Ok(order) => assert!(orders.insert(order)),
                Err(Error::Unavailable(_)) => failed += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert!(failed >= 1, "the first round failed");
        assert_eq!(
            orders,
            (0..(8 - failed)).collect(),
            "the joins after the failure got the first orders: nothing was given out before"
        );
        let next = counting.take(&store, Counters::Line, &event(), 1).await;
        assert_eq!(next.unwrap(), 8 - failed);
        assert_task_ends(&counting).await;
    }

    /// Joins that arrive while a raise is under way wait for the next one together: a hundred
    /// joins, two raises; each round hands out its orders in the order its joins asked, and
    /// takes as many spare orders again (up to [`MAX_SPARE`]), which the next joins take at
    /// once, with no raise. A few joins at once take none.
    #[tokio::test(flavor = "current_thread")]
    async fn joins_arriving_during_a_raise_share_the_next_one_in_the_order_they_came() {
        // Raises slow enough that the joins below, a millisecond apart, all ask during one.
        let slow = Slow::taking(200, 0);
        let store: Arc<dyn Store> = slow.clone();
        let counting = Arc::new(Counting::default());
        let join = || join(&store, &counting, 1);
        let first = join();
        // On this one thread, each join spawned asks before the test goes on past its pause.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let mut second = Vec::new();
        for _ in 0..5 {
            second.push(join());
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let rest: Vec<_> = (0..94).map(|_| join()).collect();
        assert_eq!(first.await.unwrap(), 0);
        let mut orders = Vec::new();
        for join in second {
            orders.push(join.await.unwrap());
        }
        assert_eq!(orders, vec![1, 2, 3, 4, 5], "in the order they asked");
        let mut all: Vec<u64> = Vec::new();
        for join in rest {
            all.push(join.await.unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, (6..100).collect::<Vec<_>>());
        assert_eq!(
            slow.raises.load(Ordering::SeqCst),
            2,
            "one raise per round, not per join"
        );
        for expected in 100..100 + MAX_SPARE {
            assert_eq!(join().await.unwrap(), expected, "a spare order");
        }
        assert_eq!(slow.raises.load(Ordering::SeqCst), 2, "no raise for spares");
        assert_eq!(join().await.unwrap(), 100 + MAX_SPARE);
        assert_eq!(slow.raises.load(Ordering::SeqCst), 3);

        // After a lull, a few at once: one raise of exactly their number.
        tokio::time::sleep(std::time::Duration::from_millis(3 * SPARE_LIFE_MS)).await;
        let next = 101 + MAX_SPARE;
        assert_eq!(
            counted(&*store, 1).await.len() as u64,
            next,
            "spares given back"
        );
        let few: Vec<_> = (0..MIN_CROWD).map(|_| join()).collect();
        assert_eq!(
            distinct(few).await,
            (next..next + MIN_CROWD).collect(),
            "the next orders, none lost"
        );
        tokio::time::sleep(std::time::Duration::from_millis(3 * SPARE_LIFE_MS)).await;
        assert_eq!(counted(&*store, 1).await.len() as u64, next + MIN_CROWD);
    }
}
