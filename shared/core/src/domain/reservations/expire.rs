//! Expiring a hold whose time is up, when its timer fires (or when a read finds it past due).

use super::record::ReservationStatus;
use super::service::Reservations;
use crate::error::{Error, Result};
use crate::ids::ReservationId;
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
}
