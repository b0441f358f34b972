//! Faults survived, in process: the at-least-once, out-of-order and lossy deliveries every AWS
//! service behind the platform is allowed to make, injected on purpose, each followed by the full
//! ledger check ([`World::audit`]): no sale lost, none duplicated, every seat where the
//! reservations say it is.
//!
//! Why here: on AWS, EventBridge Scheduler delivers a timer at least once and possibly late, SQS
//! delivers a follow-up at least once and in no particular order, a Lambda invocation that times
//! out is retried although its work may have completed, and a payment provider's webhook may never
//! come. Each is cheap to provoke with in-process adapters and a clock moved by hand, and the code
//! under test is the real one: [`JobHandler::run_job`] is what the `expire` and
//! `payment-simulator` functions call, [`EventHandler::handle_event`] what `payment-followup` and
//! the in-process bus consumer call, and `tacos_lambda::triggers::handle_batch` is the
//! `payment-followup` function's own SQS batch handler.
//!
//! Covered elsewhere and not repeated: an approval after the hold's payment grace
//! (`payments::an_approval_after_the_grace_is_refunded_and_sells_nothing`), an approval followed
//! up after the deadline (`payments`), confirm racing expiry and
//! cancel (`holds`), a webhook replayed (`payments`), a store outage answered 503 (`outage`). The
//! store going away on the AWS-protocol stack is `tests/tests/aws/faults.rs`, run by
//! `scripts/faults.sh`.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use serde_json::{json, Value};
use tacos_core::domain::auth::{Principal, UserRecord};
use tacos_core::domain::catalog::Event;
use tacos_core::domain::payments::{
    intent_key, PaymentIntent, PaymentStatus, ProcessRequest, Scenario,
};
use tacos_core::domain::reservations::{Reservation, ReservationStatus};
use tacos_core::ids::{EventId, PaymentIntentId, ReservationId};
use tacos_core::ports::{
    DetailType, DomainEvent, EventDetail, EventHandler, Job, JobHandler, Scheduler, Store, Write,
};

use tacos_aws::redelivery::{Hide, Redelivery, RedeliveryError};

use crate::world::{World, HOLD_SECONDS};

/// The domain event a verified webhook publishes for `payment` (what SQS hands the follow-up).
fn outcome(kind: DetailType, hold: &Reservation, payment: &PaymentIntentId) -> DomainEvent {
    DomainEvent {
        detail_type: kind,
        detail: EventDetail {
            version: 1,
            reservation_id: hold.reservation_id.clone(),
            event_id: hold.event_id.clone(),
            user_id: hold.user_id.clone(),
            seat_ids: hold.seat_ids.clone(),
            quantity: hold.quantity,
            occurred_at: Utc::now(),
            hold_expires_at: None,
            total_amount: None,
            amount: Some(hold.total_amount),
            currency: Some(hold.currency.clone()),
            order_id: None,
            payment_intent_id: Some(payment.clone()),
            reason: None,
            traceparent: None,
        },
    }
}

async fn follow_up(world: &World, event: DomainEvent) {
    world.local.platform.handle_event(event).await.unwrap();
}

async fn run_job(world: &World, job: Job) {
    world.local.platform.run_job(job).await.unwrap();
}

fn expire_job(hold: &Reservation) -> Job {
    Job::ExpireHold {
        reservation_id: hold.reservation_id.clone(),
    }
}

async fn status_of(world: &World, id: &ReservationId) -> ReservationStatus {
    world
        .platform()
        .reservations
        .get(id, None)
        .await
        .unwrap()
        .status
}

async fn payment_status(world: &World, id: &PaymentIntentId) -> PaymentStatus {
    world
        .platform()
        .payments
        .get(id, None)
        .await
        .unwrap()
        .status
}

/// A seated event of four seats and a buyer holding `seats` of it.
async fn seated_hold(world: &World, seats: &[&str]) -> (Principal, Reservation, EventId) {
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let buyer = world.buyer();
    let hold = world
        .hold_seats(&buyer, &event.event_id, seats)
        .await
        .unwrap();
    (buyer, hold, event.event_id)
}

// ---- the expiry timer: twice, late, after a confirm ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_timer_delivered_twice_at_once_and_again_releases_the_hold_once() {
    let world = World::new();
    let (_, hold, event) = seated_hold(&world, &["A-1", "A-2"]).await;
    world.advance(HOLD_SECONDS as f64 + 1.0);
    // Two deliveries of the same schedule at the same moment, then a third whose first ack was
    // lost: exactly one release.
    let (a, b) = tokio::join!(
        world.local.platform.run_job(expire_job(&hold)),
        world.local.platform.run_job(expire_job(&hold))
    );
    a.unwrap();
    b.unwrap();
    run_job(&world, expire_job(&hold)).await;
    assert_eq!(world.fire_timers().await, 1, "the scheduled copy fires too");
    assert_eq!(world.published(DetailType::ReservationExpired), 1);
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Expired
    );
    let audit = world.audit(&event).await;
    assert_eq!(
        (audit.inventory.available, audit.inventory.held),
        (4, 0),
        "released once, not twice"
    );
    // The seats are sellable again, to one buyer.
    world
        .hold_seats(&world.buyer(), &event, &["A-1", "A-2"])
        .await
        .unwrap();
    assert_eq!(world.audit(&event).await.inventory.held, 2);
}

#[tokio::test]
async fn a_late_expiry_timer_after_a_late_approval_refunds_once_and_releases_once() {
    let world = World::new();
    let event = world.general(10, 10.0).await;
    let buyer = world.buyer();
    let hold = world
        .hold_quantity(&buyer, &event.event_id, 2)
        .await
        .unwrap();
    // The bank sits on the payment (its settlement lost) and approves it only long after the
    // hold's grace ran out; the expiry timer has still not fired either (Scheduler is late), and
    // the approval's follow-up arrives first: it must not sell, because the hold was over in time
    // even though nothing has marked it so yet.
    let payment = world.pay(&buyer, &hold, Scenario::Delay).await;
    let settle = Job::SettlePayment {
        payment_intent_id: payment.payment_intent_id.clone(),
    };
    world.local.scheduler.cancel(&settle).await.unwrap();
    world.advance(HOLD_SECONDS as f64 * 10.0);
    assert!(
        HOLD_SECONDS as f64 * 10.0
            > HOLD_SECONDS as f64 + world.platform().config().payment_grace_seconds as f64
    );
    run_job(&world, settle).await;
    let approved = outcome(
        DetailType::PaymentApproved,
        &hold,
        &payment.payment_intent_id,
    );
    follow_up(&world, approved.clone()).await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Expired
    );
    assert_eq!(
        payment_status(&world, &payment.payment_intent_id).await,
        PaymentStatus::Refunded
    );
    // Now the late timer (with the simulator's webhook retry, which still finds nobody), and the
    // approval again (SQS redelivery).
    world.fire_timers().await;
    follow_up(&world, approved).await;
    assert_eq!(world.published(DetailType::ReservationExpired), 1);
    assert_eq!(world.published(DetailType::PaymentRefunded), 1);
    let audit = world.audit(&event.event_id).await;
    assert_eq!(
        (
            audit.inventory.available,
            audit.inventory.held,
            audit.inventory.sold
        ),
        (10, 0, 0)
    );
    world.audit_money().await;
}

#[tokio::test]
async fn an_expiry_timer_firing_after_a_confirm_keeps_the_sale() {
    let world = World::new();
    let (buyer, hold, event) = seated_hold(&world, &["A-3"]).await;
    let payment = world.pay(&buyer, &hold, Scenario::Approve).await;
    follow_up(
        &world,
        outcome(
            DetailType::PaymentApproved,
            &hold,
            &payment.payment_intent_id,
        ),
    )
    .await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Confirmed
    );
    // The confirm dropped the timer; suppose the drop was lost (it is best effort) and the
    // schedule fires anyway, at its time and once more later.
    world
        .local
        .scheduler
        .schedule(hold.hold_expires_at, expire_job(&hold))
        .await
        .unwrap();
    world.advance(HOLD_SECONDS as f64 + 1.0);
    world.fire_timers().await;
    world.advance(HOLD_SECONDS as f64 * 5.0);
    run_job(&world, expire_job(&hold)).await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Confirmed
    );
    assert_eq!(world.published(DetailType::ReservationExpired), 0);
    let audit = world.audit(&event).await;
    assert_eq!((audit.inventory.sold, audit.inventory.held), (1, 0));
    assert_eq!(audit.confirmed.len(), 1);
    world.audit_money().await;
}

// ---- the payment follow-up: twice, out of order, after a cancel ---------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_follow_up_delivered_twice_at_once_sells_once_and_cancels_once() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let buyer = world.buyer();
    let paid = world
        .hold_seats(&buyer, &event.event_id, &["A-1"])
        .await
        .unwrap();
    let approved = world.pay(&buyer, &paid, Scenario::Approve).await;
    let other = world.buyer();
    let unpaid = world
        .hold_seats(&other, &event.event_id, &["A-2"])
        .await
        .unwrap();
    let failed = world.pay(&other, &unpaid, Scenario::Fail).await;

    let approval = outcome(
        DetailType::PaymentApproved,
        &paid,
        &approved.payment_intent_id,
    );
    let failure = outcome(
        DetailType::PaymentFailed,
        &unpaid,
        &failed.payment_intent_id,
    );
    let platform = &world.local.platform;
    let (a, b, c, d) = tokio::join!(
        platform.handle_event(approval.clone()),
        platform.handle_event(approval.clone()),
        platform.handle_event(failure.clone()),
        platform.handle_event(failure.clone()),
    );
    for result in [a, b, c, d] {
        result.unwrap();
    }
    follow_up(&world, approval).await;
    follow_up(&world, failure).await;
    assert_eq!(world.published(DetailType::ReservationConfirmed), 1);
    assert_eq!(world.published(DetailType::ReservationCancelled), 1);
    assert_eq!(world.published(DetailType::PaymentRefunded), 0);
    let audit = world.audit(&event.event_id).await;
    assert_eq!(
        (
            audit.inventory.sold,
            audit.inventory.held,
            audit.inventory.available
        ),
        (1, 0, 3)
    );
    world.audit_money().await;
}

#[tokio::test]
async fn payment_follow_ups_out_of_order_settle_to_the_payments_truth() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 4)], 10.0).await;

    // 1. The same payment, approved, named by a `payment.failed` that arrives first (stale,
    //    misrouted): the failure is not the payment's truth and cancels nothing; the approval sells.
    let buyer = world.buyer();
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-1"])
        .await
        .unwrap();
    let paid = world.pay(&buyer, &hold, Scenario::Approve).await;
    follow_up(
        &world,
        outcome(DetailType::PaymentFailed, &hold, &paid.payment_intent_id),
    )
    .await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Hold,
        "a failure that did not happen releases nothing"
    );
    follow_up(
        &world,
        outcome(DetailType::PaymentApproved, &hold, &paid.payment_intent_id),
    )
    .await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Confirmed
    );

    // 2. A first payment fails, the buyer pays again and that one is approved; the approval's
    //    follow-up arrives before the failure's: the sale stands, the stale failure does nothing.
    let buyer = world.buyer();
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-2"])
        .await
        .unwrap();
    let first = world.pay(&buyer, &hold, Scenario::Fail).await;
    let second = world.pay(&buyer, &hold, Scenario::Approve).await;
    follow_up(
        &world,
        outcome(
            DetailType::PaymentApproved,
            &hold,
            &second.payment_intent_id,
        ),
    )
    .await;
    follow_up(
        &world,
        outcome(DetailType::PaymentFailed, &hold, &first.payment_intent_id),
    )
    .await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Confirmed
    );

    // 3. The same two payments with the failure first: the hold waits for the second payment
    //    now, so the stale failure of the first releases nothing, and the approval sells. Nobody
    //    is charged and then refunded.
    let buyer = world.buyer();
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-3"])
        .await
        .unwrap();
    let first = world.pay(&buyer, &hold, Scenario::Fail).await;
    let second = world.pay(&buyer, &hold, Scenario::Approve).await;
    follow_up(
        &world,
        outcome(DetailType::PaymentFailed, &hold, &first.payment_intent_id),
    )
    .await;
    follow_up(
        &world,
        outcome(
            DetailType::PaymentApproved,
            &hold,
            &second.payment_intent_id,
        ),
    )
    .await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Confirmed
    );
    assert_eq!(
        payment_status(&world, &second.payment_intent_id).await,
        PaymentStatus::Approved
    );
    assert_eq!(world.published(DetailType::PaymentRefunded), 0);

    // 4. A failed payment whose hold no other payment has taken over: the failure releases it.
    let buyer = world.buyer();
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-4"])
        .await
        .unwrap();
    let failed = world.pay(&buyer, &hold, Scenario::Fail).await;
    follow_up(
        &world,
        outcome(DetailType::PaymentFailed, &hold, &failed.payment_intent_id),
    )
    .await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Cancelled
    );

    let audit = world.audit(&event.event_id).await;
    assert_eq!(
        (
            audit.inventory.sold,
            audit.inventory.held,
            audit.inventory.available
        ),
        (3, 0, 1)
    );
    world.audit_money().await;
}

#[tokio::test]
async fn an_approval_after_a_cancel_is_refunded_and_sells_nothing() {
    let world = World::new();
    let (buyer, hold, event) = seated_hold(&world, &["A-4"]).await;
    let payment = world.pay(&buyer, &hold, Scenario::Approve).await;
    world
        .platform()
        .reservations
        .cancel(&hold.reservation_id, &buyer)
        .await
        .unwrap();
    let approval = outcome(
        DetailType::PaymentApproved,
        &hold,
        &payment.payment_intent_id,
    );
    follow_up(&world, approval.clone()).await;
    follow_up(&world, approval).await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Cancelled
    );
    assert_eq!(
        payment_status(&world, &payment.payment_intent_id).await,
        PaymentStatus::Refunded
    );
    assert_eq!(world.published(DetailType::PaymentRefunded), 1);
    let audit = world.audit(&event).await;
    assert_eq!((audit.inventory.sold, audit.inventory.available), (0, 4));
    world.audit_money().await;
}

// ---- the payment-followup Lambda's own SQS batch handler ---------------------------------------

fn record(id: &str, body: impl Into<String>) -> SqsMessage {
    SqsMessage {
        message_id: Some(id.into()),
        receipt_handle: Some(format!("rh-{id}")),
        body: Some(body.into()),
        event_source: Some("aws:sqs".into()),
        ..Default::default()
    }
}

/// The SQS body EventBridge's rule delivers: the whole EventBridge event.
fn bridged(event: &DomainEvent) -> String {
    let mut envelope = event.envelope();
    envelope["version"] = json!("0");
    envelope["id"] = json!(uuid::Uuid::new_v4().to_string());
    envelope["account"] = json!("123456789012");
    envelope["region"] = json!("us-east-1");
    envelope["time"] = json!(Utc::now());
    envelope["resources"] = json!([]);
    envelope.to_string()
}

/// The follow-up queue as `handle_batch` sets when failed messages come back: what it was asked
/// to hide, for how long; `refuse` makes every call fail (SQS away, access denied).
#[derive(Default)]
struct Hidden {
    asked: std::sync::Mutex<Vec<Hide>>,
    refuse: bool,
}

impl Hidden {
    fn refusing() -> Self {
        Self {
            refuse: true,
            ..Self::default()
        }
    }

    /// Every receipt hidden so far with its seconds, and forgets them.
    fn take(&self) -> Vec<(String, u64)> {
        std::mem::take(&mut *self.asked.lock().unwrap())
            .into_iter()
            .map(|hide| (hide.receipt, hide.for_.as_secs()))
            .collect()
    }
}

impl Redelivery for Hidden {
    async fn hide(&self, messages: Vec<Hide>) -> Result<(), RedeliveryError> {
        self.asked.lock().unwrap().extend(messages);
        if self.refuse {
            return Err(RedeliveryError::Call("AccessDenied".into()));
        }
        Ok(())
    }
}

/// `record` on its `receives`-th delivery (SQS's `ApproximateReceiveCount`).
fn delivered(mut record: SqsMessage, receives: u32) -> SqsMessage {
    record
        .attributes
        .insert("ApproximateReceiveCount".into(), receives.to_string());
    record
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn the_followup_lambda_batch_handles_a_duplicate_once_and_reports_only_the_failed_record() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let mut sold = Vec::new();
    for seat in ["A-1", "A-2"] {
        let buyer = world.buyer();
        let hold = world
            .hold_seats(&buyer, &event.event_id, &[seat])
            .await
            .unwrap();
        let paid = world.pay(&buyer, &hold, Scenario::Approve).await;
        sold.push((hold, paid.payment_intent_id));
    }
    let (good, good_payment) = &sold[0];
    let (broken, broken_payment) = &sold[1];
    // The second payment's record cannot be read for now (a corrupt item stands in for any
    // failure that is not the message's fault): its follow-up must fail, be reported, and be
    // retried alone.
    let store = &world.local.store;
    let key = intent_key(broken_payment);
    let original = store.get(&key).await.unwrap().unwrap();
    let mut corrupt = original.clone();
    corrupt.insert("amount".into(), json!("not a number"));
    store.write(Write::put(corrupt)).await.unwrap();

    let approval = bridged(&outcome(DetailType::PaymentApproved, good, good_payment));
    let batch = SqsEvent {
        records: vec![
            record("m-1", approval.clone()),
            record("m-2", approval), // the same message delivered twice in one batch
            record(
                "m-3",
                bridged(&outcome(
                    DetailType::PaymentApproved,
                    broken,
                    broken_payment,
                )),
            ),
            record("m-4", "{ not an EventBridge event"),
        ],
    };
    let hidden = Hidden::default();
    let response =
        tacos_lambda::triggers::handle_batch(world.platform(), &hidden, batch.clone()).await;
    assert_eq!(
        failed_ids(&response),
        ["m-3"],
        "only the record that failed is redelivered; the unreadable one is dropped, not retried forever"
    );
    assert_eq!(
        hidden.take(),
        [("rh-m-3".to_string(), 60)],
        "a failure that is not an outage comes back in a minute, on its way to the DLQ"
    );
    assert_eq!(
        status_of(&world, &good.reservation_id).await,
        ReservationStatus::Confirmed
    );
    assert_eq!(world.published(DetailType::ReservationConfirmed), 1);
    assert_eq!(
        status_of(&world, &broken.reservation_id).await,
        ReservationStatus::Hold
    );

    // SQS redelivers m-3 after the visibility timeout (and, being at least once, m-1 with it).
    store.write(Write::put(original)).await.unwrap();
    let redelivery = SqsEvent {
        records: vec![batch.records[2].clone(), batch.records[0].clone()],
    };
    let response =
        tacos_lambda::triggers::handle_batch(world.platform(), &hidden, redelivery).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert!(hidden.take().is_empty(), "nothing handled is hidden");
    assert_eq!(world.published(DetailType::ReservationConfirmed), 2);
    let audit = world.audit(&event.event_id).await;
    assert_eq!((audit.inventory.sold, audit.inventory.available), (2, 2));
    world.audit_money().await;
}

#[tokio::test]
async fn the_followup_lambda_hides_every_record_longer_while_the_store_is_down_and_loses_none() {
    let world = World::new();
    let event = world.general(10, 10.0).await;
    let mut records = Vec::new();
    for n in 0..3 {
        let buyer = world.buyer();
        let hold = world
            .hold_quantity(&buyer, &event.event_id, 2)
            .await
            .unwrap();
        let paid = world.pay(&buyer, &hold, Scenario::Approve).await;
        records.push(record(
            &format!("m-{n}"),
            bridged(&outcome(
                DetailType::PaymentApproved,
                &hold,
                &paid.payment_intent_id,
            )),
        ));
    }
    let batch = SqsEvent { records };
    let hidden = Hidden::default();
    let counted = |outcome: &str| {
        tacos_telemetry::series::rendered_value(&format!(
            "followup_messages_total{{outcome=\"{outcome}\"}}"
        ))
    };
    let (deferred, handled) = (counted("deferred"), counted("handled"));
    world.local.store.set_unavailable(true);
    // Each delivery through the outage hides the messages longer: 1, 2, 4, 8, then 15 minutes,
    // instead of leaving them to come back after the queue's 180 s and use up their receives.
    for (receives, seconds) in [(1, 60), (2, 120), (4, 480), (5, 900), (9, 900)] {
        let redelivery = SqsEvent {
            records: (batch.records.iter().cloned())
                .map(|record| delivered(record, receives))
                .collect(),
        };
        let response =
            tacos_lambda::triggers::handle_batch(world.platform(), &hidden, redelivery).await;
        assert_eq!(failed_ids(&response), ["m-0", "m-1", "m-2"]);
        assert_eq!(
            hidden.take(),
            ["rh-m-0", "rh-m-1", "rh-m-2"].map(|receipt| (receipt.to_string(), seconds)),
            "delivery {receives} through the outage"
        );
    }
    // Hiding them failing too (SQS refusing): they are still reported, so they come back after
    // the queue's visibility timeout as before, never deleted.
    let refusing = Hidden::refusing();
    let response =
        tacos_lambda::triggers::handle_batch(world.platform(), &refusing, batch.clone()).await;
    assert_eq!(failed_ids(&response), ["m-0", "m-1", "m-2"]);
    assert_eq!(refusing.take().len(), 3);
    world.local.store.set_unavailable(false);
    for _ in 0..2 {
        let response =
            tacos_lambda::triggers::handle_batch(world.platform(), &hidden, batch.clone()).await;
        assert!(failed_ids(&response).is_empty());
    }
    // Counted as the worker counts them (other tests may count at the same time: at least).
    assert!(
        counted("deferred") >= deferred + 18.0,
        "six deliveries of three"
    );
    assert!(counted("handled") >= handled + 6.0);
    let audit = world.audit(&event.event_id).await;
    assert_eq!((audit.inventory.sold, audit.inventory.held), (6, 0));
    assert_eq!(audit.confirmed.len(), 3);
    world.audit_money().await;
}

// ---- a request retried after a timeout ----------------------------------------------------------

struct Http {
    world: World,
    bearer: String,
    buyer: Principal,
}

impl Http {
    fn new() -> Self {
        let world = World::new();
        let buyer = world.buyer();
        let user = UserRecord {
            user_id: buyer.user_id.clone(),
            username: "faulty".into(),
            password_hash: String::new(),
            role: buyer.role,
            email: None,
            display_name: "Faulty".into(),
            created_at: Utc::now(),
        };
        let bearer = world
            .platform()
            .accounts
            .tokens()
            .issue(&user.principal(), Utc::now());
        Self {
            world,
            bearer,
            buyer,
        }
    }

    /// One POST through the whole HTTP stack, with `key` as its Idempotency-Key.
    async fn post(&self, path: &str, key: &str, body: &Value) -> (StatusCode, bool, Value) {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.bearer))
            .header("idempotency-key", key)
            .body(Body::from(body.to_string()))
            .unwrap();
        let answer = self.world.send(request).await;
        let cached = answer.headers.get("x-idempotency-cached").is_some();
        assert!(
            !answer.body.is_null(),
            "{path}: {} without a JSON body",
            answer.status
        );
        (answer.status, cached, answer.body)
    }

    /// The request whose answer the client never saw (its connection timed out after the work was
    /// done), then the client's retry with the same key: the same answer, replayed.
    async fn twice(&self, path: &str, body: Value) -> Value {
        let key = uuid::Uuid::new_v4().to_string();
        let (status, cached, first) = self.post(path, &key, &body).await;
        assert!(status.is_success(), "{path}: {status} {first}");
        assert!(!cached);
        let (again, cached, second) = self.post(path, &key, &body).await;
        assert_eq!(again, status, "{path}: same status on retry");
        assert!(cached, "{path}: the retry is a replay");
        assert_eq!(first, second, "{path}: same answer on retry");
        first
    }
}

#[tokio::test]
async fn requests_retried_after_a_timeout_have_one_effect_each() {
    let http = Http::new();
    let world = &http.world;
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let token = world.admitted(&event.event_id, &http.buyer);
    let hold = http
        .twice(
            "/api/v1/reservations",
            json!({"event_id": event.event_id, "seat_ids": ["A-1", "A-2"], "quantity": 2, "reservation_token": token}),
        )
        .await;
    let reservation: ReservationId = hold["reservation_id"].as_str().unwrap().parse().unwrap();
    world.track_reservation(&reservation);
    assert_eq!(world.audit(&event.event_id).await.inventory.held, 2);
    let intent = http
        .twice(
            "/api/v1/payments/intent",
            json!({"reservation_id": reservation, "amount": hold["total_amount"], "currency": "USD", "scenario": "approve"}),
        )
        .await;
    let payment: PaymentIntentId = intent["payment_intent_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    world.track_intent(&payment);
    let processed = http
        .twice(
            "/api/v1/payments/process",
            json!({"payment_intent_id": payment}),
        )
        .await;
    assert_eq!(processed["status"], "APPROVED");
    let confirmed = http
        .twice(
            &format!("/api/v1/reservations/{reservation}/confirm"),
            json!({"payment_intent_id": payment}),
        )
        .await;
    // The approval's follow-up runs too (the client confirmed and the webhook also arrived).
    let hold: Reservation = world.reservation(&http.buyer, &reservation).await;
    follow_up(world, outcome(DetailType::PaymentApproved, &hold, &payment)).await;
    let after = world.reservation(&http.buyer, &reservation).await;
    assert_eq!(
        after.order_id.as_ref().map(|o| o.as_str()),
        confirmed["order_id"].as_str(),
        "one order, whoever confirmed"
    );
    let audit = world.audit(&event.event_id).await;
    assert_eq!((audit.inventory.sold, audit.inventory.held), (2, 0));
    world.audit_money().await;
}

// ---- a simulator job whose ack was lost, and a webhook that never comes --------------------------

/// A world whose webhook is served over real HTTP on a local port, so the payment simulator's jobs
/// deliver it as they would in production (signed, through the whole stack).
async fn world_with_webhook() -> World {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let world = World::with_config(|config| config.public_url = Some(format!("http://{addr}")));
    let router = tacos_http::router(
        world.local.platform.clone(),
        &tacos_http::settings::HttpSettings::defaults(),
    );
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    world
}

/// Hands every published payment outcome to the follow-up, as the EventBridge rule and SQS would.
async fn drain_bus(world: &World) {
    for event in world.local.bus.published() {
        if matches!(
            event.detail_type,
            DetailType::PaymentApproved | DetailType::PaymentFailed
        ) {
            follow_up(world, event).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_jobs_whose_ack_was_lost_run_again_harmlessly() {
    let world = world_with_webhook().await;
    let event = world.general(10, 10.0).await;
    let buyer = world.buyer();
    let hold = world
        .hold_quantity(&buyer, &event.event_id, 1)
        .await
        .unwrap();
    let intent = world.intent(&buyer, &hold, Some(Scenario::Delay)).await;
    let id = intent.payment_intent_id.clone();
    let processed = world
        .platform()
        .payments
        .process(
            &buyer,
            ProcessRequest {
                payment_intent_id: id.clone(),
                action: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(processed.status, PaymentStatus::Processing);
    // The settlement and every webhook delivery run twice (the first acks were lost), the
    // settlement's own schedule fires too.
    let settle = Job::SettlePayment {
        payment_intent_id: id.clone(),
    };
    let webhook = Job::DeliverWebhook {
        payment_intent_id: id.clone(),
    };
    run_job(&world, settle.clone()).await;
    run_job(&world, settle).await;
    run_job(&world, webhook.clone()).await;
    world.advance(30.0);
    world.fire_timers().await;
    run_job(&world, webhook).await;
    assert_eq!(
        world.published(DetailType::PaymentApproved),
        1,
        "every redelivery of the webhook is recognised as a replay"
    );
    drain_bus(&world).await;
    drain_bus(&world).await;
    assert_eq!(
        status_of(&world, &hold.reservation_id).await,
        ReservationStatus::Confirmed
    );
    let audit = world.audit(&event.event_id).await;
    assert_eq!((audit.inventory.sold, audit.inventory.held), (1, 0));
    world.audit_money().await;
}

/// A 4-seat event, and two buyers' holds of, each paid as its scenario says.
async fn two_paid_holds(
    world: &World,
    scenarios: [Scenario; 2],
) -> (Event, [(Reservation, PaymentIntent); 2]) {
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let mut paid = Vec::new();
    for (seat, scenario) in ["A-1", "A-2"].into_iter().zip(scenarios) {
        let buyer = world.buyer();
        let hold = world
            .hold_seats(&buyer, &event.event_id, &[seat])
            .await
            .unwrap();
        let payment = world.pay(&buyer, &hold, scenario).await;
        paid.push((hold, payment));
    }
    let paid = paid
        .try_into()
        .unwrap_or_else(|_| unreachable!("two holds"));
    (event, paid)
}

/// The provider never calls back. Each hold being paid is kept until its payment's deadline and
/// then settled by its own timer, by the payment's truth: the one the bank approved in time is
/// sold without any webhook (the buyer paid), the one the bank never decided goes back on sale.
#[tokio::test]
async fn a_webhook_that_never_arrives_still_settles_each_hold_by_its_deadline() {
    // The world's webhook URL goes nowhere: the simulator's attempts all fail.
    let world = World::new();
    let grace = world.platform().config().payment_grace_seconds as f64;
    let (event, [(approved_hold, approved), (delayed_hold, delayed)]) =
        two_paid_holds(&world, [Scenario::Approve, Scenario::Delay]).await;
    // The provider never calls back: its retries and the delayed settlement are dropped.
    for job in [
        Job::DeliverWebhook {
            payment_intent_id: approved.payment_intent_id.clone(),
        },
        Job::SettlePayment {
            payment_intent_id: delayed.payment_intent_id.clone(),
        },
    ] {
        world.local.scheduler.cancel(&job).await.unwrap();
    }
    world.advance(HOLD_SECONDS as f64 - 1.0);
    world.fire_timers().await;
    assert_eq!(world.audit(&event.event_id).await.inventory.held, 2);
    world.advance(1.5);
    assert_eq!(
        world.fire_timers().await,
        2,
        "both expiry timers fire on time"
    );
    for hold in [&approved_hold, &delayed_hold] {
        assert_eq!(
            status_of(&world, &hold.reservation_id).await,
            ReservationStatus::Hold,
            "kept for its payment until the deadline"
        );
    }
    world.advance(grace);
    assert_eq!(
        world.fire_timers().await,
        2,
        "both timers fire at the deadline"
    );
    assert_eq!(
        status_of(&world, &approved_hold.reservation_id).await,
        ReservationStatus::Confirmed,
        "approved in time: sold without a webhook"
    );
    assert_eq!(
        status_of(&world, &delayed_hold.reservation_id).await,
        ReservationStatus::Expired,
        "never approved: back on sale"
    );
    let audit = world.audit(&event.event_id).await;
    assert_eq!(
        (
            audit.inventory.available,
            audit.inventory.held,
            audit.inventory.sold
        ),
        (3, 0, 1),
    );
    // The lost webhook turns up after all, much later: the sale stands, nothing is refunded.
    follow_up(
        &world,
        outcome(
            DetailType::PaymentApproved,
            &approved_hold,
            &approved.payment_intent_id,
        ),
    )
    .await;
    assert_eq!(
        payment_status(&world, &approved.payment_intent_id).await,
        PaymentStatus::Approved
    );
    assert_eq!(world.published(DetailType::ReservationConfirmed), 1);
    world
        .hold_seats(&world.buyer(), &event.event_id, &["A-2", "A-3"])
        .await
        .unwrap();
    let audit = world.audit(&event.event_id).await;
    assert_eq!((audit.inventory.held, audit.inventory.sold), (2, 1));
    world.audit_money().await;
}

/// Ops probe, item 7: with the platform's webhook URL on a dead port, a payment's webhook retry
/// keeps trying while its hold is held (the post would settle it early), and ends once the hold's
/// own timer has settled it: an approved payment's hold confirmed by it, a failed payment's hold
/// released. It used to be posted every minute for good after the sale, an error each time.
#[tokio::test]
async fn a_webhook_retry_ends_once_its_payment_is_settled() {
    // The world's webhook URL goes nowhere: every post fails.
    let world = World::new();
    let grace = world.platform().config().payment_grace_seconds as f64;
    let (event, [(approved_hold, approved), (failed_hold, failed)]) =
        two_paid_holds(&world, [Scenario::Approve, Scenario::Fail]).await;
    assert_eq!(
        (approved.status, failed.status),
        (PaymentStatus::Approved, PaymentStatus::Failed)
    );
    let retries = [&approved, &failed].map(|payment| Job::DeliverWebhook {
        payment_intent_id: payment.payment_intent_id.clone(),
    });
    for retry in &retries {
        assert!(
            world.local.platform.run_job(retry.clone()).await.is_err(),
            "{retry:?}: the holds are held, the post is still worth trying"
        );
    }
    // Past the payments' deadline the holds' timers settle them by the payments' truth.
    world.advance(HOLD_SECONDS as f64 + grace + 1.0);
    world.fire_timers().await;
    assert_eq!(
        status_of(&world, &approved_hold.reservation_id).await,
        ReservationStatus::Confirmed
    );
    assert_eq!(
        status_of(&world, &failed_hold.reservation_id).await,
        ReservationStatus::Expired
    );
    for retry in &retries {
        world
            .local
            .platform
            .run_job(retry.clone())
            .await
            .unwrap_or_else(|e| panic!("{retry:?}: settled, the retry ends: {e}"));
    }
    // Nothing is left to retry: the scheduler holds no job, however long it runs.
    for _ in 0..20 {
        world.advance(60.0);
        world.fire_timers().await;
    }
    assert_eq!(world.local.scheduler.pending(), 0);
    let audit = world.audit(&event.event_id).await;
    assert_eq!((audit.inventory.sold, audit.inventory.held), (1, 0));
    world.audit_money().await;
}
