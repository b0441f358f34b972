//! Positions.
//!
//! A waiting ticket's position is 1 + the people between the cursor and it: real tickets minus
//! those who left. The cursor only grows and leaving only removes people ahead, so a position
//! never grows (with sharded counters, up to the holes a late join of another shard fills).
//!
//! Someone who leaves before the cursor reaches them leaves a marker at their order in the
//! queue's partition, stamped with when it was written; one range query of markers tells the
//! leavers between two orders. A status takes them from its process's view of the queue, read
//! once per window ([`super::views`]), and counts only those stamped before the instant every
//! instance shows, so a leave moves the people behind up within a window, on every instance at
//! once.
//!
//! A marker may cover a *run* of consecutive orders (`count`, at most [`MAX_RUN`]): the presence
//! sweep gives up a crowd that stopped asking at once (a flood of joins that never ask again,
//! everyone beyond the stock closing the tab when the sale sells out) in one marker per run
//! rather than one per person, so the sweep's writes, and every view's reads, grow with the runs
//! and not with the people. Runs never overlap (a sweep leaves out whoever has a marker already);
//! a single marker written later inside a run (a given-up person who then leaves) is a
//! duplicate, counted once. A marker written before runs existed has no `count`: one order.

use super::keys::{left_key, queue_pk};
use super::order::Line;
use crate::domain::records::{sort_key, to_item};
use crate::error::Result;
use crate::ids::EventId;
use crate::ports::store::{Item, SkRange, Store, StoreError, Write};

/// The most consecutive orders one marker covers. A marker covering an order starts at most
/// this far before it, which bounds how far back the markers of a range are looked for.
pub(super) const MAX_RUN: u64 = 1_000;

/// Markers read at a time when looking back for the run that covers an order.
const LOOK_BACK_PAGE: usize = 16;

/// Leavers that can be counted between two orders.
pub(super) trait Leavers {
    /// How many left with orders in `[a, b)`.
    fn between(&self, a: u64, b: u64) -> u64;
}

/// A sorted list of leavers' orders.
impl Leavers for [u64] {
    fn between(&self, a: u64, b: u64) -> u64 {
        leavers_between(self, a, b)
    }
}

/// People (tickets that did not leave) with order in `[a, b)`.
pub(super) fn people(line: &Line, leavers: &(impl Leavers + ?Sized), a: u64, b: u64) -> u64 {
    line.tickets(a, b) - leavers.between(a, b)
}

/// Leavers' orders in `[a, b)`, from a sorted list.
pub(super) fn leavers_between(leavers: &[u64], a: u64, b: u64) -> u64 {
    let lo = leavers.partition_point(|&o| o < a);
    let hi = leavers.partition_point(|&o| o < b);
    (hi - lo) as u64
}

/// `marked` (sorted by order) with `more` (sorted by order) merged in, each order once with its
/// earliest stamp: a lobby leaver given up again by the presence sweep, or whose leave crossed
/// the draw, has a marker too.
pub(super) fn merge_leavers(marked: Vec<Leaver>, more: &[Leaver]) -> Vec<Leaver> {
    if more.is_empty() {
        return marked;
    }
    let mut all = marked;
    all.extend_from_slice(more);
    all.sort_unstable_by_key(|l| (l.order, l.at_ms));
    all.dedup_by_key(|l| l.order);
    all
}

/// Someone who left the line: their order, and when their marker was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Leaver {
    pub(super) order: u64,
    /// Epoch milliseconds; 0 for a marker written before markers were stamped (long ago).
    pub(super) at_ms: i64,
}

/// Marks the person at `order` as having left the line at `at_ms`, unless a marker already
/// covers it there: written only if new, since over a run the presence sweep gave up that starts
/// at it, it would cut the run to one order; one already there (an earlier leave of the same
/// order, or that run) is as good.
pub(super) async fn mark_left(
    store: &dyn Store,
    event: &EventId,
    order: u64,
    at_ms: i64,
) -> Result<()> {
    match store
        .write(Write::put_new(marker(event, order, 1, at_ms)))
        .await
    {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The marker of the `count` people at orders `start..start + count` (at most [`MAX_RUN`])
/// given up at `at_ms` by the presence sweep, which has read that none of them has a marker.
pub(super) fn left_run(event: &EventId, start: u64, count: u64, at_ms: i64) -> Write {
    debug_assert!((1..=MAX_RUN).contains(&count), "a run of {count}");
    Write::put(marker(event, start, count, at_ms))
}

/// A marker's item: one order is written as markers were before runs existed (no `count`).
fn marker(event: &EventId, start: u64, count: u64, at_ms: i64) -> Item {
    let body = if count == 1 {
        serde_json::json!({ "order": start, "at_ms": at_ms })
    } else {
        serde_json::json!({ "order": start, "count": count, "at_ms": at_ms })
    };
    to_item(&left_key(event, start), &body)
}

/// One marker as stored: the orders `start..start + count` left at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marker {
    start: u64,
    count: u64,
    at_ms: i64,
}

impl Marker {
    fn of(item: &Item) -> Option<Self> {
        Some(Self {
            start: item.get("order")?.as_u64()?,
            count: item
                .get("count")
                .and_then(|v| v.as_u64())
                .unwrap_or(1)
                .clamp(1, MAX_RUN),
            at_ms: item.get("at_ms").and_then(|v| v.as_i64()).unwrap_or(0),
        })
    }

    fn end(&self) -> u64 {
        self.start.saturating_add(self.count)
    }

    fn covers(&self, order: u64) -> bool {
        self.start <= order && order < self.end()
    }
}

/// The marker covering `order`, if any (`runs_only`: the run covering it, past a single marker
/// of its own inside that run). Read backwards from `order` a page at a time: the first marker
/// read is the nearest, and usually decides; past a single marker the run may still be behind
/// it, but past a run that does not cover it (runs never overlap) or [`MAX_RUN`] orders back,
/// none can.
async fn marker_covering(
    store: &dyn Store,
    event: &EventId,
    order: u64,
    runs_only: bool,
) -> Result<Option<Marker>> {
    let lowest = sort_key("LEFT#", order.saturating_sub(MAX_RUN - 1));
    let mut below = sort_key("LEFT#", order.saturating_add(1));
    loop {
        let range = SkRange::prefix("LEFT#")
            .between(lowest.clone(), below.clone())
            .reverse()
            .limit(LOOK_BACK_PAGE);
        let items = store.query(&queue_pk(event), &range).await?;
        for item in &items {
            let Some(marker) = Marker::of(item) else {
                continue;
            };
            if marker.covers(order) && (marker.count > 1 || !runs_only) {
                return Ok(Some(marker));
            }
            if marker.count > 1 {
                return Ok(None);
            }
        }
        match items.last() {
            Some(last) if items.len() == LOOK_BACK_PAGE => {
                below = sort_key("LEFT#", Marker::of(last).map_or(0, |m| m.start));
            }
            _ => return Ok(None),
        }
    }
}

/// Whether the person at `order` left, or was given up: a point look-up in the common case
/// (the marker nearest below it).
pub(super) async fn has_left(store: &dyn Store, event: &EventId, order: u64) -> Result<bool> {
    Ok(marker_covering(store, event, order, false).await?.is_some())
}

/// The orders of people who left in `[from, to)`, sorted.
pub(super) async fn read_leavers(
    store: &dyn Store,
    event: &EventId,
    from: u64,
    to: u64,
) -> Result<Vec<u64>> {
    Ok(read_stamped_leavers(store, event, from, to)
        .await?
        .into_iter()
        .map(|l| l.order)
        .collect())
}

/// The people who left with orders in `[from, to)`, sorted by order, each once with its
/// earliest stamp: the markers starting in the range, and the run that started before it and
/// reaches into it.
pub(super) async fn read_stamped_leavers(
    store: &dyn Store,
    event: &EventId,
    from: u64,
    to: u64,
) -> Result<Vec<Leaver>> {
    if to <= from {
        return Ok(Vec::new());
    }
    let range = SkRange::prefix("LEFT#").between(sort_key("LEFT#", from), sort_key("LEFT#", to));
    let (items, before) = futures::try_join!(
        async { Ok(store.query(&queue_pk(event), &range).await?) },
        async {
            if from == 0 {
                return Ok(None);
            }
            marker_covering(store, event, from - 1, true).await
        }
    )?;
    let markers = before
        .into_iter()
        .chain(items.iter().filter_map(Marker::of));
    let mut leavers = Vec::with_capacity(items.len());
    for marker in markers {
        let orders = marker.start.max(from)..marker.end().min(to);
        leavers.extend(orders.map(|order| Leaver {
            order,
            at_ms: marker.at_ms,
        }));
    }
    if !leavers.windows(2).all(|w| w[0].order < w[1].order) {
        // A single marker inside a run: sorted, each order once with its first stamp.
        leavers.sort_unstable_by_key(|l| (l.order, l.at_ms));
        leavers.dedup_by_key(|l| l.order);
    }
    Ok(leavers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::in_process::MemoryStore;

    fn event() -> EventId {
        "evt_runs".parse().expect("id")
    }

    /// A store holding the given markers: `(start, count, at_ms)`, one order each for a count of 1
    /// written as before runs existed (no `count`).
    async fn markers(marks: &[(u64, u64, i64)]) -> MemoryStore {
        let store = MemoryStore::new();
        for &(start, count, at_ms) in marks {
            let write = left_run(&event(), start, count, at_ms);
            store.write(write).await.expect("written");
        }
        store
    }

    async fn orders(store: &MemoryStore, from: u64, to: u64) -> Vec<u64> {
        read_leavers(store, &event(), from, to).await.expect("read")
    }

    #[tokio::test]
    async fn a_run_counts_each_of_its_orders_wherever_the_range_starts() {
        let store = markers(&[(3, 1, 5), (10, 5, 7), (20, 1, 9)]).await;
        assert_eq!(orders(&store, 0, 30).await, [3, 10, 11, 12, 13, 14, 20]);
        // The range starts inside the run (the cursor moved into it): its tail still counts.
        assert_eq!(orders(&store, 12, 30).await, [12, 13, 14, 20]);
        assert_eq!(orders(&store, 12, 14).await, [12, 13]);
        assert_eq!(orders(&store, 15, 20).await, Vec::<u64>::new());
        let stamped = read_stamped_leavers(&store, &event(), 13, 21)
            .await
            .unwrap();
        assert_eq!(
            stamped,
            [
                Leaver {
                    order: 13,
                    at_ms: 7
                },
                Leaver {
                    order: 14,
                    at_ms: 7
                },
                Leaver {
                    order: 20,
                    at_ms: 9
                }
            ]
        );
        for order in [3, 10, 12, 14, 20] {
            assert!(has_left(&store, &event(), order).await.unwrap(), "{order}");
        }
        for order in [0, 4, 9, 15, 19, 21] {
            assert!(!has_left(&store, &event(), order).await.unwrap(), "{order}");
        }
    }

    #[tokio::test]
    async fn a_leave_inside_a_run_is_counted_once_and_hides_no_part_of_it() {
        // A given-up person leaves (a single marker inside the run, later), and so do many
        // others of the run: more than a page of markers between an order and its run's start.
        let mut marks = vec![(100, 900, 1)];
        marks.extend((150..190).map(|order| (order, 1, 2)));
        let store = markers(&marks).await;
        let all = orders(&store, 0, 2_000).await;
        assert_eq!(all, (100..1_000).collect::<Vec<_>>());
        assert_eq!(
            orders(&store, 170, 2_000).await,
            (170..1_000).collect::<Vec<_>>()
        );
        let stamped = read_stamped_leavers(&store, &event(), 160, 161)
            .await
            .unwrap();
        assert_eq!(
            stamped,
            [Leaver {
                order: 160,
                at_ms: 1
            }],
            "the earliest stamp"
        );
        for order in [100, 189, 195, 999] {
            assert!(has_left(&store, &event(), order).await.unwrap(), "{order}");
        }
        assert!(!has_left(&store, &event(), 1_000).await.unwrap());
    }

    #[tokio::test]
    async fn a_leave_where_a_run_starts_keeps_the_run() {
        let store = markers(&[(40, 10, 1)]).await;
        mark_left(&store, &event(), 40, 5).await.unwrap();
        assert_eq!(orders(&store, 0, 100).await, (40..50).collect::<Vec<_>>());
    }

    #[test]
    fn leavers_are_counted_in_range() {
        assert_eq!(leavers_between(&[1, 3, 5, 7], 2, 7), 2);
        assert_eq!(leavers_between(&[], 0, 10), 0);
    }

    #[test]
    fn leavers_merged_are_sorted_once_each_with_their_first_stamp() {
        let at = |order, at_ms| Leaver { order, at_ms };
        assert_eq!(
            merge_leavers(
                vec![at(1, 10), at(5, 30), at(9, 10)],
                &[at(2, 20), at(5, 20), at(11, 20)]
            ),
            vec![at(1, 10), at(2, 20), at(5, 20), at(9, 10), at(11, 20)]
        );
        assert_eq!(merge_leavers(vec![at(3, 0)], &[]), vec![at(3, 0)]);
    }
}
