//! Where the waiting room's items live. The queue's own partition holds its state item, its
//! admission batches and the markers of those who left; each join counter is a partition of its
//! own, and so is each ticket and each account's place in an event's line.

use crate::domain::records::{sort_key, sortable};
use crate::ids::{EventId, UserId, WaitingToken};
use crate::ports::store::Key;

/// The queue's own partition: its state, its admission batches and its leavers' markers.
pub(super) fn queue_pk(event: &EventId) -> String {
    ["QUEUE#", event.as_str()].concat()
}

pub(super) fn state_key(event: &EventId) -> Key {
    Key::new(queue_pk(event), "STATE")
}

/// Each join counter is a partition of its own: DynamoDB's write limit is per partition, so
/// counters sharing a partition key would share one limit however many there are.
pub(super) fn counter_key(event: &EventId, shard: u32) -> Key {
    // `QSEQ#<event>#<shard, at least four digits>`, without the formatting machinery.
    let digits = sortable(u64::from(shard));
    let width = digits.trim_start_matches('0').len().max(4);
    let shard = &digits[digits.len() - width..];
    Key::new(["QSEQ#", event.as_str(), "#", shard].concat(), "SEQ")
}

pub(super) fn left_key(event: &EventId, order: u64) -> Key {
    Key::new(queue_pk(event), sort_key("LEFT#", order))
}

pub(super) fn batch_key(event: &EventId, start: u64) -> Key {
    Key::new(queue_pk(event), sort_key("BATCH#", start))
}

pub(super) fn ticket_key(token: &WaitingToken) -> Key {
    Key::new(["WTKN#", token.as_str()].concat(), "WTKN")
}

/// An account's place in one event's line: a partition per (event, account), so repeated joins
/// by one account touch only its own item, never a partition everyone writes.
pub(super) fn place_key(event: &EventId, user: &UserId) -> Key {
    Key::new(
        ["QPLACE#", event.as_str(), "#", user.as_str()].concat(),
        "PLACE",
    )
}
