//! Holds, confirmations, cancellations and expiries.
//!
//! Every change of a reservation's status is one transaction that also moves its seats and the
//! inventory counters, conditional on the reservation still being `HOLD` and each seat still being
//! held by it. That condition is what makes confirm, cancel and expiry race safely: whichever
//! commits first wins, the others see the condition fail and report the winner's outcome. A hold
//! takes its seats under the condition that each is `AVAILABLE` (or, for general admission, that
//! enough are left), so no seat is ever sold twice, at any concurrency.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Principal;
use super::catalog::{
    inventory_key, seat_key, seat_transition, Catalog, EventKind, SeatRecord, SeatStatus,
};
use super::payments::intent::{intent_key, PaymentIntent, PaymentStatus};
use super::queue::admission_used;
use super::records::{from_item, get_record, to_item};
use super::reservation_tokens::{mark_used, ReservationTokens};
use crate::error::{Error, Result};
use crate::ids::{EventId, OrderId, PaymentIntentId, ReservationId, SeatId, UserId};
use crate::ports::bus::{DetailType, DomainEvent, EventDetail};
use crate::ports::scheduler::Job;
use crate::ports::store::{Condition, Key, StoreError, Update, Write};
use crate::ports::Ports;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    Hold,
    Confirmed,
    Cancelled,
    Expired,
}

impl ReservationStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hold => "HOLD",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
        }
    }
}

/// A reservation as stored and as the contract shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reservation {
    pub reservation_id: ReservationId,
    pub status: ReservationStatus,
    pub event_id: EventId,
    pub seat_ids: Vec<SeatId>,
    pub quantity: u32,
    pub user_id: UserId,
    pub total_amount: i64,
    pub currency: String,
    pub hold_expires_at: DateTime<Utc>,
    pub order_id: Option<OrderId>,
    pub payment_intent_id: Option<PaymentIntentId>,
    pub created_at: DateTime<Utc>,
    /// `hold_expires_at` in epoch milliseconds, for conditions.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub hold_expires_at_ms: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Reservation {
    /// The contract's view: the stored record without its bookkeeping attributes.
    pub fn view(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("reservation serializes");
        if let Some(map) = value.as_object_mut() {
            map.remove("hold_expires_at_ms");
        }
        value
    }

    fn detail(&self, now: DateTime<Utc>) -> EventDetail {
        EventDetail {
            version: 1,
            reservation_id: self.reservation_id.clone(),
            event_id: self.event_id.clone(),
            user_id: self.user_id.clone(),
            seat_ids: self.seat_ids.clone(),
            quantity: self.quantity,
            occurred_at: now,
            hold_expires_at: None,
            total_amount: None,
            amount: None,
            currency: None,
            order_id: None,
            payment_intent_id: None,
            reason: None,
            traceparent: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    pub event_id: EventId,
    #[serde(default)]
    pub seat_ids: Option<Vec<SeatId>>,
    #[serde(default)]
    pub quantity: Option<u32>,
    pub reservation_token: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    pub order_id: OrderId,
    pub status: ReservationStatus,
}

pub fn reservation_key(id: &ReservationId) -> Key {
    Key::new(["RSV#", id.as_str()].concat(), "RSV")
}

#[derive(Clone)]
pub struct Reservations {
    ports: Ports,
    catalog: Catalog,
    tokens: ReservationTokens,
    /// How long a hold lasts (`Config::hold_seconds`).
    hold: Duration,
}

impl Reservations {
    pub fn new(ports: Ports, catalog: Catalog, tokens: ReservationTokens, hold: Duration) -> Self {
        Self {
            ports,
            catalog,
            tokens,
            hold,
        }
    }

    /// Places a hold for a buyer who came through the waiting room.
    pub async fn hold(&self, caller: &Principal, request: HoldRequest) -> Result<Reservation> {
        let event = self.catalog.get(&request.event_id).await?;
        let now = self.ports.clock.now();
        let claims = self.tokens.verify(
            &request.reservation_token,
            &event.event_id,
            &caller.user_id,
            now,
        )?;
        let (seat_ids, quantity) = match event.kind {
            EventKind::Seated => {
                let seats = request.seat_ids.filter(|s| !s.is_empty()).ok_or_else(|| {
                    Error::InvalidRequest("seat_ids: required for a seated event".into())
                })?;
                let mut unique = seats.clone();
                unique.sort();
                unique.dedup();
                if unique.len() != seats.len() {
                    return Err(Error::InvalidRequest(
                        "seat_ids: a seat is listed twice".into(),
                    ));
                }
                if let Some(unknown) = seats.iter().find(|s| !event.has_seat(s)) {
                    return Err(Error::InvalidRequest(format!(
                        "seat_ids: {unknown} is not a seat of this event"
                    )));
                }
                if request.quantity.is_some_and(|q| q as usize != seats.len()) {
                    return Err(Error::InvalidRequest(
                        "quantity: must equal the number of seat_ids".into(),
                    ));
                }
                let n = seats.len() as u32;
                (seats, n)
            }
            EventKind::GeneralAdmission => {
                if request.seat_ids.as_ref().is_some_and(|s| !s.is_empty()) {
                    return Err(Error::InvalidRequest(
                        "seat_ids: this event is general admission".into(),
                    ));
                }
                let q = request
                    .quantity
                    .ok_or_else(|| Error::InvalidRequest("quantity: required".into()))?;
                (Vec::new(), q)
            }
        };
        if quantity == 0 || quantity > event.max_per_order {
            return Err(Error::InvalidRequest(format!(
                "quantity: 1 to {} per order",
                event.max_per_order
            )));
        }
        let hold_expires_at = now + self.hold;
        let reservation = Reservation {
            reservation_id: ReservationId::generate(),
            status: ReservationStatus::Hold,
            event_id: event.event_id.clone(),
            seat_ids,
            quantity,
            user_id: caller.user_id.clone(),
            total_amount: event.price * i64::from(quantity),
            currency: event.currency.clone(),
            hold_expires_at,
            order_id: None,
            payment_intent_id: None,
            created_at: now,
            hold_expires_at_ms: hold_expires_at.timestamp_millis(),
        };
        // The timer goes first: a timer without a hold is a no-op, a hold without a timer would
        // never expire.
        let timer = Job::ExpireHold {
            reservation_id: reservation.reservation_id.clone(),
        };
        self.ports
            .scheduler
            .schedule(hold_expires_at, timer.clone())
            .await?;
        let result = self.commit_hold(&reservation, &claims).await;
        if result.is_err() {
            if let Err(e) = self.ports.scheduler.cancel(&timer).await {
                tracing::warn!(error = %e, "could not drop the timer of a failed hold; it will no-op");
            }
        }
        result?;
        tracing::info!(reservation_id = %reservation.reservation_id, event_id = %reservation.event_id, quantity, "hold placed");
        let mut detail = reservation.detail(now);
        detail.hold_expires_at = Some(hold_expires_at);
        detail.total_amount = Some(reservation.total_amount);
        detail.currency = Some(reservation.currency.clone());
        self.publish(DetailType::ReservationHeld, detail).await;
        Ok(reservation)
    }

    /// The hold's one transaction: token used, seats taken, counters moved, reservation written,
    /// admission closed. A condition that fails names the reason the buyer is told.
    async fn commit_hold(
        &self,
        reservation: &Reservation,
        claims: &super::reservation_tokens::ReservationClaims,
    ) -> Result<()> {
        let event = &reservation.event_id;
        let n = i64::from(reservation.quantity);
        let mut writes = vec![mark_used(claims)];
        for seat in &reservation.seat_ids {
            writes.push(seat_transition(
                event,
                seat,
                SeatStatus::Available,
                None,
                SeatStatus::Held,
                Some(&reservation.reservation_id),
            ));
        }
        let inventory_index = writes.len();
        writes.push(Write::Update(
            Update::new(inventory_key(event))
                .add("available", -n)
                .add("held", n)
                .when(Condition::AtLeast("available".into(), n)),
        ));
        writes.push(Write::put_new(to_item(
            &reservation_key(&reservation.reservation_id),
            reservation,
        )));
        let batch_index = writes.len();
        writes.push(admission_used(event, claims.batch));
        loop {
            match self.ports.store.transact(writes.clone()).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed { index: 0 }) => {
                    return Err(Error::InvalidReservationToken("already used".into()))
                }
                Err(StoreError::ConditionFailed { index })
                    if index == batch_index && writes.len() > batch_index =>
                {
                    // The admission batch already closed (its minute is up); nothing to release.
                    writes.truncate(batch_index);
                }
                Err(StoreError::ConditionFailed { index }) if index < inventory_index => {
                    return Err(Error::SeatUnavailable(
                        self.taken(event, &reservation.seat_ids).await?,
                    ));
                }
                Err(StoreError::ConditionFailed { .. }) => {
                    let available = self.catalog.inventory(event).await?.available;
                    return Err(Error::InsufficientInventory {
                        requested: reservation.quantity,
                        available,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Which of `seats` are not available now.
    async fn taken(&self, event: &EventId, seats: &[SeatId]) -> Result<Vec<SeatId>> {
        let mut taken = Vec::new();
        for seat in seats {
            let record: Option<SeatRecord> = self
                .ports
                .store
                .get(&seat_key(event, seat))
                .await?
                .map(from_item)
                .transpose()?;
            if record.is_none_or(|r| r.status != SeatStatus::Available) {
                taken.push(seat.clone());
            }
        }
        if taken.is_empty() {
            // Freed between the failed write and this read: still report the conflict.
            taken = seats.to_vec();
        }
        Ok(taken)
    }

    /// The reservation, if `caller` may see it (owners and administrators; `None` is the platform
    /// itself). A hold past its expiry is expired on the spot, so nobody reads a stale `HOLD`.
    pub async fn get(&self, id: &ReservationId, caller: Option<&Principal>) -> Result<Reservation> {
        let reservation = self.load(id, caller).await?;
        if reservation.status == ReservationStatus::Hold
            && self.ports.clock.now() >= reservation.hold_expires_at
        {
            self.expire(id).await?;
            return self.load(id, caller).await;
        }
        Ok(reservation)
    }

    async fn load(&self, id: &ReservationId, caller: Option<&Principal>) -> Result<Reservation> {
        let reservation: Reservation = get_record(&*self.ports.store, &reservation_key(id))
            .await?
            .ok_or(Error::ReservationNotFound)?;
        match caller {
            Some(p) if p.user_id != reservation.user_id => Err(Error::ReservationNotFound),
            _ => Ok(reservation),
        }
    }

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
            match reservation.status {
                ReservationStatus::Confirmed
                    if reservation.payment_intent_id.as_ref() == Some(payment) =>
                {
                    let order_id = reservation
                        .order_id
                        .clone()
                        .ok_or_else(|| Error::Internal("confirmed without order".into()))?;
                    return Ok(Confirmation {
                        order_id,
                        status: ReservationStatus::Confirmed,
                    });
                }
                ReservationStatus::Confirmed => {
                    return Err(Error::InvalidState(
                        "reservation already confirmed with another payment".into(),
                    ))
                }
                ReservationStatus::Cancelled => {
                    return Err(Error::InvalidState("reservation was cancelled".into()))
                }
                ReservationStatus::Expired => return Err(Error::ReservationExpired),
                ReservationStatus::Hold => {}
            }
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
            if intent.amount != reservation.total_amount || intent.currency != reservation.currency
            {
                return Err(Error::PaymentNotApproved(
                    "payment amount does not match the reservation".into(),
                ));
            }
            let now = self.ports.clock.now();
            let order_id = OrderId::generate();
            let mut writes = self.settle_writes(
                &reservation,
                ReservationStatus::Confirmed,
                SeatStatus::Sold,
                Some(Condition::GreaterThan(
                    "hold_expires_at_ms".into(),
                    now.timestamp_millis(),
                )),
            );
            if let Write::Update(update) = &mut writes[0] {
                update
                    .set
                    .push(("order_id".into(), order_id.as_str().into()));
                update
                    .set
                    .push(("payment_intent_id".into(), payment.as_str().into()));
            }
            writes.push(Write::Check {
                key: intent_key(payment),
                condition: Condition::equals("status", "APPROVED"),
            });
            match self.ports.store.transact(writes).await {
                Ok(()) => {
                    self.drop_timer(id).await;
                    tracing::info!(reservation_id = %id, order_id = %order_id, "reservation confirmed");
                    let mut detail = reservation.detail(now);
                    detail.order_id = Some(order_id.clone());
                    detail.payment_intent_id = Some(payment.clone());
                    self.publish(DetailType::ReservationConfirmed, detail).await;
                    return Ok(Confirmation {
                        order_id,
                        status: ReservationStatus::Confirmed,
                    });
                }
                // Lost a race (expiry, cancel, another confirm) or the payment changed: look again.
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable(
            "reservation kept changing; retry".into(),
        ))
    }

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

    /// Moves a hold to `to` and frees its seats; losing the race to another change is fine.
    async fn release(
        &self,
        reservation: &Reservation,
        to: ReservationStatus,
        reason: &str,
    ) -> Result<()> {
        let writes = self.settle_writes(reservation, to, SeatStatus::Available, None);
        match self.ports.store.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if to != ReservationStatus::Expired {
            self.drop_timer(&reservation.reservation_id).await;
        }
        tracing::info!(reservation_id = %reservation.reservation_id, status = to.as_str(), "hold released");
        let mut detail = reservation.detail(self.ports.clock.now());
        let kind = if to == ReservationStatus::Expired {
            DetailType::ReservationExpired
        } else {
            detail.reason = Some(reason.to_string());
            DetailType::ReservationCancelled
        };
        self.publish(kind, detail).await;
        Ok(())
    }

    /// The reservation's status change with its seats and counters, all conditional on the hold.
    fn settle_writes(
        &self,
        reservation: &Reservation,
        to: ReservationStatus,
        seats_to: SeatStatus,
        extra: Option<Condition>,
    ) -> Vec<Write> {
        let id = &reservation.reservation_id;
        let event = &reservation.event_id;
        let n = i64::from(reservation.quantity);
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
        writes.push(Write::Update(
            Update::new(inventory_key(event))
                .add("held", -n)
                .add(moved, n)
                .when(Condition::AtLeast("held".into(), n)),
        ));
        writes
    }

    async fn drop_timer(&self, id: &ReservationId) {
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

    async fn publish(&self, detail_type: DetailType, detail: EventDetail) {
        if let Err(e) = self
            .ports
            .bus
            .publish(DomainEvent {
                detail_type,
                detail,
            })
            .await
        {
            tracing::warn!(error = %e, detail_type = detail_type.as_str(), "domain event not published");
        }
    }
}
