//! The body of the simulator's webhook: what the provider sends and the platform reads.

use serde::{Deserialize, Serialize};

use crate::ids::{PaymentIntentId, ReservationId};

/// The body the simulator posts to the webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookBody {
    /// `payment.approved` or `payment.failed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub payment_intent_id: PaymentIntentId,
    pub reservation_id: ReservationId,
    pub amount: i64,
    pub currency: String,
    pub ts: i64,
}
