//! The platform's webhook: a provider's report is verified, de-duplicated, and handed to the
//! follow-up as a domain event on the bus, so the request that received it does no more than
//! record it.
//!
//! The bus's message may be lost or dead-lettered after its retries (a throttled table, a bug
//! fixed later). An approval the bank gave in time for the hold it pays is then confirmed by that
//! hold's own expiry timer, at the payment's deadline
//! ([`Reservation::expiry_confirms`](crate::domain::reservations::Reservation::expiry_confirms)).
//! Any other approval (too late for its hold, after a cancel, for a hold already settled) also
//! sets a timer ([`Job::FollowUpPayment`], [`FOLLOW_UP_CHECK_SECS`] later) that runs the same
//! follow-up once more: without it such an approval would never be refunded. When the message did
//! its work, the check finds the payment refunded, and does nothing. On AWS every timer is in the
//! sweep's ledger, so a lost timer is run by the sweep. (Setting the check for every approval, as
//! before, cost each sold ticket a ledger entry and two Scheduler calls for a case its hold's
//! timer already covers.)

use super::events::payment_detail;
use super::service::Payments;
use super::webhook_body::WebhookBody;
use crate::domain::records::{to_item, ttl_after};
use crate::domain::webhook_signature::WebhookHeaders;
use crate::error::{Error, Result};
use crate::ports::bus::{DetailType, DomainEvent};
use crate::ports::store::{Key, Write};
use crate::ports::Job;

/// How long after an approval reached the platform its follow-up is checked: past the bus's
/// retries of a message that fails for its own sake (about ten minutes before the DLQ); one that
/// fails because the store is away is retried longer, and the check, idempotent, may run first.
pub const FOLLOW_UP_CHECK_SECS: i64 = 10 * 60;

/// How long a webhook id is remembered (a week), so a late redelivery is still known as a replay.
const SEEN_FOR_SECS: i64 = 7 * 86_400;

fn webhook_seen_key(id: &str) -> Key {
    Key::new(format!("WH#{id}"), "SEEN")
}

impl Payments {
    /// `POST /payments/webhook`: verifies, drops replays, and hands the outcome to the follow-up
    /// through the event bus. Answers whether it was new.
    pub async fn receive_webhook(&self, headers: &WebhookHeaders, body: &[u8]) -> Result<bool> {
        let (payload, detail_type) = self.verified_body(headers, body)?;
        let intent = self.get(&payload.payment_intent_id, None).await?;
        let reservation = self
            .stored_reservation(&intent.reservation_id)
            .await?
            .ok_or(Error::ReservationNotFound)?;
        let now = self.ports.clock.now();
        if self.handled_already(&headers.id).await? {
            return Ok(false);
        }
        if detail_type == DetailType::PaymentApproved && !reservation.expiry_confirms(&intent) {
            // Before the publish: a failure here is a 503 the provider retries, and the id, not
            // yet marked handled, lets the retry through.
            let check = Job::FollowUpPayment {
                payment_intent_id: intent.payment_intent_id.clone(),
                reservation_id: reservation.reservation_id.clone(),
            };
            let at = now + chrono::Duration::seconds(FOLLOW_UP_CHECK_SECS);
            self.ports.scheduler.schedule(at, check).await?;
        }
        let event = DomainEvent {
            detail_type,
            detail: payment_detail(&reservation, &intent, now, None),
        };
        self.ports.bus.publish(event).await?;
        let handled = to_item(
            &webhook_seen_key(&headers.id),
            &serde_json::json!({ "state": "done", "expires_at": ttl_after(now, SEEN_FOR_SECS) }),
        );
        if let Err(e) = self.ports.store.write(Write::put(handled)).await {
            // The provider's retry will publish once more, harmlessly.
            tracing::warn!(error = %e, "webhook not marked handled");
        }
        Ok(true)
    }

    /// The body, once its signature is verified, and the event its type names.
    fn verified_body(
        &self,
        headers: &WebhookHeaders,
        body: &[u8],
    ) -> Result<(WebhookBody, DetailType)> {
        self.signer
            .verify(headers, body, self.ports.clock.now().timestamp())?;
        let payload: WebhookBody = serde_json::from_slice(body)
            .map_err(|e| Error::InvalidRequest(format!("webhook body: {e}")))?;
        let detail_type = match payload.kind.as_str() {
            "payment.approved" => DetailType::PaymentApproved,
            "payment.failed" => DetailType::PaymentFailed,
            other => {
                return Err(Error::InvalidRequest(format!(
                    "type: unknown webhook type {other}"
                )))
            }
        };
        Ok((payload, detail_type))
    }

    /// Whether the webhook id was handled already (a replay, to acknowledge and ignore).
    ///
    /// The id is marked handled once its event is on the bus, one write. A delivery that does
    /// not find the mark publishes: a first delivery, one running at the same moment as the
    /// first, or a retry of one that died (or whose store or bus failed) before its mark.
    /// Publishing twice is harmless: the follow-up is idempotent. (A mark of an earlier release
    /// that says `pending` was such a delivery, and is acted on.) Marking the id before the
    /// publish instead would lose the outcome for good whenever the publish then failed and the
    /// mark could not be taken back.
    async fn handled_already(&self, id: &str) -> Result<bool> {
        let seen = self.ports.store.get(&webhook_seen_key(id)).await?;
        Ok(seen.is_some_and(|item| item.get("state").and_then(|s| s.as_str()) == Some("done")))
    }
}
