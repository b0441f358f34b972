//! Where an event's items live: one partition holds its record, its sale, its stock counters and
//! its seats. Its own module so that the catalog and the stock, which both name it, need not name
//! each other both ways.

use crate::ids::EventId;

const EVENT_PK_PREFIX: &str = "EVENT#";

/// The partition of an event's items: its record, its counters and its seats.
pub fn event_pk(id: &EventId) -> String {
    [EVENT_PK_PREFIX, id.as_str()].concat()
}

/// Whether `pk` is an event's partition.
pub fn is_event_pk(pk: &str) -> bool {
    pk.starts_with(EVENT_PK_PREFIX)
}
