//! Leaving `HOLD`: the transaction every transition commits (the reservation's status, its
//! seats and the counters, the account's purchase cap given back on a release, all conditional on
//! the hold), the release of the seats that cancel
//! and expiry share, and the expiry timer dropped once it has nothing left to do.

use super::payment;
use super::purchase_cap;
use super::record::{reservation_key, Reservation, ReservationStatus};
use super::service::Reservations;
use crate::domain::catalog::{seat_transition, SeatStatus};
use crate::domain::stock;
use crate::error::Result;
use crate::ids::ReservationId;
use crate::ports::bus::DetailType;
use crate::ports::scheduler::Job;
use crate::ports::store::{Condition, StoreError, Update, Write};

impl Reservations {
    /// Moves a hold to `to` and frees its seats: whether it did (`false`: it lost the race to
    /// another change, which is fine). A hold being paid expires only if its payment was not
    /// approved by the deadline (`payment.rs`).
    pub(super) async fn release(
        &self,
        reservation: &Reservation,
        to: ReservationStatus,
        reason: &str,
    ) -> Result<bool> {
        self.release_if(reservation, to, reason, None).await
    }

    /// [`Self::release`], on the further condition `extra` on the reservation.
    pub(super) async fn release_if(
        &self,
        reservation: &Reservation,
        to: ReservationStatus,
        reason: &str,
        extra: Option<Condition>,
    ) -> Result<bool> {
        let mut writes = self.settle_writes(reservation, to, SeatStatus::Available, extra);
        if let (ReservationStatus::Expired, Some(payment), Some(deadline_ms)) =
            (to, reservation.paying(), reservation.payment_deadline_ms)
        {
            writes.push(payment::not_approved_by(payment, deadline_ms));
        }
        match self.ports.store.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        if to != ReservationStatus::Expired {
            self.drop_timer(&reservation.reservation_id).await;
        }
        tracing::info!(reservation_id = %reservation.reservation_id, status = to.as_str(), "hold released");
        let mut detail = reservation.detail(self.ports.clock.now());
        let kind = if to == ReservationStatus::Expired {
            // When it was due, so operators can see how late expiries run.
            detail.hold_expires_at = Some(reservation.hold_expires_at);
            DetailType::ReservationExpired
        } else {
            detail.reason = Some(reason.to_string());
            DetailType::ReservationCancelled
        };
        self.publish(kind, detail).await;
        Ok(true)
    }

    /// The reservation's status change with its seats and counters, all conditional on the hold.
    pub(super) fn settle_writes(
        &self,
        reservation: &Reservation,
        to: ReservationStatus,
        seats_to: SeatStatus,
        extra: Option<Condition>,
    ) -> Vec<Write> {
        let id = &reservation.reservation_id;
        let event = &reservation.event_id;
        let mut condition = vec![Condition::equals("status", "HOLD")];
        condition.extend(extra);
        let mut writes = vec![Write::Update(
            Update::new(reservation_key(id))
                .set("status", to.as_str())
                .when(Condition::And(condition)),
        )];
        let new_holder = (seats_to == SeatStatus::Sold).then_some(id);
        for seat in &reservation.seat_ids {
            writes.push(seat_transition(
                event,
                seat,
                SeatStatus::Held,
                Some(id),
                seats_to,
                new_holder,
            ));
        }
        let moved = if seats_to == SeatStatus::Sold {
            "sold"
        } else {
            "available"
        };
        writes.extend(stock::settle(event, &reservation.shares(), moved));
        if seats_to != SeatStatus::Sold && reservation.capped {
            // Released: the tickets no longer count toward the account's cap. Sold ones still do.
            writes.push(purchase_cap::give_back(reservation));
        }
        writes
    }

    pub(super) async fn drop_timer(&self, id: &ReservationId) {
        if let Err(e) = self
            .ports
            .scheduler
            .cancel(&Job::ExpireHold {
                reservation_id: id.clone(),
            })
            .await
        {
            // Harmless: the timer will find the reservation settled and do nothing.
            tracing::warn!(error = %e, reservation_id = %id, "could not drop expiry timer");
        }
    }
}
