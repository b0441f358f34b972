//! The follow-up of a payment's outcome, run by the bus consumer (in process) or the
//! `payment-followup` function (on AWS): an approval confirms the hold, or is refunded when the
//! hold is gone; a failure releases the hold. Every step is safe to repeat, because messages
//! arrive late, twice and out of order.

use super::events::payment_detail;
use super::intent::{intent_key, PaymentStatus};
use super::service::Payments;
use crate::error::{Error, Result};
use crate::ids::{PaymentIntentId, ReservationId};
use crate::ports::bus::{DetailType, DomainEvent};
use crate::ports::store::{Condition, StoreError, Update, Write};

impl Payments {
    /// The follow-up of `payment.approved`: confirm, or refund when the hold is gone.
    pub async fn on_approved(
        &self,
        reservation: &ReservationId,
        payment: &PaymentIntentId,
    ) -> Result<()> {
        match self.reservations.confirm(reservation, payment, None).await {
            Ok(_) => Ok(()),
            Err(
                Error::ReservationExpired | Error::InvalidState(_) | Error::ReservationNotFound,
            ) => self.refund(payment).await,
            Err(Error::PaymentNotApproved(why)) => {
                tracing::warn!(payment_intent_id = %payment, %why, "approval that does not confirm");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The follow-up of `payment.failed`: the hold is released, unless the payment the event
    /// names is known to have been approved. Messages arrive late, twice and out of order; an
    /// approval recorded in the store is a fact a `payment.failed` for the same payment (stale,
    /// misrouted, or replayed under another id) cannot undo, and cancelling would leave the buyer
    /// refunded and seatless although they paid.
    ///
    /// A failure reported for a payment the platform still shows undecided (pending, or being
    /// processed) is the provider's word, and the payment is marked failed before its hold is
    /// released: a hold released for a payment shown `PROCESSING` would leave the buyer watching a
    /// payment that can no longer buy anything, and a decision arriving after it (the simulator's
    /// delayed answer) finds the payment decided and changes nothing.
    pub async fn on_failed(
        &self,
        reservation: &ReservationId,
        payment: Option<&PaymentIntentId>,
    ) -> Result<()> {
        if let Some(payment) = payment {
            match self.fail_undecided(reservation, payment).await? {
                FailureIs::Known => {}
                FailureIs::Ignored => return Ok(()),
            }
        }
        match self
            .reservations
            .cancel_for_failed_payment(reservation, payment)
            .await
        {
            Err(Error::ReservationNotFound) => Ok(()),
            other => other,
        }
    }

    /// Whether a reported failure of `payment` stands: the payment is (or is now marked) failed
    /// and pays `reservation`. A payment decided meanwhile by another writer is read again.
    async fn fail_undecided(
        &self,
        reservation: &ReservationId,
        payment: &PaymentIntentId,
    ) -> Result<FailureIs> {
        // Each lost race means the payment was decided meanwhile; the second read sees a decision.
        for _ in 0..3 {
            let intent = match self.get(payment, None).await {
                Ok(intent) => intent,
                Err(Error::PaymentNotFound) => {
                    tracing::warn!(payment_intent_id = %payment, "payment.failed for an unknown payment; ignored");
                    return Ok(FailureIs::Ignored);
                }
                Err(e) => return Err(e),
            };
            if intent.reservation_id != *reservation {
                tracing::warn!(payment_intent_id = %payment,
                    "payment.failed naming another reservation than its payment's; ignored");
                return Ok(FailureIs::Ignored);
            }
            let undecided = match intent.status {
                PaymentStatus::Failed => return Ok(FailureIs::Known),
                PaymentStatus::Approved | PaymentStatus::Refunded => {
                    tracing::warn!(payment_intent_id = %payment, status = intent.status.as_str(),
                        "payment.failed for a payment that was approved; ignored");
                    return Ok(FailureIs::Ignored);
                }
                PaymentStatus::Pending | PaymentStatus::Processing => intent.status,
            };
            let mark = Update::new(intent_key(payment))
                .set("status", PaymentStatus::Failed.as_str())
                .when(Condition::equals("status", undecided.as_str()));
            match self.ports.store.write(Write::Update(mark)).await {
                Ok(()) => {
                    tracing::info!(payment_intent_id = %payment, was = undecided.as_str(),
                        "payment marked failed as the provider reported");
                    return Ok(FailureIs::Known);
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable(
            "the payment kept changing while its failure was recorded".into(),
        ))
    }
    /// Refunds an approval that came after its hold was gone; refunding twice does nothing.
    async fn refund(&self, payment: &PaymentIntentId) -> Result<()> {
        let update = Update::new(intent_key(payment))
            .set("status", "REFUNDED")
            .when(Condition::equals("status", "APPROVED"));
        match self.ports.store.write(Write::Update(update)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let intent = self.get(payment, None).await?;
        tracing::info!(payment_intent_id = %payment, "late approval refunded");
        if let Some(reservation) = self.stored_reservation(&intent.reservation_id).await? {
            let detail = payment_detail(
                &reservation,
                &intent,
                self.ports.clock.now(),
                Some("hold_expired"),
            );
            if let Err(e) = self
                .ports
                .bus
                .publish(DomainEvent {
                    detail_type: DetailType::PaymentRefunded,
                    detail,
                })
                .await
            {
                tracing::warn!(error = %e, "payment.refunded not published");
            }
        }
        Ok(())
    }
}

/// What a reported failure of a payment comes to ([`Payments::on_failed`]).
enum FailureIs {
    /// The payment is failed: its hold, if it still waits for it, is released.
    Known,
    /// Not this payment's truth (approved, unknown, another reservation's): nothing changes.
    Ignored,
}
