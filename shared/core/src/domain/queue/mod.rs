//! The virtual waiting room.
//!
//! Buyers join an event's line and poll their place in it; the room admits them in order, at the
//! event's admission rate and never more than can still be sold, and an admitted buyer exchanges
//! the waiting token for a reservation token, once. Joins spread over sharded counters, and the
//! queue's state item is written a few times a second at most, whatever the traffic.
//!
//! * [`order`]: where a join stands in line, without a hot item (sharded join counters, holes).
//! * `counting`: the joins of one process at the same moment share their counter's raises, and
//!   in a crowd take spare orders ahead (given back if unused).
//! * [`admission`]: the cursor below which everyone is admitted, and how far each advance moves it.
//! * [`holes`]: closing the holes the cursor passes, so no later join lands behind it.
//! * [`lobby`]: joins before the sale's opening time wait in a lobby, placed at random at the
//!   opening by [`draw`], a permutation anyone can recompute from the published seed.
//! * [`positions`]: a waiting ticket's place, and why it never grows.
//! * [`outlook`]: the wait a status tells, from the stock left and the share of admitted people
//!   who buy, and who is likely to miss out.
//! * [`views`]: one position however many instances answer.
//! * `presence`: a waiting person not seen for a while (2 minutes) loses their place.
//! * `places`: one place in line per account per event (joining again answers the same token).
//! * [`challenge`]: proof of work at join, when an operator asks for it (bot friction).
//! * `binding`: who may enter or leave with a waiting token (its account, once it has one).
//! * a join keeps its `Idempotency-Key` on its ticket, not in records of its own
//!   ([`crate::domain::request_keys`]); so does an entry ([`entry`]), which answers its retry
//!   the token it answered first.
//! * [`room`]: the service, [`WaitingRoom`]: join, status, enter, leave and gauges.
//!
//! `keys` names where all of these items live.

pub mod admission;
mod binding;
pub mod challenge;
mod counting;
pub mod draw;
pub mod entry;
pub mod holes;
mod keys;
pub mod lobby;
pub mod order;
pub mod outlook;
mod places;
pub mod positions;
mod presence;
pub mod room;
pub mod views;

pub use crate::domain::request_keys::{KeyedAnswer, RequestKey, RequestKeys};
pub use admission::{
    admission_used, initial_writes, AdmissionBatch, CursorMove, QueueState, ADVANCE_EVERY_MS,
    READY_WINDOW_SECS,
};
pub use order::{TicketState, WaitingRecord};
pub use room::{
    Admission, DrawRecord, DrawStatus, Joined, Pacing, QueueGauge, QueueStatus, QueueStatusKind,
    WaitingRoom,
};
