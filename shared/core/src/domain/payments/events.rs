//! The detail of the payment events the platform publishes (`payment.approved`,
//! `payment.failed`, `payment.refunded`): the reservation they concern and the payment.

use chrono::{DateTime, Utc};

use super::intent::PaymentIntent;
use crate::domain::reservations::Reservation;
use crate::ports::bus::EventDetail;

pub(super) fn payment_detail(
    reservation: &Reservation,
    intent: &PaymentIntent,
    now: DateTime<Utc>,
    reason: Option<&str>,
) -> EventDetail {
    EventDetail {
        version: 1,
        reservation_id: reservation.reservation_id.clone(),
        event_id: reservation.event_id.clone(),
        user_id: reservation.user_id.clone(),
        seat_ids: reservation.seat_ids.clone(),
        quantity: reservation.quantity,
        occurred_at: now,
        hold_expires_at: None,
        total_amount: None,
        amount: Some(intent.amount),
        currency: Some(intent.currency.clone()),
        order_id: None,
        payment_intent_id: Some(intent.payment_intent_id.clone()),
        reason: reason.map(str::to_string),
        traceparent: None,
    }
}
