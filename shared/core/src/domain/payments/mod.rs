//! The payment simulator and what the platform does with its outcomes.
//!
//! The simulator plays an external provider: an intent is created for a hold, processing decides
//! the outcome by scenario, and the outcome is reported by a signed webhook to the platform's own
//! `POST /payments/webhook`, delivered by a timer job so it survives the request (and retries until
//! the platform answers 2xx). The webhook handler verifies and de-duplicates it and publishes
//! `payment.approved` / `payment.failed` on the event bus; the follow-up consumer confirms the
//! reservation, cancels it, or refunds an approval that came too late.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod intent;

pub use intent::{
    intent_key, IntentRequest, PaymentIntent, PaymentStatus, ProcessRequest, Scenario,
};

use super::auth::Principal;
use super::records::{from_item, to_item, ttl_after};
use super::reservations::{reservation_key, Reservation, ReservationStatus, Reservations};
use super::webhook_signature::{WebhookHeaders, WebhookSigner};
use crate::error::{Error, Result};
use crate::ids::{PaymentIntentId, ReservationId};
use crate::ports::bus::{DetailType, DomainEvent, EventDetail};
use crate::ports::scheduler::Job;
use crate::ports::store::{Condition, Key, StoreError, Update, Write};
use crate::ports::webhook_sender::SignedWebhook;
use crate::ports::Ports;

/// The body the simulator posts to the webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub payment_intent_id: PaymentIntentId,
    pub reservation_id: ReservationId,
    pub amount: i64,
    pub currency: String,
    pub ts: i64,
}

/// When the simulator retries a webhook that could not be delivered at once.
const WEBHOOK_RETRY_AFTER_SECS: i64 = 10;

fn webhook_seen_key(id: &str) -> Key {
    Key::new(format!("WH#{id}"), "SEEN")
}

#[derive(Clone)]
pub struct Payments {
    ports: Ports,
    reservations: Reservations,
    signer: WebhookSigner,
    /// How long the `delay` scenario keeps a payment processing (`Config::payment_delay`).
    delay: chrono::Duration,
}

impl Payments {
    pub fn new(
        ports: Ports,
        reservations: Reservations,
        signer: WebhookSigner,
        delay: std::time::Duration,
    ) -> Self {
        Self {
            ports,
            reservations,
            signer,
            delay: chrono::Duration::from_std(delay).unwrap_or_default(),
        }
    }

    pub async fn create_intent(
        &self,
        caller: &Principal,
        request: IntentRequest,
    ) -> Result<PaymentIntent> {
        let reservation = self
            .reservations
            .get(&request.reservation_id, Some(caller))
            .await?;
        match reservation.status {
            ReservationStatus::Hold => {}
            ReservationStatus::Expired => return Err(Error::ReservationExpired),
            other => {
                return Err(Error::InvalidState(
                    format!("reservation is {other:?}, not HOLD").to_uppercase(),
                ))
            }
        }
        if request.currency != reservation.currency {
            return Err(Error::InvalidAmount(format!(
                "currency must be {}",
                reservation.currency
            )));
        }
        if request.amount != reservation.total_amount {
            return Err(Error::InvalidAmount(format!(
                "amount must equal total_amount {}",
                reservation.total_amount
            )));
        }
        let intent = PaymentIntent {
            payment_intent_id: PaymentIntentId::generate(),
            status: PaymentStatus::Pending,
            amount: request.amount,
            currency: request.currency,
            reservation_id: reservation.reservation_id,
            user_id: caller.user_id.clone(),
            scenario: request.scenario.unwrap_or(Scenario::Approve),
            created_at: self.ports.clock.now(),
        };
        self.ports
            .store
            .write(Write::put_new(to_item(
                &intent_key(&intent.payment_intent_id),
                &intent,
            )))
            .await?;
        Ok(intent)
    }

    pub async fn get(
        &self,
        id: &PaymentIntentId,
        caller: Option<&Principal>,
    ) -> Result<PaymentIntent> {
        let intent: PaymentIntent = self
            .ports
            .store
            .get(&intent_key(id))
            .await?
            .map(from_item)
            .transpose()?
            .ok_or(Error::PaymentNotFound)?;
        match caller {
            Some(p) if p.user_id != intent.user_id => Err(Error::PaymentNotFound),
            _ => Ok(intent),
        }
    }

    /// Runs the simulated charge. Processing again reports the current status and sends nothing.
    pub async fn process(
        &self,
        caller: &Principal,
        request: ProcessRequest,
    ) -> Result<PaymentIntent> {
        let intent = self.get(&request.payment_intent_id, Some(caller)).await?;
        if intent.status != PaymentStatus::Pending {
            return Ok(intent);
        }
        let outcome = match request.action.unwrap_or(intent.scenario) {
            Scenario::Approve => PaymentStatus::Approved,
            Scenario::Fail => PaymentStatus::Failed,
            Scenario::Delay => PaymentStatus::Processing,
            Scenario::Random if rand::random::<f64>() < 0.8 => PaymentStatus::Approved,
            Scenario::Random => PaymentStatus::Failed,
        };
        let id = &intent.payment_intent_id;
        // The follow-up is scheduled before the status flips, so an outage cannot leave a decided
        // payment whose webhook is never sent.
        if outcome == PaymentStatus::Processing {
            let delay = self.delay;
            let job = Job::SettlePayment {
                payment_intent_id: id.clone(),
            };
            self.ports
                .scheduler
                .schedule(self.ports.clock.now() + delay, job)
                .await?;
        } else {
            self.schedule_safety_net(id).await?;
        }
        let update = Update::new(intent_key(id))
            .set("status", outcome.as_str())
            .when(Condition::equals("status", "PENDING"));
        match self.ports.store.write(Write::Update(update)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return self.get(id, Some(caller)).await,
            Err(e) => return Err(e.into()),
        }
        tracing::info!(payment_intent_id = %id, status = outcome.as_str(), "payment processed");
        if outcome != PaymentStatus::Processing {
            self.deliver_now(id).await;
        }
        Ok(PaymentIntent {
            status: outcome,
            ..intent
        })
    }

    /// The simulator's delayed decision (job): a processing payment is approved.
    pub async fn settle(&self, id: &PaymentIntentId) -> Result<()> {
        self.schedule_safety_net(id).await?;
        let update = Update::new(intent_key(id))
            .set("status", "APPROVED")
            .when(Condition::equals("status", "PROCESSING"));
        match self.ports.store.write(Write::Update(update)).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.deliver_now(id).await;
        Ok(())
    }

    /// A delivery job a little later, in case the one attempted now does not get through (the
    /// process crashes, the webhook route is down). Redelivery is harmless: the webhook id is
    /// the same, so the platform ignores the replay.
    async fn schedule_safety_net(&self, id: &PaymentIntentId) -> Result<()> {
        let at = self.ports.clock.now() + chrono::Duration::seconds(WEBHOOK_RETRY_AFTER_SECS);
        let job = Job::DeliverWebhook {
            payment_intent_id: id.clone(),
        };
        self.ports.scheduler.schedule(at, job).await?;
        Ok(())
    }

    /// Posts the webhook at once, as a provider calls back right after deciding; on success the
    /// safety-net job is dropped, on failure it stays to retry.
    async fn deliver_now(&self, id: &PaymentIntentId) {
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

    /// `POST /payments/webhook`: verifies, drops replays, and hands the outcome to the follow-up
    /// through the event bus. Answers whether it was new.
    pub async fn receive_webhook(&self, headers: &WebhookHeaders, body: &[u8]) -> Result<bool> {
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
        let intent = self.get(&payload.payment_intent_id, None).await?;
        let reservation: Reservation = self
            .ports
            .store
            .get(&reservation_key(&intent.reservation_id))
            .await?
            .map(from_item)
            .transpose()?
            .ok_or(Error::ReservationNotFound)?;
        let now = self.ports.clock.now();
        // The webhook id is claimed as `pending` until its event is on the bus, then marked
        // `done`. A delivery that finds it `done` is a replay and is ignored; one that finds it
        // `pending` publishes again, because the first may have died (or the store or the bus
        // failed) between the claim and the publish. Publishing twice is harmless: the follow-up
        // is idempotent. Deleting the claim on failure instead would lose the outcome for good
        // whenever the store fails too.
        let seen = to_item(
            &webhook_seen_key(&headers.id),
            &serde_json::json!({ "state": "pending", "expires_at": ttl_after(now, 7 * 86_400) }),
        );
        let claim = Write::Put {
            item: seen,
            condition: Some(Condition::Or(vec![
                Condition::NotExists,
                Condition::equals("state", "pending"),
            ])),
        };
        match self.ports.store.write(claim).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
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

    /// The follow-up of `payment.approved`: confirm, or refund when the hold is gone.
    pub async fn on_approved(
        &self,
        reservation: &ReservationId,
        payment: &PaymentIntentId,
    ) -> Result<()> {
        match self.reservations.confirm(reservation, payment, None).await {
            Ok(_) => Ok(()),
            Err(
                Error::ReservationExpired | Error::InvalidState(_) | Error::ReservationNotFound,
            ) => self.refund(payment).await,
            Err(Error::PaymentNotApproved(why)) => {
                tracing::warn!(payment_intent_id = %payment, %why, "approval that does not confirm");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The follow-up of `payment.failed`: the hold is released, unless the payment the event
    /// names is known to have been approved. Messages arrive late, twice and out of order; an
    /// approval recorded in the store is a fact a `payment.failed` for the same payment (stale,
    /// misrouted, or replayed under another id) cannot undo, and cancelling would leave the buyer
    /// refunded and seatless although they paid.
    pub async fn on_failed(
        &self,
        reservation: &ReservationId,
        payment: Option<&PaymentIntentId>,
    ) -> Result<()> {
        if let Some(payment) = payment {
            match self.get(payment, None).await {
                Ok(intent)
                    if matches!(
                        intent.status,
                        PaymentStatus::Approved | PaymentStatus::Refunded
                    ) || intent.reservation_id != *reservation =>
                {
                    tracing::warn!(payment_intent_id = %payment, status = intent.status.as_str(),
                        "payment.failed for a payment that was approved or is another reservation's; ignored");
                    return Ok(());
                }
                Ok(_) => {}
                Err(Error::PaymentNotFound) => {
                    tracing::warn!(payment_intent_id = %payment, "payment.failed for an unknown payment; ignored");
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        match self
            .reservations
            .cancel_for_failed_payment(reservation)
            .await
        {
            Err(Error::ReservationNotFound) => Ok(()),
            other => other,
        }
    }

    async fn refund(&self, payment: &PaymentIntentId) -> Result<()> {
        let update = Update::new(intent_key(payment))
            .set("status", "REFUNDED")
            .when(Condition::equals("status", "APPROVED"));
        match self.ports.store.write(Write::Update(update)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let intent = self.get(payment, None).await?;
        tracing::info!(payment_intent_id = %payment, "late approval refunded");
        if let Some(item) = self
            .ports
            .store
            .get(&reservation_key(&intent.reservation_id))
            .await?
        {
            let reservation: Reservation = from_item(item)?;
            let detail = payment_detail(
                &reservation,
                &intent,
                self.ports.clock.now(),
                Some("hold_expired"),
            );
            if let Err(e) = self
                .ports
                .bus
                .publish(DomainEvent {
                    detail_type: DetailType::PaymentRefunded,
                    detail,
                })
                .await
            {
                tracing::warn!(error = %e, "payment.refunded not published");
            }
        }
        Ok(())
    }
}

fn payment_detail(
    reservation: &Reservation,
    intent: &PaymentIntent,
    now: DateTime<Utc>,
    reason: Option<&str>,
) -> EventDetail {
    EventDetail {
        version: 1,
        reservation_id: reservation.reservation_id.clone(),
        event_id: reservation.event_id.clone(),
        user_id: reservation.user_id.clone(),
        seat_ids: reservation.seat_ids.clone(),
        quantity: reservation.quantity,
        occurred_at: now,
        hold_expires_at: None,
        total_amount: None,
        amount: Some(intent.amount),
        currency: Some(intent.currency.clone()),
        order_id: None,
        payment_intent_id: Some(intent.payment_intent_id.clone()),
        reason: reason.map(str::to_string),
        traceparent: None,
    }
}
