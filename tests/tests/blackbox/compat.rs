//! The original Traffic Tacos clients, served unchanged (v1.1 of the contract): bodies with fields
//! this API does not know are accepted, `user_id` is accepted when it names the caller and refused
//! otherwise, a page that closes can leave the line with a POST (what `navigator.sendBeacon`
//! sends), and an administrator may give an event the id the other systems know it by.

use serde_json::{json, Value};

use crate::client::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hold_naming_its_own_user_id_goes_through_and_anyone_elses_is_refused() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let (buyer, other) = tokio::join!(api.register(), api.register());
    let rtkn = api.admit(event_id, &buyer).await;
    let body = |user_id: &str| {
        json!({"event_id": event_id, "seat_ids": ["A-1"], "quantity": 1,
               "reservation_token": rtkn, "user_id": user_id, "client_version": "web-1.4"})
    };
    // Someone else's id: refused, and nothing is held.
    api.reserve_raw(&buyer, &body(&other.user_id))
        .await
        .expect_error(403, "FORBIDDEN");
    assert_eq!(
        seat_status(&api.availability(event_id).await, "A-1"),
        "AVAILABLE"
    );
    // Its own (as the original web app sends it), with a field this API does not know: held.
    let held = api
        .reserve_raw(&buyer, &body(&buyer.user_id))
        .await
        .expect(201);
    assert_eq!(held["user_id"], buyer.user_id.as_str(), "{held}");
    assert_eq!(
        seat_status(&api.availability(event_id).await, "A-1"),
        "HELD"
    );
    // Not a string: the body is malformed.
    let mut malformed = body(&buyer.user_id);
    malformed["user_id"] = json!(42);
    api.reserve_raw(&buyer, &malformed)
        .await
        .expect_error(400, "INVALID_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_join_with_user_id_must_be_signed_in_as_that_user() {
    let api = Api::new();
    let event = api.ga_event(10, 1000, 0.01).await;
    let event_id = str_of(&event, "event_id");
    let (buyer, other) = tokio::join!(api.register(), api.register());
    let join = |user: Option<&User>, user_id: &str| {
        api.post("/queue/join")
            .auth(user)
            .idem()
            .json(&json!({"event_id": event_id, "user_id": user_id, "referrer": "email"}))
            .send()
    };
    join(Some(&buyer), &buyer.user_id).await.expect(202);
    join(Some(&buyer), &other.user_id)
        .await
        .expect_error(403, "FORBIDDEN");
    join(None, &buyer.user_id)
        .await
        .expect_error(403, "FORBIDDEN");
    // Without user_id, an anonymous join is as it always was; extra fields are ignored.
    api.post("/queue/join")
        .idem()
        .json(&json!({"event_id": event_id, "referrer": "email"}))
        .send()
        .await
        .expect(202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_body_ignores_fields_it_does_not_know() {
    let api = Api::new();
    let username = unique("compat");
    let registered = api
        .post("/auth/register")
        .json(
            &json!({"username": username, "password": "correct horse battery",
                      "newsletter": true}),
        )
        .send()
        .await
        .expect(201);
    let buyer = user_from(&registered, &username, "correct horse battery");
    api.post("/auth/login")
        .json(
            &json!({"username": username, "password": "correct horse battery",
                      "remember_me": true}),
        )
        .send()
        .await
        .expect(200);
    let mut body = ga_body(5, 1500, 100.0);
    body["organizer_notes"] = json!("doors at 7");
    let event = api.create_event(&body).await;
    let event_id = str_of(&event, "event_id");
    let rsv = api.hold_qty(&buyer, event_id, 1).await;
    let intent = api
        .intent_raw(
            &buyer,
            &json!({"reservation_id": rsv["reservation_id"], "amount": rsv["total_amount"],
                    "currency": rsv["currency"], "save_card": false}),
        )
        .await
        .expect(200);
    let pi = str_of(&intent, "payment_intent_id");
    api.post("/payments/process")
        .bearer(&buyer.token)
        .idem()
        .json(&json!({"payment_intent_id": pi, "action": "approve", "device": "phone"}))
        .send()
        .await
        .expect(200);
    api.wait_reservation(
        &buyer,
        str_of(&rsv, "reservation_id"),
        "CONFIRMED",
        std::time::Duration::from_secs(20),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closing_page_leaves_the_line_with_a_post() {
    let api = Api::new();
    let event = api.ga_event(10, 1000, 0.01).await;
    let event_id = str_of(&event, "event_id");
    api.join(event_id, None).await; // someone ahead, so the next ones wait
    let leaving = api.join(event_id, None).await;
    let behind = api.join(event_id, None).await;
    let token = str_of(&leaving, "waiting_token");
    let before = api.status(str_of(&behind, "waiting_token")).await;
    // What navigator.sendBeacon sends: a POST whose string body comes as text/plain.
    let beacon = || {
        api.post("/queue/leave")
            .header("content-type", "text/plain;charset=UTF-8")
            .body(json!({"waiting_token": token}).to_string())
            .send()
    };
    let left = beacon().await.expect(200);
    assert_eq!(left["status"], "left");
    beacon().await.expect(200); // leaving twice is fine
    assert_eq!(api.status(token).await["status"], "expired");
    let moved_up = |s: &Value| s["position"].as_i64() < before["position"].as_i64();
    let after = api
        .status_once(str_of(&behind, "waiting_token"), moved_up)
        .await;
    if before["status"] == "waiting" && after["status"] == "waiting" {
        assert_eq!(
            after["position"].as_i64().unwrap(),
            before["position"].as_i64().unwrap() - 1,
            "the one behind moved up: {before} {after}"
        );
    }
    api.post("/queue/leave")
        .json(&json!({"waiting_token": "wtkn_nobody"}))
        .send()
        .await
        .expect_error(404, "TOKEN_NOT_FOUND");
    api.post("/queue/leave")
        .json(&json!({}))
        .send()
        .await
        .expect_error(400, "INVALID_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_administrator_may_choose_the_event_id_once() {
    let api = Api::new();
    let id = format!("evt_{}", unique("2025_1001").replace('-', "_"));
    let mut body = seated_body(&[("VIP", 1, 4)], 5000, 100.0);
    body["event_id"] = json!(id);
    let created = api.create_event(&body).await;
    assert_eq!(created["event_id"], id.as_str(), "{created}");
    api.get(&format!("/events/{id}")).send().await.expect(200);
    // The same id again: refused, and the first event is untouched.
    let mut again = ga_body(7, 100, 1.0);
    again["event_id"] = json!(id);
    api.create_event_raw(&again)
        .await
        .expect_error(409, "EVENT_EXISTS");
    assert_eq!(counts(&api.availability(&id).await), (4, 4, 0, 0));
    // Not an id.
    let mut bad = ga_body(7, 100, 1.0);
    bad["event_id"] = json!("2025 finals");
    api.create_event_raw(&bad)
        .await
        .expect_error(400, "INVALID_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_venue_with_rows_and_price_tiers_sells_in_won() {
    let api = Api::new();
    let body = json!({
        "name": unique("Concert "),
        "venue": "Olympic Hall",
        "starts_at": starts_in_days(30),
        "currency": "KRW",
        "price": 55000,
        "admission_rate_per_sec": 100.0,
        "sections": [
            {"name": "VIP", "rows": 2, "seats_per_row": 5, "seat_ids": "SECTION-ROW-SEAT",
             "price": 150000},
            {"name": "A", "rows": 1, "seats_per_row": 4},
        ],
    });
    let event = api.create_event(&body).await;
    let event_id = str_of(&event, "event_id");
    assert_eq!(event["currency"], "KRW");
    assert_eq!(
        event["currency_minor_unit"], 0,
        "won have no minor unit: {event}"
    );
    assert_eq!(
        event["sections"][0]["seat_ids"], "SECTION-ROW-SEAT",
        "{event}"
    );
    assert_eq!(event["total"], 14);

    let av = api.availability(event_id).await;
    let seat = |id: &str| {
        av["seats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["seat_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no seat {id}: {av}"))
    };
    let vip = seat("VIP-1-5");
    assert_eq!(
        (&vip["section"], &vip["row"], &vip["number"], &vip["price"]),
        (&json!("VIP"), &json!(1), &json!(5), &json!(150000)),
        "{vip}"
    );
    let a = seat("A-3");
    assert_eq!(
        (&a["row"], &a["number"], &a["price"]),
        (&json!(1), &json!(3), &json!(55000))
    );
    let ids: Vec<&str> = av["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seat_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        &ids[..6],
        ["VIP-1-1", "VIP-1-2", "VIP-1-3", "VIP-1-4", "VIP-1-5", "VIP-2-1"]
    );

    let buyer = api.register().await;
    let rtkn = api.admit(event_id, &buyer).await;
    // A row section's seats are written with their row; `VIP-5` is no seat of it.
    api.reserve_seats(&buyer, event_id, &["VIP-5"], &rtkn)
        .await
        .expect_error(400, "INVALID_REQUEST");
    let rsv = api
        .reserve_seats(&buyer, event_id, &["VIP-1-5", "A-2"], &rtkn)
        .await
        .expect(201);
    assert_eq!(
        rsv["total_amount"],
        150000 + 55000,
        "each seat at its tier: {rsv}"
    );
    assert_eq!(rsv["currency"], "KRW");
    let pi = api.pay(&buyer, &rsv).await;
    api.wait_reservation(
        &buyer,
        str_of(&rsv, "reservation_id"),
        "CONFIRMED",
        std::time::Duration::from_secs(20),
    )
    .await;
    let paid = api.payment_status_raw(&buyer, &pi).await.expect(200);
    assert_eq!(
        (&paid["amount"], &paid["currency"]),
        (&json!(205000), &json!("KRW"))
    );
}
