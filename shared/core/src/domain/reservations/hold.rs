//! Placing a hold: the buyer's admission is checked, the seats (or a general-admission quantity)
//! are taken in one conditional transaction, within the account's purchase cap for the event
//! (`purchase_cap`), and an expiry timer is set. A seat held by a hold past its expiry (its timer
//! lost or late) is not lost to sale: the hold expires it (`expire_lapsed`) and tries once more.
//! The counters moved are those of the stock shards the hold's places belong to
//! ([`crate::domain::stock`]): a seat's own shard, or for general admission shards planned from
//! what this process last read of them, planned again from a fresh read when one turned out
//! emptier.
//!
//! A hold placed with an idempotency key (`hold_keyed`, every `POST /reservations`) gets an id
//! derived from the key and keeps its answer on the reservation
//! ([`crate::domain::request_keys`]): its retry finds the reservation, whatever stopped it first
//! (the reservation token already used, or expired by then), and replays.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::purchase_cap;
use super::record::{reservation_key, Reservation, ReservationStatus};
use super::service::Reservations;
use crate::domain::auth::Principal;
use crate::domain::catalog::{seat_key, seat_transition, Event, EventKind, SeatRecord, SeatStatus};
use crate::domain::queue::admission_used;
use crate::domain::records::{get_record, to_item};
use crate::domain::request_keys::{self, KeyedAnswer, RequestKey};
use crate::domain::reservation_tokens::ReservationClaims;
use crate::domain::sale::Sale;
use crate::domain::stock::{self, StockShare, REPLANS};
use crate::error::{Error, Result};
use crate::ids::{EventId, ReservationId, SeatId};
use crate::ports::bus::DetailType;
use crate::ports::scheduler::Job;
use crate::ports::store::{StoreError, Write};

/// `POST /reservations`.
#[derive(Debug, Clone, Deserialize)]
pub struct HoldRequest {
    pub event_id: EventId,
    #[serde(default)]
    pub seat_ids: Option<Vec<SeatId>>,
    #[serde(default)]
    pub quantity: Option<u32>,
    pub reservation_token: String,
}

/// The hold's one transaction, and where in it sit the writes whose failed condition names the
/// reason the buyer is told: the seats come first, before `inventory`.
struct HoldTransaction {
    writes: Vec<Write>,
    /// The first of the stock shards' writes, right after the seats'.
    inventory: usize,
    /// The account's purchase cap's write (which also marks the token used), right after the
    /// stock's.
    cap: usize,
    /// The admission batch's write, the last.
    batch: usize,
}

impl Reservations {
    /// Places a hold for a buyer who came through the waiting room.
    pub async fn hold(&self, caller: &Principal, request: HoldRequest) -> Result<Reservation> {
        self.place_hold(caller, request, None).await
    }

    /// [`Self::hold`] for a request with an idempotency key: the answer's body (the
    /// reservation's view, as the contract's `201` carries it), or the first answer again for a
    /// retry. A refusal is the caller's to keep: nothing was written.
    pub async fn hold_keyed(
        &self,
        caller: &Principal,
        request: HoldRequest,
        key: &RequestKey,
    ) -> Result<KeyedAnswer> {
        let id: ReservationId = self.request_keys.id(ReservationId::PREFIX, key);
        let item = reservation_key(&id);
        let attempt = self.place_hold(caller, request, Some((id, key))).await;
        request_keys::answer(&*self.ports.store, &item, attempt, key).await
    }

    /// Places the hold, as `keyed` (its id and key) when the request has a key.
    async fn place_hold(
        &self,
        caller: &Principal,
        request: HoldRequest,
        keyed: Option<(ReservationId, &RequestKey)>,
    ) -> Result<Reservation> {
        let event = self.catalog.get(&request.event_id).await?;
        let sale = self.sales.current(&event).await?;
        sale.check_not_closed()?;
        let now = self.ports.clock.now();
        let claims = self.tokens.verify(
            &request.reservation_token,
            &event.event_id,
            &caller.user_id,
            now,
        )?;
        let (seat_ids, quantity) = what_to_hold(&event, request.seat_ids, request.quantity)?;
        let mut reservation = self.new_hold(&event, &sale, caller, seat_ids, quantity, now);
        if let Some((id, key)) = keyed {
            reservation.reservation_id = id;
            reservation.stamp = Some(key.stamp(&reservation.view())?);
        }
        reservation.stock = self.plan_stock(&event, &reservation, false).await?;
        self.place(&mut reservation, &claims, &event).await?;
        tracing::info!(reservation_id = %reservation.reservation_id, event_id = %reservation.event_id, quantity, "hold placed");
        let mut detail = reservation.detail(now);
        detail.hold_expires_at = Some(reservation.hold_expires_at);
        detail.total_amount = Some(reservation.total_amount);
        detail.currency = Some(reservation.currency.clone());
        self.publish(DetailType::ReservationHeld, detail).await;
        Ok(reservation)
    }

    /// The reservation a hold of `seat_ids` (or of `quantity` places) would write, priced and
    /// timed from now (for as long as the sale's hold time).
    fn new_hold(
        &self,
        event: &Event,
        sale: &Sale,
        caller: &Principal,
        seat_ids: Vec<SeatId>,
        quantity: u32,
        now: DateTime<Utc>,
    ) -> Reservation {
        let hold_expires_at = now + sale.hold_duration();
        let total_amount = event.price_of(&seat_ids, quantity);
        Reservation {
            reservation_id: ReservationId::generate(),
            status: ReservationStatus::Hold,
            event_id: event.event_id.clone(),
            seat_ids,
            quantity,
            user_id: caller.user_id.clone(),
            total_amount,
            currency: event.currency.clone(),
            hold_expires_at,
            order_id: None,
            payment_intent_id: None,
            created_at: now,
            hold_expires_at_ms: hold_expires_at.timestamp_millis(),
            payment_deadline: None,
            payment_deadline_ms: None,
            capped: true,
            stock: Vec::new(),
            stamp: None,
        }
    }

    /// The stock shards a hold takes its places from (none recorded: the event's one counter).
    /// `fresh`: read the shards, the last plan having found one emptier than known.
    async fn plan_stock(
        &self,
        event: &Event,
        reservation: &Reservation,
        fresh: bool,
    ) -> Result<Vec<StockShare>> {
        if event.stock_shards <= 1 {
            return Ok(Vec::new());
        }
        match event.kind {
            EventKind::Seated => Ok(stock::seated_shares(
                &reservation.seat_ids,
                event.stock_shards,
            )),
            EventKind::GeneralAdmission => {
                let now_ms = self.ports.clock.now_ms();
                self.known_stock
                    .plan(
                        &*self.ports.store,
                        &event.event_id,
                        reservation.quantity,
                        now_ms,
                        fresh,
                    )
                    .await
            }
        }
    }

    /// Sets the expiry timer, then commits the hold. The timer goes first: a timer without a
    /// hold is a no-op, a hold without a timer would never expire.
    async fn place(
        &self,
        reservation: &mut Reservation,
        claims: &ReservationClaims,
        event: &Event,
    ) -> Result<()> {
        let timer = Job::ExpireHold {
            reservation_id: reservation.reservation_id.clone(),
        };
        self.ports
            .scheduler
            .schedule(reservation.hold_expires_at, timer.clone())
            .await?;
        let result = self.commit_hold(reservation, claims, event).await;
        if let Err(failed) = &result {
            self.after_a_failed_hold(&reservation.reservation_id, timer, failed)
                .await;
        }
        result
    }

    /// Leaves the timer of hold `id` as the hold that is stored needs it, after an attempt to
    /// place it failed with `failed`.
    ///
    /// A keyed hold's id is its key's: a retry of the hold, or its duplicate sent at once, set
    /// the very timer the first hold set, at its own later time, and fails (the token is used,
    /// the seats taken) because the first hold was written. Dropping the timer then, as every
    /// failed attempt once did, left the first hold with none: it never expired unless its owner
    /// read it (a crash probe: 12 of 120 holds retried after a kill kept their seats for good).
    /// So a stored hold gets its timer back at its own time; a hold that has left `HOLD` already
    /// dropped its timer, and the one set again here goes too; a refused hold with nothing
    /// stored drops it. After an outage (a 5xx) nothing is known of a duplicate still running,
    /// so the timer stays: run for nothing, it does nothing. One read, on failures only.
    async fn after_a_failed_hold(&self, id: &ReservationId, timer: Job, failed: &Error) {
        let scheduler = &self.ports.scheduler;
        let outcome = match self.load(id, None).await {
            Ok(stored) if stored.status == ReservationStatus::Hold => {
                scheduler.schedule(stored.due(), timer).await
            }
            Ok(_) => scheduler.cancel(&timer).await,
            Err(Error::ReservationNotFound) if failed.status() < 500 => {
                scheduler.cancel(&timer).await
            }
            Err(Error::ReservationNotFound) => Ok(()),
            Err(e) => {
                tracing::warn!(reservation_id = %id, error = %e, "a failed hold's timer left as it is (the hold could not be read); it does nothing if it has nothing to expire");
                return;
            }
        };
        if let Err(e) = outcome {
            tracing::warn!(reservation_id = %id, error = %e, "a failed hold's timer could not be put right");
        }
    }

    /// The hold's one transaction: seats taken, counters moved, the account's purchase cap
    /// counted and the token marked used on it, reservation written, admission closed. A
    /// condition that fails names the reason the buyer is told.
    async fn commit_hold(
        &self,
        reservation: &mut Reservation,
        claims: &ReservationClaims,
        event: &Event,
    ) -> Result<()> {
        let max_per_account = event.max_per_order;
        let expired = purchase_cap::Stored::read(&*self.ports.store, reservation)
            .await?
            .expired_marks(self.ports.clock.now().timestamp());
        let mut batch_open = true;
        let mut lapsed_looked_for = false;
        let mut replans = 0;
        loop {
            let HoldTransaction {
                mut writes,
                inventory,
                cap,
                batch,
            } = hold_transaction(reservation, claims, max_per_account, &expired);
            if !batch_open {
                writes.truncate(batch);
            }
            let refused = Refused {
                cap,
                max_per_account,
            };
            let failed = match self.ports.store.transact(writes).await {
                Ok(()) => {
                    self.known_stock
                        .taken(&reservation.event_id, &reservation.stock);
                    return Ok(());
                }
                Err(StoreError::ConditionFailed { index }) => index,
                Err(e) => return Err(e.into()),
            };
            if failed == batch && batch_open {
                // The admission batch already closed (its minute is up); nothing to release.
                batch_open = false;
                continue;
            }
            // A token used before makes every other failed condition beside the point (its own
            // hold may be what took the seat): the buyer is told that first. One read of the
            // account's counter, on a refusal's path only; a refusal for the cap tells its count.
            let counter = purchase_cap::Stored::read(&*self.ports.store, reservation).await?;
            if counter.marks_used(claims) {
                return Err(Error::InvalidReservationToken("already used".into()));
            }
            // A shard had fewer places than planned (others took them): plan again from a fresh
            // read, which refuses the hold if the event has too few left.
            if (inventory..cap).contains(&failed)
                && event.kind == EventKind::GeneralAdmission
                && !reservation.stock.is_empty()
                && replans < REPLANS
            {
                replans += 1;
                reservation.stock = self.plan_stock(event, reservation, true).await?;
                continue;
            }
            // A seat is not available. If a hold past its expiry sits on it, that hold's timer
            // was lost or is late: expire it now and try once more. Else the buyer is told which
            // seats are taken, from the same read.
            if failed < inventory {
                let seats = self.seats_as_stored(reservation).await?;
                if !lapsed_looked_for && self.expire_lapsed(&seats).await? {
                    lapsed_looked_for = true;
                    continue;
                }
                return Err(Error::SeatUnavailable(taken(&seats)));
            }
            return Err(self
                .refusal(reservation, failed, &refused, &counter)
                .await?);
        }
    }

    /// Why the hold was refused, from the index of the write whose condition failed (or the
    /// error that stopped this finding out); the seats' own failures are told by `commit_hold`.
    /// The token is known unused (`counter`, read after the refusal): a failed cap is the cap's.
    async fn refusal(
        &self,
        reservation: &Reservation,
        failed: usize,
        refused: &Refused,
        counter: &purchase_cap::Stored,
    ) -> Result<Error> {
        let event = &reservation.event_id;
        if failed == refused.cap {
            return Ok(Error::PurchaseLimitExceeded {
                limit: refused.max_per_account,
                counted: counter.tickets(),
                requested: reservation.quantity,
            });
        }
        let available = self.catalog.inventory(event).await?.available;
        Ok(Error::InsufficientInventory {
            requested: reservation.quantity,
            available,
        })
    }

    /// The hold's seats as they are stored now (`None`: no such seat).
    async fn seats_as_stored(
        &self,
        reservation: &Reservation,
    ) -> Result<Vec<(SeatId, Option<SeatRecord>)>> {
        let mut seats = Vec::with_capacity(reservation.seat_ids.len());
        for seat in &reservation.seat_ids {
            let key = seat_key(&reservation.event_id, seat);
            seats.push((seat.clone(), get_record(&*self.ports.store, &key).await?));
        }
        Ok(seats)
    }
}

/// Which of `seats` are not available.
fn taken(seats: &[(SeatId, Option<SeatRecord>)]) -> Vec<SeatId> {
    let taken: Vec<SeatId> = seats
        .iter()
        .filter(|(_, record)| {
            record
                .as_ref()
                .is_none_or(|r| r.status != SeatStatus::Available)
        })
        .map(|(seat, _)| seat.clone())
        .collect();
    if taken.is_empty() {
        // Freed between the failed write and this read: still report the conflict.
        return seats.iter().map(|(seat, _)| seat.clone()).collect();
    }
    taken
}

/// Where in a hold's transaction the writes sit whose failed condition tells the buyer why.
struct Refused {
    cap: usize,
    max_per_account: u32,
}

/// Each seat from `AVAILABLE` to `HELD` by this hold, its stock shards' counters moved under the
/// condition that enough are left, the account's tickets counted under the condition that they
/// stay within `max_per_account` and the token marked used there unless it already was (dropping
/// the `expired` marks), the reservation written, the admission batch closed.
fn hold_transaction(
    reservation: &Reservation,
    claims: &ReservationClaims,
    max_per_account: u32,
    expired: &[String],
) -> HoldTransaction {
    let event = &reservation.event_id;
    let mut writes = Vec::with_capacity(reservation.seat_ids.len() + 5);
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
    let inventory = writes.len();
    writes.extend(stock::take(event, &reservation.shares()));
    let cap = writes.len();
    writes.push(purchase_cap::count_toward(
        reservation,
        claims,
        max_per_account,
        expired,
    ));
    writes.push(Write::put_new(to_item(
        &reservation_key(&reservation.reservation_id),
        reservation,
    )));
    let batch = writes.len();
    writes.push(admission_used(event, claims.batch));
    HoldTransaction {
        writes,
        inventory,
        cap,
        batch,
    }
}

/// The seats and quantity a request asks for, as the event's kind wants them asked, within the
/// event's limit per order.
fn what_to_hold(
    event: &Event,
    seat_ids: Option<Vec<SeatId>>,
    quantity: Option<u32>,
) -> Result<(Vec<SeatId>, u32)> {
    let (seat_ids, quantity) = match event.kind {
        EventKind::Seated => seats_to_hold(event, seat_ids, quantity)?,
        EventKind::GeneralAdmission => places_to_hold(seat_ids, quantity)?,
    };
    if quantity == 0 || quantity > event.max_per_order {
        // The field the buyer wrote: a seated hold's count is its seats'.
        let field = match event.kind {
            EventKind::Seated => "seat_ids",
            EventKind::GeneralAdmission => "quantity",
        };
        return Err(Error::InvalidRequest(format!(
            "{field}: 1 to {} per order",
            event.max_per_order
        )));
    }
    Ok((seat_ids, quantity))
}

/// A seated event's hold names its seats, each once and each of the event; a quantity, if
/// given, must agree.
fn seats_to_hold(
    event: &Event,
    seat_ids: Option<Vec<SeatId>>,
    quantity: Option<u32>,
) -> Result<(Vec<SeatId>, u32)> {
    let seats = seat_ids
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::InvalidRequest("seat_ids: required for a seated event".into()))?;
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
    if quantity.is_some_and(|q| q as usize != seats.len()) {
        return Err(Error::InvalidRequest(
            "quantity: must equal the number of seat_ids".into(),
        ));
    }
    let n = seats.len() as u32;
    Ok((seats, n))
}

/// A general-admission hold names a quantity and no seats.
fn places_to_hold(
    seat_ids: Option<Vec<SeatId>>,
    quantity: Option<u32>,
) -> Result<(Vec<SeatId>, u32)> {
    if seat_ids.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(Error::InvalidRequest(
            "seat_ids: this event is general admission".into(),
        ));
    }
    let q = quantity.ok_or_else(|| Error::InvalidRequest("quantity: required".into()))?;
    Ok((Vec::new(), q))
}
