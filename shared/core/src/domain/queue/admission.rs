//! Admission.
//!
//! A *cursor* per event says every order below it was admitted. It moves lazily: any status or
//! enter call may advance it, at most every `Config::queue_advance_ms` (100 ms on the README's
//! server, [`ADVANCE_EVERY_MS`] on AWS and in the platform tests), by the credit
//! `admission_rate_per_sec × elapsed`, and never past what can still be sold: people admitted and
//! not yet holding (open *admission batches*) plus the newcomers must not exceed the seats
//! available. The advance is one conditional write on the queue's state item (optimistic on its
//! `version`), a few times a second at most whatever the traffic.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::draw::Draw;
use super::keys::{batch_key, queue_pk, state_key};
use super::order::Line;
use super::outlook::{Admitted, Returning, CYCLE};
use super::positions::people;
use crate::domain::catalog::Event;
use crate::domain::records::{from_item, get_record, sort_key, to_item, ttl_after};
use crate::domain::reservation_tokens::RESERVATION_TOKEN_TTL_SECS;
use crate::error::{Error, Result};
use crate::ids::EventId;
use crate::ports::store::{Condition, SkRange, Store, Update, Write};

/// Least time between two advances of one queue on AWS (`TACOS_QUEUE_ADVANCE_MS` in the
/// template): the queue's state item takes at most five conditional writes a second per event,
/// and five admission batches are written a second.
pub const ADVANCE_EVERY_MS: i64 = 200;
/// Most admission credit that accumulates while nobody asks (bounds the burst after a lull).
const MAX_CREDIT_MS: i64 = 5_000;
/// How long an admitted client has to call enter.
pub const READY_WINDOW_SECS: i64 = 30;
/// Most admission batches that can be open at once (a batch per advance, open for a minute).
const OPEN_BATCH_SCAN: usize = 1_000;
/// Admission batches read per query (most advances find the open ones in the first page).
const BATCH_PAGE: usize = 16;
/// Fewest admissions whose window to enter is over that [`OpenBatches::returning`] measures
/// what the recent ones did by.
const FEWEST_TO_MEASURE: i64 = 20;
/// Cursor moves the state item remembers, for views (a move every 100–200 ms or more: about a
/// second).
const MOVES_KEPT: usize = 8;

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
    /// The lobby's draw, from the sale's opening on ([`super::lobby`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<Draw>,
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

/// People admitted by one advance; `open` drops as they take a hold or leave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionBatch {
    pub start: u64,
    pub end: u64,
    pub admitted: i64,
    pub open: i64,
    pub admitted_at_ms: i64,
    pub open_until_ms: i64,
    pub expires_at: i64,
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
        draw: None,
    };
    vec![Write::put_new(to_item(&state_key(&event.event_id), &state))]
}

/// The smallest cursor past `from` that admits `n` people, and how many it admits.
pub(super) fn admit(line: &Line, leavers: &[u64], from: u64, n: u64) -> (u64, u64) {
    let end = line.end();
    let people = |to: u64| people(line, leavers, from, to);
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

/// The admissions an advance may make: the admission rate over the time since the last advance,
/// at most [`MAX_CREDIT_MS`] of it, or the time one person takes to earn when that is longer (a
/// rate below one person per [`MAX_CREDIT_MS`], 0.2 a second, would otherwise never earn anyone).
#[derive(Debug, Clone, Copy)]
pub(super) struct Credit {
    /// Admissions per second.
    rate: f64,
    /// The time the credit was earned over, in milliseconds.
    ms: i64,
    /// Whole people it admits.
    pub(super) people: i64,
}

impl Credit {
    pub(super) fn earned(rate: f64, elapsed_ms: i64) -> Self {
        // A millisecond more, so that rounding cannot leave it a hair short of a person. `as`
        // saturates: a rate so small that one person takes longer than i64 milliseconds leaves
        // the elapsed time uncapped.
        let one_person_ms = ((1000.0 / rate).ceil() as i64).saturating_add(1);
        let ms = elapsed_ms.min(MAX_CREDIT_MS.max(one_person_ms));
        Self {
            rate,
            ms,
            people: (ms as f64 * rate / 1000.0).floor() as i64,
        }
    }

    /// Where the next advance counts its credit from, after this one admitted `admitted` of the
    /// `wanted` at `now_ms`: the fraction of a person left over is kept by counting from the
    /// instant the admitted people's credit ran out.
    fn next_from(&self, now_ms: i64, wanted: u64, admitted: u64) -> i64 {
        // Credit not used because nothing could be sold is dropped, not banked.
        if (admitted as i64) < self.people || wanted == 0 {
            now_ms
        } else {
            (now_ms - self.ms + (admitted as f64 * 1000.0 / self.rate).ceil() as i64).min(now_ms)
        }
    }
}

impl QueueState {
    /// The state after an advance at `now_ms` that spent `credit` moving the cursor to `cursor`,
    /// admitting `admitted` of the `wanted` people: a new version, the move remembered, the
    /// measured rate smoothed with this one.
    pub(super) fn advanced(
        &self,
        now_ms: i64,
        credit: &Credit,
        wanted: u64,
        cursor: u64,
        admitted: u64,
    ) -> QueueState {
        let since_write = ((now_ms - self.last_write_ms).max(1) as f64 / 1000.0).min(10.0);
        let instantaneous = admitted as f64 / since_write;
        let mut moves = self.moves.clone();
        if cursor > self.cursor {
            moves.push(CursorMove {
                at_ms: now_ms,
                from: self.cursor,
                to: cursor,
                admitted: Some(admitted),
            });
            let excess = moves.len().saturating_sub(MOVES_KEPT);
            moves.drain(..excess);
        }
        QueueState {
            shards: self.shards,
            cursor,
            last_advance_ms: credit.next_from(now_ms, wanted, admitted),
            last_write_ms: now_ms,
            measured_rate: 0.7 * self.measured_rate + 0.3 * instantaneous,
            admitted_total: self.admitted_total + admitted,
            version: self.version + 1,
            moves,
            draw: self.draw.clone(),
        }
    }

    /// The state with the lobby drawn by `draw` at `now_ms`: a new version, and the credit
    /// clock restarted (the time before the opening earns no burst of admissions).
    pub(super) fn drawn(&self, draw: Draw, now_ms: i64) -> QueueState {
        QueueState {
            draw: Some(draw),
            last_advance_ms: now_ms,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The state after an advance at `now_ms` that found nobody waiting: the credit clock
    /// restarts, so a lull does not bank a burst of admissions for the next arrivals.
    pub(super) fn rested(&self, now_ms: i64) -> QueueState {
        QueueState {
            last_advance_ms: now_ms,
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The write that stores this state in place of `previous`, unless another advance replaced
    /// `previous` first (optimistic on `version`).
    pub(super) fn replacing(&self, event: &EventId, previous: &QueueState) -> Write {
        Write::Put {
            item: to_item(&state_key(event), self),
            condition: Some(Condition::equals("version", previous.version)),
        }
    }
}

impl AdmissionBatch {
    /// The batch of the `admitted` people an advance at `now` let in between orders `from` and
    /// `to`: open while they may still enter and then hold with their reservation token, kept an
    /// hour.
    pub(super) fn opened(
        from: u64,
        to: u64,
        admitted: u64,
        now: DateTime<Utc>,
        now_ms: i64,
    ) -> Self {
        AdmissionBatch {
            start: from,
            end: to,
            admitted: admitted as i64,
            open: admitted as i64,
            admitted_at_ms: now_ms,
            open_until_ms: now_ms + (READY_WINDOW_SECS + RESERVATION_TOKEN_TTL_SECS) * 1000,
            expires_at: ttl_after(now, 3600),
        }
    }

    /// The write that stores this batch.
    pub(super) fn write(&self, event: &EventId) -> Write {
        Write::put(to_item(&batch_key(event, self.start), self))
    }

    /// Whether the batch's people may no longer enter at `now_ms`.
    pub(super) fn ready_window_over(&self, now_ms: i64) -> bool {
        now_ms > self.admitted_at_ms + READY_WINDOW_SECS * 1000
    }
}

pub(super) async fn read_state(store: &dyn Store, event: &EventId) -> Result<QueueState> {
    get_record(store, &state_key(event))
        .await?
        .ok_or(Error::EventNotFound)
}

/// The live cursor alone (a join's position hint), without decoding the rest of the state.
pub(super) async fn read_cursor(store: &dyn Store, event: &EventId) -> Result<u64> {
    #[derive(Deserialize)]
    struct Cursor {
        cursor: u64,
    }
    let state: Cursor = get_record(store, &state_key(event))
        .await?
        .ok_or(Error::EventNotFound)?;
    Ok(state.cursor)
}

/// The admission batches still open, as one read found them.
#[derive(Debug, Clone, Default)]
pub(super) struct OpenBatches {
    /// Newest first.
    batches: Vec<AdmissionBatch>,
    /// One past the last order of the newest batch, open or not (0: none yet).
    newest_end: u64,
}

/// Where a read of the open batches puts the batch that admitted an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BatchOf<'a> {
    /// Among them: still open.
    Open(&'a AdmissionBatch),
    /// Older than the read and not among the open ones: closed (or never kept).
    Closed,
    /// Newer than the read: ask the store.
    Unknown,
}

impl OpenBatches {
    /// People admitted and not yet holding or gone, across them.
    pub(super) fn open(&self) -> i64 {
        self.batches.iter().map(|b| b.open.max(0)).sum()
    }

    /// What these batches will give back, seen at `now_ms` ([`Returning`]).
    pub(super) fn returning(&self, now_ms: i64) -> Returning {
        let entering_over =
            |b: &AdmissionBatch| now_ms > b.admitted_at_ms + READY_WINDOW_SECS * 1000;
        let (mut admitted, mut gone) = (0_i64, 0_i64);
        let mut returning = Returning {
            over: [0.0; CYCLE],
            entering: [Admitted::default(); CYCLE],
            took: None,
        };
        for batch in &self.batches {
            let open = batch.open.max(0);
            let second = ((batch.open_until_ms - now_ms) / 1000).clamp(0, CYCLE as i64 - 1);
            let second = second as usize;
            if entering_over(batch) {
                admitted += batch.admitted;
                gone += batch.admitted - open;
                returning.over[second] += open as f64;
            } else {
                returning.entering[second].admitted += batch.admitted as f64;
                returning.entering[second].open += open as f64;
            }
        }
        returning.took = (admitted >= FEWEST_TO_MEASURE).then(|| gone as f64 / admitted as f64);
        returning
    }

    /// The batch that admitted `order` (below the cursor), as far as this read knows.
    pub(super) fn batch_of(&self, order: u64) -> BatchOf<'_> {
        if order >= self.newest_end {
            return BatchOf::Unknown;
        }
        self.batches
            .iter()
            .find(|b| b.start <= order && order < b.end)
            .map_or(BatchOf::Closed, BatchOf::Open)
    }
}

/// The batches still open at `now_ms`.
///
/// Batches are read newest first, a page at a time, and reading stops at the first closed
/// one (batches close in the order they opened): a query for all of them would return the hour
/// of closed batches their TTL keeps, on every advance.
pub(super) async fn read_open_batches(
    store: &dyn Store,
    event: &EventId,
    now_ms: i64,
) -> Result<OpenBatches> {
    let mut open = OpenBatches::default();
    let mut below: Option<String> = None;
    loop {
        let mut range = SkRange::prefix("BATCH#").reverse().limit(BATCH_PAGE);
        if let Some(below) = below.take() {
            range = range.to(below);
        }
        let page = store.query(&queue_pk(event), &range).await?;
        let full = page.len() == BATCH_PAGE;
        for item in page {
            let batch: AdmissionBatch = from_item(item)?;
            open.newest_end = open.newest_end.max(batch.end);
            if batch.open_until_ms <= now_ms {
                return Ok(open);
            }
            below = Some(sort_key("BATCH#", batch.start));
            open.batches.push(batch);
        }
        if !full || open.batches.len() >= OPEN_BATCH_SCAN {
            return Ok(open);
        }
    }
}

/// People admitted and not yet holding or gone, across the batches still open.
pub(super) async fn open_admissions(
    store: &dyn Store,
    event: &EventId,
    now_ms: i64,
) -> Result<i64> {
    Ok(read_open_batches(store, event, now_ms).await?.open())
}

/// The batch that admitted `order` (the newest that starts at or below it), if any is kept.
pub(super) async fn batch_of(
    store: &dyn Store,
    event: &EventId,
    order: u64,
) -> Result<Option<AdmissionBatch>> {
    let range = SkRange::prefix("BATCH#")
        .to(sort_key("BATCH#", order + 1))
        .reverse()
        .limit(1);
    let found = store.query(&queue_pk(event), &range).await?;
    found.into_iter().next().map(from_item).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(start: u64, end: u64, open_until_ms: i64) -> AdmissionBatch {
        AdmissionBatch {
            start,
            end,
            admitted: (end - start) as i64,
            open: 1,
            admitted_at_ms: 0,
            open_until_ms,
            expires_at: 0,
        }
    }

    /// A batch of `admitted` people at `admitted_at_s`, `open` of them still neither holding nor
    /// gone, open for a minute.
    fn admitted(start: u64, admitted: i64, open: i64, admitted_at_s: i64) -> AdmissionBatch {
        AdmissionBatch {
            start,
            end: start + admitted as u64,
            admitted,
            open,
            admitted_at_ms: admitted_at_s * 1000,
            open_until_ms: (admitted_at_s + READY_WINDOW_SECS + RESERVATION_TOKEN_TTL_SECS) * 1000,
            expires_at: 0,
        }
    }

    #[test]
    fn a_slow_rate_earns_a_person_once_its_time_has_passed() {
        // 0.1 a second: one person every 10 s, beyond the 5 s bound on credit.
        assert_eq!(Credit::earned(0.1, 5_000).people, 0);
        assert_eq!(Credit::earned(0.1, 9_999).people, 0);
        assert_eq!(Credit::earned(0.1, 10_000).people, 1);
        // Still one at most after a long lull: the bound on bursts holds.
        assert_eq!(Credit::earned(0.1, 3_600_000).people, 1);
        assert_eq!(Credit::earned(0.01, 100_000).people, 1);
        // At 0.2 a second and above, the 5 s bound as before.
        assert_eq!(Credit::earned(0.2, 60_000).people, 1);
        assert_eq!(Credit::earned(50.0, 60_000).people, 250);
        // After 12 s, one admitted: the next person's credit counts from (about) now, not from
        // the 2 s past the bound, which are not banked.
        let credit = Credit::earned(0.1, 12_000);
        assert_eq!(credit.next_from(100_000, 1, 1), 99_999);
    }

    #[test]
    fn open_batches_say_what_comes_back_when_and_what_recent_admissions_did() {
        let now_s = 100;
        let read = OpenBatches {
            // Newest first: one whose people may still enter, two whose window to enter is over.
            batches: vec![
                admitted(60, 20, 16, now_s - 10),
                admitted(40, 20, 6, now_s - 35),
                admitted(20, 20, 10, now_s - 50),
            ],
            newest_end: 80,
        };
        let returning = read.returning(now_s * 1000);
        // Of the 40 whose window is over, 24 held or gave their place up.
        assert_eq!(returning.took, Some(0.6));
        // The two over give back all their open places when they close, in 25 and 10 seconds.
        assert_eq!(returning.over[25], 6.0);
        assert_eq!(returning.over[10], 10.0);
        assert_eq!(returning.over.iter().sum::<f64>(), 16.0);
        // The newest closes in 50 seconds, its people still entering.
        assert_eq!(
            returning.entering[50],
            Admitted {
                admitted: 20.0,
                open: 16.0
            }
        );
    }

    #[test]
    fn a_batch_still_entering_is_kept_apart_from_those_that_are_over() {
        let read = OpenBatches {
            batches: vec![admitted(10, 10, 7, 95), admitted(0, 10, 3, 60)],
            newest_end: 20,
        };
        let returning = read.returning(100_000);
        assert_eq!(
            returning.took, None,
            "10 admissions are too few to measure by"
        );
        assert_eq!(returning.over.iter().sum::<f64>(), 3.0);
        assert_eq!(returning.entering.iter().map(|a| a.open).sum::<f64>(), 7.0);
    }

    #[test]
    fn a_read_of_the_open_batches_tells_open_closed_and_newer_apart() {
        let read = OpenBatches {
            batches: vec![batch(8, 12, 500), batch(4, 8, 400)],
            newest_end: 12,
        };
        assert_eq!(read.batch_of(5), BatchOf::Open(&read.batches[1]));
        assert_eq!(read.batch_of(11), BatchOf::Open(&read.batches[0]));
        assert_eq!(
            read.batch_of(3),
            BatchOf::Closed,
            "before the oldest open one"
        );
        assert_eq!(
            read.batch_of(12),
            BatchOf::Unknown,
            "admitted after the read"
        );
        assert_eq!(read.open(), 2);
        let none_open = OpenBatches {
            batches: Vec::new(),
            newest_end: 12,
        };
        assert_eq!(none_open.batch_of(11), BatchOf::Closed);
        assert_eq!(OpenBatches::default().batch_of(0), BatchOf::Unknown);
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
}
