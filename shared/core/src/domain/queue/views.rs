//! Views: one position however many instances answer.
//!
//! With `queue_view_ms = 0` (the platform tests) every status reads the queue's state item: exact
//! to the moment, cheap in memory. A deployment with many instances cannot afford that, nor can the
//! embedded server on its durable store at full speed (three of a status's five store reads; it
//! runs 100 ms windows, `config::DEFAULT_QUEUE_VIEW_MS`), nor may a deployment let a client's
//! polls, answered by instances that read the state at different moments, show a position that
//! goes up. With a window `W > 0`, each process keeps a [`View`] per queue (state, join
//! counts, inventory) read at most once per window, and every instance shows the line *as it stood
//! at the same instant*, `SETTLE_MS` before the current window began: the state item keeps its last
//! few cursor moves ([`CursorMove`](super::admission::CursorMove)), so any read taken after that
//! instant knows the cursor at it. Between that cursor and the live one the counters include closed
//! holes, which are no one, so the people there are taken from the moves' own `admitted` counts
//! (for a ticket inside a move, at most the others that move admitted); the counts are read before
//! the state, so that every closed hole they show is below the live cursor the view reads.
//! Positions then depend only on the clock, not on which instance answers, and the instant only
//! moves forward. Leavers come with the view too, read by the same refresh, and a status counts
//! those whose markers were stamped before that same instant ([`super::positions`]): a leave moves
//! the people behind up within a window, on every instance alike, and only ever lowers a
//! position. A status costs one read, of its own ticket, instead of five reads of the queue's
//! hottest items and a query of its partition; admission and leaves show up to `W + SETTLE_MS`
//! late in the status (entering checks the live cursor).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::admission::{
    batch_of, read_open_batches, AdmissionBatch, BatchOf, OpenBatches, QueueState,
};
use super::order::Line;
use super::outlook::Returning;
use super::positions::{leavers_between, people, Leaver, Leavers};
use crate::domain::catalog::Inventory;
use crate::error::Result;
use crate::ids::EventId;
use crate::ports::store::Store;
use crate::ports::Clock;

/// How long before a view window begins its line is shown: a cursor write stamped before that
/// instant has landed by the time any instance reads for the window.
const SETTLE_MS: i64 = 100;

impl QueueState {
    /// The cursor a status shows at `now_ms`: the live one without a window, or the one at the
    /// shared instant of the current window (this state read after that instant).
    pub(super) fn shown_cursor(&self, view_ms: i64, now_ms: i64) -> u64 {
        if view_ms == 0 {
            return self.cursor;
        }
        self.cursor_at(shown_instant(view_ms, now_ms))
    }

    /// The cursor as it stood at `at_ms` (the oldest remembered one if every move is later).
    pub fn cursor_at(&self, at_ms: i64) -> u64 {
        match self.moves.iter().rev().find(|m| m.at_ms <= at_ms) {
            Some(m) => m.to,
            None => self.moves.first().map_or(self.cursor, |m| m.from),
        }
    }

    /// The people ahead of `order` from the shown `cursor` as the moves since counted them:
    /// those the moves wholly below `order` admitted, where the line's own tickets take over, and,
    /// when `order` is inside a move, the most that move admitted before it. `None` if a move
    /// needed does not say.
    fn counted_before(&self, cursor: u64, order: u64) -> Option<(u64, u64, Option<u64>)> {
        let (mut people, mut from) = (0, cursor);
        for m in self.moves.iter().filter(|m| m.from >= cursor) {
            if m.to <= order {
                people += m.admitted?;
                from = m.to;
            } else if m.from <= order {
                return Some((people, m.from, Some(m.admitted?.saturating_sub(1))));
            }
        }
        Some((people, from, None))
    }
}

/// What a process knows of a queue's shared items, read at `read_at_ms`.
#[derive(Debug, Clone)]
pub(super) struct View {
    pub(super) state: QueueState,
    pub(super) line: Line,
    pub(super) inventory: Inventory,
    /// People admitted who have not held or given up yet (for the outlook of a status).
    pub(super) open: i64,
    /// What they will give back, and when (for the outlook).
    pub(super) returning: Returning,
    /// Those who left with orders from the cursor this view shows on: the line's markers and
    /// the lobby's drawn leavers.
    pub(super) leavers: ViewLeavers,
    pub(super) read_at_ms: i64,
}

/// Those who left, as a view keeps them for its statuses: every order, sorted, and apart the
/// few whose markers may be too recent for the instant a status shows. A status counts the
/// leavers ahead of it by two binary searches and a look at those few, where it used to copy
/// out every leaver ahead of it: when a sweep gave up a crowd of 300,000 that the cursor had not
/// passed yet (admission waiting for places to come back), that copy was 41 ms a status
/// (BENCHMARKS.md §14).
#[derive(Debug, Clone)]
pub(super) struct ViewLeavers {
    orders: Vec<u64>,
    /// Sorted by order, marked after the earliest instant a status of this view may show.
    recent: Vec<Leaver>,
}

impl ViewLeavers {
    /// `leavers` (sorted by order) read at `read_at_ms` for a view of `view_ms` windows.
    pub(super) fn new(leavers: Vec<Leaver>, view_ms: i64, read_at_ms: i64) -> Self {
        let settled = shown_instant(view_ms, read_at_ms);
        let recent = leavers
            .iter()
            .filter(|l| l.at_ms > settled)
            .copied()
            .collect();
        Self {
            orders: leavers.into_iter().map(|l| l.order).collect(),
            recent,
        }
    }
}

/// The leavers a status counts ([`View::leavers_shown`]): those of its range, less the recent
/// ones marked after its instant.
#[derive(Debug)]
pub(super) struct ShownLeavers<'v> {
    orders: &'v [u64],
    hidden: Vec<u64>,
}

impl Leavers for ShownLeavers<'_> {
    fn between(&self, a: u64, b: u64) -> u64 {
        leavers_between(self.orders, a, b) - leavers_between(&self.hidden, a, b)
    }
}

impl View {
    /// The cursor a status shows at `now_ms`: the live one, or the one at the shared instant of
    /// the current window.
    pub(super) fn shown_cursor(&self, view_ms: i64, now_ms: i64) -> u64 {
        self.state.shown_cursor(view_ms, now_ms)
    }

    /// Those who left in `[from, to)` that a status at `now_ms` counts: those marked before the
    /// instant every instance shows in the current window (all, without a window), so instances
    /// that read the markers at different moments agree.
    pub(super) fn leavers_shown(
        &self,
        view_ms: i64,
        now_ms: i64,
        from: u64,
        to: u64,
    ) -> ShownLeavers<'_> {
        let instant = shown_instant(view_ms, now_ms);
        let orders = &self.leavers.orders;
        let lo = orders.partition_point(|&o| o < from);
        let hi = orders.partition_point(|&o| o < to);
        let hidden = self
            .leavers
            .recent
            .iter()
            .filter(|l| from <= l.order && l.order < to && l.at_ms > instant)
            .map(|l| l.order)
            .collect();
        ShownLeavers {
            orders: &orders[lo..hi],
            hidden,
        }
    }

    /// Whether the place at `order` was given up (a marker there, however recent).
    pub(super) fn has_left(&self, order: u64) -> bool {
        self.leavers.orders.binary_search(&order).is_ok()
    }

    /// The people ahead of the waiting ticket at `order` in the line shown from `cursor`, given
    /// the sorted orders of those who left in `[cursor, order)`.
    pub(super) fn people_ahead(&self, cursor: u64, order: u64, leavers: &ShownLeavers) -> u64 {
        let line = self.line.clone().including(order);
        let people = |a: u64| people(&line, leavers, a, order);
        // Below the live cursor the counters hold closed holes, which are no one: the people
        // there are those its moves admitted.
        match self.state.counted_before(cursor, order) {
            Some((counted, from, None)) => counted + people(from),
            Some((counted, from, Some(most))) => counted + people(from).min(most),
            None => people(cursor),
        }
    }
}

/// The instant every instance shows at `now_ms`: [`SETTLE_MS`] before the current window began
/// (without a window, now: every move and marker so far).
fn shown_instant(view_ms: i64, now_ms: i64) -> i64 {
    if view_ms == 0 {
        i64::MAX
    } else {
        window_start(now_ms, view_ms) - SETTLE_MS
    }
}

/// The start of the view window of `view_ms` milliseconds that `now_ms` falls in.
fn window_start(now_ms: i64, view_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(view_ms)
}

/// What one process keeps of each queue for a window: the last thing read and when, refreshed
/// by one request at a time.
///
/// A request that finds this window's copy takes two read locks and an `Arc` clone, no await
/// and no allocation: all of a queue's statuses go through its one slot, and an async mutex
/// held by each of them (a semaphore's acquire and release, and a waker when two meet), with
/// the event's id cloned to find the slot, was paid by every status. Only a request that finds
/// the copy stale queues on the slot's `refresh`, so one read serves all who wait.
struct Kept<T> {
    slots: RwLock<HashMap<EventId, Arc<Slot<T>>>>,
}

struct Slot<T> {
    /// The copy and when it was read (milliseconds).
    latest: RwLock<Option<(i64, Arc<T>)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Self {
            slots: RwLock::default(),
        }
    }
}

impl<T> Slot<T> {
    fn fresh(&self, window: i64) -> Option<Arc<T>> {
        match &*self.latest.read() {
            Some((at, kept)) if *at >= window => Some(kept.clone()),
            _ => None,
        }
    }
}

impl<T> Kept<T> {
    /// `event`'s copy, if it was read in the window starting at `window`.
    fn fresh(&self, event: &EventId, window: i64) -> Option<Arc<T>> {
        self.slots.read().get(event)?.fresh(window)
    }

    /// `event`'s copy read in the window that `window` gives for the time now, or else the one
    /// `read` returns with the time it was read at, kept. `read` is called only when a read is
    /// due and its future boxed, so the future of every request that finds a copy does not carry
    /// (and move about) the whole of a read.
    async fn get_or_read<F>(
        &self,
        event: &EventId,
        window: impl Fn() -> i64,
        read: impl FnOnce() -> F,
    ) -> Result<Arc<T>>
    where
        F: Future<Output = Result<(i64, T)>>,
    {
        // The read guard goes before the write lock is taken (a guard in the `match` would live
        // through both arms).
        let found = self.slots.read().get(event).cloned();
        let slot = match found {
            Some(slot) => slot,
            None => self
                .slots
                .write()
                .entry(event.clone())
                .or_insert_with(|| {
                    Arc::new(Slot {
                        latest: RwLock::new(None),
                        refresh: tokio::sync::Mutex::new(()),
                    })
                })
                .clone(),
        };
        if let Some(kept) = slot.fresh(window()) {
            return Ok(kept);
        }
        let _refreshing = slot.refresh.lock().await;
        // Another request may have read while this one waited (and the window moved).
        if let Some(kept) = slot.fresh(window()) {
            return Ok(kept);
        }
        let (at, read) = Box::pin(read()).await?;
        let read = Arc::new(read);
        *slot.latest.write() = Some((at, read.clone()));
        Ok(read)
    }

    fn events(&self) -> Vec<EventId> {
        self.slots.read().keys().cloned().collect()
    }
}

/// This process's [`View`]s, one per queue it has shown in a window.
#[derive(Clone)]
pub(super) struct Views {
    /// Milliseconds of one view window; 0: every status reads the queue (`Config::queue_view_ms`).
    window_ms: i64,
    clock: Arc<dyn Clock>,
    views: Arc<Kept<View>>,
    /// States read for [`Views::shown_cursor`] where this process has no view.
    states: Arc<Kept<QueueState>>,
}

impl Views {
    pub(super) fn new(window_ms: i64, clock: Arc<dyn Clock>) -> Self {
        Self {
            window_ms,
            clock,
            views: Arc::default(),
            states: Arc::default(),
        }
    }

    pub(super) fn window_ms(&self) -> i64 {
        self.window_ms
    }

    pub(super) fn windowed(&self) -> bool {
        self.window_ms > 0
    }

    /// The start of the window the time now falls in.
    fn window(&self) -> i64 {
        window_start(self.clock.now_ms(), self.window_ms)
    }

    /// The view of `event` this process read in the current window, or else the one `read`
    /// returns, kept for the rest of the window. Requests for one queue wait for a single read
    /// rather than each reading. Without a window, every call reads.
    pub(super) async fn get_or_read<F>(
        &self,
        event: &EventId,
        read: impl FnOnce() -> F,
    ) -> Result<Arc<View>>
    where
        F: Future<Output = Result<View>>,
    {
        if !self.windowed() {
            return Box::pin(read()).await.map(Arc::new);
        }
        let read = || async { read().await.map(|view| (view.read_at_ms, view)) };
        self.views.get_or_read(event, || self.window(), read).await
    }

    /// The view of `event` this process read in the current window, if it has one; never reads.
    pub(super) fn current(&self, event: &EventId) -> Option<Arc<View>> {
        if !self.windowed() {
            return None;
        }
        self.views.fresh(event, self.window())
    }

    /// The cursor shown now, for an answer that needs nothing else of the queue (a join's
    /// position hint): from this window's view when the process has one, else from the state
    /// `read` returns, read at most once per window and process. Never a view's other reads, nor
    /// the admission a view's refresh may move: on AWS the join function, which shows no statuses,
    /// would otherwise refresh a whole view (counters, inventory, state, and perhaps a cursor
    /// move) in every instance every window, for one number. Only with a window.
    pub(super) async fn shown_cursor<F>(
        &self,
        event: &EventId,
        read: impl FnOnce() -> F,
    ) -> Result<u64>
    where
        F: Future<Output = Result<QueueState>>,
    {
        if let Some(view) = self.current(event) {
            return Ok(view.shown_cursor(self.window_ms, self.clock.now_ms()));
        }
        let read = || async {
            let read_at_ms = self.clock.now_ms();
            read().await.map(|state| (read_at_ms, state))
        };
        let state = self
            .states
            .get_or_read(event, || self.window(), read)
            .await?;
        Ok(state.shown_cursor(self.window_ms, self.clock.now_ms()))
    }

    /// The events whose queues this process has shown in a window.
    pub(super) fn events(&self) -> Vec<EventId> {
        self.views.events()
    }
}

/// How long a read of the open admission batches is used before reading them again.
const OPEN_FRESH_MS: i64 = 1_000;

/// The open admission batches of each event (people admitted who have not held or given up
/// yet), as this process last read them. A status's outlook ([`super::outlook`]) goes by their
/// count, and with views a ready status by the batch that admitted it, from a read up to
/// [`OPEN_FRESH_MS`] old: the query behind them runs at most once a second per event and
/// process, and once more when a status meets an admission newer than the read.
#[derive(Clone, Default)]
pub(super) struct OpenAdmissions(Arc<Mutex<HashMap<EventId, OpenRead>>>);

/// One read of an event's open batches, and when it was made.
struct OpenRead {
    at_ms: i64,
    batches: Arc<OpenBatches>,
}

impl OpenAdmissions {
    pub(super) async fn get(
        &self,
        store: &dyn Store,
        event: &EventId,
        now_ms: i64,
    ) -> Result<Arc<OpenBatches>> {
        if let Some(read) = self.0.lock().get(event) {
            if now_ms - read.at_ms < OPEN_FRESH_MS {
                return Ok(read.batches.clone());
            }
        }
        self.read(store, event, now_ms).await
    }

    /// The batch that admitted `order` (below the cursor), read again if the last read is older
    /// than its admission.
    pub(super) async fn batch_of(
        &self,
        store: &dyn Store,
        event: &EventId,
        order: u64,
        now_ms: i64,
    ) -> Result<Option<AdmissionBatch>> {
        let known = self.get(store, event, now_ms).await?;
        let known = match known.batch_of(order) {
            BatchOf::Unknown => self.read(store, event, now_ms).await?,
            _ => known,
        };
        match known.batch_of(order) {
            BatchOf::Open(batch) => Ok(Some(batch.clone())),
            BatchOf::Closed => Ok(None),
            // Its batch not written yet where this read looked: ask for it alone.
            BatchOf::Unknown => batch_of(store, event, order).await,
        }
    }

    async fn read(
        &self,
        store: &dyn Store,
        event: &EventId,
        now_ms: i64,
    ) -> Result<Arc<OpenBatches>> {
        let open = Arc::new(read_open_batches(store, event, now_ms).await?);
        let read = OpenRead {
            at_ms: now_ms,
            batches: open.clone(),
        };
        self.0.lock().insert(event.clone(), read);
        Ok(open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::queue::admission::CursorMove;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Many requests for an event nobody has asked for yet, at once: one read serves them all,
    /// and the next window reads again (the first request of an event finds no slot: making
    /// it must not wait on the lock that found none).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_window_is_read_once_however_many_ask_at_once() {
        let kept = Arc::new(Kept::<u32>::default());
        let reads = Arc::new(AtomicU32::new(0));
        let event: EventId = "evt_kept".parse().unwrap();
        let ask = |window: i64| {
            let (kept, reads, event) = (kept.clone(), reads.clone(), event.clone());
            tokio::spawn(async move {
                let read = || async {
                    let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    Ok((window, n))
                };
                *kept.get_or_read(&event, || window, read).await.unwrap()
            })
        };
        let first: Vec<_> = (0..32).map(|_| ask(1_000)).collect();
        for answer in first {
            assert_eq!(answer.await.unwrap(), 1, "every request got the one read");
        }
        assert_eq!(kept.fresh(&event, 1_000), Some(Arc::new(1)));
        assert_eq!(
            kept.fresh(&event, 1_250),
            None,
            "older than the next window"
        );
        assert_eq!(ask(1_250).await.unwrap(), 2);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        assert_eq!(kept.events(), vec![event]);
    }

    #[test]
    fn the_cursor_at_an_instant_comes_from_the_moves_before_it() {
        let moves = vec![
            CursorMove {
                at_ms: 1_000,
                from: 0,
                to: 3,
                admitted: Some(3),
            },
            CursorMove {
                at_ms: 1_300,
                from: 3,
                to: 5,
                admitted: Some(1),
            },
        ];
        let state = QueueState {
            shards: 1,
            cursor: 5,
            last_advance_ms: 1_300,
            last_write_ms: 1_300,
            measured_rate: 1.0,
            admitted_total: 5,
            version: 2,
            moves,
            draw: None,
        };
        assert_eq!(
            state.cursor_at(999),
            0,
            "before every move: the first move's start"
        );
        assert_eq!(state.cursor_at(1_000), 3);
        assert_eq!(state.cursor_at(1_299), 3);
        assert_eq!(state.cursor_at(5_000), 5);
        assert_eq!(
            state.counted_before(0, 9),
            Some((4, 5, None)),
            "past both moves: their people, then the line from the live cursor"
        );
        assert_eq!(
            state.counted_before(3, 9),
            Some((1, 5, None)),
            "the moves from 3 on"
        );
        assert_eq!(
            state.counted_before(0, 2),
            Some((0, 0, Some(2))),
            "inside the first move: at most the two others it admitted"
        );
        assert_eq!(state.counted_before(0, 3), Some((3, 3, Some(0))));
        assert_eq!(
            state.counted_before(5, 9),
            Some((0, 5, None)),
            "no move since"
        );
        let mut untold = state.clone();
        untold.moves[1].admitted = None;
        assert_eq!(untold.counted_before(0, 9), None);
        let unmoved = QueueState {
            moves: Vec::new(),
            ..state
        };
        assert_eq!(
            unmoved.cursor_at(0),
            5,
            "no moves remembered: the cursor itself"
        );
    }
}
