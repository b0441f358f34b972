//! Availability as the contract shows it (`GET /api/v1/events/{id}/availability`).

use serde::Serialize;

use crate::domain::catalog::SeatStatus;
use crate::ids::{EventId, SeatId};

/// Availability as the contract shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    pub event_id: EventId,
    pub total: i64,
    pub available: i64,
    pub held: i64,
    pub sold: i64,
    pub seats: Vec<SeatView>,
}

/// One seat as availability shows it: where it is (so a seat map can draw the rows) and what it
/// costs.
#[derive(Debug, Clone, Serialize)]
pub struct SeatView {
    pub seat_id: SeatId,
    pub status: SeatStatus,
    pub section: String,
    pub row: u32,
    pub number: u32,
    pub price: i64,
}
