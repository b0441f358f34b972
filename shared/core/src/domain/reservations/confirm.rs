//! Confirming a hold paid by an approved payment: the reservation, its seats (`SOLD`) and the
//! counters move in one transaction, conditional on the reservation still being a hold and not
//! having expired, or, for the payment the hold is being paid with, on the bank having approved
//! it by the payment's deadline (`payment.rs`): an approval is judged by when the bank gave it,
//! not by when its follow-up ran.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::record::{Reservation, ReservationStatus};
use super::service::Reservations;
use crate::domain::auth::Principal;
use crate::domain::catalog::SeatStatus;
use crate::domain::payments::intent::{intent_key, PaymentIntent, PaymentStatus};
use crate::domain::records::from_item;
use crate::error::{Error, Result};
use crate::ids::{OrderId, PaymentIntentId, ReservationId};
use crate::ports::bus::DetailType;
use crate::ports::store::{Condition, StoreError, Write};

/// What a confirmation answers: the order, and the status it left the reservation in.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    pub order_id: OrderId,
    pub status: ReservationStatus,
}

impl Reservations {
    /// Confirms a hold paid by `payment`. Confirming again with the same payment returns the
    /// same order.
    pub async fn confirm(
        &self,
        id: &ReservationId,
        payment: &PaymentIntentId,
        caller: Option<&Principal>,
    ) -> Result<Confirmation> {
        for _ in 0..3 {
            let reservation = self.get(id, caller).await?;
            if let Some(confirmed) = settled_answer(&reservation, payment)? {
                return Ok(confirmed);
            }
            if let Some(confirmed) = self.confirm_paid(&reservation, payment).await? {
                return Ok(confirmed);
            }
            // Lost a race (expiry, cancel, another confirm) or the payment changed: look again.
        }
        Err(Error::Unavailable(
            "reservation kept changing; retry".into(),
        ))
    }

    /// Confirms `reservation` (a hold, as read) with `payment` once the payment checks out;
    /// `None` when a condition failed because the hold or the payment changed since they were
    /// read. The expiry timer's way to settle a hold whose payment was approved in time.
    pub(super) async fn confirm_paid(
        &self,
        reservation: &Reservation,
        payment: &PaymentIntentId,
    ) -> Result<Option<Confirmation>> {
        let intent = self
            .check_payment(&reservation.reservation_id, payment, reservation)
            .await?;
        self.commit_confirm(reservation, &intent).await
    }

    /// The intent of `payment`, refused when it is not an approved one for this reservation, in
    /// its amount and currency.
    async fn check_payment(
        &self,
        id: &ReservationId,
        payment: &PaymentIntentId,
        reservation: &Reservation,
    ) -> Result<PaymentIntent> {
        let intent: PaymentIntent = self
            .ports
            .store
            .get(&intent_key(payment))
            .await?
            .map(from_item)
            .transpose()?
            .filter(|i: &PaymentIntent| i.reservation_id == *id)
            .ok_or_else(|| {
                Error::PaymentNotApproved("no payment for this reservation with that id".into())
            })?;
        if intent.status != PaymentStatus::Approved {
            return Err(Error::PaymentNotApproved(format!(
                "payment is {}",
                intent.status.as_str()
            )));
        }
        if intent.amount != reservation.total_amount || intent.currency != reservation.currency {
            return Err(Error::PaymentNotApproved(
                "payment amount does not match the reservation".into(),
            ));
        }
        Ok(intent)
    }

    /// Commits the confirmation; `None` when a condition failed because the hold or the payment
    /// changed since they were read.
    async fn commit_confirm(
        &self,
        reservation: &Reservation,
        intent: &PaymentIntent,
    ) -> Result<Option<Confirmation>> {
        let id = &reservation.reservation_id;
        let payment = &intent.payment_intent_id;
        let now = self.ports.clock.now();
        let order_id = OrderId::generate();
        let writes = self.confirm_writes(reservation, intent, &order_id, now);
        match self.ports.store.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        self.drop_timer(id).await;
        tracing::info!(reservation_id = %id, order_id = %order_id, "reservation confirmed");
        let mut detail = reservation.detail(now);
        detail.order_id = Some(order_id.clone());
        detail.payment_intent_id = Some(payment.clone());
        self.publish(DetailType::ReservationConfirmed, detail).await;
        Ok(Some(Confirmation {
            order_id,
            status: ReservationStatus::Confirmed,
        }))
    }

    /// The hold's settlement as sold, recording the order and the payment, conditional on the
    /// hold being unexpired at `now` or, when `intent` is the payment it is being paid with, on
    /// the bank's approval being no later than the payment's deadline.
    fn confirm_writes(
        &self,
        reservation: &Reservation,
        intent: &PaymentIntent,
        order_id: &OrderId,
        now: DateTime<Utc>,
    ) -> Vec<Write> {
        let payment = &intent.payment_intent_id;
        let unexpired = Condition::GreaterThan("hold_expires_at_ms".into(), now.timestamp_millis());
        let in_time = match intent.approved_at_ms {
            Some(approved_at) => Condition::Or(vec![
                unexpired,
                Condition::And(vec![
                    Condition::equals("payment_intent_id", payment.as_str()),
                    Condition::AtLeast("payment_deadline_ms".into(), approved_at),
                ]),
            ]),
            None => unexpired,
        };
        let mut writes = self.settle_writes(
            reservation,
            ReservationStatus::Confirmed,
            SeatStatus::Sold,
            Some(in_time),
        );
        if let Write::Update(update) = &mut writes[0] {
            update
                .set
                .push(("order_id".into(), order_id.as_str().into()));
            update
                .set
                .push(("payment_intent_id".into(), payment.as_str().into()));
        }
        // No condition on the payment's intent: `check_payment` read it approved, and an approval
        // is final but for a refund, which `Payments::on_approved` makes only after a
        // confirmation found the reservation no longer a hold (expired, cancelled, confirmed by
        // another payment), a state it never leaves; the hold this write requires rules it out.
        writes
    }
}

/// What confirming a reservation that is no longer a hold answers: the same order when this
/// payment confirmed it (a retry), a refusal otherwise. `None` for a hold, still to confirm.
fn settled_answer(
    reservation: &Reservation,
    payment: &PaymentIntentId,
) -> Result<Option<Confirmation>> {
    match reservation.status {
        ReservationStatus::Confirmed if reservation.payment_intent_id.as_ref() == Some(payment) => {
            let order_id = reservation
                .order_id
                .clone()
                .ok_or_else(|| Error::Internal("confirmed without order".into()))?;
            Ok(Some(Confirmation {
                order_id,
                status: ReservationStatus::Confirmed,
            }))
        }
        ReservationStatus::Confirmed => Err(Error::InvalidState(
            "reservation already confirmed with another payment".into(),
        )),
        ReservationStatus::Cancelled => {
            Err(Error::InvalidState("reservation was cancelled".into()))
        }
        ReservationStatus::Expired => Err(Error::ReservationExpired),
        ReservationStatus::Hold => Ok(None),
    }
}
