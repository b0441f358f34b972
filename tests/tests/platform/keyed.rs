//! Holds, payment intents and entries keep their idempotency key on the item they write
//! (`tacos_core::domain::request_keys`): no idempotency record on the way to a sale, and every
//! retry a buyer can make (after its reservation token expired, after the hold is being paid, as
//! a concurrent duplicate) replays the first answer's bytes with no second effect.

use futures::future::join_all;
use tacos_core::domain::auth::Principal;
use tacos_core::domain::catalog::Event;
use tacos_core::domain::idempotency::Begin;
use tacos_core::domain::payments::{IntentRequest, ProcessRequest, Scenario};
use tacos_core::domain::request_keys::{KeyedAnswer, RequestKey};
use tacos_core::domain::reservations::{HoldRequest, Reservation};
use tacos_core::error::Error;
use tacos_core::functions::Route;
use tacos_core::ids::SeatId;

use crate::world::{World, HOLD_SECONDS};

fn key(buyer: &Principal, n: u128, fingerprint: &str) -> RequestKey {
    RequestKey {
        owner: buyer.user_id.to_string(),
        key: uuid::Uuid::from_u128(n).hyphenated().to_string(),
        fingerprint: fingerprint.into(),
    }
}

fn seats(world: &World, event: &Event, buyer: &Principal, seats: &[&str]) -> HoldRequest {
    HoldRequest {
        event_id: event.event_id.clone(),
        seat_ids: Some(seats.iter().map(|s| s.parse::<SeatId>().unwrap()).collect()),
        quantity: None,
        reservation_token: world.admitted(&event.event_id, buyer),
    }
}

fn body(answer: &KeyedAnswer) -> &str {
    match answer {
        KeyedAnswer::Fresh(body) | KeyedAnswer::Replay(body) => body,
    }
}

/// No record of the key beside the item: what the general idempotency records would hold.
async fn no_record(world: &World, route: Route, key: &RequestKey) {
    let found = world
        .platform()
        .idempotency
        .prior(route, &key.owner, &key.key, &key.fingerprint)
        .await
        .unwrap();
    assert_eq!(found, Begin::Proceed, "no idempotency record for {key:?}");
}

#[tokio::test]
async fn a_keyed_hold_replays_its_first_answer_even_after_its_token_expired() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 5)], 10.0).await;
    let buyer = world.buyer();
    let reservations = &world.platform().reservations;
    let first_key = key(&buyer, 1, "f");
    let request = seats(&world, &event, &buyer, &["A-1"]);

    let first = reservations
        .hold_keyed(&buyer, request.clone(), &first_key)
        .await
        .unwrap();
    let KeyedAnswer::Fresh(first) = first else {
        panic!("the first hold is fresh")
    };
    let held: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(held["status"], "HOLD");
    let id = held["reservation_id"].as_str().unwrap().parse().unwrap();
    let stored: Reservation = world.reservation(&buyer, &id).await;
    assert_eq!(
        serde_json::to_string(&stored.view()).unwrap(),
        first,
        "the answer is the reservation's view"
    );
    no_record(&world, Route::Reserve, &first_key).await;

    // Past the reservation token's 30 s: the retry is refused by nothing, it replays.
    world.advance(31.0);
    let again = reservations
        .hold_keyed(&buyer, request, &first_key)
        .await
        .unwrap();
    assert_eq!(again, KeyedAnswer::Replay(first.clone()));
    assert_eq!(world.ledger(&event.event_id).await.held, 1, "one hold");

    // The key reused for another hold, with a fresh token: a conflict, and nothing held.
    let other = seats(&world, &event, &buyer, &["A-2"]);
    let conflict = reservations
        .hold_keyed(&buyer, other.clone(), &key(&buyer, 1, "g"))
        .await;
    assert!(
        matches!(conflict, Err(Error::IdempotencyConflict)),
        "{conflict:?}"
    );
    assert_eq!(world.ledger(&event.event_id).await.held, 1);

    // Another caller's same key is theirs (and their own token's).
    let other_buyer = world.buyer();
    let theirs = reservations
        .hold_keyed(
            &other_buyer,
            seats(&world, &event, &other_buyer, &["A-2"]),
            &key(&other_buyer, 1, "f"),
        )
        .await
        .unwrap();
    assert!(matches!(theirs, KeyedAnswer::Fresh(_)), "{theirs:?}");
    assert_ne!(body(&theirs), first);

    // A new key with a token already used: the token's refusal, not a replay.
    let used = seats(&world, &event, &buyer, &["A-3"]);
    reservations
        .hold_keyed(&buyer, used.clone(), &key(&buyer, 2, "h"))
        .await
        .unwrap();
    let refused = reservations
        .hold_keyed(&buyer, used, &key(&buyer, 3, "h"))
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidReservationToken(_))),
        "{refused:?}"
    );
    assert_eq!(world.ledger(&event.event_id).await.held, 3);
}

#[tokio::test]
async fn concurrent_duplicates_of_a_keyed_hold_hold_once_and_answer_alike() {
    let world = World::new();
    let event = world.general(50, 10.0).await;
    let buyer = world.buyer();
    let reservations = &world.platform().reservations;
    let request = HoldRequest {
        event_id: event.event_id.clone(),
        seat_ids: None,
        quantity: Some(2),
        reservation_token: world.admitted(&event.event_id, &buyer),
    };
    let duplicate = key(&buyer, 5, "f");
    let answers =
        join_all((0..8).map(|_| reservations.hold_keyed(&buyer, request.clone(), &duplicate)))
            .await;
    let answers: Vec<KeyedAnswer> = answers.into_iter().map(Result::unwrap).collect();
    let fresh = answers
        .iter()
        .filter(|a| matches!(a, KeyedAnswer::Fresh(_)))
        .count();
    assert_eq!(fresh, 1, "one hold was placed: {answers:?}");
    assert!(answers.iter().all(|a| body(a) == body(&answers[0])));
    let ledger = world.ledger(&event.event_id).await;
    assert_eq!((ledger.held, ledger.available), (2, 48));
    // The duplicates that lost left the hold its timer: it expires on time, read by nobody.
    world.advance(HOLD_SECONDS as f64 + 0.5);
    world.fire_timers().await;
    let ledger = world.ledger(&event.event_id).await;
    assert_eq!((ledger.held, ledger.available), (0, 50), "expired on time");
}

/// A keyed hold sent again while its reservation token is still valid (a retry after an answer
/// lost to a crash, a double submit) is answered the first hold and leaves that hold's expiry
/// timer as it was: the hold expires at its own time with nobody reading it. The retry sets the
/// timer the first hold set (their id is the key's) and fails; it used to drop that timer as
/// every failed hold did, and the first hold never expired (a crash probe: 12 of 120 holds
/// retried after a kill kept their seats for good).
#[tokio::test]
async fn a_keyed_hold_sent_again_keeps_its_own_expiry() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 5)], 10.0).await;
    let buyer = world.buyer();
    let reservations = &world.platform().reservations;
    let first_key = key(&buyer, 1, "f");
    let request = seats(&world, &event, &buyer, &["A-1"]);
    let first = reservations
        .hold_keyed(&buyer, request.clone(), &first_key)
        .await
        .unwrap();
    world.advance(5.0);
    let again = reservations
        .hold_keyed(&buyer, request, &first_key)
        .await
        .unwrap();
    assert_eq!(again, KeyedAnswer::Replay(body(&first).to_string()));
    // Past the first hold's expiry, before the retry's would have been.
    world.advance(HOLD_SECONDS as f64 - 5.0 + 0.5);
    world.fire_timers().await;
    let ledger = world.ledger(&event.event_id).await;
    assert_eq!(
        (ledger.held, ledger.available),
        (0, 5),
        "the first hold expired at its own time, unread"
    );
}

#[tokio::test]
async fn a_keyed_intent_replays_its_first_answer_after_the_payment_started() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 5)], 10.0).await;
    let buyer = world.buyer();
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-1"])
        .await
        .unwrap();
    let payments = &world.platform().payments;
    let request = IntentRequest {
        reservation_id: hold.reservation_id.clone(),
        amount: hold.total_amount,
        currency: hold.currency.clone(),
        scenario: Some(Scenario::Approve),
    };
    let intent_key = key(&buyer, 11, "f");

    let first = payments
        .create_intent_keyed(&buyer, request.clone(), &intent_key)
        .await
        .unwrap();
    let KeyedAnswer::Fresh(first) = first else {
        panic!("the first intent is fresh")
    };
    let created: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(created["status"], "PENDING");
    assert_eq!(created["next"], "webhook");
    no_record(&world, Route::PaymentIntent, &intent_key).await;

    let duplicates = join_all(
        (0..4).map(|_| payments.create_intent_keyed(&buyer, request.clone(), &intent_key)),
    )
    .await;
    for duplicate in duplicates {
        assert_eq!(duplicate.unwrap(), KeyedAnswer::Replay(first.clone()));
    }

    // Paid: the hold is no longer payable, yet the retry replays the intent it made.
    let id = created["payment_intent_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    payments
        .process(
            &buyer,
            ProcessRequest {
                payment_intent_id: id,
                action: None,
            },
        )
        .await
        .unwrap();
    let again = payments
        .create_intent_keyed(&buyer, request.clone(), &intent_key)
        .await
        .unwrap();
    assert_eq!(again, KeyedAnswer::Replay(first));

    // The key reused for another body: a conflict.
    let other = IntentRequest {
        scenario: Some(Scenario::Delay),
        ..request
    };
    let conflict = payments
        .create_intent_keyed(&buyer, other, &key(&buyer, 11, "g"))
        .await;
    assert!(
        matches!(conflict, Err(Error::IdempotencyConflict)),
        "{conflict:?}"
    );
}

/// An entry keeps its key on its ticket (`tacos_core::domain::queue::entry`), with no record:
/// duplicates at the same moment are one entry and its replays, and a retry, even after the
/// reservation token it answered has expired, is answered that very token; the same account
/// entering again under another key (or none) is refused as before.
#[tokio::test]
async fn a_keyed_entry_answers_its_retries_the_token_it_answered() {
    let world = World::new();
    let event = world.general(20, 10.0).await;
    let buyer = world.buyer();
    let queue = &world.platform().queue;
    let token = queue
        .join(&event.event_id, Some(buyer.user_id.clone()))
        .await
        .unwrap()
        .waiting_token;
    world.advance(1.0);
    assert!(queue.status(&token).await.unwrap().ready_for_entry);
    let user = || Some(buyer.user_id.clone());
    let entry = key(&buyer, 40, "enter");

    let at_once = join_all((0..4).map(|_| queue.enter_keyed(&token, user(), &entry))).await;
    let answers: Vec<KeyedAnswer> = at_once.into_iter().map(Result::unwrap).collect();
    let first = body(&answers[0]).to_string();
    assert!(answers.iter().all(|a| body(a) == first), "{answers:?}");
    assert_eq!(
        answers
            .iter()
            .filter(|a| matches!(a, KeyedAnswer::Fresh(_)))
            .count(),
        1,
        "one entry, the others its replays"
    );
    no_record(&world, Route::QueueEnter, &entry).await;

    world.advance(60.0);
    let later = queue.enter_keyed(&token, user(), &entry).await.unwrap();
    assert_eq!(later, KeyedAnswer::Replay(first.clone()));
    let other = queue
        .enter_keyed(&token, user(), &key(&buyer, 41, "enter"))
        .await;
    assert!(matches!(other, Err(Error::AlreadyEntered)), "{other:?}");
    let unkeyed = queue.enter(&token, user()).await;
    assert!(matches!(unkeyed, Err(Error::AlreadyEntered)), "{unkeyed:?}");
}
