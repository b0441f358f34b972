//! Holds end by themselves.
//!
//! Proves that a hold nobody pays for expires at its `hold_expires_at` without anyone reading it:
//! the seat shows AVAILABLE again and another buyer can take it, the reservation reads EXPIRED,
//! confirming it afterwards is 410 `RESERVATION_EXPIRED` (so is cancelling it), a new payment
//! intent for it is 409 `INVALID_STATE` (api-decisions.md), and a payment processed after the hold
//! expired is refused before anyone is charged and never sells the seat.
//!
//! The hold length is read from the reservation, never assumed (the embedded server uses short
//! holds; a deployment may use 60 s); waits are capped at 90 s.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::client::*;

const CAP: Duration = Duration::from_secs(90);

/// Waits until just after the hold of `rsv` has expired.
async fn wait_past_expiry(rsv: &serde_json::Value) {
    let expires = parse_time(&rsv["hold_expires_at"]);
    assert!(
        expires <= Utc::now() + chrono::Duration::seconds(90),
        "hold longer than the 90 s this suite waits: {rsv}"
    );
    sleep_until(expires + chrono::Duration::milliseconds(1500), CAP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unpaid_hold_expires_by_itself_and_the_seat_is_sold_to_someone_else() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1200, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_seats(&buyer, event_id, &["A-2"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    // A pending payment the buyer never completes.
    let intent = api.intent(&buyer, &rsv, None).await;
    let pi = str_of(&intent, "payment_intent_id");
    assert_eq!(counts(&api.availability(event_id).await), (5, 4, 1, 0));

    wait_past_expiry(&rsv).await;

    // Nobody read the reservation: availability alone must show the seat released.
    let av = api.availability(event_id).await;
    assert_eq!(
        seat_status(&av, "A-2"),
        "AVAILABLE",
        "expired hold must release the seat: {av}"
    );
    assert_eq!(counts(&av), (5, 5, 0, 0));

    let got = api.reservation(&buyer, rsv_id).await;
    assert_eq!(got["status"], "EXPIRED", "{got}");
    assert!(got["order_id"].is_null(), "{got}");

    // Too late to confirm, cancel or pay.
    api.confirm_raw(&buyer, rsv_id, pi)
        .await
        .expect_error(410, "RESERVATION_EXPIRED");
    api.cancel_delete(&buyer, rsv_id)
        .await
        .expect_error(410, "RESERVATION_EXPIRED");
    api.cancel_post(&buyer, rsv_id)
        .await
        .expect_error(410, "RESERVATION_EXPIRED");
    assert_eq!(api.reservation(&buyer, rsv_id).await["status"], "EXPIRED");

    // Someone else gets the seat.
    let other = api.register().await;
    let rsv2 = api.hold_seats(&other, event_id, &["A-2"]).await;
    assert_eq!(rsv2["seat_ids"], json!(["A-2"]));
    assert_eq!(counts(&api.availability(event_id).await), (5, 4, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn general_admission_hold_expires_and_the_tickets_return() {
    let api = Api::new();
    let event = api.ga_event(4, 900, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_qty(&buyer, event_id, 4).await;
    assert_eq!(counts(&api.availability(event_id).await), (4, 0, 4, 0));
    wait_past_expiry(&rsv).await;
    assert_eq!(counts(&api.availability(event_id).await), (4, 4, 0, 0));
    assert_eq!(
        api.reservation(&buyer, str_of(&rsv, "reservation_id"))
            .await["status"],
        "EXPIRED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_after_expiry_is_refused_uncharged_and_sells_nothing() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 3)], 5000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_seats(&buyer, event_id, &["A-1"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    let intent = api.intent(&buyer, &rsv, None).await;
    let pi = str_of(&intent, "payment_intent_id");

    wait_past_expiry(&rsv).await;

    // The buyer tries to pay after the hold ended: refused before anyone is charged (a payment
    // may start only while its hold is unexpired), rather than charged and then refunded.
    api.process_raw(&buyer, pi, Some("approve"))
        .await
        .expect_error(410, "RESERVATION_EXPIRED");
    let pay = api.payment_status_raw(&buyer, pi).await.expect(200);
    assert_eq!(pay["status"], "PENDING", "never charged: {pay}");
    assert_eq!(pay["reservation_id"], rsv_id, "{pay}");
    let got = api.reservation(&buyer, rsv_id).await;
    assert_eq!(
        got["status"], "EXPIRED",
        "a payment after expiry never confirms: {got}"
    );
    assert!(got["order_id"].is_null(), "{got}");
    let av = api.availability(event_id).await;
    assert_eq!(seat_status(&av, "A-1"), "AVAILABLE");
    assert_eq!(counts(&av), (3, 3, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_payment_for_an_expired_hold_is_refused_as_expired() {
    // docs/api-decisions.md: an intent for a hold that expired is 410 `RESERVATION_EXPIRED`, as
    // for confirm.
    let api = Api::new();
    let event = api.ga_event(3, 800, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_qty(&buyer, event_id, 1).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    wait_past_expiry(&rsv).await;
    let body = json!({"reservation_id": rsv_id, "amount": rsv["total_amount"], "currency": "USD"});
    api.intent_raw(&buyer, &body)
        .await
        .expect_error(410, "RESERVATION_EXPIRED");
    assert_eq!(api.reservation(&buyer, rsv_id).await["status"], "EXPIRED");
    assert_eq!(counts(&api.availability(event_id).await), (3, 3, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_started_in_the_holds_last_second_confirms_after_it() {
    // The provider takes about 2 s (`delay`) and answers after the hold's expiry: the hold is kept
    // for its payment until `payment_deadline`, and the approval confirms it (webhook, bus,
    // follow-up), rather than charging the buyer and then refunding.
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 3)], 5000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_seats(&buyer, event_id, &["A-1"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    let intent = api.intent(&buyer, &rsv, Some("delay")).await;
    let pi = str_of(&intent, "payment_intent_id");
    let expires = parse_time(&rsv["hold_expires_at"]);
    assert!(
        expires <= Utc::now() + chrono::Duration::seconds(90),
        "hold longer than the 90 s this suite waits: {rsv}"
    );
    sleep_until(expires - chrono::Duration::milliseconds(1000), CAP).await;
    let processed = api.process_raw(&buyer, pi, None).await.expect(200);
    assert_eq!(processed["status"], "PROCESSING", "{processed}");
    let paying = api.reservation(&buyer, rsv_id).await;
    let deadline = parse_time(&paying["payment_deadline"]);
    assert!(
        deadline > expires,
        "a deadline past the hold's expiry: {paying}"
    );
    assert_eq!(paying["payment_intent_id"], pi, "{paying}");

    sleep_until(expires + chrono::Duration::milliseconds(300), CAP).await;
    let kept = api.reservation(&buyer, rsv_id).await;
    assert!(
        ["HOLD", "CONFIRMED"].contains(&kept["status"].as_str().unwrap_or("")),
        "kept for its payment past the hold's expiry: {kept}"
    );
    let done = api
        .wait_reservation(&buyer, rsv_id, "CONFIRMED", Duration::from_secs(20))
        .await;
    assert!(
        done["order_id"]
            .as_str()
            .is_some_and(|o| o.starts_with("ord_")),
        "{done}"
    );
    let pay = api.payment_status_raw(&buyer, pi).await.expect(200);
    assert_eq!(pay["status"], "APPROVED", "charged once and kept: {pay}");
    let av = api.availability(event_id).await;
    assert_eq!(seat_status(&av, "A-1"), "SOLD");
    assert_eq!(counts(&av), (3, 2, 0, 1));
}
