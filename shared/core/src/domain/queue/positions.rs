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

use super::keys::{left_key, queue_pk};
use super::order::Line;
use crate::domain::records::{sort_key, to_item};
use crate::error::Result;
use crate::ids::EventId;
use crate::ports::store::{SkRange, Store, Write};

/// People (tickets that did not leave) with order in `[a, b)`, from a sorted list of leavers.
pub(super) fn people(line: &Line, leavers: &[u64], a: u64, b: u64) -> u64 {
    line.tickets(a, b) - leavers_between(leavers, a, b)
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

/// The marker of the person at `order` leaving the line at `at_ms`.
pub(super) fn left_marker(event: &EventId, order: u64, at_ms: i64) -> Write {
    Write::put(to_item(
        &left_key(event, order),
        &serde_json::json!({ "order": order, "at_ms": at_ms }),
    ))
}

/// Orders of the people who left, in `[from, to)`, sorted.
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

/// The people who left with orders in `[from, to)`, sorted by order, with their stamps.
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
    let items = store.query(&queue_pk(event), &range).await?;
    Ok(items
        .iter()
        .filter_map(|i| {
            Some(Leaver {
                order: i.get("order")?.as_u64()?,
                at_ms: i.get("at_ms").and_then(|v| v.as_i64()).unwrap_or(0),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
