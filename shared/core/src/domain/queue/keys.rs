//! Where the waiting room's items live. The queue's own partition holds its state item, its
//! admission batches and the markers of those who left; each join counter is a partition of its
//! own (the lobby's too, each with a partition of its entries beside it), and so is each ticket
//! and each account's place in an event's line.

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
    Key::new(sharded_pk("QSEQ#", event, shard), "SEQ")
}

/// The lobby's join counters ([`super::lobby`]), one partition each as the line's.
pub(super) fn lobby_counter_key(event: &EventId, shard: u32) -> Key {
    Key::new(sharded_pk("QLOBBY#", event, shard), "SEQ")
}

/// The partition of one lobby counter's entries and leavers: written as often as the counter,
/// so a partition of its own beside it.
pub(super) fn lobby_entries_pk(event: &EventId, shard: u32) -> String {
    sharded_pk("QLENTRY#", event, shard)
}

/// `<prefix><event>#<shard, at least four digits>`, without the formatting machinery.
fn sharded_pk(prefix: &str, event: &EventId, shard: u32) -> String {
    let digits = sortable(u64::from(shard));
    let width = digits.trim_start_matches('0').len().max(4);
    let shard = &digits[digits.len() - width..];
    [prefix, event.as_str(), "#", shard].concat()
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
