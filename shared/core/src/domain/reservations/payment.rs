//! A hold being paid: starting a payment marks the hold with the payment and a grace deadline in
//! one conditional write, so that the bank's answer is judged by when the bank gave it, not by
//! when its follow-up happened to run.
//!
//! Why: a payment takes time (the simulator's `delay` scenario, a real bank's 3-D Secure), and an
//! approval reaches the hold through webhook, bus, queue and follow-up, any of which may be late
//! or delivered again. Judged when the follow-up runs, a buyer who pays in the hold's last seconds,
//! or whose confirmation message is retried, would be charged and then refunded.
//!
//! So a payment may start only while the hold is a hold, unexpired, and no other payment of it is
//! under way ([`Reservations::start_payment`]); from then the hold stays until its
//! `payment_deadline` (its expiry plus `Config::payment_grace_seconds`), an approval the bank gave
//! by that deadline confirms it whenever the follow-up runs (`confirm.rs`), and the expiry timer,
//! at the deadline, confirms a payment approved in time rather than release its seats
//! (`expire.rs`). An approval given after the deadline is refunded, and the seats go back on sale.

use chrono::{DateTime, SecondsFormat, Utc};

use super::record::{reservation_key, Reservation, ReservationStatus};
use super::service::Reservations;
use crate::domain::payments::intent::{intent_key, PaymentIntent, PaymentStatus};
use crate::domain::records::get_record;
use crate::error::{Error, Result};
use crate::ids::{PaymentIntentId, ReservationId};
use crate::ports::store::{Condition, StoreError, Update, Write};

impl Reservations {
    /// Marks the hold as being paid by `payment`, with its deadline; refused (and nothing
    /// written) when the hold is settled or expired, or another payment of it is under way.
    /// Starting the same payment again is fine, and so is a new payment once the one before
    /// it failed (a declined card, then another).
    ///
    /// Starting again a payment already under way asks nothing of the hold's expiry, only that
    /// the hold still waits for it: a repeat of the request that started it (a retry, a double
    /// submit) may come after the hold's own time, within the payment's deadline, and refusing it
    /// would answer `RESERVATION_EXPIRED` for a payment being made.
    pub async fn start_payment(&self, id: &ReservationId, payment: &PaymentIntentId) -> Result<()> {
        let reservation = self.load(id, None).await?;
        let now = self.ports.clock.now();
        if reservation.paying() == Some(payment)
            && reservation
                .payment_deadline
                .is_some_and(|deadline| now < deadline)
        {
            return Ok(());
        }
        let deadline = reservation.hold_expires_at + self.payment_grace;
        // Who pays the hold now: nobody yet, this payment, or one that must have failed.
        let (payer, failed) = match reservation.paying() {
            Some(other) if other != payment => (
                Condition::equals("payment_intent_id", other.as_str()),
                Some(Write::Check {
                    key: intent_key(other),
                    condition: Condition::equals("status", PaymentStatus::Failed.as_str()),
                }),
            ),
            _ => (
                Condition::Or(vec![
                    Condition::Missing("payment_deadline_ms".into()),
                    Condition::equals("payment_intent_id", payment.as_str()),
                ]),
                None,
            ),
        };
        let update = Update::new(reservation_key(id))
            .set("payment_intent_id", payment.as_str())
            // As the record serializes it (chrono's RFC 3339 form).
            .set(
                "payment_deadline",
                deadline.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            )
            .set("payment_deadline_ms", deadline.timestamp_millis())
            .when(Condition::And(vec![
                Condition::equals("status", ReservationStatus::Hold.as_str()),
                Condition::GreaterThan("hold_expires_at_ms".into(), now.timestamp_millis()),
                payer,
            ]));
        let written = match failed {
            None => self.ports.store.write(Write::Update(update)).await,
            Some(check) => {
                self.ports
                    .store
                    .transact(vec![Write::Update(update), check])
                    .await
            }
        };
        match written {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => {
                let now_stored = self.load(id, None).await?;
                Err(unpayable(&now_stored, payment, now))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The payment under way for `reservation`, when the bank approved it by the deadline: the
    /// hold is then the buyer's, whenever the follow-up comes.
    pub(super) async fn approved_in_time(
        &self,
        reservation: &Reservation,
    ) -> Result<Option<PaymentIntentId>> {
        let (Some(payment), Some(deadline)) = (reservation.paying(), reservation.payment_deadline)
        else {
            return Ok(None);
        };
        let intent: Option<PaymentIntent> =
            get_record(&*self.ports.store, &intent_key(payment)).await?;
        Ok(intent
            .filter(|intent| approved_by(intent, deadline))
            .map(|intent| intent.payment_intent_id))
    }
}

impl Reservation {
    /// Whether this hold's own expiry timer settles `intent`'s approval should its follow-up
    /// never come: the hold is being paid by `intent`, which the bank approved by the payment's
    /// deadline, and at that deadline the timer confirms it rather than release its seats
    /// ([`Reservations::expire`]; on AWS the timer is in the sweep's ledger like every other).
    /// Such an approval needs no follow-up check of its own (`payments::receipt`).
    pub fn expiry_confirms(&self, intent: &PaymentIntent) -> bool {
        self.paying() == Some(&intent.payment_intent_id)
            && self
                .payment_deadline
                .is_some_and(|deadline| approved_by(intent, deadline))
    }
}

/// Whether `intent` was approved by the bank no later than `deadline`.
pub(super) fn approved_by(intent: &PaymentIntent, deadline: DateTime<Utc>) -> bool {
    intent.status == PaymentStatus::Approved
        && intent
            .approved_at_ms
            .is_some_and(|at| at <= deadline.timestamp_millis())
}

/// The condition on a payment's intent that it was not approved by `deadline_ms`: what releasing
/// a hold being paid requires, so an approval given in time is never released under its buyer.
pub(super) fn not_approved_by(payment: &PaymentIntentId, deadline_ms: i64) -> Write {
    Write::Check {
        key: intent_key(payment),
        condition: Condition::Or(vec![
            Condition::equals("status", PaymentStatus::Pending.as_str()),
            Condition::equals("status", PaymentStatus::Processing.as_str()),
            Condition::equals("status", PaymentStatus::Failed.as_str()),
            Condition::equals("status", PaymentStatus::Refunded.as_str()),
            Condition::GreaterThan("approved_at_ms".into(), deadline_ms),
            Condition::Missing("approved_at_ms".into()),
        ]),
    }
}

/// Why a payment of `reservation` (as it is now) may not start.
fn unpayable(reservation: &Reservation, payment: &PaymentIntentId, now: DateTime<Utc>) -> Error {
    match reservation.status {
        ReservationStatus::Expired => Error::ReservationExpired,
        ReservationStatus::Hold if now >= reservation.hold_expires_at => Error::ReservationExpired,
        ReservationStatus::Hold => match reservation.paying() {
            Some(other) if other != payment => Error::InvalidState(format!(
                "another payment of this reservation ({other}) is under way"
            )),
            _ => Error::Unavailable("reservation changed while the payment started; retry".into()),
        },
        other => Error::InvalidState(format!("reservation is {}, not HOLD", other.as_str())),
    }
}
