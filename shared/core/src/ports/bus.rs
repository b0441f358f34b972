//! The event bus port: domain events published for whoever follows up on them.
//!
//! In AWS this is an EventBridge bus whose rules feed an SQS queue drained by the
//! `payment-followup` function; locally an in-process channel feeds the same handler. Delivery is
//! at least once and in any order, so consumers are idempotent.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, OrderId, PaymentIntentId, ReservationId, SeatId, UserId};
use crate::trace_context;

/// Envelope `source` of reservation events.
pub const SOURCE_RESERVATION: &str = "tacos.reservation";
/// Envelope `source` of payment events.
pub const SOURCE_PAYMENT: &str = "tacos.payment";

/// Fields every domain event carries (the contract's `detail`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDetail {
    pub version: u32,
    pub reservation_id: ReservationId,
    pub event_id: EventId,
    pub user_id: UserId,
    pub seat_ids: Vec<SeatId>,
    pub quantity: u32,
    pub occurred_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hold_expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amount: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub order_id: Option<OrderId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub payment_intent_id: Option<PaymentIntentId>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// W3C trace context of the span that published the event (`00-<trace>-<span>-<flags>`), so
    /// its consumers continue the same trace. Stamped on the way out by the instrumented bus
    /// ([`crate::telemetry::ports::InstrumentedBus`]); absent when tracing is off.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub traceparent: Option<String>,
}

/// A domain event: the contract's `detail-type` plus its detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    #[serde(rename = "detail-type")]
    pub detail_type: DetailType,
    pub detail: EventDetail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DetailType {
    #[serde(rename = "reservation.held")]
    ReservationHeld,
    #[serde(rename = "reservation.confirmed")]
    ReservationConfirmed,
    #[serde(rename = "reservation.cancelled")]
    ReservationCancelled,
    #[serde(rename = "reservation.expired")]
    ReservationExpired,
    #[serde(rename = "payment.approved")]
    PaymentApproved,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "payment.refunded")]
    PaymentRefunded,
}

impl DetailType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReservationHeld => "reservation.held",
            Self::ReservationConfirmed => "reservation.confirmed",
            Self::ReservationCancelled => "reservation.cancelled",
            Self::ReservationExpired => "reservation.expired",
            Self::PaymentApproved => "payment.approved",
            Self::PaymentFailed => "payment.failed",
            Self::PaymentRefunded => "payment.refunded",
        }
    }

    pub fn source(self) -> &'static str {
        match self {
            Self::PaymentApproved | Self::PaymentFailed | Self::PaymentRefunded => SOURCE_PAYMENT,
            _ => SOURCE_RESERVATION,
        }
    }
}

impl DomainEvent {
    /// The span a consumer handles the event in, continuing the trace that published it.
    pub fn consumer_span(&self) -> tracing::Span {
        let traceparent = self.detail.traceparent.as_deref();
        let trace_id = traceparent.and_then(trace_context::trace_id_of);
        let span = tracing::info_span!(
            "event",
            otel.name = %format!("event {}", self.detail_type.as_str()),
            otel.kind = "consumer",
            detail_type = self.detail_type.as_str(),
            reservation_id = %self.detail.reservation_id,
            trace_id = trace_id.as_deref().unwrap_or_default(),
        );
        trace_context::continue_from(&span, traceparent);
        span
    }

    /// The EventBridge-shaped envelope `{"source","detail-type","detail"}`.
    pub fn envelope(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.detail_type.source(),
            "detail-type": self.detail_type.as_str(),
            "detail": self.detail,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event bus unavailable: {0}")]
pub struct PublishError(pub String);

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    async fn publish(&self, event: DomainEvent) -> Result<(), PublishError>;
}

/// What consumes published events: the `payment-followup` function in AWS, the platform itself
/// locally.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event; an error asks for redelivery.
    async fn handle_event(&self, event: DomainEvent) -> Result<(), String>;
}
