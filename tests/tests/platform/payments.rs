//! Payments: a webhook is acted on once, a failure releases the hold, an approval that comes too
//! late is refunded and never sells the seat, and a delivery that died half-way is acted on when
//! the provider retries it. A payment cannot race its hold: paying in the hold's last second, or a
//! follow-up delivered again after the hold's deadline, confirms what the bank approved in time;
//! a payment cannot start on an expired hold, nor beside another payment of the same hold. An
//! approval whose follow-up was lost is followed up by its own timer: refunded when it came too
//! late or after a cancel, left alone when the follow-up did its work. The simulator's webhook is
//! posted before the payment's answer (`inline`, Lambda's way) or after it (`after-answer`, the
//! embedded server's), and one that fails after the answer is posted again by its safety net.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tacos_core::config::WebhookDelivery;
use tacos_core::domain::auth::Principal;
use tacos_core::domain::payments::{ProcessRequest, Scenario, FOLLOW_UP_CHECK_SECS};
use tacos_core::domain::reservations::{Reservation, ReservationStatus};
use tacos_core::domain::webhook_signature::WebhookSigner;
use tacos_core::error::Error;
use tacos_core::ids::PaymentIntentId;
use tacos_core::ports::{Clock, DetailType, EventHandler, Job, Scheduler, Store};

use crate::world::{World, HOLD_SECONDS};

async fn processed(
    world: &World,
    scenario: Scenario,
) -> (
    tacos_core::domain::auth::Principal,
    tacos_core::domain::reservations::Reservation,
    tacos_core::ids::PaymentIntentId,
    tacos_core::ids::EventId,
) {
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let buyer = world.buyer();
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-1"])
        .await
        .unwrap();
    let intent = world.pay(&buyer, &hold, scenario).await;
    (buyer, hold, intent.payment_intent_id, event.event_id)
}

fn webhook(
    world: &World,
    id: &str,
    kind: &str,
    hold: &tacos_core::domain::reservations::Reservation,
    payment: &tacos_core::ids::PaymentIntentId,
) -> (
    tacos_core::domain::webhook_signature::WebhookHeaders,
    String,
) {
    let body = serde_json::json!({
        "type": kind, "payment_intent_id": payment, "reservation_id": hold.reservation_id,
        "amount": hold.total_amount, "currency": "USD", "ts": world.clock_now(),
    })
    .to_string();
    let signer = WebhookSigner::new(&world.platform().config().webhook_secret);
    (signer.sign(id, world.clock_now(), &body), body)
}

/// Signs a webhook as the simulator would and hands it to the platform: whether it was new.
async fn send_webhook(
    world: &World,
    id: &str,
    kind: &str,
    hold: &tacos_core::domain::reservations::Reservation,
    payment: &tacos_core::ids::PaymentIntentId,
) -> bool {
    let (headers, body) = webhook(world, id, kind, hold, payment);
    world
        .platform()
        .payments
        .receive_webhook(&headers, body.as_bytes())
        .await
        .unwrap()
}

async fn deliver_bus(world: &World) {
    // Drain what the webhook published into the follow-up, as SQS would, twice to prove
    // redelivery is harmless.
    for event in world.local.bus.published() {
        world
            .local
            .platform
            .handle_event(event.clone())
            .await
            .unwrap();
        world.local.platform.handle_event(event).await.unwrap();
    }
}

#[tokio::test]
async fn an_approval_webhook_confirms_once_even_when_replayed() {
    let world = World::new();
    let (buyer, hold, payment, event) = processed(&world, Scenario::Approve).await;
    // The same webhook twice: same id, signed at the same instant over the same body.
    let deliver = || send_webhook(&world, "wh_test_1", "payment.approved", &hold, &payment);
    assert!(deliver().await, "first delivery is new");
    assert!(!deliver().await, "replay is acknowledged and ignored");
    let approvals = world.published(DetailType::PaymentApproved);
    assert_eq!(approvals, 1);
    deliver_bus(&world).await;
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(after.status, ReservationStatus::Confirmed);
    assert_eq!(world.ledger(&event).await.sold, 1);
}

#[tokio::test]
async fn a_webhook_whose_delivery_died_after_claiming_its_id_is_acted_on_when_retried() {
    let world = World::new();
    let (buyer, hold, payment, event) = processed(&world, Scenario::Approve).await;
    // A release before this one claimed the id as `pending` before publishing, and its delivery
    // died before its event reached the bus (the process crashed, or the bus and then the store
    // failed): what it left behind is a pending claim, which does not stop the retry.
    let claim = tacos_core::domain::records::to_item(
        &tacos_core::ports::Key::new("WH#wh_test_died", "SEEN"),
        &serde_json::json!({ "state": "pending", "expires_at": world.clock_now() + 86_400 }),
    );
    world
        .local
        .store
        .write(tacos_core::ports::Write::put(claim))
        .await
        .unwrap();
    let retry = || send_webhook(&world, "wh_test_died", "payment.approved", &hold, &payment);
    assert!(retry().await, "the provider's retry is acted on");
    assert!(!retry().await, "once it is on the bus, a replay is ignored");
    assert_eq!(world.published(DetailType::PaymentApproved), 1);
    deliver_bus(&world).await;
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(after.status, ReservationStatus::Confirmed);
    assert_eq!(world.ledger(&event).await.sold, 1);
}

#[tokio::test]
async fn a_forged_or_stale_webhook_is_refused() {
    let world = World::new();
    let (_, hold, payment, _) = processed(&world, Scenario::Approve).await;
    let (mut headers, body) = webhook(&world, "wh_test_2", "payment.approved", &hold, &payment);
    let payments = &world.platform().payments;
    let tampered = body.replace("payment.approved", "payment.failed");
    assert!(payments
        .receive_webhook(&headers, tampered.as_bytes())
        .await
        .is_err());
    headers.timestamp = (world.clock_now() - 301).to_string();
    assert!(payments
        .receive_webhook(&headers, body.as_bytes())
        .await
        .is_err());
    assert!(world
        .local
        .bus
        .published()
        .iter()
        .all(|e| e.detail_type != DetailType::PaymentApproved));
}

#[tokio::test]
async fn a_failed_payment_releases_the_hold() {
    let world = World::new();
    let (buyer, hold, payment, event) = processed(&world, Scenario::Fail).await;
    send_webhook(&world, "wh_test_3", "payment.failed", &hold, &payment).await;
    deliver_bus(&world).await;
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(after.status, ReservationStatus::Cancelled);
    assert_eq!(world.ledger(&event).await.available, 4);
}

/// The provider's word that a payment the platform still shows undecided failed (a delayed one,
/// still processing) is recorded on the payment before its hold is released: the buyer is not left
/// watching a payment that can buy nothing, and the simulator's decision arriving after it
/// changes nothing.
#[tokio::test]
async fn a_failure_reported_while_a_payment_is_processing_fails_the_payment_too() {
    let world = World::new();
    let (buyer, hold, payment, event) = processed(&world, Scenario::Delay).await;
    assert_eq!(intent_status(&world, &buyer, &payment).await, "PROCESSING");
    send_webhook(&world, "wh_test_5", "payment.failed", &hold, &payment).await;
    deliver_bus(&world).await;
    assert_eq!(intent_status(&world, &buyer, &payment).await, "FAILED");
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(after.status, ReservationStatus::Cancelled);
    // The simulator's delayed decision comes due: the payment stays failed, nothing is sold.
    world.advance(HOLD_SECONDS as f64 + grace_seconds(&world) + 1.0);
    world.fire_timers().await;
    deliver_bus(&world).await;
    assert_eq!(intent_status(&world, &buyer, &payment).await, "FAILED");
    assert_eq!(world.published(DetailType::PaymentApproved), 0);
    let inventory = world.ledger(&event).await;
    assert_eq!((inventory.sold, inventory.available), (0, 4));
}

/// How long a hold being paid waits past its expiry for the bank (the platform's setting).
fn grace_seconds(world: &World) -> f64 {
    world.platform().config().payment_grace_seconds as f64
}

#[tokio::test]
async fn an_approval_after_the_grace_is_refunded_and_sells_nothing() {
    let world = World::new();
    // The bank takes its time (`delay`): it answers only after the hold's grace has run out.
    let (buyer, hold, payment, event) = processed(&world, Scenario::Delay).await;
    world.advance(HOLD_SECONDS as f64 + grace_seconds(&world) + 1.0);
    world.fire_timers().await;
    let late = world
        .platform()
        .payments
        .get(&payment, Some(&buyer))
        .await
        .unwrap();
    assert_eq!(late.status.as_str(), "APPROVED", "the bank approved, late");
    send_webhook(&world, "wh_test_4", "payment.approved", &hold, &payment).await;
    deliver_bus(&world).await;
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(after.status, ReservationStatus::Expired);
    let intent = world
        .platform()
        .payments
        .get(&payment, Some(&buyer))
        .await
        .unwrap();
    assert_eq!(intent.status.as_str(), "REFUNDED");
    let refunds = world.published(DetailType::PaymentRefunded);
    assert_eq!(refunds, 1, "refunded once despite redelivery");
    let inventory = world.ledger(&event).await;
    assert_eq!((inventory.sold, inventory.available), (0, 4));
}

/// Runs a flow of every kind and writes every domain event it emitted to `TACOS_EVENTS_OUT`
/// (when set), where `scripts/validate_events.py` checks them against `schemas/events`.
#[tokio::test]
async fn every_kind_of_domain_event_is_emitted_for_schema_validation() {
    let world = World::new();
    // held + payment.approved + reservation.confirmed
    let (_, hold, payment, _) = processed(&world, Scenario::Approve).await;
    send_webhook(&world, "wh_all_1", "payment.approved", &hold, &payment).await;
    // payment.failed + reservation.cancelled (payment_failed)
    let (_, failed_hold, failed_payment, _) = processed(&world, Scenario::Fail).await;
    send_webhook(
        &world,
        "wh_all_2",
        "payment.failed",
        &failed_hold,
        &failed_payment,
    )
    .await;
    // reservation.cancelled (user)
    let event = world.general(5, 10.0).await;
    let buyer = world.buyer();
    let cancelled = world
        .hold_quantity(&buyer, &event.event_id, 1)
        .await
        .unwrap();
    world
        .platform()
        .reservations
        .cancel(&cancelled.reservation_id, &buyer)
        .await
        .unwrap();
    deliver_bus(&world).await;
    // reservation.expired + payment.refunded: the bank approves after the hold's grace.
    let (_, late_hold, late_payment, _) = processed(&world, Scenario::Delay).await;
    world.advance(HOLD_SECONDS as f64 + grace_seconds(&world) + 1.0);
    world.fire_timers().await;
    send_webhook(
        &world,
        "wh_all_3",
        "payment.approved",
        &late_hold,
        &late_payment,
    )
    .await;
    for event in world.local.bus.published() {
        if event.detail_type == DetailType::PaymentApproved
            && event.detail.reservation_id == late_hold.reservation_id
        {
            world.local.platform.handle_event(event).await.unwrap();
        }
    }
    let events = world.local.bus.published();
    let kinds: std::collections::HashSet<_> = events.iter().map(|e| e.detail_type).collect();
    assert_eq!(kinds.len(), 7, "all seven kinds emitted: {kinds:?}");
    if let Ok(path) = std::env::var("TACOS_EVENTS_OUT") {
        let lines: String = events
            .iter()
            .map(|e| format!("{}\n", e.envelope()))
            .collect();
        std::fs::write(path, lines).expect("write emitted events");
    }
}

/// The follow-up of `payment`'s approval, as SQS would deliver it (`times` times).
async fn follow_up_approval(
    world: &World,
    hold: &tacos_core::domain::reservations::Reservation,
    payment: &tacos_core::ids::PaymentIntentId,
    times: usize,
) {
    let approval = world
        .local
        .bus
        .published()
        .into_iter()
        .find(|e| {
            e.detail_type == DetailType::PaymentApproved
                && e.detail.reservation_id == hold.reservation_id
                && e.detail.payment_intent_id.as_ref() == Some(payment)
        })
        .expect("the approval was published");
    for _ in 0..times {
        world
            .local
            .platform
            .handle_event(approval.clone())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn paying_in_the_holds_last_second_confirms_although_the_bank_answers_after_it() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let buyer = world.buyer();
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-1"])
        .await
        .unwrap();
    world.advance(HOLD_SECONDS as f64 - 1.0);
    let intent = world.pay(&buyer, &hold, Scenario::Delay).await;
    assert_eq!(intent.status.as_str(), "PROCESSING");
    let paying = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(
        paying.payment_intent_id.as_ref(),
        Some(&intent.payment_intent_id)
    );
    let deadline = paying.payment_deadline.expect("a payment deadline");
    assert_eq!(
        (deadline - hold.hold_expires_at).num_seconds() as f64,
        grace_seconds(&world)
    );
    // The hold's expiry passes while the bank thinks; its timer keeps the hold for the payment.
    world.advance(2.0);
    world.fire_timers().await;
    let waiting = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(
        waiting.status,
        ReservationStatus::Hold,
        "kept for the payment"
    );
    assert_eq!(world.ledger(&event.event_id).await.held, 1);
    // The bank approved (the settle timer) after the hold's expiry, within the grace.
    send_webhook(
        &world,
        "wh_last_1",
        "payment.approved",
        &hold,
        &intent.payment_intent_id,
    )
    .await;
    follow_up_approval(&world, &hold, &intent.payment_intent_id, 2).await;
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(after.status, ReservationStatus::Confirmed);
    assert_eq!(
        world.published(DetailType::PaymentRefunded),
        0,
        "charged once, kept"
    );
    let stored = world
        .platform()
        .payments
        .get(&intent.payment_intent_id, Some(&buyer))
        .await
        .unwrap();
    assert_eq!(stored.status.as_str(), "APPROVED");
    let ledger = world.ledger(&event.event_id).await;
    assert_eq!((ledger.sold, ledger.held, ledger.available), (1, 0, 3));
}

/// An approval given in time whose follow-up is delivered only after the hold's payment deadline
/// (SQS redelivery after a failure): it confirms, once, whichever comes first of the expiry timer
/// and the follow-up.
#[tokio::test]
async fn an_approval_followed_up_after_the_deadline_still_confirms_once() {
    for timer_first in [true, false] {
        let world = World::new();
        let event = world.seated(&[("A", 1, 4)], 10.0).await;
        let buyer = world.buyer();
        let hold = world
            .hold_seats(&buyer, &event.event_id, &["A-1"])
            .await
            .unwrap();
        world.advance(HOLD_SECONDS as f64 - 1.0);
        let intent = world.pay(&buyer, &hold, Scenario::Approve).await;
        assert_eq!(intent.status.as_str(), "APPROVED");
        let payment = intent.payment_intent_id;
        send_webhook(&world, "wh_redeliver", "payment.approved", &hold, &payment).await;
        // The first delivery of the follow-up failed; the queue delivers it again much later.
        world.advance(1.0 + grace_seconds(&world) + 30.0);
        if timer_first {
            world.fire_timers().await;
            follow_up_approval(&world, &hold, &payment, 2).await;
        } else {
            follow_up_approval(&world, &hold, &payment, 2).await;
            world.fire_timers().await;
        }
        let after = world.reservation(&buyer, &hold.reservation_id).await;
        assert_eq!(
            after.status,
            ReservationStatus::Confirmed,
            "timer first: {timer_first}"
        );
        assert_eq!(after.payment_intent_id.as_ref(), Some(&payment));
        let order = after.order_id.clone().expect("an order");
        // The buyer's own confirm, retried, answers the same order.
        let again = world
            .platform()
            .reservations
            .confirm(&hold.reservation_id, &payment, Some(&buyer))
            .await
            .unwrap();
        assert_eq!(again.order_id, order);
        assert_eq!(world.published(DetailType::PaymentRefunded), 0);
        assert_eq!(world.published(DetailType::ReservationConfirmed), 1);
        assert_eq!(world.published(DetailType::ReservationExpired), 0);
        let ledger = world.ledger(&event.event_id).await;
        assert_eq!((ledger.sold, ledger.held, ledger.available), (1, 0, 3));
    }
}

#[tokio::test]
async fn a_payment_cannot_start_on_an_expired_hold_nor_beside_another() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let buyer = world.buyer();
    let payments = &world.platform().payments;
    let process = |id: &tacos_core::ids::PaymentIntentId| ProcessRequest {
        payment_intent_id: id.clone(),
        action: None,
    };

    // Two intents for one hold: the first to be processed pays; the second is refused uncharged.
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-1"])
        .await
        .unwrap();
    let first = world.intent(&buyer, &hold, Some(Scenario::Delay)).await;
    let second = world.intent(&buyer, &hold, Some(Scenario::Approve)).await;
    payments
        .process(&buyer, process(&first.payment_intent_id))
        .await
        .unwrap();
    // The follow-up is filed beside the hold's mark; a refused payment's is dropped again.
    let timers = world.local.scheduler.pending();
    let refused = payments
        .process(&buyer, process(&second.payment_intent_id))
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidState(_))),
        "{refused:?}"
    );
    let untouched = payments
        .get(&second.payment_intent_id, Some(&buyer))
        .await
        .unwrap();
    assert_eq!(untouched.status.as_str(), "PENDING", "never charged");
    assert_eq!(
        world.local.scheduler.pending(),
        timers,
        "no follow-up left behind"
    );
    // Processing the first again is fine (a retry) and changes nothing.
    let again = payments
        .process(&buyer, process(&first.payment_intent_id))
        .await
        .unwrap();
    assert_eq!(again.status.as_str(), "PROCESSING");

    // An intent made in time but processed after the hold expired is refused uncharged.
    let late_hold = world
        .hold_seats(&buyer, &event.event_id, &["A-2"])
        .await
        .unwrap();
    let late = world
        .intent(&buyer, &late_hold, Some(Scenario::Approve))
        .await;
    world.advance(HOLD_SECONDS as f64 + 1.0);
    let timers = world.local.scheduler.pending();
    let refused = payments
        .process(&buyer, process(&late.payment_intent_id))
        .await;
    assert!(
        matches!(refused, Err(Error::ReservationExpired)),
        "{refused:?}"
    );
    assert_eq!(
        world.local.scheduler.pending(),
        timers,
        "no follow-up left behind"
    );
    let untouched = payments
        .get(&late.payment_intent_id, Some(&buyer))
        .await
        .unwrap();
    assert_eq!(untouched.status.as_str(), "PENDING", "never charged");
    let expired = world.reservation(&buyer, &late_hold.reservation_id).await;
    assert_eq!(expired.status, ReservationStatus::Expired);
    assert!(expired.payment_deadline.is_none());
    let ledger = world.ledger(&event.event_id).await;
    assert_eq!(ledger.held, 1, "A-1 kept for its payment, A-2 back on sale");
}

/// Two requests processing one payment at once (a retry, a double submit) as the hold's own time
/// passes: the first has marked the hold as being paid and filed the payment's settlement, and
/// has not decided it yet, when the second starts it again after the hold's time. The second is
/// answered as the payment stands, not refused `RESERVATION_EXPIRED`, and the settlement stays
/// filed (one name per payment: a refusal dropping "its" job dropped the first's), so the payment
/// is decided and the seat sold. Once the hold is settled, a repeat is refused and still leaves
/// the job of the request that started the payment alone.
#[tokio::test]
async fn a_payment_started_again_as_its_hold_expires_is_answered_and_keeps_its_settlement() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let buyer = world.buyer();
    let platform = world.platform();
    let process = |id: &PaymentIntentId| ProcessRequest {
        payment_intent_id: id.clone(),
        action: None,
    };
    // The first request, stopped between its hold's mark and its decision.
    let first_steps = |hold: Reservation, id: PaymentIntentId, at_secs: i64| {
        let world = &world;
        async move {
            let settle = Job::SettlePayment {
                payment_intent_id: id.clone(),
            };
            let at = world.clock.now() + chrono::Duration::seconds(at_secs);
            world.local.scheduler.schedule(at, settle).await.unwrap();
            world
                .platform()
                .reservations
                .start_payment(&hold.reservation_id, &id)
                .await
                .unwrap();
        }
    };

    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-1"])
        .await
        .unwrap();
    let paid = world.intent(&buyer, &hold, Some(Scenario::Delay)).await;
    let id = paid.payment_intent_id.clone();
    first_steps(hold.clone(), id.clone(), HOLD_SECONDS as i64 + 2).await;
    world.advance(HOLD_SECONDS as f64 + 1.0);
    let timers = world.local.scheduler.pending();
    let again = platform.payments.process(&buyer, process(&id)).await;
    assert_eq!(
        again.unwrap().status.as_str(),
        "PROCESSING",
        "answered, not refused"
    );
    assert_eq!(
        world.local.scheduler.pending(),
        timers,
        "the settlement stays filed"
    );
    world.advance(2.0);
    world.fire_timers().await;
    assert_eq!(intent_status(&world, &buyer, &id).await, "APPROVED");
    send_webhook(&world, "wh_again_1", "payment.approved", &hold, &id).await;
    follow_up_approval(&world, &hold, &id, 2).await;
    let sold = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(sold.status, ReservationStatus::Confirmed);

    // Started, then its hold settled at the payment's deadline before anything was decided.
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-2"])
        .await
        .unwrap();
    let stalled = world.intent(&buyer, &hold, Some(Scenario::Delay)).await;
    let id = stalled.payment_intent_id.clone();
    first_steps(hold.clone(), id.clone(), 3_600).await;
    world.advance(HOLD_SECONDS as f64 + grace_seconds(&world) + 1.0);
    world.fire_timers().await;
    let timers = world.local.scheduler.pending();
    let refused = platform.payments.process(&buyer, process(&id)).await;
    assert!(
        matches!(refused, Err(Error::ReservationExpired)),
        "{refused:?}"
    );
    assert_eq!(
        world.local.scheduler.pending(),
        timers,
        "the job of the request that started the payment stays"
    );
}

/// Moves past the time at which an approval's follow-up is checked, and fires what is due.
async fn past_the_follow_up_check(world: &World) {
    world.advance(FOLLOW_UP_CHECK_SECS as f64 + 1.0);
    world.fire_timers().await;
}

async fn intent_status(world: &World, buyer: &Principal, payment: &PaymentIntentId) -> String {
    let intent = world.platform().payments.get(payment, Some(buyer)).await;
    intent.unwrap().status.as_str().to_string()
}

#[tokio::test]
async fn a_late_approval_whose_follow_up_was_lost_is_refunded_by_its_check() {
    let world = World::new();
    let (buyer, hold, payment, event) = processed(&world, Scenario::Delay).await;
    world.advance(HOLD_SECONDS as f64 + grace_seconds(&world) + 1.0);
    world.fire_timers().await;
    assert_eq!(intent_status(&world, &buyer, &payment).await, "APPROVED");
    // The webhook arrives, but its bus message never reaches the follow-up (dead-lettered).
    assert!(send_webhook(&world, "wh_lost_1", "payment.approved", &hold, &payment).await);
    assert_eq!(intent_status(&world, &buyer, &payment).await, "APPROVED");
    past_the_follow_up_check(&world).await;
    assert_eq!(
        intent_status(&world, &buyer, &payment).await,
        "REFUNDED",
        "the check refunds what nobody followed up"
    );
    assert_eq!(world.published(DetailType::PaymentRefunded), 1);
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(after.status, ReservationStatus::Expired);
    let inventory = world.ledger(&event).await;
    assert_eq!((inventory.sold, inventory.available), (0, 4));
    world.audit_money().await;
}

#[tokio::test]
async fn an_approval_in_time_whose_follow_up_was_lost_is_confirmed_by_the_holds_own_timer() {
    let world = World::new();
    let (buyer, hold, payment, event) = processed(&world, Scenario::Approve).await;
    let timers = world.local.scheduler.pending();
    // The webhook comes, its bus message never reaches the follow-up (dead-lettered).
    assert!(send_webhook(&world, "wh_lost_3", "payment.approved", &hold, &payment).await);
    assert_eq!(
        world.local.scheduler.pending(),
        timers,
        "no check of its own: the hold's expiry timer settles an approval given in time"
    );
    let waiting = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(waiting.status, ReservationStatus::Hold);
    // At the payment's deadline the hold's timer confirms it rather than release its seat.
    world.advance(HOLD_SECONDS as f64 + grace_seconds(&world) + 1.0);
    world.fire_timers().await;
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(
        after.status,
        ReservationStatus::Confirmed,
        "the buyer paid in time"
    );
    assert!(after.order_id.is_some());
    assert_eq!(intent_status(&world, &buyer, &payment).await, "APPROVED");
    assert_eq!(world.published(DetailType::PaymentRefunded), 0);
    let inventory = world.ledger(&event).await;
    assert_eq!((inventory.sold, inventory.held), (1, 0));
    world.audit_money().await;
}

#[tokio::test]
async fn a_late_approval_arms_its_follow_up_check() {
    let world = World::new();
    let (_buyer, hold, payment, _event) = processed(&world, Scenario::Delay).await;
    world.advance(HOLD_SECONDS as f64 + grace_seconds(&world) + 1.0);
    world.fire_timers().await;
    let timers = world.local.scheduler.pending();
    assert!(send_webhook(&world, "wh_late_1", "payment.approved", &hold, &payment).await);
    assert_eq!(
        world.local.scheduler.pending(),
        timers + 1,
        "an approval after its hold was released is checked again later"
    );
}

#[tokio::test]
async fn an_approval_after_a_cancel_whose_follow_up_was_lost_is_refunded_by_its_check() {
    let world = World::new();
    let (buyer, hold, payment, event) = processed(&world, Scenario::Delay).await;
    world
        .platform()
        .reservations
        .cancel(&hold.reservation_id, &buyer)
        .await
        .expect("a hold being paid can be cancelled");
    // The bank approves all the same; the webhook comes, its follow-up is lost.
    world.advance(HOLD_SECONDS as f64 + grace_seconds(&world) + 1.0);
    world.fire_timers().await;
    assert_eq!(intent_status(&world, &buyer, &payment).await, "APPROVED");
    assert!(send_webhook(&world, "wh_lost_2", "payment.approved", &hold, &payment).await);
    past_the_follow_up_check(&world).await;
    assert_eq!(intent_status(&world, &buyer, &payment).await, "REFUNDED");
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(after.status, ReservationStatus::Cancelled);
    assert_eq!(world.ledger(&event).await.available, 4);
    world.audit_money().await;
}

#[tokio::test]
async fn the_check_of_an_approval_that_was_followed_up_changes_nothing() {
    let world = World::new();
    let (buyer, hold, payment, event) = processed(&world, Scenario::Approve).await;
    assert!(send_webhook(&world, "wh_done_1", "payment.approved", &hold, &payment).await);
    deliver_bus(&world).await;
    let confirmed = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(confirmed.status, ReservationStatus::Confirmed);
    past_the_follow_up_check(&world).await;
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(
        (after.status, after.order_id),
        (ReservationStatus::Confirmed, confirmed.order_id),
        "same sale, same order"
    );
    assert_eq!(intent_status(&world, &buyer, &payment).await, "APPROVED");
    assert_eq!(world.published(DetailType::PaymentRefunded), 0);
    assert_eq!(world.published(DetailType::ReservationConfirmed), 1);
    world.audit(&event).await;
}

/// A provider's webhook endpoint that answers its first `refused` deliveries 503 at once and
/// holds every later one until [`HeldEndpoint::release`], then acknowledges it; counts the
/// deliveries it has received.
struct HeldEndpoint {
    url: String,
    received: Arc<AtomicUsize>,
    /// No permits until released: a held delivery waits for one (permits, unlike a
    /// notification, are not lost on a delivery that starts waiting after the release).
    gate: Arc<tokio::sync::Semaphore>,
}

impl HeldEndpoint {
    async fn start(refused: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (count, held) = (received.clone(), gate.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (count, held) = (count.clone(), held.clone());
                tokio::spawn(async move {
                    let mut head = vec![0u8; 64 * 1024];
                    if socket.read(&mut head).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let status = if count.fetch_add(1, Ordering::SeqCst) < refused {
                        "503 Service Unavailable"
                    } else {
                        held.acquire().await.expect("never closed").forget();
                        "200 OK"
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        });
        Self {
            url,
            received,
            gate,
        }
    }

    /// Acknowledges every delivery held now or later.
    fn release(&self) {
        self.gate.add_permits(1_000);
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    /// Waits until `n` deliveries have arrived (a few seconds at most).
    async fn wait_for(&self, n: usize) {
        for _ in 0..500 {
            if self.received() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "{n} webhook deliveries expected, {} arrived",
            self.received()
        );
    }
}

/// A world whose simulator posts its webhooks to `endpoint` as `delivery` says, and a buyer's
/// hold of seat A-1 there, ready to be paid.
async fn holding_for(
    endpoint: &HeldEndpoint,
    delivery: WebhookDelivery,
) -> (
    World,
    Principal,
    tacos_core::domain::reservations::Reservation,
) {
    let world = World::with_config(|config| {
        config.public_url = Some(endpoint.url.clone());
        config.webhook_delivery = delivery;
    });
    let event = world.seated(&[("A", 1, 4)], 10.0).await;
    let buyer = world.buyer();
    let hold = world.hold_seats(&buyer, &event.event_id, &["A-1"]);
    let hold = hold.await.unwrap();
    (world, buyer, hold)
}

#[tokio::test]
async fn a_payment_answered_after_its_webhook_is_posted_does_not_wait_for_the_provider_callback() {
    let endpoint = HeldEndpoint::start(0).await;
    let (world, buyer, hold) = holding_for(&endpoint, WebhookDelivery::AfterAnswer).await;
    let paying = world.pay(&buyer, &hold, Scenario::Approve);
    let intent = tokio::time::timeout(std::time::Duration::from_secs(5), paying)
        .await
        .expect("the payment is answered while its webhook is still held by the endpoint");
    assert_eq!(intent.status.as_str(), "APPROVED");
    endpoint.wait_for(1).await;
    let timers = world.local.scheduler.pending();
    endpoint.release();
    // Acknowledged: the safety net filed before the decision is dropped, so moving past its
    // time sends nothing again.
    for _ in 0..500 {
        if world.local.scheduler.pending() < timers {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        world.local.scheduler.pending(),
        timers - 1,
        "the safety net dropped"
    );
    world.advance(60.0);
    world.fire_timers().await;
    assert_eq!(endpoint.received(), 1, "one delivery, acknowledged once");
}

#[tokio::test]
async fn an_inline_webhook_is_posted_before_the_payment_is_answered() {
    let endpoint = HeldEndpoint::start(0).await;
    let (world, buyer, hold) = holding_for(&endpoint, WebhookDelivery::Inline).await;
    let paying = world.pay(&buyer, &hold, Scenario::Approve);
    tokio::pin!(paying);
    let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut paying).await;
    assert!(
        early.is_err(),
        "the answer waits for the provider's callback"
    );
    assert_eq!(endpoint.received(), 1);
    let timers = world.local.scheduler.pending();
    endpoint.release();
    assert_eq!(paying.await.status.as_str(), "APPROVED");
    // Posted before the answer, it needs no timer to post it again: a process that stops before
    // the post answers nobody (the buyer retries), and the hold's own timer settles the payment.
    assert_eq!(
        world.local.scheduler.pending(),
        timers,
        "no timer filed for an inline post that got through"
    );
}

#[tokio::test]
async fn a_webhook_posted_after_the_answer_that_fails_is_retried_by_its_safety_net() {
    let endpoint = HeldEndpoint::start(1).await;
    let (world, buyer, hold) = holding_for(&endpoint, WebhookDelivery::AfterAnswer).await;
    let intent = world.pay(&buyer, &hold, Scenario::Approve).await;
    assert_eq!(intent.status.as_str(), "APPROVED");
    endpoint.wait_for(1).await;
    // The first attempt was refused after the answer; the job filed before the decision posts
    // it again when it falls due.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    world.advance(11.0);
    let firing = world.fire_timers();
    tokio::pin!(firing);
    tokio::select! {
        _ = &mut firing => panic!("the retry waits for the endpoint's answer"),
        () = endpoint.wait_for(2) => {}
    }
    endpoint.release();
    firing.await;
    assert_eq!(endpoint.received(), 2);
}
