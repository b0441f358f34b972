//! How the simulator reports an outcome: a signed webhook posted at once, as a provider calls
//! back right after deciding; one that does not get through (the webhook route is down, the
//! platform answers 5xx) is posted again by a timer job, retried until the platform answers 2xx.
//!
//! A webhook posted before the payment's answer (`inline`, Lambda's way) has no timer filed
//! before the decision in case the process stops between deciding and posting: the hold being
//! paid is settled anyway, by its own expiry timer at the payment's deadline and by the payment's
//! truth (an approval in time confirms it, anything else releases it:
//! [`Reservation::expiry_confirms`](crate::domain::reservations::Reservation::expiry_confirms)),
//! and the buyer, who got no answer, retries. Filing that timer before every decision, as
//! before, cost each sold ticket a ledger entry on DynamoDB and two Scheduler calls. A webhook
//! posted after the answer (`after-answer`, the README's server) keeps its timer, filed before
//! the decision and dropped once the post got through: the answer is out, so a process stopping
//! then would leave a paid buyer on hold until the deadline, and its timer is a row in the
//! server's own journal. A delayed payment's settlement is itself a timer job, run again until it
//! has posted its webhook or filed the retry, so a late approval is always reported (and
//! refunded).
//!
//! A retry ([`Job::DeliverWebhook`]) ends once posting can change nothing, whether or not a post
//! ever got through ([`Payments::redeliver_webhook`]): the webhook's only effect is its
//! follow-up settling the hold (confirm, or release, and refund an approval that came too late),
//! and the hold's own timer settles it by the payment's truth at the deadline anyway. Retried
//! until the platform answered, a webhook whose URL was wrong (`TACOS_PUBLIC_URL` on a dead
//! port) was posted every minute for good after the sale, an error each time (found by a probe).
//! So its retries are bounded by the hold's life, backed off by the scheduler, and the last one
//! logs one error naming the payment.

use tracing::Instrument;

use super::intent::{PaymentIntent, PaymentStatus};
use super::service::Payments;
use super::webhook_body::WebhookBody;
use crate::config::WebhookDelivery;
use crate::domain::reservations::{Reservation, ReservationStatus};
use crate::error::{Error, Result};
use crate::ids::PaymentIntentId;
use crate::ports::scheduler::Job;
use crate::ports::webhook_sender::SignedWebhook;

/// When the simulator retries a webhook that could not be delivered at once.
const WEBHOOK_RETRY_AFTER_SECS: i64 = 10;

/// How long after a post that did not get through it is made again.
pub(super) fn retry_after() -> chrono::Duration {
    chrono::Duration::seconds(WEBHOOK_RETRY_AFTER_SECS)
}

/// The job that posts payment `id`'s webhook again.
pub(super) fn redelivery(id: &PaymentIntentId) -> Job {
    Job::DeliverWebhook {
        payment_intent_id: id.clone(),
    }
}

impl Payments {
    /// Posts the webhook of a payment just decided, before its answer or by a task of its own
    /// after it (`Config::webhook_delivery`). The task carries the request's trace, so the
    /// delivery and the follow-up it starts stay in the payment's trace and log lines.
    pub(super) async fn deliver_decided(&self, id: &PaymentIntentId) {
        match self.delivery {
            WebhookDelivery::Inline => self.deliver_or_log(id, false).await,
            WebhookDelivery::AfterAnswer => {
                let this = self.clone();
                let id = id.clone();
                let span = tracing::Span::current();
                let work = async move { this.deliver_or_log(&id, true).await }.instrument(span);
                match crate::trace_context::current_trace_id() {
                    Some(trace) => tokio::spawn(crate::trace_context::in_trace(trace, work)),
                    None => tokio::spawn(work),
                };
            }
        }
    }

    /// [`Self::deliver_now`] for a payment whose hold is being paid: should neither the post nor
    /// its retry get through, the hold's timer still settles the payment, so it is logged for the
    /// operator and the buyer's answer stands.
    async fn deliver_or_log(&self, id: &PaymentIntentId, filed_before: bool) {
        if let Err(e) = self.deliver_now(id, filed_before).await {
            tracing::error!(payment_intent_id = %id, error = %e, "webhook neither delivered nor its retry filed; the hold's timer settles the payment at its deadline");
        }
    }

    /// Posts the webhook at once, as a provider calls back right after deciding. Once it got
    /// through, the job `filed_before` the decision to post it again is dropped; if it did not,
    /// that job is (re)filed a little later (the same webhook id, so the platform ignores a
    /// replay). `Err` only when neither got through.
    pub(super) async fn deliver_now(&self, id: &PaymentIntentId, filed_before: bool) -> Result<()> {
        let refused = match self.deliver_webhook(id).await {
            Ok(()) if filed_before => {
                if let Err(e) = self.ports.scheduler.cancel(&redelivery(id)).await {
                    tracing::debug!(error = %e, "webhook retry not dropped; its replay is ignored");
                }
                return Ok(());
            }
            Ok(()) => return Ok(()),
            Err(refused) => refused,
        };
        tracing::warn!(payment_intent_id = %id, error = %refused, "webhook not delivered yet; filing its retry");
        let at = self.ports.clock.now() + retry_after();
        self.ports.scheduler.schedule(at, redelivery(id)).await?;
        Ok(())
    }

    /// The retry of a webhook that did not get through ([`Job::DeliverWebhook`]): posted again,
    /// unless the reservation the payment pays is settled so that the post can change nothing
    /// (`settled_without_webhook`); then the retry ends with one error naming the payment
    /// (its earlier failures were each logged by the scheduler). Reading the reservation
    /// settles a hold past its deadline as its timer would.
    pub async fn redeliver_webhook(&self, id: &PaymentIntentId) -> Result<()> {
        let intent = self.get(id, None).await?;
        let reservation = match self.reservations.get(&intent.reservation_id, None).await {
            Ok(reservation) => Some(reservation),
            Err(Error::ReservationNotFound) => None,
            Err(e) => return Err(e),
        };
        if settled_without_webhook(&intent, reservation.as_ref()) {
            tracing::error!(
                payment_intent_id = %id,
                reservation_id = %intent.reservation_id,
                payment_status = intent.status.as_str(),
                reservation_status = reservation.as_ref().map_or("GONE", |r| r.status.as_str()),
                "webhook retry given up: the payment's reservation is settled, so posting it can change nothing (were its posts refused? check the platform's webhook URL)"
            );
            return Ok(());
        }
        self.post_webhook(&intent).await
    }

    /// The simulator posts the outcome to the platform's webhook (job). The webhook id is derived
    /// from the payment and outcome, so a redelivery is recognised as a replay.
    pub async fn deliver_webhook(&self, id: &PaymentIntentId) -> Result<()> {
        let intent = self.get(id, None).await?;
        self.post_webhook(&intent).await
    }

    /// Posts `intent`'s outcome, if it has one.
    async fn post_webhook(&self, intent: &PaymentIntent) -> Result<()> {
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

/// Whether `intent`'s webhook can change nothing any more: its follow-up would find the
/// `reservation` it pays (`None`: gone) settled and nothing owed. That is an approved payment
/// whose reservation it confirmed, or a failed or refunded one whose reservation is no longer
/// held (released, or confirmed by another payment). An approved payment whose hold was released
/// (or is gone) is not: its follow-up refunds it, and only the webhook starts that. A hold still
/// held is not either: the webhook settles it before its deadline.
fn settled_without_webhook(intent: &PaymentIntent, reservation: Option<&Reservation>) -> bool {
    let held = reservation.is_some_and(|r| r.status == ReservationStatus::Hold);
    match intent.status {
        PaymentStatus::Pending | PaymentStatus::Processing => false,
        PaymentStatus::Approved => reservation.is_some_and(|r| {
            r.status == ReservationStatus::Confirmed
                && r.payment_intent_id.as_ref() == Some(&intent.payment_intent_id)
        }),
        PaymentStatus::Failed | PaymentStatus::Refunded => !held,
    }
}
