//! The reservation record: its status, its key, the contract's view of it, and the detail of
//! the domain events about it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::request_keys::KeyStamp;
use crate::domain::stock::StockShare;
use crate::ids::{EventId, OrderId, PaymentIntentId, ReservationId, SeatId, UserId};
use crate::ports::bus::EventDetail;
use crate::ports::store::Key;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    Hold,
    Confirmed,
    Cancelled,
    Expired,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
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
    /// Once a payment has started (`payment_intent_id` names it): until when an approval of it
    /// still confirms the hold, which stays until then (`payment.rs`). The hold's expiry plus the
    /// payment grace; absent while no payment has started.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payment_deadline: Option<DateTime<Utc>>,
    /// `payment_deadline` in epoch milliseconds, for conditions; absent (not zero) until a
    /// payment starts, which is what starting one checks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payment_deadline_ms: Option<i64>,
    /// Whether this reservation's tickets count toward its account's purchase cap
    /// (`purchase_cap`): every hold placed since the cap exists. Holds placed before are released
    /// without touching the counter, which never counted them.
    #[serde(skip_serializing_if = "is_false", default)]
    pub capped: bool,
    /// The stock shards its places were taken from ([`crate::domain::stock`]), so that settling
    /// it moves the same ones. Empty for a reservation stored before shards existed: all from
    /// shard 0, its event's one counter item.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stock: Vec<StockShare>,
    /// The idempotency key of the request that placed the hold, and its answer, for retries
    /// ([`crate::domain::request_keys`]); absent for holds placed without one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stamp: Option<KeyStamp>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl crate::domain::request_keys::Stamped for Reservation {
    fn stamp(&self) -> Option<&KeyStamp> {
        self.stamp.as_ref()
    }
}

impl Reservation {
    /// The contract's view: the stored record without its bookkeeping attributes.
    pub fn view(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("reservation serializes");
        if let Some(map) = value.as_object_mut() {
            map.remove("hold_expires_at_ms");
            map.remove("payment_deadline_ms");
            map.remove("capped");
            map.remove("stock");
            map.remove("stamp");
        }
        value
    }

    /// The stock shards its places came from, and how many from each.
    pub fn shares(&self) -> Vec<StockShare> {
        if self.stock.is_empty() {
            return vec![StockShare {
                shard: 0,
                quantity: self.quantity,
            }];
        }
        self.stock.clone()
    }

    /// When the hold lapses if nothing settles it: its expiry, or once a payment has started,
    /// that payment's deadline.
    pub fn due(&self) -> DateTime<Utc> {
        self.payment_deadline.unwrap_or(self.hold_expires_at)
    }

    /// The payment under way (started, and the hold not settled yet), if any.
    pub fn paying(&self) -> Option<&PaymentIntentId> {
        match (self.status, self.payment_deadline) {
            (ReservationStatus::Hold, Some(_)) => self.payment_intent_id.as_ref(),
            _ => None,
        }
    }

    /// The detail every reservation event carries; each transition adds its own fields.
    pub(super) fn detail(&self, now: DateTime<Utc>) -> EventDetail {
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

pub fn reservation_key(id: &ReservationId) -> Key {
    Key::new(["RSV#", id.as_str()].concat(), "RSV")
}
