//! The platform's webhook: a provider's report is verified, de-duplicated, and handed to the
//! follow-up as a domain event on the bus, so the request that received it does no more than
//! record it.
//!
//! An approval also sets a timer ([`Job::FollowUpPayment`], [`FOLLOW_UP_CHECK_SECS`] later) that
//! runs the same follow-up once more. The bus's message may be lost or dead-lettered after its
//! retries (a throttled table, a bug fixed later); without the timer an approval that came too
//! late for its hold (or after a cancel) would then never be refunded. When the message did its
//! work, the check finds the hold confirmed, or the payment refunded, and does nothing. On AWS
//! the timer is in the sweep's ledger like every other, so a lost timer is run by the sweep.

use chrono::{DateTime, Utc};

use super::events::payment_detail;
use super::service::Payments;
use super::webhook_body::WebhookBody;
use crate::domain::records::{to_item, ttl_after};
use crate::domain::webhook_signature::WebhookHeaders;
use crate::error::{Error, Result};
use crate::ports::bus::{DetailType, DomainEvent};
use crate::ports::store::{Condition, Key, StoreError, Update, Write};
use crate::ports::Job;

/// How long after an approval reached the platform its follow-up is checked: past the bus's own
/// retries (SQS redelivers a failed message for about five minutes before dead-lettering it).
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
        if !self.claim_webhook(&headers.id, now).await? {
            return Ok(false);
        }
        if detail_type == DetailType::PaymentApproved {
            // Before the publish: a failure here is a 503 the provider retries, and the claim,
            // still pending, lets the retry through.
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
        let done = Update::new(webhook_seen_key(&headers.id)).set("state", "done");
        if let Err(e) = self.ports.store.write(Write::Update(done)).await {
            // The provider's retry will publish once more, harmlessly.
            tracing::warn!(error = %e, "webhook not marked done");
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

    /// Claims the webhook id; `false` when it was already handled (a replay).
    ///
    /// The id is claimed as `pending` until its event is on the bus, then marked `done`. A
    /// delivery that finds it `done` is a replay and is ignored; one that finds it `pending`
    /// publishes again, because the first may have died (or the store or the bus failed) between
    /// the claim and the publish. Publishing twice is harmless: the follow-up is idempotent.
    /// Deleting the claim on failure instead would lose the outcome for good whenever the store
    /// fails too.
    async fn claim_webhook(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let seen = to_item(
            &webhook_seen_key(id),
            &serde_json::json!({ "state": "pending", "expires_at": ttl_after(now, SEEN_FOR_SECS) }),
        );
        let claim = Write::Put {
            item: seen,
            condition: Some(Condition::Or(vec![
                Condition::NotExists,
                Condition::equals("state", "pending"),
            ])),
        };
        match self.ports.store.write(claim).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
