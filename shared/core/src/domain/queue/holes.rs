//! Closing the holes the cursor passes.
//!
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

use super::keys::counter_key;
use super::order::Line;
use crate::ids::EventId;
use crate::ports::store::{Condition, Store, StoreError, Update, Write};

impl Line {
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
}

impl Line {
    /// The line as it is once the counters behind `end` are raised to reach it (every order
    /// below `end` then a ticket): a lobby's drawn places, seen in counts read before the raise.
    pub(super) fn covering(mut self, end: u64) -> Self {
        for (shard, target) in self.behind(end) {
            let count = &mut self.counts[shard as usize];
            *count = (*count).max(target);
        }
        self
    }
}

/// Raises the join counters of the shards whose next order is below `cursor` (as `line` read
/// them) so that no later join gets an order behind it, and updates `line` to match. A counter
/// only ever goes up: the write is conditional on it still being below its target, and a
/// failed condition means joins already took it there. Failures are only logged: the cursor
/// stands, and the next advance closes whatever is still open. Returns whether every counter
/// now reaches `cursor` (no raise failed), for a caller that must not go on otherwise.
pub(super) async fn close_holes(
    store: &dyn Store,
    event: &EventId,
    line: &mut Line,
    cursor: u64,
) -> bool {
    let behind = line.behind(cursor);
    if behind.is_empty() {
        return true;
    }
    let raises = behind.iter().map(|&(shard, target)| {
        let target = i64::try_from(target).unwrap_or(i64::MAX);
        let raise = Update::new(counter_key(event, shard))
            .set("count", target)
            .when(Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan("count".into(), target),
            ]));
        store.write(Write::Update(raise))
    });
    let mut closed = true;
    for result in futures::future::join_all(raises).await {
        match result {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => {
                closed = false;
                tracing::warn!(event_id = %event, error = %e, "closing queue holes");
            }
        }
    }
    for (shard, target) in behind {
        let count = &mut line.counts[shard as usize];
        *count = (*count).max(target);
    }
    closed
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_line_covers_an_end_only_once_no_counter_is_behind_it() {
        // Shard 0 reached order 8, shard 1 only order 1: the end is past 9, yet 3, 5 and 7 are
        // open, so a lobby of 9 is not covered (a join on shard 1 would get order 3).
        let line = Line { counts: vec![5, 1] };
        assert!(line.end() >= 9);
        assert!(!line.behind(9).is_empty());
        assert!(line.clone().covering(9).behind(9).is_empty());
        assert_eq!(
            line.covering(9).tickets(0, 9),
            9,
            "every drawn place a person"
        );
    }
}
