//! Expiring a hold whose time is up, when its timer fires, when a read finds it past due, or when
//! another buyer's hold finds it sitting on a seat it wants (a timer lost for good must not keep
//! seats off sale).
//!
//! A hold is due at its expiry, or, once a payment has started, at that payment's deadline
//! (`payment.rs`). A hold whose payment the bank approved by the deadline is confirmed here
//! rather than released: the approval is a fact, and its follow-up may merely be late.

use std::collections::BTreeSet;

use super::record::ReservationStatus;
use super::service::Reservations;
use crate::domain::catalog::{SeatRecord, SeatStatus};
use crate::error::{Error, Result};
use crate::ids::{ReservationId, SeatId};
use crate::ports::scheduler::Job;

/// Attempts of [`Reservations::expire`] when its release loses a race (a payment approved in
/// the meantime, a confirmation, a cancellation): each looks again at what won.
const EXPIRE_ATTEMPTS: usize = 3;

impl Reservations {
    /// Expires a hold that is due (the `expire` timer). Idempotent: a reservation that is no
    /// longer a hold, or unknown, is left alone; a timer that fires early is set again.
    pub async fn expire(&self, id: &ReservationId) -> Result<()> {
        for _ in 0..EXPIRE_ATTEMPTS {
            let reservation = match self.load(id, None).await {
                Ok(r) => r,
                Err(Error::ReservationNotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            if reservation.status != ReservationStatus::Hold {
                return Ok(());
            }
            let due = reservation.due();
            if self.ports.clock.now() < due {
                let timer = Job::ExpireHold {
                    reservation_id: id.clone(),
                };
                self.ports.scheduler.schedule(due, timer).await?;
                return Ok(());
            }
            if let Some(payment) = self.approved_in_time(&reservation).await? {
                if self.confirm_paid(&reservation, &payment).await?.is_some() {
                    return Ok(());
                }
            } else if self
                .release(&reservation, ReservationStatus::Expired, "expired")
                .await?
            {
                return Ok(());
            }
        }
        Err(Error::Unavailable(
            "reservation kept changing while it expired; retry".into(),
        ))
    }

    /// Expires the holds on `seats` (as stored) that are due, as their timers would have: a hold
    /// whose timer was lost (Scheduler gave up on a throttled `expire`, a schedule deleted) is
    /// found by the next buyer who wants one of its seats. Whether any such hold was found
    /// (settled here or by someone else meanwhile), so that the caller tries its hold again.
    pub(super) async fn expire_lapsed(
        &self,
        seats: &[(SeatId, Option<SeatRecord>)],
    ) -> Result<bool> {
        let holders: BTreeSet<&ReservationId> = seats
            .iter()
            .filter_map(|(_, record)| match record {
                Some(SeatRecord {
                    status: SeatStatus::Held,
                    reservation_id: Some(holder),
                    ..
                }) => Some(holder),
                _ => None,
            })
            .collect();
        let now = self.ports.clock.now();
        let mut found = false;
        for holder in holders {
            let reservation = match self.load(holder, None).await {
                Ok(reservation) => reservation,
                Err(Error::ReservationNotFound) => continue,
                Err(e) => return Err(e),
            };
            if reservation.status == ReservationStatus::Hold && now >= reservation.due() {
                tracing::warn!(reservation_id = %holder, "hold past its due time found on a wanted seat; its timer was lost or late");
                self.expire(holder).await?;
                found = true;
            }
        }
        Ok(found)
    }
}
