//! Expiring a hold whose time is up, when its timer fires, when a read finds it past due, or when
//! another buyer's hold finds it sitting on a seat it wants (a timer lost for good must not keep
//! seats off sale).

use std::collections::BTreeSet;

use super::record::ReservationStatus;
use super::service::Reservations;
use crate::domain::catalog::{SeatRecord, SeatStatus};
use crate::error::{Error, Result};
use crate::ids::{ReservationId, SeatId};
use crate::ports::scheduler::Job;

impl Reservations {
    /// Expires a hold whose time is up (the `expire` timer). Idempotent: a reservation that is no
    /// longer a hold, or unknown, is left alone; a timer that fires early is set again.
    pub async fn expire(&self, id: &ReservationId) -> Result<()> {
        let reservation = match self.load(id, None).await {
            Ok(r) => r,
            Err(Error::ReservationNotFound) => return Ok(()),
            Err(e) => return Err(e),
        };
        if reservation.status != ReservationStatus::Hold {
            return Ok(());
        }
        if self.ports.clock.now() < reservation.hold_expires_at {
            self.ports
                .scheduler
                .schedule(
                    reservation.hold_expires_at,
                    Job::ExpireHold {
                        reservation_id: id.clone(),
                    },
                )
                .await?;
            return Ok(());
        }
        self.release(&reservation, ReservationStatus::Expired, "expired")
            .await
    }

    /// Expires the holds on `seats` (as stored) whose time is up, as their timers would have: a
    /// hold whose timer was lost (Scheduler gave up on a throttled `expire`, a schedule deleted)
    /// is found by the next buyer who wants one of its seats. Whether any such hold was found
    /// (released here or by someone else meanwhile), so that the caller tries its hold again.
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
            if reservation.status == ReservationStatus::Hold && now >= reservation.hold_expires_at {
                tracing::warn!(reservation_id = %holder, "hold past its expiry found on a wanted seat; its timer was lost or late");
                self.release(&reservation, ReservationStatus::Expired, "expired")
                    .await?;
                found = true;
            }
        }
        Ok(found)
    }
}
