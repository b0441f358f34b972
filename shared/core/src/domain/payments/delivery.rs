//! How the simulator reports an outcome: a signed webhook posted at once, as a provider calls
//! back right after deciding, with a timer job as its safety net so the report survives the
//! request and is retried until the platform answers 2xx.

use tracing::Instrument;

use super::intent::PaymentStatus;
use super::service::Payments;
use super::webhook_body::WebhookBody;
use crate::config::WebhookDelivery;
use crate::error::{Error, Result};
use crate::ids::PaymentIntentId;
use crate::ports::scheduler::Job;
use crate::ports::webhook_sender::SignedWebhook;

/// When the simulator retries a webhook that could not be delivered at once.
const WEBHOOK_RETRY_AFTER_SECS: i64 = 10;

impl Payments {
    /// A delivery job a little later, in case the one attempted now does not get through (the
    /// process crashes, the webhook route is down). Redelivery is harmless: the webhook id is
    /// the same, so the platform ignores the replay.
    pub(super) async fn schedule_safety_net(&self, id: &PaymentIntentId) -> Result<()> {
        let at = self.ports.clock.now() + chrono::Duration::seconds(WEBHOOK_RETRY_AFTER_SECS);
        let job = Job::DeliverWebhook {
            payment_intent_id: id.clone(),
        };
        self.ports.scheduler.schedule(at, job).await?;
        Ok(())
    }

    /// Posts the webhook of a payment just decided, before its answer or by a task of its own
    /// after it (`Config::webhook_delivery`). The task carries the request's trace, so the
    /// delivery and the follow-up it starts stay in the payment's trace and log lines.
    pub(super) async fn deliver_decided(&self, id: &PaymentIntentId) {
        match self.delivery {
            WebhookDelivery::Inline => self.deliver_now(id).await,
            WebhookDelivery::AfterAnswer => {
                let this = self.clone();
                let id = id.clone();
                let span = tracing::Span::current();
                let work = async move { this.deliver_now(&id).await }.instrument(span);
                match crate::trace_context::current_trace_id() {
                    Some(trace) => tokio::spawn(crate::trace_context::in_trace(trace, work)),
                    None => tokio::spawn(work),
                };
            }
        }
    }

    /// Posts the webhook at once, as a provider calls back right after deciding; on success the
    /// safety-net job is dropped, on failure it stays to retry.
    pub(super) async fn deliver_now(&self, id: &PaymentIntentId) {
        match self.deliver_webhook(id).await {
            Ok(()) => {
                let job = Job::DeliverWebhook {
                    payment_intent_id: id.clone(),
                };
                if let Err(e) = self.ports.scheduler.cancel(&job).await {
                    tracing::debug!(error = %e, "webhook retry not dropped; its replay is ignored");
                }
            }
            Err(e) => {
                tracing::warn!(payment_intent_id = %id, error = %e, "webhook not delivered yet; retry scheduled")
            }
        }
    }

    /// The simulator posts the outcome to the platform's webhook (job). The webhook id is derived
    /// from the payment and outcome, so a redelivery is recognised as a replay.
    pub async fn deliver_webhook(&self, id: &PaymentIntentId) -> Result<()> {
        let intent = self.get(id, None).await?;
        let kind = match intent.status {
            PaymentStatus::Approved | PaymentStatus::Refunded => "payment.approved",
            PaymentStatus::Failed => "payment.failed",
            PaymentStatus::Pending | PaymentStatus::Processing => return Ok(()),
        };
        let body = WebhookBody {
            kind: kind.into(),
            payment_intent_id: intent.payment_intent_id.clone(),
            reservation_id: intent.reservation_id.clone(),
            amount: intent.amount,
            currency: intent.currency.clone(),
            ts: self.ports.clock.now().timestamp(),
        };
        let body = serde_json::to_string(&body).expect("webhook body serializes");
        let webhook_id = format!(
            "wh_{}_{}",
            intent.payment_intent_id.as_str().trim_start_matches("pi_"),
            kind.trim_start_matches("payment.")
        );
        let headers = self
            .signer
            .sign(&webhook_id, self.ports.clock.now().timestamp(), &body);
        let webhook = SignedWebhook {
            id: headers.id,
            timestamp: headers.timestamp,
            signature: headers.signature,
            body,
            trace_headers: crate::trace_context::current_headers(),
        };
        self.ports
            .webhooks
            .send(&webhook)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))
    }
}
