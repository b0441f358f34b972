//! An event's availability as a server-sent event, formatted once per snapshot and shared by
//! every stream that sends it.
//!
//! The availability board hands every reader of an unchanged event the same
//! [`AvailabilitySnapshot`], whose JSON is serialised once. Streams used to wrap that JSON in an
//! event of their own at every tick: a copy per stream per tick (1.8 MB for 20,000 seats), which
//! a stream whose client reads nothing kept queued; a probe's thousand such streams took 3.7 GB.
//! Here the first stream to send a snapshot formats its event and the others clone it by
//! reference, for as long as any stream still holds it.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tacos_core::domain::availability::AvailabilitySnapshot;
use tacos_core::ids::EventId;

use crate::sse::Formatted;

/// The name of the events (`event: availability`).
pub const NAME: &str = "availability";

/// The formatted event of each event's latest snapshot sent, while a stream holds it.
///
/// Holds no event alive by itself (weak handles only), so what it keeps is what the streams are
/// sending anyway; an entry whose event every stream dropped is forgotten at the next format.
#[derive(Debug, Default)]
pub struct SnapshotEvents {
    formatted: Mutex<HashMap<EventId, Entry>>,
}

#[derive(Debug)]
struct Entry {
    /// The snapshot the event was formatted from, to tell it from a newer one. A weak handle
    /// keeps the snapshot's allocation (not its contents), so its address is never another's.
    snapshot: Weak<AvailabilitySnapshot>,
    event: Weak<Vec<u8>>,
}

impl SnapshotEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// The event carrying `snapshot`, the availability of `id`: the one already formatted for
    /// this very snapshot if a stream still holds it, a new one otherwise.
    pub fn event(&self, id: &EventId, snapshot: &Arc<AvailabilitySnapshot>) -> Formatted {
        let mut formatted = self.formatted.lock();
        if let Some(entry) = formatted.get(id) {
            if std::ptr::eq(entry.snapshot.as_ptr(), Arc::as_ptr(snapshot)) {
                if let Some(event) = Formatted::upgrade(&entry.event) {
                    return event;
                }
            }
        }
        // Formatted under the lock: the other streams of this tick wait for it rather than
        // format copies of their own.
        let event = Formatted::new(NAME, &snapshot.json());
        formatted.retain(|_, entry| entry.event.strong_count() > 0);
        formatted.insert(
            id.clone(),
            Entry {
                snapshot: Arc::downgrade(snapshot),
                event: event.downgrade(),
            },
        );
        event
    }
}
