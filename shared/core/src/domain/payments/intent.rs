//! The payment intent: the record of one charge for one hold, and the requests that make and
//! process it.
//!
//! It is its own file so the reservations can check a payment (is it approved, for this hold,
//! for this amount?) by reading the record, without depending on the service that makes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::request_keys::{KeyStamp, RequestKey};
use crate::ids::{PaymentIntentId, ReservationId, UserId};
use crate::ports::store::Key;

/// How the simulator decides a payment, chosen by the buyer (the default is to approve).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Approve,
    Fail,
    Delay,
    Random,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Pending,
    Processing,
    Approved,
    Failed,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Processing => "PROCESSING",
            Self::Approved => "APPROVED",
            Self::Failed => "FAILED",
            Self::Refunded => "REFUNDED",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentIntent {
    pub payment_intent_id: PaymentIntentId,
    pub status: PaymentStatus,
    pub amount: i64,
    pub currency: String,
    pub reservation_id: ReservationId,
    pub user_id: UserId,
    pub scenario: Scenario,
    pub created_at: DateTime<Utc>,
    /// When the bank approved it (epoch milliseconds): what decides whether the approval came in
    /// time for its hold (`reservations::payment`), whenever its follow-up runs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approved_at_ms: Option<i64>,
    /// The idempotency key of the request that created it, and its answer, for retries
    /// ([`crate::domain::request_keys`]); absent for intents created without one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stamp: Option<KeyStamp>,
    /// The request that processed it (its idempotency key and body) and the status it answered,
    /// kept in the write that decided the payment ([`ProcessStamp`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub processed: Option<ProcessStamp>,
}

/// The `POST /payments/process` that decided a payment, and what it answered, kept on the intent
/// in the write that decides it. A repeat of that very request (its key and its body) is answered
/// from here the status it was first answered, though the payment has moved on since
/// (`PROCESSING`, then `APPROVED`): so the key's record is its claim alone, and processing pays
/// no write for its answer ([`crate::domain::idempotency::Repeats::RunAgain`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStamp {
    pub key: String,
    pub fingerprint: String,
    pub status: PaymentStatus,
}

impl ProcessStamp {
    pub fn new(key: &RequestKey, status: PaymentStatus) -> Self {
        Self {
            key: key.key.clone(),
            fingerprint: key.fingerprint.clone(),
            status,
        }
    }

    /// The status answered, when `key` is the very request that processed the payment.
    pub fn answered(&self, key: &RequestKey) -> Option<PaymentStatus> {
        key.is(&self.key, &self.fingerprint).then_some(self.status)
    }
}

impl PaymentIntent {
    /// `POST /payments/intent`'s answer: the new intent, and that its outcome comes by webhook.
    pub fn created(&self) -> serde_json::Value {
        let mut created = self.view();
        created["next"] = "webhook".into();
        created
    }

    /// The status `POST /payments/process` first answered, when `key` is the very request that
    /// decided this payment ([`ProcessStamp`]).
    pub fn first_answer_to(&self, key: &RequestKey) -> Option<PaymentStatus> {
        self.processed
            .as_ref()
            .and_then(|first| first.answered(key))
    }

    /// `POST /payments/process`'s answer, had the payment `status`.
    pub fn processed_view(&self, status: PaymentStatus) -> serde_json::Value {
        serde_json::json!({ "payment_intent_id": self.payment_intent_id, "status": status })
    }

    /// `GET /payments/{id}/status`.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "payment_intent_id": self.payment_intent_id,
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "reservation_id": self.reservation_id,
        })
    }
}

/// `POST /payments/intent`.
#[derive(Debug, Clone, Deserialize)]
pub struct IntentRequest {
    pub reservation_id: ReservationId,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub scenario: Option<Scenario>,
}

/// `POST /payments/process`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProcessRequest {
    pub payment_intent_id: PaymentIntentId,
    #[serde(default)]
    pub action: Option<Scenario>,
}

pub fn intent_key(id: &PaymentIntentId) -> Key {
    Key::new(format!("PI#{id}"), "PI")
}

impl crate::domain::request_keys::Stamped for PaymentIntent {
    fn stamp(&self) -> Option<&KeyStamp> {
        self.stamp.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::request_keys::test_key as key;

    #[test]
    fn only_the_request_that_processed_is_answered_its_first_status() {
        let stamp = ProcessStamp::new(&key("k1", "f1"), PaymentStatus::Processing);
        assert_eq!(
            stamp.answered(&key("k1", "f1")),
            Some(PaymentStatus::Processing)
        );
        assert_eq!(stamp.answered(&key("k2", "f1")), None, "another key");
        assert_eq!(stamp.answered(&key("k1", "f2")), None, "another body");
    }
}
