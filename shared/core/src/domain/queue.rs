//! The virtual waiting room.
//!
//! # Order without a hot item
//! A join increments one of the event's `S` join counters (chosen at random, each its own
//! partition) and gets ticket
//! `(shard s, k-th in that shard)`, whose place in line is the *order* `o = (k-1)·S + s`. Orders
//! interleave the shards round-robin; with `S = 1` (the embedded default) they are exact arrival
//! order, with `S = 64` (AWS) each counter takes 1/64 of the joins and the order is arrival order
//! up to the statistical skew of random sharding. Orders that no ticket holds yet (a shard that has
//! fewer joins than another) are *holes*, skipped when counting people.
//!
//! # Admission
//! A *cursor* per event says every order below it was admitted. It moves lazily: any status or
//! enter call may advance it, at most every [`ADVANCE_EVERY_MS`], by the credit
//! `admission_rate_per_sec × elapsed`, and never past what can still be sold: people admitted and
//! not yet holding (open *admission batches*) plus the newcomers must not exceed the seats
//! available. The advance is one conditional write on the queue's state item (optimistic on its
//! `version`), a few times a second at most whatever the traffic.
//!
//! # Closing the holes the cursor passes
//! When the line is short (a quiet event, the tail of an on-sale) the cursor passes holes: with
//! joins on shards 5, 17 and 40 of 64 it moves past order 40, over 0..39. A join that then lands
//! on a lagging shard would get an order behind the cursor, admitted by no advance, counted by no
//! batch. So once an advance has written its cursor `C` it *closes* the holes below it: every
//! shard whose next order (from the counts it read) is below `C` has its counter raised so that its
//! next order is at least `C`, a `SET` conditional on the counter still being below that (joins
//! only `ADD`, so a failed condition means joins took it there). Every join after that gets an
//! order at or after `C`. Raising only after the cursor is written keeps the closed holes below a
//! written cursor, where nobody counts people; raising first would leave an advance that loses
//! the race on `version` with closed holes past the winner's cursor, counted as people. The cost
//! is at most one write per shard per advance, only for shards behind (none while the line is
//! long), each on its own partition. What remains is a join whose `ADD` lands between the
//! advance's read of the counts and the raise: its order is below `C` but, the previous advance
//! having closed the holes below its cursor, at or after that cursor, so inside the new batch's
//! `[start, end)`: it is ready and may enter, as one of that batch, though the batch did not
//! count it. Admission can so let in a few more people than seats, bounded by the joins that
//! race one advance over a few milliseconds; the hold itself still checks the inventory. Should
//! the raise fail after the cursor is written, the next advance, which first closes the holes
//! below the cursor it reads, repairs it.
//!
//! # Positions
//! A waiting ticket's position is 1 + the people between the cursor and it: real tickets minus
//! those who left. The cursor only grows and leaving only removes people ahead, so a position
//! never grows (with sharded counters, up to the holes a late join of another shard fills).
//!
//! # Views: one position however many instances answer
//! With `queue_view_ms = 0` (the embedded server) every status reads the queue's state item: exact,
//! and cheap in memory. A deployment with many instances cannot afford that, nor may it let a
//! client's polls, answered by instances that read the state at different moments, show a
//! position that goes up. With a window `W > 0`, each process keeps a [`View`] per queue (state,
//! join counts, inventory) read at most once per window, and every instance shows the line *as
//! it stood at the same instant*, `SETTLE_MS` before the current window began: the state item
//! keeps its last few cursor moves ([`CursorMove`]), so any read taken after that instant knows
//! the cursor at it. Between that cursor and the live one the counters include closed holes,
//! which are no one, so the people there are taken from the moves' own `admitted` counts (for a
//! ticket inside a move, at most the others that move admitted); the counts are read before the
//! state, so that every closed hole they show is below the live cursor the view reads. Positions then depend only on the clock, not on which instance answers, and
//! the instant only moves forward. Leavers are read fresh on every status (a leave must move the
//! people behind up at once), which only ever lowers a position. A status costs one ticket read
//! and one small query instead of five reads of the queue's hottest items; admission shows up to
//! `W + SETTLE_MS` late in the status (entering checks the live cursor).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::catalog::{Catalog, Event, Inventory};
use super::records::{from_item, get_record, sort_key, sortable, to_item, ttl_after};
use super::reservation_tokens::{ReservationTokens, RESERVATION_TOKEN_TTL_SECS};
use crate::error::{Error, Result};
use crate::ids::{EventId, UserId, WaitingToken};
use crate::ports::store::{Condition, Key, SkRange, StoreError, Update, Write};
use crate::ports::Ports;

/// Least time between two advances of one queue.
pub const ADVANCE_EVERY_MS: i64 = 200;
/// Most admission credit that accumulates while nobody asks (bounds the burst after a lull).
const MAX_CREDIT_MS: i64 = 5_000;
/// How long an admitted client has to call enter.
pub const READY_WINDOW_SECS: i64 = 30;
/// How long a waiting token lives at all.
const WAITING_TOKEN_TTL_SECS: i64 = 6 * 3600;
/// Most admission batches that can be open at once (a batch per advance, open for a minute).
const OPEN_BATCH_SCAN: usize = 1_000;
/// Admission batches read per query (most advances find the open ones in the first page).
const BATCH_PAGE: usize = 16;
/// Cursor moves the state item remembers, for views (a move every 200 ms or more: over a second).
const MOVES_KEPT: usize = 8;
/// How long before a view window begins its line is shown: a cursor write stamped before that
/// instant has landed by the time any instance reads for the window.
const SETTLE_MS: i64 = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueState {
    pub shards: u32,
    /// Every order below this was admitted (or is a hole, or left).
    pub cursor: u64,
    /// Admission credit is counted from here.
    pub last_advance_ms: i64,
    /// When the cursor last moved, for the measured rate.
    pub last_write_ms: i64,
    /// Admissions per second, exponentially smoothed.
    pub measured_rate: f64,
    /// People admitted since the queue was created (absent in states written before it was kept).
    #[serde(default)]
    pub admitted_total: u64,
    pub version: u64,
    /// The last [`MOVES_KEPT`] cursor moves, oldest first.
    #[serde(default)]
    pub moves: Vec<CursorMove>,
}

/// One advance of the cursor, remembered so that a view can tell the cursor at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorMove {
    pub at_ms: i64,
    pub from: u64,
    pub to: u64,
    /// People this move admitted (absent in moves written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted: Option<u64>,
}

impl QueueState {
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
struct View {
    state: QueueState,
    line: Line,
    inventory: Inventory,
    read_at_ms: i64,
}

impl View {
    /// The cursor a status shows at `now_ms`: the live one, or the one at the shared instant of
    /// the current window.
    fn shown_cursor(&self, view_ms: i64, now_ms: i64) -> u64 {
        if view_ms == 0 {
            return self.state.cursor;
        }
        self.state
            .cursor_at(window_start(now_ms, view_ms) - SETTLE_MS)
    }
}

/// The start of the view window of `view_ms` milliseconds that `now_ms` falls in.
fn window_start(now_ms: i64, view_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(view_ms)
}

/// The cached [`View`] of one queue, refreshed by one request at a time.
type ViewSlot = Arc<tokio::sync::Mutex<Option<Arc<View>>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    Waiting,
    Entered,
    Left,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaitingRecord {
    pub token: WaitingToken,
    pub event_id: EventId,
    pub order: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    pub state: TicketState,
    pub joined_at: DateTime<Utc>,
    /// TTL attribute (epoch seconds).
    pub expires_at: i64,
}

/// People admitted by one advance; `open` drops as they take a hold or leave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdmissionBatch {
    pub start: u64,
    pub end: u64,
    pub admitted: i64,
    pub open: i64,
    pub admitted_at_ms: i64,
    pub open_until_ms: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatusKind {
    Waiting,
    Ready,
    Expired,
}

/// What `GET /queue/status` answers.
#[derive(Debug, Clone, Serialize)]
pub struct QueueStatus {
    pub status: QueueStatusKind,
    pub position: u64,
    pub eta_sec: u64,
    pub waiting_time: i64,
    pub ready_for_entry: bool,
    pub event_id: EventId,
    pub sold_out: bool,
    pub entered: bool,
}

/// What the waiting room can tell an operator about one queue, cheaply and without changing it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueGauge {
    /// People in line past the cursor who have not left (not yet admitted).
    pub waiting: u64,
    /// Admissions per second as the queue measures them: smoothed over its cursor moves, so it
    /// is as recent as the last move (status and enter calls move it; an idle queue keeps its
    /// last measure).
    pub admission_rate: f64,
    /// People admitted since the queue was created.
    pub admitted: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Joined {
    pub waiting_token: WaitingToken,
    pub position_hint: u64,
    pub status: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Admission {
    pub admission: &'static str,
    pub reservation_token: String,
    pub ttl_sec: i64,
}

fn queue_pk(event: &EventId) -> String {
    ["QUEUE#", event.as_str()].concat()
}
fn state_key(event: &EventId) -> Key {
    Key::new(queue_pk(event), "STATE")
}
/// Each join counter is a partition of its own: DynamoDB's write limit is per partition, so
/// counters sharing a partition key would share one limit however many there are.
fn counter_key(event: &EventId, shard: u32) -> Key {
    // `QSEQ#<event>#<shard, at least four digits>`, without the formatting machinery.
    let digits = sortable(u64::from(shard));
    let width = digits.trim_start_matches('0').len().max(4);
    let shard = &digits[digits.len() - width..];
    Key::new(["QSEQ#", event.as_str(), "#", shard].concat(), "SEQ")
}
fn left_key(event: &EventId, order: u64) -> Key {
    Key::new(queue_pk(event), sort_key("LEFT#", order))
}
fn batch_key(event: &EventId, start: u64) -> Key {
    Key::new(queue_pk(event), sort_key("BATCH#", start))
}
fn ticket_key(token: &WaitingToken) -> Key {
    Key::new(["WTKN#", token.as_str()].concat(), "WTKN")
}

/// The write that closes one admission of `batch` when its holder takes a hold.
pub fn admission_used(event: &EventId, batch: u64) -> Write {
    Write::Update(
        Update::new(batch_key(event, batch))
            .add("open", -1)
            .when(Condition::AtLeast("open".into(), 1)),
    )
}

/// Items a new event's waiting room starts with.
pub fn initial_writes(event: &Event, now_ms: i64) -> Vec<Write> {
    let state = QueueState {
        shards: event.queue_shards,
        cursor: 0,
        last_advance_ms: now_ms,
        last_write_ms: now_ms,
        measured_rate: event.admission_rate_per_sec,
        admitted_total: 0,
        version: 0,
        moves: Vec::new(),
    };
    vec![Write::put_new(to_item(&state_key(&event.event_id), &state))]
}

/// Join counts per shard, and the arithmetic of orders over them.
#[derive(Debug, Clone)]
struct Line {
    counts: Vec<u64>,
}

impl Line {
    fn shards(&self) -> u64 {
        self.counts.len() as u64
    }

    /// The line, knowing that the ticket at `order` exists (so do those before it in its shard),
    /// however old the counts are.
    fn including(mut self, order: u64) -> Self {
        let s = self.shards();
        if let Some(count) = self.counts.get_mut((order % s) as usize) {
            *count = (*count).max(order / s + 1);
        }
        self
    }

    /// One past the greatest order any ticket holds.
    fn end(&self) -> u64 {
        let s = self.shards();
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(shard, &c)| (c - 1) * s + shard as u64 + 1)
            .max()
            .unwrap_or(0)
    }

    /// The shards whose next join would get an order below `cursor`, each with the count that
    /// puts its next order at or past it: `(shard, count)`.
    fn behind(&self, cursor: u64) -> Vec<(u32, u64)> {
        let s = self.shards();
        self.counts
            .iter()
            .enumerate()
            .filter(|(shard, &count)| count * s + (*shard as u64) < cursor)
            .map(|(shard, _)| (shard as u32, (cursor - shard as u64).div_ceil(s)))
            .collect()
    }

    /// Tickets (not holes) with order in `[a, b)`.
    fn tickets(&self, a: u64, b: u64) -> u64 {
        if b <= a {
            return 0;
        }
        let s = self.shards();
        self.counts
            .iter()
            .enumerate()
            .map(|(shard, &count)| {
                let shard = shard as u64;
                // Tickets j = 0..count of this shard sit at orders j·s + shard.
                let lo = if a > shard {
                    (a - shard).div_ceil(s)
                } else {
                    0
                };
                let hi = if b > shard {
                    (b - shard).div_ceil(s).min(count)
                } else {
                    0
                };
                hi.saturating_sub(lo)
            })
            .sum()
    }
}

/// Leavers' orders in `[a, b)`, from a sorted list.
fn leavers_between(leavers: &[u64], a: u64, b: u64) -> u64 {
    let lo = leavers.partition_point(|&o| o < a);
    let hi = leavers.partition_point(|&o| o < b);
    (hi - lo) as u64
}

/// The smallest cursor past `from` that admits `n` people, and how many it admits.
fn admit(line: &Line, leavers: &[u64], from: u64, n: u64) -> (u64, u64) {
    let end = line.end();
    let people = |to: u64| line.tickets(from, to) - leavers_between(leavers, from, to);
    let everyone = people(end);
    if everyone <= n {
        return (end, everyone);
    }
    let (mut lo, mut hi) = (from, end);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if people(mid) >= n {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (lo, people(lo))
}

#[derive(Clone)]
pub struct WaitingRoom {
    ports: Ports,
    catalog: Catalog,
    tokens: ReservationTokens,
    /// Milliseconds of one view window; 0: every status reads the queue (`Config::queue_view_ms`).
    view_ms: i64,
    views: Arc<Mutex<HashMap<EventId, ViewSlot>>>,
}

impl WaitingRoom {
    pub fn new(ports: Ports, catalog: Catalog, tokens: ReservationTokens, view_ms: i64) -> Self {
        Self {
            ports,
            catalog,
            tokens,
            view_ms,
            views: Arc::default(),
        }
    }

    /// Takes a place in line: one counter increment and one ticket write.
    pub async fn join(&self, event_id: &EventId, user: Option<UserId>) -> Result<Joined> {
        let event = self.catalog.get(event_id).await?;
        let shard = if event.queue_shards > 1 {
            rand::random::<u32>() % event.queue_shards
        } else {
            0
        };
        let counter = self
            .ports
            .store
            .update(Update::new(counter_key(event_id, shard)).add("count", 1))
            .await?;
        let k = counter.get("count").and_then(|v| v.as_u64()).unwrap_or(1);
        let order = (k - 1) * u64::from(event.queue_shards) + u64::from(shard);
        let now = self.ports.clock.now();
        let token = WaitingToken::generate();
        let record = WaitingRecord {
            token: token.clone(),
            event_id: event_id.clone(),
            order,
            user_id: user,
            state: TicketState::Waiting,
            joined_at: now,
            expires_at: ttl_after(now, WAITING_TOKEN_TTL_SECS),
        };
        self.ports
            .store
            .write(Write::put_new(to_item(&ticket_key(&token), &record)))
            .await?;
        let cursor = if self.windowed() {
            self.view(&event)
                .await?
                .shown_cursor(self.view_ms(), now.timestamp_millis())
        } else {
            self.cursor(event_id).await?
        };
        Ok(Joined {
            waiting_token: token,
            position_hint: order.saturating_sub(cursor) + 1,
            status: "waiting",
        })
    }

    pub async fn status(&self, token: &WaitingToken) -> Result<QueueStatus> {
        let ticket = self.ticket(token).await?;
        let event = self.catalog.get(&ticket.event_id).await?;
        let view = self.view(&event).await?;
        let now = self.ports.clock.now();
        let cursor = view.shown_cursor(self.view_ms(), now.timestamp_millis());
        let (state, inventory) = (&view.state, &view.inventory);
        let mut status = QueueStatus {
            status: QueueStatusKind::Waiting,
            position: 0,
            eta_sec: 0,
            waiting_time: (now - ticket.joined_at).num_seconds().max(0),
            ready_for_entry: false,
            event_id: ticket.event_id.clone(),
            sold_out: inventory.available == 0 && inventory.held == 0,
            entered: ticket.state == TicketState::Entered,
        };
        if ticket.state == TicketState::Left {
            status.status = QueueStatusKind::Expired;
        } else if ticket.order < cursor {
            let batch = self.batch_of(&event.event_id, ticket.order).await?;
            let expired = ticket.state == TicketState::Waiting
                && batch.is_none_or(|b| {
                    now.timestamp_millis() > b.admitted_at_ms + READY_WINDOW_SECS * 1000
                });
            status.status = if expired {
                QueueStatusKind::Expired
            } else {
                QueueStatusKind::Ready
            };
            status.ready_for_entry = ticket.state == TicketState::Waiting && !expired;
        } else {
            let line = view.line.clone().including(ticket.order);
            let leavers = self.leavers(&event.event_id, cursor, ticket.order).await?;
            let people =
                |a: u64| line.tickets(a, ticket.order) - leavers_between(&leavers, a, ticket.order);
            // Below the live cursor the counters hold closed holes, which are no one: the people
            // there are those its moves admitted.
            let ahead = match state.counted_before(cursor, ticket.order) {
                Some((counted, from, None)) => counted + people(from),
                Some((counted, from, Some(most))) => counted + people(from).min(most),
                None => people(cursor),
            };
            status.position = ahead + 1;
            let rate = state.measured_rate.max(0.01);
            status.eta_sec = ((status.position as f64) / rate).ceil().min(86_400.0) as u64;
        }
        Ok(status)
    }

    /// The queue's gauges, read without advancing it: the state and join counts (from this
    /// process's view of the current window when it has one, so a deployment that polls pays
    /// nothing more) and one query of leavers.
    pub async fn gauge(&self, id: &EventId) -> Result<QueueGauge> {
        let cached = if self.windowed() {
            let window = window_start(self.ports.clock.now_ms(), self.view_ms());
            let slot = self.views.lock().get(id).cloned();
            match slot {
                Some(slot) => slot
                    .lock()
                    .await
                    .as_ref()
                    .filter(|v| v.read_at_ms >= window)
                    .map(|v| (v.state.clone(), v.line.clone())),
                None => None,
            }
        } else {
            None
        };
        let (state, line) = match cached {
            Some(view) => view,
            None => {
                let state = self.state(id).await?;
                let line = self.line(id, state.shards).await?;
                (state, line)
            }
        };
        let end = line.end();
        let leavers = self.leavers(id, state.cursor, end).await?;
        Ok(QueueGauge {
            waiting: line
                .tickets(state.cursor, end)
                .saturating_sub(leavers_between(&leavers, state.cursor, end)),
            admission_rate: state.measured_rate,
            admitted: state.admitted_total,
        })
    }

    /// The events whose queues this process has shown in a window (with `TACOS_QUEUE_VIEW_MS`
    /// above 0): their gauges cost one query of leavers each, the rest comes from the view.
    pub fn viewed_events(&self) -> Vec<EventId> {
        self.views.lock().keys().cloned().collect()
    }

    /// Exchanges an admitted waiting token for a reservation token, once.
    pub async fn enter(&self, token: &WaitingToken, caller: Option<UserId>) -> Result<Admission> {
        let ticket = self.ticket(token).await?;
        match ticket.state {
            TicketState::Entered => return Err(Error::AlreadyEntered),
            TicketState::Left => return Err(Error::TokenNotFound),
            TicketState::Waiting => {}
        }
        let user = caller
            .or(ticket.user_id.clone())
            .ok_or(Error::MissingAuthorization)?;
        let event = self.catalog.get(&ticket.event_id).await?;
        let state = self.advance(&event).await?;
        if ticket.order >= state.cursor {
            return Err(Error::NotReady);
        }
        let now = self.ports.clock.now();
        let batch = self
            .batch_of(&event.event_id, ticket.order)
            .await?
            .ok_or(Error::TokenExpired)?;
        if now.timestamp_millis() > batch.admitted_at_ms + READY_WINDOW_SECS * 1000 {
            return Err(Error::TokenExpired);
        }
        let entered = Update::new(ticket_key(token))
            .set("state", "entered")
            .when(Condition::equals("state", "waiting"));
        match self.ports.store.write(Write::Update(entered)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Err(Error::AlreadyEntered),
            Err(e) => return Err(e.into()),
        }
        let reservation_token = self
            .tokens
            .issue(&event.event_id, &user, token, batch.start, now);
        Ok(Admission {
            admission: "granted",
            reservation_token,
            ttl_sec: RESERVATION_TOKEN_TTL_SECS,
        })
    }

    /// Gives up a place; the people behind move up.
    pub async fn leave(&self, token: &WaitingToken) -> Result<()> {
        let ticket = self.ticket(token).await?;
        if ticket.state != TicketState::Waiting {
            return Ok(());
        }
        let left = Update::new(ticket_key(token))
            .set("state", "left")
            .when(Condition::equals("state", "waiting"));
        match self.ports.store.write(Write::Update(left)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let state = self.state(&ticket.event_id).await?;
        if ticket.order >= state.cursor {
            let marker = to_item(
                &left_key(&ticket.event_id, ticket.order),
                &serde_json::json!({ "order": ticket.order }),
            );
            self.ports.store.write(Write::put(marker)).await?;
        } else if let Some(batch) = self.batch_of(&ticket.event_id, ticket.order).await? {
            // Admitted but never entered: free the place for the next person.
            match self
                .ports
                .store
                .write(admission_used(&ticket.event_id, batch.start))
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn view_ms(&self) -> i64 {
        self.view_ms
    }

    fn windowed(&self) -> bool {
        self.view_ms() > 0
    }

    /// The queue as a status shows it: advanced if due, and read fresh unless views are windowed
    /// and this process already read it in the current window.
    async fn view(&self, event: &Event) -> Result<Arc<View>> {
        if !self.windowed() {
            return self.read_view(event).await.map(Arc::new);
        }
        let slot = self
            .views
            .lock()
            .entry(event.event_id.clone())
            .or_default()
            .clone();
        let mut cached = slot.lock().await;
        let window = window_start(self.ports.clock.now_ms(), self.view_ms());
        if let Some(view) = cached.as_ref().filter(|v| v.read_at_ms >= window) {
            return Ok(view.clone());
        }
        let view = Arc::new(self.read_view(event).await?);
        *cached = Some(view.clone());
        Ok(view)
    }

    async fn read_view(&self, event: &Event) -> Result<View> {
        let read_at_ms = self.ports.clock.now_ms();
        // The counts before the state: holes are closed only after the cursor past them is
        // written, so every closed hole in these counts is below the cursor read next.
        let (line, inventory) = futures::try_join!(
            self.line(&event.event_id, event.queue_shards),
            self.catalog.inventory(&event.event_id),
        )?;
        let state = self.advance(event).await?;
        Ok(View {
            state,
            line,
            inventory,
            read_at_ms,
        })
    }

    /// Moves the cursor by the admission credit earned since the last move, within what can still
    /// be sold, and returns the queue's state.
    pub async fn advance(&self, event: &Event) -> Result<QueueState> {
        let id = &event.event_id;
        let state = self.state(id).await?;
        let now = self.ports.clock.now_ms();
        let elapsed = now - state.last_advance_ms;
        if elapsed < ADVANCE_EVERY_MS {
            return Ok(state);
        }
        let mut line = self.line(id, state.shards).await?;
        // Normally a no-op: the advance that wrote the cursor closed the holes below it, unless
        // it failed in between.
        self.close_holes(id, &mut line, state.cursor).await;
        let end = line.end();
        if state.cursor >= end {
            // Nobody waiting: restart the credit clock now and then, so a lull does not bank a
            // burst of admissions for the next arrivals.
            if elapsed > 1_000 {
                let idle = QueueState {
                    last_advance_ms: now,
                    version: state.version + 1,
                    ..state.clone()
                };
                let write = Write::Put {
                    item: to_item(&state_key(id), &idle),
                    condition: Some(Condition::equals("version", state.version)),
                };
                return match self.ports.store.write(write).await {
                    Ok(()) => Ok(idle),
                    Err(StoreError::ConditionFailed { .. }) => self.state(id).await,
                    Err(e) => Err(e.into()),
                };
            }
            return Ok(state);
        }
        let rate = event.admission_rate_per_sec;
        let credit_ms = elapsed.min(MAX_CREDIT_MS);
        let credit = (credit_ms as f64 * rate / 1000.0).floor() as i64;
        if credit < 1 {
            return Ok(state);
        }
        let inventory = self.catalog.inventory(id).await?;
        let room = (inventory.available - self.open_admissions(id, now).await?).max(0);
        let wanted = credit.min(room) as u64;
        let leavers = self.leavers(id, state.cursor, end).await?;
        let (cursor, admitted) = if wanted > 0 {
            admit(&line, &leavers, state.cursor, wanted)
        } else {
            (state.cursor, 0)
        };
        // Credit not used because nothing could be sold is dropped, not banked.
        let last_advance_ms = if (admitted as i64) < credit || wanted == 0 {
            now
        } else {
            (now - credit_ms + (admitted as f64 * 1000.0 / rate).ceil() as i64).min(now)
        };
        let since_write = ((now - state.last_write_ms).max(1) as f64 / 1000.0).min(10.0);
        let instantaneous = admitted as f64 / since_write;
        let mut moves = state.moves.clone();
        if cursor > state.cursor {
            moves.push(CursorMove {
                at_ms: now,
                from: state.cursor,
                to: cursor,
                admitted: Some(admitted),
            });
            let excess = moves.len().saturating_sub(MOVES_KEPT);
            moves.drain(..excess);
        }
        let next = QueueState {
            shards: state.shards,
            cursor,
            last_advance_ms,
            last_write_ms: now,
            measured_rate: 0.7 * state.measured_rate + 0.3 * instantaneous,
            admitted_total: state.admitted_total + admitted,
            version: state.version + 1,
            moves,
        };
        let mut writes = vec![Write::Put {
            item: to_item(&state_key(id), &next),
            condition: Some(Condition::equals("version", state.version)),
        }];
        if cursor > state.cursor {
            let now_dt = self.ports.clock.now();
            let batch = AdmissionBatch {
                start: state.cursor,
                end: cursor,
                admitted: admitted as i64,
                open: admitted as i64,
                admitted_at_ms: now,
                open_until_ms: now + (READY_WINDOW_SECS + RESERVATION_TOKEN_TTL_SECS) * 1000,
                expires_at: ttl_after(now_dt, 3600),
            };
            writes.push(Write::put(to_item(&batch_key(id, state.cursor), &batch)));
        }
        match self.ports.store.transact(writes).await {
            Ok(()) => {
                if admitted > 0 {
                    tracing::debug!(event_id = %id, admitted, cursor, "admitted");
                }
                self.close_holes(id, &mut line, cursor).await;
                Ok(next)
            }
            // Someone else advanced first; theirs stands.
            Err(StoreError::ConditionFailed { .. }) => self.state(id).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Raises the join counters of the shards whose next order is below `cursor` (as `line` read
    /// them) so that no later join gets an order behind it, and updates `line` to match. A counter
    /// only ever goes up: the write is conditional on it still being below its target, and a
    /// failed condition means joins already took it there. Failures are only logged: the cursor
    /// stands, and the next advance closes whatever is still open.
    async fn close_holes(&self, event: &EventId, line: &mut Line, cursor: u64) {
        let behind = line.behind(cursor);
        if behind.is_empty() {
            return;
        }
        let raises = behind.iter().map(|&(shard, target)| {
            let target = i64::try_from(target).unwrap_or(i64::MAX);
            let raise = Update::new(counter_key(event, shard))
                .set("count", target)
                .when(Condition::Or(vec![
                    Condition::NotExists,
                    Condition::LessThan("count".into(), target),
                ]));
            self.ports.store.write(Write::Update(raise))
        });
        for result in futures::future::join_all(raises).await {
            match result {
                Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => tracing::warn!(event_id = %event, error = %e, "closing queue holes"),
            }
        }
        for (shard, target) in behind {
            let count = &mut line.counts[shard as usize];
            *count = (*count).max(target);
        }
    }

    /// People admitted and not yet holding or gone, across the batches still open.
    ///
    /// Batches are read newest first, a page at a time, and reading stops at the first closed
    /// one: a query for all of them would return the hour of closed batches their TTL keeps,
    /// on every advance.
    async fn open_admissions(&self, event: &EventId, now_ms: i64) -> Result<i64> {
        let mut open = 0;
        let mut seen = 0;
        let mut below: Option<String> = None;
        loop {
            let mut range = SkRange::prefix("BATCH#").reverse().limit(BATCH_PAGE);
            if let Some(below) = below.take() {
                range = range.to(below);
            }
            let page = self.ports.store.query(&queue_pk(event), &range).await?;
            let full = page.len() == BATCH_PAGE;
            for item in page {
                let batch: AdmissionBatch = from_item(item)?;
                if batch.open_until_ms <= now_ms {
                    return Ok(open);
                }
                open += batch.open.max(0);
                below = Some(sort_key("BATCH#", batch.start));
                seen += 1;
            }
            if !full || seen >= OPEN_BATCH_SCAN {
                return Ok(open);
            }
        }
    }

    async fn batch_of(&self, event: &EventId, order: u64) -> Result<Option<AdmissionBatch>> {
        let range = SkRange::prefix("BATCH#")
            .to(sort_key("BATCH#", order + 1))
            .reverse()
            .limit(1);
        let found = self.ports.store.query(&queue_pk(event), &range).await?;
        found.into_iter().next().map(from_item).transpose()
    }

    async fn state(&self, event: &EventId) -> Result<QueueState> {
        get_record(&*self.ports.store, &state_key(event))
            .await?
            .ok_or(Error::EventNotFound)
    }

    /// The live cursor alone (a join's position hint), without decoding the rest of the state.
    async fn cursor(&self, event: &EventId) -> Result<u64> {
        #[derive(Deserialize)]
        struct Cursor {
            cursor: u64,
        }
        let state: Cursor = get_record(&*self.ports.store, &state_key(event))
            .await?
            .ok_or(Error::EventNotFound)?;
        Ok(state.cursor)
    }

    async fn ticket(&self, token: &WaitingToken) -> Result<WaitingRecord> {
        let ticket: WaitingRecord = get_record(&*self.ports.store, &ticket_key(token))
            .await?
            .ok_or(Error::TokenNotFound)?;
        if ticket.expires_at < self.ports.clock.now().timestamp() {
            return Err(Error::TokenNotFound);
        }
        Ok(ticket)
    }

    async fn line(&self, event: &EventId, shards: u32) -> Result<Line> {
        let keys: Vec<Key> = (0..shards).map(|shard| counter_key(event, shard)).collect();
        let reads = keys.iter().map(|key| async move {
            let mut count = 0;
            self.ports
                .store
                .read(key, &mut |item| {
                    count = item
                        .and_then(|i| i.get("count").and_then(|v| v.as_u64()))
                        .unwrap_or(0)
                })
                .await?;
            Ok::<u64, StoreError>(count)
        });
        let counts = futures::future::try_join_all(reads).await?;
        Ok(Line { counts })
    }

    /// Orders of the people who left, in `[from, to)`, sorted.
    async fn leavers(&self, event: &EventId, from: u64, to: u64) -> Result<Vec<u64>> {
        if to <= from {
            return Ok(Vec::new());
        }
        let range =
            SkRange::prefix("LEFT#").between(sort_key("LEFT#", from), sort_key("LEFT#", to));
        let items = self.ports.store.query(&queue_pk(event), &range).await?;
        Ok(items
            .iter()
            .filter_map(|i| i.get("order").and_then(|v| v.as_u64()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_counts_every_order() {
        let line = Line { counts: vec![5] };
        assert_eq!(line.end(), 5);
        assert_eq!(line.tickets(0, 5), 5);
        assert_eq!(line.tickets(2, 4), 2);
        assert_eq!(line.tickets(4, 2), 0);
    }

    #[test]
    fn shards_interleave_and_skip_holes() {
        // Shard 0 has 3 tickets (orders 0, 4, 8), shard 1 has 1 (order 1), shards 2 and 3 none.
        let line = Line {
            counts: vec![3, 1, 0, 0],
        };
        assert_eq!(line.end(), 9);
        assert_eq!(line.tickets(0, 9), 4);
        assert_eq!(line.tickets(1, 8), 2); // orders 1 and 4
        assert_eq!(line.tickets(2, 4), 0); // holes only
    }

    #[test]
    fn admission_skips_leavers_and_holes() {
        let line = Line {
            counts: vec![3, 1, 0, 0],
        };
        // Order 4 left: admitting 2 people from 0 takes orders 0 and 1.
        assert_eq!(admit(&line, &[4], 0, 2), (2, 2));
        // The third person is order 8, past the leaver and the holes.
        assert_eq!(admit(&line, &[4], 2, 1), (9, 1));
        // Asking for more than are waiting admits everyone.
        assert_eq!(admit(&line, &[], 0, 100), (9, 4));
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

    #[test]
    fn a_ticket_proves_its_shard_reached_it_however_old_the_counts() {
        // Counts read before the ticket at order 6 (shard 0 of 2, its 4th) existed.
        let line = Line { counts: vec![1, 1] }.including(6);
        assert_eq!(line.counts, vec![4, 1]);
        assert_eq!(line.tickets(0, 6), 4, "orders 0, 1, 2 and 4");
        // Fresher counts are kept.
        assert_eq!(Line { counts: vec![9] }.including(3).counts, vec![9]);
    }

    #[test]
    fn the_shards_behind_the_cursor_are_raised_to_reach_it() {
        // Orders: shard 0 next at 4, shard 1 at 1, shard 2 at 6, shard 3 at 3.
        let line = Line {
            counts: vec![1, 0, 1, 0],
        };
        assert_eq!(line.behind(0), vec![]);
        assert_eq!(line.behind(3), vec![(1, 1)]);
        // Cursor 9: shard 0 to 3 (next 12), 1 to 2 (next 9), 2 to 2 (next 10), 3 to 2 (next 11).
        assert_eq!(line.behind(9), vec![(0, 3), (1, 2), (2, 2), (3, 2)]);
        let raised = Line {
            counts: vec![3, 2, 2, 2],
        };
        assert!(raised.behind(9).is_empty());
        assert_eq!(raised.tickets(9, 20), 0, "nobody past the cursor yet");
    }

    #[test]
    fn leavers_are_counted_in_range() {
        assert_eq!(leavers_between(&[1, 3, 5, 7], 2, 7), 2);
        assert_eq!(leavers_between(&[], 0, 10), 0);
    }
}
