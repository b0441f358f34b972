//! Complete purchases as a buyer lives them.
//!
//! Proves that a buyer can go from the waiting room to a confirmed order: join, watch the status,
//! enter, hold seats, pay, and see the reservation become CONFIRMED with an order id because the
//! payment simulator's webhook confirmed it (the client never calls confirm). Also the explicit
//! confirm route (confirming twice returns the same order), a general-admission purchase by
//! quantity, the delayed-approval and random scenarios (an approval always ends CONFIRMED, a
//! failure CANCELLED), and that the availability counts (total/available/held/sold) stay
//! consistent at every step.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use crate::client::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seated_purchase_confirmed_by_the_payment_webhook() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 10)], 2500, 100.0).await;
    let event_id = str_of(&event, "event_id");
    assert_eq!(event["total"], 10, "event total: {event}");
    assert_eq!(counts(&api.availability(event_id).await), (10, 10, 0, 0));

    let buyer = api.register().await;

    // Join the waiting room.
    let joined = api.join(event_id, Some(&buyer)).await;
    assert_eq!(joined["status"], "waiting", "join: {joined}");
    assert!(
        joined["position_hint"].as_i64().is_some_and(|p| p >= 0),
        "position_hint: {joined}"
    );
    let wtkn = str_of(&joined, "waiting_token").to_string();

    // Poll the status until it is our turn.
    let status = api.wait_ready(&wtkn, Duration::from_secs(30)).await;
    for field in ["position", "eta_sec", "waiting_time"] {
        assert!(
            status[field].as_i64().is_some_and(|n| n >= 0),
            "status.{field}: {status}"
        );
    }
    assert_eq!(status["event_id"], event_id, "status: {status}");
    assert_eq!(status["sold_out"], false, "status: {status}");

    // Enter: a reservation token valid 30 s.
    let entered = api.enter_raw(&wtkn, Some(&buyer)).await.expect(200);
    assert_eq!(entered["admission"], "granted", "enter: {entered}");
    assert_eq!(entered["ttl_sec"], 30, "enter: {entered}");
    let rtkn = str_of(&entered, "reservation_token").to_string();
    assert!(rtkn.starts_with("rtkn_"), "enter: {entered}");
    assert_eq!(
        counts(&api.availability(event_id).await),
        (10, 10, 0, 0),
        "entering holds nothing"
    );

    // Hold two seats.
    let before = Utc::now();
    let rsv = api
        .reserve_seats(&buyer, event_id, &["A-3", "A-4"], &rtkn)
        .await
        .expect(201);
    let rsv_id = str_of(&rsv, "reservation_id").to_string();
    assert!(rsv_id.starts_with("rsv_"), "reservation: {rsv}");
    assert_eq!(rsv["status"], "HOLD");
    assert_eq!(rsv["event_id"], event_id);
    assert_eq!(rsv["seat_ids"], json!(["A-3", "A-4"]));
    assert_eq!(rsv["quantity"], 2);
    assert_eq!(rsv["user_id"], buyer.user_id.as_str());
    assert_eq!(rsv["total_amount"], 5000, "2 × 2500: {rsv}");
    assert_eq!(rsv["currency"], "USD");
    let expires = parse_time(&rsv["hold_expires_at"]);
    assert!(
        expires > before,
        "hold_expires_at must be in the future: {rsv}"
    );
    assert!(
        expires < before + chrono::Duration::seconds(600),
        "hold longer than 10 minutes? {rsv}"
    );

    let av = api.availability(event_id).await;
    assert_eq!(counts(&av), (10, 8, 2, 0));
    assert_eq!(seat_status(&av, "A-3"), "HELD");
    assert_eq!(seat_status(&av, "A-4"), "HELD");
    assert_eq!(seat_status(&av, "A-5"), "AVAILABLE");

    let got = api.reservation(&buyer, &rsv_id).await;
    assert_eq!(got["status"], "HOLD");
    assert!(got["order_id"].is_null(), "no order before payment: {got}");
    for k in [
        "reservation_id",
        "event_id",
        "seat_ids",
        "quantity",
        "user_id",
        "total_amount",
        "currency",
        "hold_expires_at",
    ] {
        assert_eq!(
            got[k], rsv[k],
            "GET reservation .{k} differs from the created one: {got}"
        );
    }

    // Pay.
    let intent = api.intent(&buyer, &rsv, None).await;
    assert_eq!(intent["status"], "PENDING", "intent: {intent}");
    assert_eq!(intent["amount"], 5000);
    assert_eq!(intent["currency"], "USD");
    assert_eq!(intent["reservation_id"], rsv_id.as_str());
    assert_eq!(intent["next"], "webhook");
    let pi = str_of(&intent, "payment_intent_id").to_string();
    let processed = api.process_raw(&buyer, &pi, None).await.expect(200);
    assert_eq!(processed["payment_intent_id"], pi.as_str());
    assert_eq!(
        processed["status"], "APPROVED",
        "default scenario approves: {processed}"
    );

    // The simulator's webhook confirms the reservation; we never call confirm.
    let confirmed = api
        .wait_reservation(&buyer, &rsv_id, "CONFIRMED", Duration::from_secs(10))
        .await;
    let order = str_of(&confirmed, "order_id");
    assert!(order.starts_with("ord_"), "order id: {confirmed}");
    assert_eq!(
        confirmed["payment_intent_id"],
        pi.as_str(),
        "reservation records its payment: {confirmed}"
    );

    let av = api.availability(event_id).await;
    assert_eq!(counts(&av), (10, 8, 0, 2));
    assert_eq!(seat_status(&av, "A-3"), "SOLD");
    assert_eq!(seat_status(&av, "A-4"), "SOLD");

    let pay = api.payment_status_raw(&buyer, &pi).await.expect(200);
    assert_eq!(pay["status"], "APPROVED", "{pay}");
    assert_eq!(pay["payment_intent_id"], pi.as_str());
    assert_eq!(pay["amount"], 5000);
    assert_eq!(pay["currency"], "USD");
    assert_eq!(pay["reservation_id"], rsv_id.as_str());

    // Confirming after the webhook did returns the same order.
    let again = api.confirm_raw(&buyer, &rsv_id, &pi).await.expect(200);
    assert_eq!(
        again["order_id"], order,
        "confirm after the webhook: {again}"
    );
    assert_eq!(again["status"], "CONFIRMED");

    // Still confirmed, still one order, still sold once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = api.reservation(&buyer, &rsv_id).await;
    assert_eq!(
        (later["status"].clone(), later["order_id"].clone()),
        (json!("CONFIRMED"), json!(order))
    );
    assert_eq!(counts(&api.availability(event_id).await), (10, 8, 0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explicit_confirm_and_confirming_twice_return_the_same_order() {
    let api = Api::new();
    let event = api.seated_event(&[("B", 1, 6)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_seats(&buyer, event_id, &["B-1"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");

    let pi = api.pay(&buyer, &rsv).await;
    // Confirm explicitly right away, racing the webhook: either way there is one order.
    let first = api.confirm_raw(&buyer, rsv_id, &pi).await.expect(200);
    assert_eq!(first["status"], "CONFIRMED", "{first}");
    let order = str_of(&first, "order_id").to_string();
    assert!(order.starts_with("ord_"), "{first}");

    let second = api.confirm_raw(&buyer, rsv_id, &pi).await.expect(200);
    assert_eq!(
        second["order_id"],
        order.as_str(),
        "confirming twice returns the same order"
    );
    assert_eq!(second["status"], "CONFIRMED");

    // The webhook that follows does not create another order.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = api.reservation(&buyer, rsv_id).await;
    assert_eq!(got["status"], "CONFIRMED");
    assert_eq!(got["order_id"], order.as_str());
    let av = api.availability(event_id).await;
    assert_eq!(counts(&av), (6, 5, 0, 1));
    assert_eq!(seat_status(&av, "B-1"), "SOLD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn general_admission_purchase_by_quantity() {
    let api = Api::new();
    let event = api.ga_event(50, 4200, 100.0).await;
    let event_id = str_of(&event, "event_id");
    assert_eq!(event["kind"], "general_admission", "{event}");
    assert_eq!(event["sections"], json!([]), "{event}");
    assert_eq!(event["total"], 50, "{event}");
    let av = api.availability(event_id).await;
    assert_eq!(counts(&av), (50, 50, 0, 0));
    assert_eq!(av["seats"], json!([]), "GA availability has no seats: {av}");

    let buyer = api.register().await;
    let rsv = api.hold_qty(&buyer, event_id, 3).await;
    assert_eq!(rsv["quantity"], 3, "{rsv}");
    assert_eq!(rsv["total_amount"], 3 * 4200, "{rsv}");
    assert!(
        rsv["seat_ids"].as_array().is_some_and(|s| s.is_empty()),
        "GA has no seat ids: {rsv}"
    );
    assert_eq!(counts(&api.availability(event_id).await), (50, 47, 3, 0));

    api.pay(&buyer, &rsv).await;
    let done = api
        .wait_reservation(
            &buyer,
            str_of(&rsv, "reservation_id"),
            "CONFIRMED",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        done["order_id"]
            .as_str()
            .is_some_and(|o| o.starts_with("ord_")),
        "{done}"
    );
    assert_eq!(counts(&api.availability(event_id).await), (50, 47, 0, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delayed_approval_confirms_a_little_later() {
    let api = Api::new();
    let event = api.ga_event(10, 1500, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_qty(&buyer, event_id, 1).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    let intent = api.intent(&buyer, &rsv, Some("delay")).await;
    let pi = str_of(&intent, "payment_intent_id");
    let processed = api.process_raw(&buyer, pi, None).await.expect(200);
    assert_eq!(
        processed["status"], "PROCESSING",
        "delay scenario: {processed}"
    );
    let got = api.reservation(&buyer, rsv_id).await;
    assert_eq!(
        got["status"], "HOLD",
        "not confirmed before the approval: {got}"
    );

    // Processing again returns the current status and changes nothing.
    let again = api.process_raw(&buyer, pi, None).await.expect(200);
    assert!(
        ["PROCESSING", "APPROVED"].contains(&again["status"].as_str().unwrap_or("")),
        "{again}"
    );

    let done = api
        .wait_reservation(&buyer, rsv_id, "CONFIRMED", Duration::from_secs(10))
        .await;
    assert!(
        done["order_id"]
            .as_str()
            .is_some_and(|o| o.starts_with("ord_")),
        "{done}"
    );
    let pay = api
        .wait_payment(&buyer, pi, "APPROVED", Duration::from_secs(5))
        .await;
    assert_eq!(pay["reservation_id"], rsv_id);
    assert_eq!(counts(&api.availability(event_id).await), (10, 9, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seats_of_two_sections_are_named_and_priced() {
    let api = Api::new();
    let event = api
        .seated_event(&[("A", 2, 3), ("VIP", 1, 2)], 700, 100.0)
        .await;
    let event_id = str_of(&event, "event_id");
    assert_eq!(event["kind"], "seated", "{event}");
    assert_eq!(event["total"], 8, "{event}");
    let av = api.availability(event_id).await;
    let mut ids: Vec<String> = av["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seat_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want: Vec<String> = ["A-1", "A-2", "A-3", "A-4", "A-5", "A-6", "VIP-1", "VIP-2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    want.sort();
    assert_eq!(
        ids, want,
        "seat ids are `<section>-<(row-1)*seats_per_row + seat>`"
    );
    assert_eq!(counts(&av), (8, 8, 0, 0));

    let buyer = api.register().await;
    let rsv = api.hold_seats(&buyer, event_id, &["A-6", "VIP-2"]).await;
    assert_eq!(rsv["total_amount"], 1400, "{rsv}");
    let av = api.availability(event_id).await;
    assert_eq!(counts(&av), (8, 6, 2, 0));
    assert_eq!(seat_status(&av, "VIP-2"), "HELD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_scenario_ends_consistently_either_way() {
    let api = Api::new();
    let event = api.ga_event(20, 1000, 100.0).await;
    let event_id = str_of(&event, "event_id").to_string();
    let runs = futures::future::join_all((0..4).map(|_| {
        let api = api.clone();
        let event_id = event_id.clone();
        async move {
            let buyer = api.register().await;
            let rsv = api.hold_qty(&buyer, &event_id, 2).await;
            let rsv_id = str_of(&rsv, "reservation_id").to_string();
            let intent = api.intent(&buyer, &rsv, Some("random")).await;
            let pi = str_of(&intent, "payment_intent_id").to_string();
            let processed = api.process_raw(&buyer, &pi, None).await.expect(200);
            let outcome = processed["status"].as_str().unwrap_or("").to_string();
            let want = match outcome.as_str() {
                "APPROVED" => "CONFIRMED",
                "FAILED" => "CANCELLED",
                other => panic!("random scenario decided {other:?}: {processed}"),
            };
            api.wait_reservation(&buyer, &rsv_id, want, Duration::from_secs(10))
                .await;
            want == "CONFIRMED"
        }
    }))
    .await;
    let sold = 2 * runs.iter().filter(|c| **c).count() as i64;
    assert_eq!(
        counts(&api.availability(&event_id).await),
        (20, 20 - sold, 0, sold)
    );
}
