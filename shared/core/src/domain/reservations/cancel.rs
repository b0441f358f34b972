//! Cancelling a hold: at its owner's request, or because its payment failed.

use super::record::{Reservation, ReservationStatus};
use super::service::Reservations;
use crate::domain::auth::Principal;
use crate::error::{Error, Result};
use crate::ids::{PaymentIntentId, ReservationId};
use crate::ports::store::Condition;

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
        // Lost to another change: the reservation read next says which.
        self.release(&reservation, ReservationStatus::Cancelled, "user")
            .await?;
        self.get(id, Some(caller)).await
    }

    /// Cancels a hold whose payment failed (the payment follow-up); not a hold any more is fine,
    /// and so is a hold now paid by a newer payment (the buyer tried again after the decline):
    /// the failure of a payment the hold no longer waits for releases nothing.
    pub async fn cancel_for_failed_payment(
        &self,
        id: &ReservationId,
        payment: Option<&PaymentIntentId>,
    ) -> Result<()> {
        let reservation = self.load(id, None).await?;
        if reservation.status != ReservationStatus::Hold {
            return Ok(());
        }
        let still_its_payer = match (reservation.paying(), payment) {
            (Some(paying), Some(failed)) if paying != failed => {
                tracing::info!(reservation_id = %id, payment_intent_id = %failed,
                    "failure of a payment the hold no longer waits for; the hold stays");
                return Ok(());
            }
            // Unless a newer payment starts meanwhile.
            (_, Some(failed)) => Some(Condition::Or(vec![
                Condition::Missing("payment_deadline_ms".into()),
                Condition::equals("payment_intent_id", failed.as_str()),
            ])),
            (_, None) => None,
        };
        self.release_if(
            &reservation,
            ReservationStatus::Cancelled,
            "payment_failed",
            still_its_payer,
        )
        .await?;
        Ok(())
    }
}
