//! Retrying is safe.
//!
//! Proves that a client which retries a POST with the same `Idempotency-Key` gets the first
//! response back byte for byte (same status, header `X-Idempotency-Cached: true`) and that the side
//! effect happened once (one queue entry, one hold, one payment intent, one order); that reusing a
//! key for a different body is 409 `IDEMPOTENCY_CONFLICT`, also when both are sent at once, and
//! that a key is a new key on another route; that concurrent duplicates have their
//! side effect once and are answered alike (each route keeps its key on its item, or claims it
//! and answers a repeat as it answered the first); that the key is required (400 `IDEMPOTENCY_REQUIRED`) and must be a UUID (400
//! `INVALID_IDEMPOTENCY_KEY`) on every route the contract lists; and that keys are scoped to the
//! caller: another user sending the same key gets a fresh response of their own, while the same
//! anonymous client (same address) gets its replay. Error responses are replayed too.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::client::*;

#[track_caller]
fn assert_replay(first: &Resp, replay: &Resp) {
    assert_eq!(
        replay.status,
        first.status,
        "replayed status: {}",
        replay.text()
    );
    assert_eq!(
        replay.body, first.body,
        "replayed body must be byte for byte the first one"
    );
    assert_eq!(
        replay.header("x-idempotency-cached").as_deref(),
        Some("true"),
        "replay must carry X-Idempotency-Cached: true ({})",
        replay.what
    );
    assert_ne!(
        first.header("x-idempotency-cached").as_deref(),
        Some("true"),
        "the first response is not a replay ({})",
        first.what
    );
}

/// Ten duplicates of one keyed POST by `user`, sent at once.
async fn ten_at_once(api: &Api, path: &str, user: &User, key: &str, body: &Value) -> Vec<Resp> {
    join_all((0..10).map(|_| {
        api.post(path)
            .bearer(&user.token)
            .key(key)
            .json(body)
            .send()
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn join_replay_returns_the_same_token_and_queues_once() {
    let api = Api::new();
    // Slow admission so everybody stays in the queue.
    let event = api.seated_event(&[("A", 1, 10)], 1000, 0.01).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    // Someone ahead, who may be admitted at once.
    api.join(event_id, None).await;

    let key = new_key();
    let body = json!({"event_id": event_id});
    let first = api
        .post("/queue/join")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    first.expect(202);
    let replay = api
        .post("/queue/join")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    assert_replay(&first, &replay);

    // One queue entry: the next person in line is right behind us.
    let mine = api.status(str_of(&first.json, "waiting_token")).await;
    let next = api.join(event_id, Some(&api.register().await)).await;
    let theirs = api.status(str_of(&next, "waiting_token")).await;
    if mine["status"] == "waiting" {
        assert_eq!(
            theirs["position"].as_i64().unwrap(),
            mine["position"].as_i64().unwrap() + 1,
            "a replayed join must not queue twice: mine {mine}, next {theirs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservation_replay_holds_once() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let rtkn = api.admit(event_id, &user).await;
    let key = new_key();
    let body = json!({"event_id": event_id, "seat_ids": ["A-1"], "quantity": 1, "reservation_token": rtkn});
    let first = api
        .post("/reservations")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    first.expect(201);
    let replay = api
        .post("/reservations")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    assert_replay(&first, &replay);
    assert_eq!(
        counts(&api.availability(event_id).await),
        (5, 4, 1, 0),
        "one hold only"
    );

    // The same key with another body is a conflict, and holds nothing.
    let other = json!({"event_id": event_id, "seat_ids": ["A-2"], "quantity": 1, "reservation_token": rtkn});
    api.post("/reservations")
        .bearer(&user.token)
        .key(&key)
        .json(&other)
        .send()
        .await
        .expect_error(409, "IDEMPOTENCY_CONFLICT");
    assert_eq!(counts(&api.availability(event_id).await), (5, 4, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payment_and_confirm_replays_have_no_second_effect() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let rsv = api.hold_seats(&user, event_id, &["A-3"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");

    let key = new_key();
    let body = json!({"reservation_id": rsv_id, "amount": rsv["total_amount"], "currency": "USD"});
    let first = api
        .post("/payments/intent")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    first.expect(200);
    let replay = api
        .post("/payments/intent")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    assert_replay(&first, &replay);
    let pi = str_of(&first.json, "payment_intent_id").to_string();

    let key = new_key();
    let body = json!({"payment_intent_id": pi});
    let first = api
        .post("/payments/process")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    first.expect(200);
    let replay = api
        .post("/payments/process")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    assert_replay(&first, &replay);

    let key = new_key();
    let path = format!("/reservations/{rsv_id}/confirm");
    let first = api
        .post(&path)
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    first.expect(200);
    let replay = api
        .post(&path)
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    assert_replay(&first, &replay);

    let got = api
        .wait_reservation(&user, rsv_id, "CONFIRMED", Duration::from_secs(10))
        .await;
    assert_eq!(got["order_id"], first.json["order_id"]);
    assert_eq!(
        got["payment_intent_id"],
        pi.as_str(),
        "the replayed intent is the one intent"
    );
    assert_eq!(counts(&api.availability(event_id).await), (5, 4, 0, 1));
}

/// Processing a payment claims its key before it runs, and a duplicate finding the claim runs
/// too (it is the same request): ten duplicates at once all run, and are all answered alike, with one charge, one webhook's
/// follow-up and one seat sold; a retry afterwards is a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_of_a_payment_are_answered_alike_and_charge_once() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let rsv = api.hold_seats(&user, event_id, &["A-2"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    let intent = api
        .post("/payments/intent")
        .bearer(&user.token)
        .key(&new_key())
        .json(&json!({"reservation_id": rsv_id, "amount": rsv["total_amount"], "currency": "USD"}))
        .send()
        .await;
    intent.expect(200);
    let body = json!({"payment_intent_id": intent.json["payment_intent_id"]});
    let key = new_key();
    let responses = ten_at_once(&api, "/payments/process", &user, &key, &body).await;
    for r in &responses {
        r.expect(200);
        assert_eq!(
            r.json, responses[0].json,
            "every duplicate is answered alike"
        );
    }
    assert_eq!(responses[0].json["status"], "APPROVED");
    let replay = api
        .post("/payments/process")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    replay.expect(200);
    assert_eq!(
        replay.header("x-idempotency-cached").as_deref(),
        Some("true")
    );
    assert_eq!(replay.json, responses[0].json);

    let got = api
        .wait_reservation(&user, rsv_id, "CONFIRMED", Duration::from_secs(10))
        .await;
    assert_eq!(got["payment_intent_id"], intent.json["payment_intent_id"]);
    assert_eq!(counts(&api.availability(event_id).await), (5, 4, 0, 1));
}

/// A payment's processing is answered, when repeated under its key, the status it was first
/// answered, though the payment moved on since (a delayed payment, `PROCESSING` then
/// `APPROVED`); processing it again under a new key answers the status it has now, and that
/// answer too is what its own repeats get. (The intent keeps the first answer; the second,
/// which the intent does not keep, is kept under its key.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_payment_is_answered_what_it_was_first_answered_after_the_payment_moved_on() {
    let api = Api::new();
    let event = api.ga_event(10, 1500, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let buyer = api.register().await;
    let rsv = api.hold_qty(&buyer, event_id, 1).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    let intent = api.intent(&buyer, &rsv, Some("delay")).await;
    let pi = str_of(&intent, "payment_intent_id");
    let body = json!({"payment_intent_id": pi});
    let process = |key: String| {
        let api = &api;
        let buyer = &buyer;
        let body = &body;
        async move {
            api.post("/payments/process")
                .bearer(&buyer.token)
                .key(&key)
                .json(body)
                .send()
                .await
        }
    };
    let first_key = new_key();
    let first = process(first_key.clone()).await;
    first.expect(200);
    assert_eq!(first.json["status"], "PROCESSING", "{}", first.json);
    api.wait_reservation(&buyer, rsv_id, "CONFIRMED", Duration::from_secs(10))
        .await;
    api.wait_payment(&buyer, pi, "APPROVED", Duration::from_secs(5))
        .await;

    let repeat = process(first_key).await;
    assert_replay(&first, &repeat);
    assert_eq!(repeat.json["status"], "PROCESSING", "the first answer");

    let second_key = new_key();
    let second = process(second_key.clone()).await;
    second.expect(200);
    assert_eq!(second.json["status"], "APPROVED", "the status it has now");
    assert_eq!(second.header("x-idempotency-cached"), None, "a new key");
    let again = process(second_key).await;
    assert_replay(&second, &again);
    assert_eq!(counts(&api.availability(event_id).await), (10, 9, 0, 1));
}

/// A conflict under a key takes nothing from its first request: a hold and a payment intent each
/// answer their own retry after another body was refused under their key (the refusal was kept
/// as the key's answer, and refused the key's own retries 409 from then on: a hostile client's
/// probe; a buyer who lost the first answer could no longer learn its reservation's id).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conflict_under_a_key_takes_nothing_from_its_first_request() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let send = |path: &'static str, key: String, body: Value| {
        let api = &api;
        let user = &user;
        async move {
            api.post(path)
                .bearer(&user.token)
                .key(&key)
                .json(&body)
                .send()
                .await
        }
    };
    let rtkn = api.admit(event_id, &user).await;
    let hold =
        |seat: &str| json!({"event_id": event_id, "seat_ids": [seat], "reservation_token": rtkn});
    let key = new_key();
    let first = send("/reservations", key.clone(), hold("A-1")).await;
    first.expect(201);
    send("/reservations", key.clone(), hold("A-2"))
        .await
        .expect_error(409, "IDEMPOTENCY_CONFLICT");
    assert_replay(&first, &send("/reservations", key, hold("A-1")).await);

    let intent = |amount: &Value| json!({"reservation_id": first.json["reservation_id"], "amount": amount, "currency": "USD"});
    let key = new_key();
    let total = &first.json["total_amount"];
    let created = send("/payments/intent", key.clone(), intent(total)).await;
    created.expect(200);
    send("/payments/intent", key.clone(), intent(&json!(1)))
        .await
        .expect_error(409, "IDEMPOTENCY_CONFLICT");
    assert_replay(
        &created,
        &send("/payments/intent", key, intent(total)).await,
    );
    assert_eq!(counts(&api.availability(event_id).await), (5, 4, 1, 0));
}

/// A seated event of five seats, a signed-in buyer, and the buyer's waiting token for it, ready
/// to enter: `(event_id, buyer, waiting_token)`.
async fn ready_to_enter(api: &Api) -> (String, User, String) {
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id").to_string();
    let user = api.register().await;
    let wtkn = api.join(&event_id, Some(&user)).await["waiting_token"]
        .as_str()
        .unwrap()
        .to_string();
    api.wait_ready(&wtkn, Duration::from_secs(30)).await;
    (event_id, user, wtkn)
}

/// Ten duplicates of one entry at once are one entry: all answered the same reservation token,
/// which holds once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_of_an_entry_are_one_entry() {
    let api = Api::new();
    let (event_id, user, wtkn) = ready_to_enter(&api).await;
    let body = json!({"waiting_token": wtkn});
    let responses = ten_at_once(&api, "/queue/enter", &user, &new_key(), &body).await;
    for r in &responses {
        r.expect(200);
        assert_eq!(
            r.json, responses[0].json,
            "every duplicate is answered alike"
        );
    }
    let rtkn = str_of(&responses[0].json, "reservation_token");
    api.reserve_seats(&user, &event_id, &["A-1"], rtkn)
        .await
        .expect(201);
    api.reserve_seats(&user, &event_id, &["A-2"], rtkn)
        .await
        .expect_error(403, "INVALID_RESERVATION_TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enter_replay_returns_the_same_reservation_token() {
    let api = Api::new();
    let (_, user, wtkn) = ready_to_enter(&api).await;
    let key = new_key();
    let body = json!({"waiting_token": wtkn});
    let first = api
        .post("/queue/enter")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    first.expect(200);
    let replay = api
        .post("/queue/enter")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    assert_replay(&first, &replay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_key_different_body_is_a_conflict() {
    let api = Api::new();
    let e1 = api.seated_event(&[("A", 1, 2)], 1000, 100.0).await;
    let e2 = api.seated_event(&[("A", 1, 2)], 1000, 100.0).await;
    let user = api.register().await;
    let key = new_key();
    api.post("/queue/join")
        .bearer(&user.token)
        .key(&key)
        .json(&json!({"event_id": e1["event_id"]}))
        .send()
        .await
        .expect(202);
    api.post("/queue/join")
        .bearer(&user.token)
        .key(&key)
        .json(&json!({"event_id": e2["event_id"]}))
        .send()
        .await
        .expect_error(409, "IDEMPOTENCY_CONFLICT");
}

/// One key sent at once with two different requests (a client that reused a key for another
/// payment): one runs and the other is 409 `IDEMPOTENCY_CONFLICT` and changes nothing, never two
/// payments under one key. Several rounds, each with a fresh key and fresh holds, so the two
/// requests overlap in at least some (a hostile client's probe found both run in 5 of 8 tries
/// before process claimed its key before running, `tacos_core::domain::idempotency`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_sent_at_once_for_two_payments_runs_one() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 10)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    for round in 0..4 {
        let user = api.register().await;
        let mut intents = Vec::new();
        for seat in [round * 2 + 1, round * 2 + 2] {
            let rsv = api
                .hold_seats(&user, event_id, &[&format!("A-{seat}")])
                .await;
            let pi = api.intent(&user, &rsv, None).await;
            intents.push(str_of(&pi, "payment_intent_id").to_string());
        }
        let key = new_key();
        let sent = join_all(intents.iter().map(|pi| {
            api.post("/payments/process")
                .bearer(&user.token)
                .key(&key)
                .json(&json!({"payment_intent_id": pi}))
                .send()
        }))
        .await;
        let ran: Vec<usize> = (0..2).filter(|&i| sent[i].code() == 200).collect();
        assert_eq!(
            ran.len(),
            1,
            "round {round}: one of the two runs: {} / {}",
            sent[0].text(),
            sent[1].text()
        );
        let refused = 1 - ran[0];
        sent[refused].expect_error(409, "IDEMPOTENCY_CONFLICT");
        let untouched = api
            .payment_status_raw(&user, &intents[refused])
            .await
            .expect(200);
        assert_eq!(
            untouched["status"], "PENDING",
            "round {round}: the refused payment was not processed: {untouched}"
        );
    }
}

/// A key is scoped to its route as well as its caller: the same key sent to another route is a
/// new key there, not a replay of the first route's answer nor a conflict with it (a retry is
/// always to the route it retries). The key a buyer joined with enters, holds, pays and
/// confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_is_a_new_key_on_another_route() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let key = new_key();
    // Each route's answer with the one key: its own, fresh (never a replay of another route's).
    let send = |path: String, body: Value, status: u16| {
        let (api, user, key) = (&api, &user, &key);
        async move {
            let r = api
                .post(&path)
                .bearer(&user.token)
                .key(key)
                .json(&body)
                .send()
                .await;
            assert_ne!(
                r.header("x-idempotency-cached").as_deref(),
                Some("true"),
                "{path} answered fresh"
            );
            r.expect(status)
        }
    };
    let joined = send("/queue/join".into(), json!({"event_id": event_id}), 202).await;
    let wtkn = str_of(&joined, "waiting_token");
    api.wait_ready(wtkn, Duration::from_secs(30)).await;
    let entered = send("/queue/enter".into(), json!({"waiting_token": wtkn}), 200).await;
    let held = send(
        "/reservations".into(),
        json!({"event_id": event_id, "seat_ids": ["A-1"],
            "reservation_token": entered["reservation_token"]}),
        201,
    )
    .await;
    let rsv_id = str_of(&held, "reservation_id");
    let intent = send(
        "/payments/intent".into(),
        json!({"reservation_id": rsv_id, "amount": held["total_amount"], "currency": "USD"}),
        200,
    )
    .await;
    let pi = str_of(&intent, "payment_intent_id");
    let processed = send(
        "/payments/process".into(),
        json!({"payment_intent_id": pi}),
        200,
    )
    .await;
    assert_eq!(processed["status"], "APPROVED");
    let confirmed = send(
        format!("/reservations/{rsv_id}/confirm"),
        json!({"payment_intent_id": pi}),
        200,
    )
    .await;
    assert_eq!(confirmed["status"], "CONFIRMED", "{confirmed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_execute_once() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 10)], 1000, 0.01).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    api.join(event_id, None).await; // someone ahead
    let key = new_key();
    let body = json!({"event_id": event_id});
    let responses = ten_at_once(&api, "/queue/join", &user, &key, &body).await;
    let mut bodies = Vec::new();
    for r in &responses {
        match r.code() {
            202 => bodies.push(r.body.clone()),
            409 => {
                r.expect_error(409, "IDEMPOTENCY_IN_PROGRESS");
            }
            _ => panic!("concurrent duplicate answered {}: {}", r.status, r.text()),
        }
    }
    assert!(!bodies.is_empty(), "at least one duplicate is answered");
    assert!(
        bodies.iter().all(|b| *b == bodies[0]),
        "every answered duplicate carries the same body"
    );
    // Exactly one queue entry was made.
    // The places the losing duplicates drew and gave back (ahead of the winner's or behind it)
    // show as gaps until a view window has passed since.
    tokio::time::sleep(views_settle()).await;
    let mine: Value = serde_json::from_slice(&bodies[0]).unwrap();
    let mine = api.status(str_of(&mine, "waiting_token")).await;
    let next = api.join(event_id, None).await;
    let theirs = api.status(str_of(&next, "waiting_token")).await;
    if mine["status"] == "waiting" {
        assert_eq!(
            theirs["position"].as_i64().unwrap(),
            mine["position"].as_i64().unwrap() + 1,
            "{mine} {theirs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_are_scoped_to_the_caller() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 10)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let (alice, bob) = tokio::join!(api.register(), api.register());
    let key = new_key();
    let body = json!({"event_id": event_id});
    let a = api
        .post("/queue/join")
        .bearer(&alice.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    a.expect(202);
    let b = api
        .post("/queue/join")
        .bearer(&bob.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    b.expect(202);
    assert_ne!(
        b.header("x-idempotency-cached").as_deref(),
        Some("true"),
        "Bob's request is not a replay"
    );
    assert_ne!(
        a.json["waiting_token"], b.json["waiting_token"],
        "Bob gets his own waiting token"
    );

    // Same for a reservation: Bob's fresh request with Alice's key holds his own seat.
    let (ra, rb) = tokio::join!(api.admit(event_id, &alice), api.admit(event_id, &bob));
    let key = new_key();
    let alice_rsv = api
        .post("/reservations")
        .bearer(&alice.token)
        .key(&key)
        .json(&json!({"event_id": event_id, "seat_ids": ["A-1"], "quantity": 1, "reservation_token": ra}))
        .send()
        .await
        .expect(201);
    let bob_rsv = api
        .post("/reservations")
        .bearer(&bob.token)
        .key(&key)
        .json(&json!({"event_id": event_id, "seat_ids": ["A-2"], "quantity": 1, "reservation_token": rb}))
        .send()
        .await
        .expect(201);
    assert_eq!(bob_rsv["user_id"], bob.user_id.as_str());
    assert_ne!(alice_rsv["reservation_id"], bob_rsv["reservation_id"]);
    assert_eq!(counts(&api.availability(event_id).await), (10, 8, 2, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_required_and_must_be_a_uuid_on_every_listed_route() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let user = api.register().await;
    let rsv = api.hold_seats(&user, event_id, &["A-1"]).await;
    let rsv_id = str_of(&rsv, "reservation_id");
    let intent = api.intent(&user, &rsv, None).await;
    let pi = str_of(&intent, "payment_intent_id");

    let routes: Vec<(String, Value)> = vec![
        ("/queue/join".into(), json!({"event_id": event_id})),
        (
            "/queue/enter".into(),
            json!({"waiting_token": "wtkn_doesnotmatter"}),
        ),
        (
            "/reservations".into(),
            json!({"event_id": event_id, "seat_ids": ["A-2"], "quantity": 1, "reservation_token": "rtkn_x"}),
        ),
        (
            format!("/reservations/{rsv_id}/confirm"),
            json!({"payment_intent_id": pi}),
        ),
        (
            "/payments/intent".into(),
            json!({"reservation_id": rsv_id, "amount": rsv["total_amount"], "currency": "USD"}),
        ),
        ("/payments/process".into(), json!({"payment_intent_id": pi})),
    ];
    for (path, body) in &routes {
        api.post(path)
            .bearer(&user.token)
            .json(body)
            .send()
            .await
            .expect_error(400, "IDEMPOTENCY_REQUIRED");
        for bad in [
            "not-a-uuid",
            "12345",
            "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        ] {
            api.post(path)
                .bearer(&user.token)
                .key(bad)
                .json(body)
                .send()
                .await
                .expect_error(400, "INVALID_IDEMPOTENCY_KEY");
        }
    }
    // Nothing happened: not confirmed, the payment still pending, nothing sold, A-2 not held.
    // (The hold itself may have run out meanwhile when the deployment uses very short holds.)
    let got = api.reservation(&user, rsv_id).await;
    assert!(
        got["status"] == "HOLD" || got["status"] == "EXPIRED",
        "{got}"
    );
    assert_eq!(
        api.payment_status_raw(&user, pi).await.expect(200)["status"],
        "PENDING"
    );
    let av = api.availability(event_id).await;
    assert_eq!(counts(&av).3, 0, "nothing sold: {av}");
    assert_eq!(seat_status(&av, "A-2"), "AVAILABLE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anonymous_callers_are_scoped_by_address() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 10)], 1000, 0.01).await;
    let body = json!({"event_id": event["event_id"]});
    let key = new_key();
    let first = api.post("/queue/join").key(&key).json(&body).send().await;
    first.expect(202);
    // Same address, no user: the same caller, so the same response.
    let replay = api.post("/queue/join").key(&key).json(&body).send().await;
    assert_replay(&first, &replay);
    // A user with that key is another caller.
    let user = api.register().await;
    let mine = api
        .post("/queue/join")
        .bearer(&user.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    mine.expect(202);
    assert_ne!(mine.json["waiting_token"], first.json["waiting_token"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_error_response_is_replayed_too() {
    let api = Api::new();
    let event = api.seated_event(&[("A", 1, 5)], 1000, 100.0).await;
    let event_id = str_of(&event, "event_id");
    let (alice, bob) = tokio::join!(api.register(), api.register());
    let (ra, rb) = tokio::join!(api.admit(event_id, &alice), api.admit(event_id, &bob));
    let held = api
        .reserve_seats(&alice, event_id, &["A-1"], &ra)
        .await
        .expect(201);

    let key = new_key();
    let body =
        json!({"event_id": event_id, "seat_ids": ["A-1"], "quantity": 1, "reservation_token": rb});
    let first = api
        .post("/reservations")
        .bearer(&bob.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    first.expect_error(409, "SEAT_UNAVAILABLE");
    api.cancel_delete(&alice, str_of(&held, "reservation_id"))
        .await
        .expect(200);
    // The seat is free now, but a retry with the same key gets the first answer, status and all.
    let replay = api
        .post("/reservations")
        .bearer(&bob.token)
        .key(&key)
        .json(&body)
        .send()
        .await;
    assert_replay(&first, &replay);
    assert_eq!(
        seat_status(&api.availability(event_id).await, "A-1"),
        "AVAILABLE"
    );
    // A new attempt (new key) gets the seat.
    api.reserve_seats(&bob, event_id, &["A-1"], &rb)
        .await
        .expect(201);
}
