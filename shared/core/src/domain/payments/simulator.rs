//! The simulator's charge: an intent is created for a hold, processing decides the outcome by
//! scenario, and the `delay` scenario settles later by a timer job. Every decision is reported by
//! webhook ([`super::delivery`]).

use chrono::{DateTime, Utc};

use super::intent::{
    intent_key, IntentRequest, PaymentIntent, PaymentStatus, ProcessRequest, Scenario,
};
use super::service::Payments;
use crate::domain::auth::Principal;
use crate::domain::records::to_item;
use crate::domain::request_keys::{self, KeyedAnswer, RequestKey};
use crate::domain::reservations::{Reservation, ReservationStatus};
use crate::error::{Error, Result};
use crate::ids::PaymentIntentId;
use crate::ports::scheduler::Job;
use crate::ports::store::{Condition, StoreError, Update, Write};

impl Payments {
    /// A pending intent for the caller's hold, for exactly its total.
    pub async fn create_intent(
        &self,
        caller: &Principal,
        request: IntentRequest,
    ) -> Result<PaymentIntent> {
        self.new_intent(caller, request, None).await
    }

    /// `POST /payments/intent`, with its idempotency key kept on the intent
    /// ([`crate::domain::request_keys`]): the intent's id derived from the key, the answer's body
    /// stamped on it, and a retry (whatever stops it first: the hold already being paid, the key's
    /// intent already written) replays that body. A refusal is the caller's to keep.
    pub async fn create_intent_keyed(
        &self,
        caller: &Principal,
        request: IntentRequest,
        key: &RequestKey,
    ) -> Result<KeyedAnswer> {
        let id: PaymentIntentId = self
            .reservations
            .request_keys
            .id(PaymentIntentId::PREFIX, key);
        let item = intent_key(&id);
        let attempt = self.new_intent(caller, request, Some((id, key))).await;
        request_keys::answer(&*self.ports.store, &item, attempt, key).await
    }

    async fn new_intent(
        &self,
        caller: &Principal,
        request: IntentRequest,
        keyed: Option<(PaymentIntentId, &RequestKey)>,
    ) -> Result<PaymentIntent> {
        let reservation = self
            .reservations
            .get(&request.reservation_id, Some(caller))
            .await?;
        check_payable(&reservation, &request, self.ports.clock.now())?;
        let (payment_intent_id, key) = match keyed {
            Some((id, key)) => (id, Some(key)),
            None => (PaymentIntentId::generate(), None),
        };
        let mut intent = PaymentIntent {
            payment_intent_id,
            status: PaymentStatus::Pending,
            amount: request.amount,
            currency: request.currency,
            reservation_id: reservation.reservation_id,
            user_id: caller.user_id.clone(),
            scenario: request.scenario.unwrap_or(Scenario::Approve),
            created_at: self.ports.clock.now(),
            approved_at_ms: None,
            stamp: None,
        };
        if let Some(key) = key {
            intent.stamp = Some(key.stamp(&intent.created())?);
        }
        self.ports
            .store
            .write(Write::put_new(to_item(
                &intent_key(&intent.payment_intent_id),
                &intent,
            )))
            .await?;
        Ok(intent)
    }

    /// Runs the simulated charge. Processing again reports the current status and sends nothing.
    ///
    /// The hold is marked as being paid (`reservations::payment`) before the outcome is written:
    /// a hold that expired, or that another payment is already paying, is refused before anyone
    /// is charged.
    pub async fn process(
        &self,
        caller: &Principal,
        request: ProcessRequest,
    ) -> Result<PaymentIntent> {
        let intent = self.get(&request.payment_intent_id, Some(caller)).await?;
        if intent.status != PaymentStatus::Pending {
            return Ok(intent);
        }
        let id = &intent.payment_intent_id;
        let outcome = decide(request.action.unwrap_or(intent.scenario));
        // The hold is marked as being paid and the follow-up is filed side by side, both before
        // the status flips: an outage cannot leave a decided payment whose webhook is never sent,
        // and the buyer waits for one write here, not two in turn. A follow-up filed for a payment
        // the hold refuses is dropped again (and would find nothing decided if that failed).
        let (started, filed) = futures::join!(
            self.reservations.start_payment(&intent.reservation_id, id),
            self.schedule_follow_up(id, outcome),
        );
        if let Err(refused) = started {
            if filed.is_ok() {
                self.drop_follow_up(id, outcome).await;
            }
            return Err(refused);
        }
        filed?;
        let now_ms = self.ports.clock.now_ms();
        let mut update = Update::new(intent_key(id))
            .set("status", outcome.as_str())
            .when(Condition::equals("status", "PENDING"));
        if outcome == PaymentStatus::Approved {
            update = update.set("approved_at_ms", now_ms);
        }
        match self.ports.store.write(Write::Update(update)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return self.get(id, Some(caller)).await,
            Err(e) => return Err(e.into()),
        }
        tracing::info!(payment_intent_id = %id, status = outcome.as_str(), "payment processed");
        if outcome != PaymentStatus::Processing {
            self.deliver_decided(id).await;
        }
        Ok(PaymentIntent {
            status: outcome,
            approved_at_ms: (outcome == PaymentStatus::Approved).then_some(now_ms),
            ..intent
        })
    }

    /// What follows a decision: the settlement of a delayed payment, or the safety net of the
    /// webhook for one decided now.
    async fn schedule_follow_up(&self, id: &PaymentIntentId, outcome: PaymentStatus) -> Result<()> {
        if outcome != PaymentStatus::Processing {
            return self.schedule_safety_net(id).await;
        }
        self.ports
            .scheduler
            .schedule(self.ports.clock.now() + self.delay, follow_up(id, outcome))
            .await?;
        Ok(())
    }

    /// Drops what [`Self::schedule_follow_up`] filed, for a payment that did not start.
    async fn drop_follow_up(&self, id: &PaymentIntentId, outcome: PaymentStatus) {
        if let Err(e) = self.ports.scheduler.cancel(&follow_up(id, outcome)).await {
            tracing::warn!(payment_intent_id = %id, error = %e, "could not drop the follow-up of a payment that did not start; it will find nothing to do");
        }
    }

    /// The simulator's delayed decision (job): a processing payment is approved.
    pub async fn settle(&self, id: &PaymentIntentId) -> Result<()> {
        self.schedule_safety_net(id).await?;
        let update = Update::new(intent_key(id))
            .set("status", "APPROVED")
            .set("approved_at_ms", self.ports.clock.now_ms())
            .when(Condition::equals("status", "PROCESSING"));
        match self.ports.store.write(Write::Update(update)).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // A timer's job: nobody waits for its answer, so the webhook is posted here and now.
        self.deliver_now(id).await;
        Ok(())
    }
}

/// The job that follows a decision of `outcome`: the delayed settlement, or the webhook's
/// safety net.
fn follow_up(id: &PaymentIntentId, outcome: PaymentStatus) -> Job {
    match outcome {
        PaymentStatus::Processing => Job::SettlePayment {
            payment_intent_id: id.clone(),
        },
        _ => Job::DeliverWebhook {
            payment_intent_id: id.clone(),
        },
    }
}

/// A hold may be paid while it is one and unexpired (a payment may start only then:
/// `reservations::payment`), in its own currency and for exactly its total.
fn check_payable(
    reservation: &Reservation,
    request: &IntentRequest,
    now: DateTime<Utc>,
) -> Result<()> {
    match reservation.status {
        ReservationStatus::Hold if now >= reservation.hold_expires_at => {
            return Err(Error::ReservationExpired)
        }
        ReservationStatus::Hold => {}
        ReservationStatus::Expired => return Err(Error::ReservationExpired),
        other => {
            return Err(Error::InvalidState(format!(
                "reservation is {}, not HOLD",
                other.as_str()
            )))
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
    Ok(())
}

/// The simulated provider's decision; `random` approves four payments in five.
fn decide(scenario: Scenario) -> PaymentStatus {
    match scenario {
        Scenario::Approve => PaymentStatus::Approved,
        Scenario::Fail => PaymentStatus::Failed,
        Scenario::Delay => PaymentStatus::Processing,
        Scenario::Random if rand::random::<f64>() < 0.8 => PaymentStatus::Approved,
        Scenario::Random => PaymentStatus::Failed,
    }
}
