//! What never changes in a seated event's availability (each seat's place and price) and the
//! JSON around each seat's state, so that a changed availability is written by copying.
//!
//! Serializing 10,000 [`SeatView`]s costs milliseconds (BENCHMARKS §10); the seats' ids, sections,
//! rows, numbers and prices never change, only their states do. So each seat's JSON is written
//! once, when its event is first read, and kept cut in two around its state; a snapshot's JSON
//! is then the counters and, per seat, the two pieces with the state's word between them: about
//! a megabyte of copying.

use serde::Serialize;

use super::contract::{Availability, SeatView};
use crate::domain::catalog::{Inventory, SeatStatus};
use crate::ids::EventId;

/// The fixed part of one event's availability.
#[derive(Debug)]
pub(super) struct Layout {
    pub(super) event_id: EventId,
    /// The seats in map order, with their states as first read (the current ones are kept
    /// beside, by index).
    pub(super) seats: Vec<SeatView>,
    /// Every seat's JSON with its state cut out, one after the other.
    pieces: String,
    /// Per seat, where its JSON starts, where its state goes, and where it ends in `pieces`.
    cuts: Vec<(usize, usize, usize)>,
}

impl Layout {
    pub(super) fn new(event_id: EventId, seats: Vec<SeatView>) -> Self {
        let mut pieces = String::with_capacity(seats.len() * 96);
        let mut cuts = Vec::with_capacity(seats.len());
        for seat in &seats {
            let json = serde_json::to_string(seat).expect("a seat serializes");
            let (before, after) = around_status(&json);
            let start = pieces.len();
            pieces.push_str(before);
            let middle = pieces.len();
            pieces.push_str(after);
            cuts.push((start, middle, pieces.len()));
        }
        Self {
            event_id,
            seats,
            pieces,
            cuts,
        }
    }

    /// The contract's JSON of this event with these counters and seat states (one per seat, in
    /// the layout's order): the same bytes `serde_json` writes for the [`Availability`].
    pub(super) fn json(&self, inventory: &Inventory, statuses: &[SeatStatus]) -> Vec<u8> {
        #[derive(Serialize)]
        struct Head<'a> {
            event_id: &'a EventId,
            total: i64,
            available: i64,
            held: i64,
            sold: i64,
        }
        let head = Head {
            event_id: &self.event_id,
            total: inventory.total,
            available: inventory.available,
            held: inventory.held,
            sold: inventory.sold,
        };
        let mut out = Vec::with_capacity(self.pieces.len() + 12 * statuses.len() + 128);
        serde_json::to_writer(&mut out, &head).expect("counters serialize");
        out.pop(); // the head's closing brace: the seats follow
        out.extend_from_slice(b",\"seats\":[");
        for (n, (&(start, middle, end), &status)) in self.cuts.iter().zip(statuses).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&self.pieces.as_bytes()[start..middle]);
            out.extend_from_slice(word(status).as_bytes());
            out.extend_from_slice(&self.pieces.as_bytes()[middle..end]);
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// The availability as a value, for readers that want its fields rather than its JSON.
    pub(super) fn availability(
        &self,
        inventory: &Inventory,
        statuses: &[SeatStatus],
    ) -> Availability {
        Availability {
            event_id: self.event_id.clone(),
            total: inventory.total,
            available: inventory.available,
            held: inventory.held,
            sold: inventory.sold,
            seats: self
                .seats
                .iter()
                .zip(statuses)
                .map(|(seat, &status)| SeatView {
                    status,
                    ..seat.clone()
                })
                .collect(),
        }
    }
}

/// A seat's state as its JSON spells it (`SeatStatus`'s serde name, checked by a test).
fn word(status: SeatStatus) -> &'static str {
    match status {
        SeatStatus::Available => "AVAILABLE",
        SeatStatus::Held => "HELD",
        SeatStatus::Sold => "SOLD",
    }
}

/// A seat's JSON before and after its state's word. The state is the only `"status":"` in it:
/// it comes second, after the seat id, which has no quote.
fn around_status(json: &str) -> (&str, &str) {
    const KEY: &str = "\"status\":\"";
    let at = json.find(KEY).expect("a seat's JSON has its status") + KEY.len();
    let end = at + json[at..].find('"').expect("the status is a string");
    (&json[..at], &json[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(id: &str, status: SeatStatus, row: u32) -> SeatView {
        SeatView {
            seat_id: id.parse().unwrap(),
            status,
            section: "VIP".into(),
            row,
            number: 5,
            price: 220_000,
        }
    }

    #[test]
    fn its_json_is_serdes_whatever_the_states() {
        use SeatStatus::*;
        let seats = vec![seat("VIP-1-5", Sold, 1), seat("VIP-2-5", Available, 2)];
        let layout = Layout::new("evt_arena".parse().unwrap(), seats);
        let inventory = Inventory {
            total: 2,
            available: 0,
            held: 1,
            sold: 1,
        };
        for statuses in [[Held, Sold], [Available, Available], [Sold, Held]] {
            let expected = layout.availability(&inventory, &statuses);
            assert_eq!(
                String::from_utf8(layout.json(&inventory, &statuses)).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }
        let empty = Layout::new("evt_park".parse().unwrap(), Vec::new());
        assert_eq!(
            String::from_utf8(empty.json(&inventory, &[])).unwrap(),
            serde_json::to_string(&empty.availability(&inventory, &[])).unwrap()
        );
    }

    #[test]
    fn each_states_word_is_its_serde_name() {
        for status in [SeatStatus::Available, SeatStatus::Held, SeatStatus::Sold] {
            assert_eq!(serde_json::to_value(status).unwrap(), word(status));
        }
    }
}
