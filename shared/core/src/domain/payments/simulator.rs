//! The simulator's charge: an intent is created for a hold, processing decides the outcome by
//! scenario, and the `delay` scenario settles later by a timer job. Every decision is reported by
//! webhook ([`super::delivery`]).

use chrono::{DateTime, Utc};

use super::delivery::{redelivery, retry_after};
use super::intent::{
    intent_key, IntentRequest, PaymentIntent, PaymentStatus, ProcessRequest, ProcessStamp, Scenario,
};
use super::service::Payments;
use crate::config::WebhookDelivery;
use crate::domain::auth::Principal;
use crate::domain::records::to_item;
use crate::domain::request_keys::{self, KeyedAnswer, RequestKey};
use crate::domain::reservations::{Reservation, ReservationStatus};
use crate::error::{Error, Result};
use crate::ids::{PaymentIntentId, ReservationId};
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
            processed: None,
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
        let (Charged::Decided(intent) | Charged::Found(intent)) =
            self.charge(caller, intent, request.action, None).await?;
        Ok(intent)
    }

    /// `POST /payments/process` under its idempotency key: [`Self::process`], with the request
    /// and its answer kept on the intent in the write that decides it ([`ProcessStamp`]), so a
    /// repeat of it, whenever it comes, is answered the status it was first answered. Processing
    /// a payment another request decided answers its current status, which the intent does not
    /// keep for this key ([`ProcessAnswer::NotKept`]).
    pub async fn process_keyed(
        &self,
        caller: &Principal,
        request: ProcessRequest,
        key: &RequestKey,
    ) -> Result<ProcessAnswer> {
        let intent = self.get(&request.payment_intent_id, Some(caller)).await?;
        let charged = self
            .charge(caller, intent, request.action, Some(key))
            .await?;
        let body =
            |intent: &PaymentIntent, status| request_keys::body(&intent.processed_view(status));
        Ok(match charged {
            Charged::Decided(intent) => {
                ProcessAnswer::Kept(KeyedAnswer::Fresh(body(&intent, intent.status)?))
            }
            Charged::Found(intent) => match intent.first_answer_to(key) {
                Some(first) => ProcessAnswer::Kept(KeyedAnswer::Replay(body(&intent, first)?)),
                None => ProcessAnswer::NotKept(body(&intent, intent.status)?),
            },
        })
    }

    /// Decides a pending `intent` (by `action`, or the scenario it was made with), keeping `key`
    /// and the answer on it when given; an intent already decided, or decided meanwhile by
    /// another request, is found as it is.
    async fn charge(
        &self,
        caller: &Principal,
        intent: PaymentIntent,
        action: Option<Scenario>,
        key: Option<&RequestKey>,
    ) -> Result<Charged> {
        if intent.status != PaymentStatus::Pending {
            return Ok(Charged::Found(intent));
        }
        let id = &intent.payment_intent_id;
        let outcome = decide(action.unwrap_or(intent.scenario));
        // The hold is marked as being paid and what follows the decision is filed side by side,
        // both before the status flips: an outage cannot leave a payment processing with nothing
        // to settle it (or, posted after the answer, one whose post died with the process), and
        // the buyer waits for one write here, not two in turn. A job filed for a payment the hold
        // refuses is dropped again (and would find nothing to do if that failed).
        let follow_up = self.follow_up(id, outcome);
        let (started, filed) = futures::join!(
            self.reservations.start_payment(&intent.reservation_id, id),
            self.file(follow_up.as_ref()),
        );
        if let Err(refused) = started {
            // A duplicate of this request decided the payment meanwhile, and its follow-up may
            // already have settled the hold: this request is answered as the payment stands, as
            // a duplicate that read it decided is (a 409 "reservation is CONFIRMED" was seen).
            if let Ok(now) = self.get(id, Some(caller)).await {
                if now.status != PaymentStatus::Pending {
                    return Ok(Charged::Found(now));
                }
            }
            if filed.is_ok() && !self.started_by_another(&intent.reservation_id, id).await {
                self.drop_follow_up(id, follow_up.as_ref()).await;
            }
            return Err(refused);
        }
        filed?;
        let now_ms = self.ports.clock.now_ms();
        let processed = key.map(|key| ProcessStamp::new(key, outcome));
        let mut update = Update::new(intent_key(id))
            .set("status", outcome.as_str())
            .when(Condition::equals("status", "PENDING"));
        if outcome == PaymentStatus::Approved {
            update = update.set("approved_at_ms", now_ms);
        }
        if let Some(stamp) = &processed {
            let stamp = serde_json::to_value(stamp).map_err(|e| Error::Internal(e.to_string()))?;
            update = update.set("processed", stamp);
        }
        match self.ports.store.write(Write::Update(update)).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => {
                return Ok(Charged::Found(self.get(id, Some(caller)).await?))
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(payment_intent_id = %id, status = outcome.as_str(), "payment processed");
        if outcome != PaymentStatus::Processing {
            self.deliver_decided(id).await;
        }
        Ok(Charged::Decided(PaymentIntent {
            status: outcome,
            approved_at_ms: (outcome == PaymentStatus::Approved).then_some(now_ms),
            processed,
            ..intent
        }))
    }

    /// The job that follows a decision of `outcome`, filed before it: the settlement of a
    /// payment left processing (`delay`); for a payment decided now whose webhook is posted after
    /// the answer (`after-answer`), the post again ten seconds on, dropped once the first got
    /// through, since a process that stops right after answering is the likely moment to lose
    /// it. A webhook posted before the answer (`inline`, Lambda's way) needs none: should the
    /// process stop between the decision and the post, the hold being paid is still settled by
    /// its own timer at the payment's deadline ([`super::delivery`]), and on DynamoDB this timer
    /// was a ledger entry and two Scheduler calls on every ticket.
    fn follow_up(
        &self,
        id: &PaymentIntentId,
        outcome: PaymentStatus,
    ) -> Option<(Job, DateTime<Utc>)> {
        let now = self.ports.clock.now();
        match (outcome, self.delivery) {
            (PaymentStatus::Processing, _) => Some((settlement(id), now + self.delay)),
            (_, WebhookDelivery::AfterAnswer) => Some((redelivery(id), now + retry_after())),
            (_, WebhookDelivery::Inline) => None,
        }
    }

    async fn file(&self, follow_up: Option<&(Job, DateTime<Utc>)>) -> Result<()> {
        if let Some((job, at)) = follow_up {
            self.ports.scheduler.schedule(*at, job.clone()).await?;
        }
        Ok(())
    }

    /// Whether the hold names `payment` as its payment, read after this request's start was
    /// refused: then a concurrent duplicate started it and filed the very job this request
    /// filed (one name per payment), which must stay. A hold marks its payment before the payment
    /// is decided, and a start refused for the hold's state would be refused the other request
    /// too, so a refusal that finds no mark is one nobody else got past. Unreadable: kept (a job
    /// left over finds nothing to do).
    async fn started_by_another(
        &self,
        reservation: &ReservationId,
        payment: &PaymentIntentId,
    ) -> bool {
        match self.stored_reservation(reservation).await {
            Ok(Some(stored)) => stored.payment_intent_id.as_ref() == Some(payment),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Drops what [`Self::follow_up`] filed, for a payment that did not start.
    async fn drop_follow_up(&self, id: &PaymentIntentId, follow_up: Option<&(Job, DateTime<Utc>)>) {
        let Some((job, _)) = follow_up else {
            return;
        };
        if let Err(e) = self.ports.scheduler.cancel(job).await {
            tracing::warn!(payment_intent_id = %id, error = %e, "could not drop the follow-up of a payment that did not start; it will find nothing to do");
        }
    }

    /// The simulator's delayed decision (job): a processing payment is approved.
    ///
    /// Run again by its timer until it succeeds: a run that stops after the approval (its
    /// webhook neither posted nor its retry filed) finds the payment approved and posts it then.
    pub async fn settle(&self, id: &PaymentIntentId) -> Result<()> {
        let update = Update::new(intent_key(id))
            .set("status", "APPROVED")
            .set("approved_at_ms", self.ports.clock.now_ms())
            .when(Condition::equals("status", "PROCESSING"));
        match self.ports.store.write(Write::Update(update)).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // A timer's job: nobody waits for its answer, so the webhook is posted here and now.
        self.deliver_now(id, false).await
    }
}

/// What processing an intent came to.
enum Charged {
    /// This request decided it: the intent as it is now.
    Decided(PaymentIntent),
    /// It was decided already, or by another request meanwhile: the intent as read.
    Found(PaymentIntent),
}

/// What `POST /payments/process` answers under its idempotency key: its body, and whether the
/// intent keeps that answer for the key's repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessAnswer {
    /// Kept on the intent ([`ProcessStamp`]): the first answer, or a repeat's replay of it.
    Kept(KeyedAnswer),
    /// The status of a payment another request decided: the key's record must keep it, should
    /// its repeat come once the payment has moved on.
    NotKept(String),
}

/// The job that settles a payment left processing.
fn settlement(id: &PaymentIntentId) -> Job {
    Job::SettlePayment {
        payment_intent_id: id.clone(),
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
