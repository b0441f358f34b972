//! Cancelling a hold: at its owner's request, or because its payment failed.

use super::record::{Reservation, ReservationStatus};
use super::service::Reservations;
use crate::domain::auth::Principal;
use crate::error::{Error, Result};
use crate::ids::ReservationId;

impl Reservations {
    /// Cancels a hold at its owner's request; cancelling twice is fine.
    pub async fn cancel(&self, id: &ReservationId, caller: &Principal) -> Result<Reservation> {
        let reservation = self.get(id, Some(caller)).await?;
        match reservation.status {
            ReservationStatus::Cancelled => return Ok(reservation),
            ReservationStatus::Confirmed => {
                return Err(Error::InvalidState(
                    "a confirmed reservation cannot be cancelled".into(),
                ))
            }
            ReservationStatus::Expired => return Err(Error::ReservationExpired),
            ReservationStatus::Hold => {}
        }
        self.release(&reservation, ReservationStatus::Cancelled, "user")
            .await?;
        self.get(id, Some(caller)).await
    }

    /// Cancels a hold whose payment failed (the payment follow-up); not a hold any more is fine.
    pub async fn cancel_for_failed_payment(&self, id: &ReservationId) -> Result<()> {
        let reservation = self.load(id, None).await?;
        if reservation.status == ReservationStatus::Hold {
            self.release(&reservation, ReservationStatus::Cancelled, "payment_failed")
                .await?;
        }
        Ok(())
    }
}
