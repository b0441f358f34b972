//! Cancelling a hold and failed payments.
//!
//! Proves that a buyer who cancels (`DELETE /reservations/{id}` or `POST …/cancel`) sees the
//! reservation CANCELLED and the seats free for everyone at once; that cancelling twice is fine,
//! cancelling a confirmed order is 409 `INVALID_STATE`, another user cannot cancel (404); and that
//! a failed payment (scenario `fail` or the `fail` action) cancels the reservation by itself and
//! frees its seats.

use std::time::Duration;

use serde_json::json;

use crate::client::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_cancels_and_frees_the_seats_at_once() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 4)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_seats(&buyer, event_id, &["A-1", "A-2"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    assert_eq!(counts(&api.availability(event_id).await), (4, 2, 2, 0));

    let r = api.cancel_delete(&buyer, rsv_id).await.expect(200);
    assert_eq!(r["status"], "CANCELLED", "{r}");
    let av = api.availability(event_id).await;
    assert_eq!(counts(&av), (4, 4, 0, 0), "seats free at once");
    assert_eq!(seat_status(&av, "A-1"), "AVAILABLE");
    assert_eq!(api.reservation(&buyer, rsv_id).await["status"], "CANCELLED");

    // Cancelling again is harmless.
    assert_eq!(
        api.cancel_delete(&buyer, rsv_id).await.expect(200)["status"],
        "CANCELLED"
    );
    assert_eq!(
        api.cancel_post(&buyer, rsv_id).await.expect(200)["status"],
        "CANCELLED"
    );

    // Another buyer takes the seats right away.
    let other = api.register().await;
    api.hold_seats(&other, event_id, &["A-1", "A-2"]).await;
    assert_eq!(counts(&api.availability(event_id).await), (4, 2, 2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn post_cancel_frees_general_admission_tickets_at_once() {
    let api = Api::new();
    let event = api.ga_event(5, 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_qty(&buyer, event_id, 2).await;
    assert_eq!(counts(&api.availability(event_id).await), (5, 3, 2, 0));
    let r = api
        .cancel_post(&buyer, str_of(&rsv, "reservation_id"))
        .await
        .expect(200);
    assert_eq!(r["status"], "CANCELLED", "{r}");
    assert_eq!(counts(&api.availability(event_id).await), (5, 5, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_payment_scenario_cancels_the_reservation() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 4)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_seats(&buyer, event_id, &["A-4"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");

    let intent = api.intent(&buyer, &rsv, Some("fail")).await;
    let pi = str_of(&intent, "payment_intent_id");
    let processed = api.process_raw(&buyer, pi, None).await.expect(200);
    assert_eq!(processed["status"], "FAILED", "{processed}");

    let got = api
        .wait_reservation(&buyer, rsv_id, "CANCELLED", Duration::from_secs(10))
        .await;
    assert!(got["order_id"].is_null(), "{got}");
    let av = api.availability(event_id).await;
    assert_eq!(seat_status(&av, "A-4"), "AVAILABLE");
    assert_eq!(counts(&av), (4, 4, 0, 0));
    assert_eq!(
        api.payment_status_raw(&buyer, pi).await.expect(200)["status"],
        "FAILED"
    );

    // A failed payment cannot be used to confirm.
    api.confirm_raw(&buyer, rsv_id, pi)
        .await
        .expect_error(409, "INVALID_STATE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_action_overrides_the_scenario_and_cancels() {
    let api = Api::new();
    let event = api.ga_event(3, 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_qty(&buyer, event_id, 1).await;
    let intent = api.intent(&buyer, &rsv, Some("approve")).await;
    let pi = str_of(&intent, "payment_intent_id");
    let processed = api.process_raw(&buyer, pi, Some("fail")).await.expect(200);
    assert_eq!(processed["status"], "FAILED", "{processed}");
    api.wait_reservation(
        &buyer,
        str_of(&rsv, "reservation_id"),
        "CANCELLED",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(counts(&api.availability(event_id).await), (3, 3, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmed_order_cannot_be_cancelled() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 2)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_seats(&buyer, event_id, &["A-1"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    api.pay(&buyer, &rsv).await;
    api.wait_reservation(&buyer, rsv_id, "CONFIRMED", Duration::from_secs(10))
        .await;

    api.cancel_delete(&buyer, rsv_id)
        .await
        .expect_error(409, "INVALID_STATE");
    api.cancel_post(&buyer, rsv_id)
        .await
        .expect_error(409, "INVALID_STATE");
    let got = api.reservation(&buyer, rsv_id).await;
    assert_eq!(got["status"], "CONFIRMED", "{got}");
    let av = api.availability(event_id).await;
    assert_eq!(seat_status(&av, "A-1"), "SOLD");
    assert_eq!(counts(&av), (2, 1, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_reservation_cannot_be_paid_or_confirmed() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 2)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_seats(&buyer, event_id, &["A-2"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    let intent = api.intent(&buyer, &rsv, None).await;
    let pi = str_of(&intent, "payment_intent_id");
    api.cancel_delete(&buyer, rsv_id).await.expect(200);

    api.confirm_raw(&buyer, rsv_id, pi)
        .await
        .expect_error(409, "INVALID_STATE");
    let body = json!({"reservation_id": rsv_id, "amount": rsv["total_amount"], "currency": "USD"});
    api.intent_raw(&buyer, &body)
        .await
        .expect_error(409, "INVALID_STATE");

    // Paying the old intent now must not resurrect the reservation or sell the seat.
    let _ = api.process_raw(&buyer, pi, None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(api.reservation(&buyer, rsv_id).await["status"], "CANCELLED");
    let av = api.availability(event_id).await;
    assert_eq!(seat_status(&av, "A-2"), "AVAILABLE");
    assert_eq!(counts(&av), (2, 2, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_user_cannot_cancel_my_hold() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 2)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let owner = api.register().await;
    let intruder = api.register().await;
    let rsv = api.hold_seats(&owner, event_id, &["A-1"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    api.cancel_delete(&intruder, rsv_id)
        .await
        .expect_error(404, "RESERVATION_NOT_FOUND");
    api.cancel_post(&intruder, rsv_id)
        .await
        .expect_error(404, "RESERVATION_NOT_FOUND");
    assert_eq!(api.reservation(&owner, rsv_id).await["status"], "HOLD");
    assert_eq!(
        seat_status(&api.availability(event_id).await, "A-1"),
        "HELD"
    );
}
