//! Positions.
//!
//! A waiting ticket's position is 1 + the people between the cursor and it: real tickets minus
//! those who left. The cursor only grows and leaving only removes people ahead, so a position
//! never grows (with sharded counters, up to the holes a late join of another shard fills).
//!
//! Someone who leaves before the cursor reaches them leaves a marker at their order in the
//! queue's partition; one range query of markers tells the leavers between two orders.

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

/// `marked` (sorted) with `more` (sorted) merged in, each order once: a lobby leaver given up
/// again by the presence sweep, or whose leave crossed the draw, has a marker too.
pub(super) fn merge_leavers(marked: Vec<u64>, more: &[u64]) -> Vec<u64> {
    if more.is_empty() {
        return marked;
    }
    let mut all = marked;
    all.extend_from_slice(more);
    all.sort_unstable();
    all.dedup();
    all
}

/// The marker of the person at `order` leaving the line.
pub(super) fn left_marker(event: &EventId, order: u64) -> Write {
    Write::put(to_item(
        &left_key(event, order),
        &serde_json::json!({ "order": order }),
    ))
}

/// Orders of the people who left, in `[from, to)`, sorted.
pub(super) async fn read_leavers(
    store: &dyn Store,
    event: &EventId,
    from: u64,
    to: u64,
) -> Result<Vec<u64>> {
    if to <= from {
        return Ok(Vec::new());
    }
    let range = SkRange::prefix("LEFT#").between(sort_key("LEFT#", from), sort_key("LEFT#", to));
    let items = store.query(&queue_pk(event), &range).await?;
    Ok(items
        .iter()
        .filter_map(|i| i.get("order").and_then(|v| v.as_u64()))
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
    fn leavers_merged_are_sorted_once_each() {
        assert_eq!(
            merge_leavers(vec![1, 5, 9], &[2, 5, 11]),
            vec![1, 2, 5, 9, 11]
        );
        assert_eq!(merge_leavers(vec![3], &[]), vec![3]);
    }
}
