//! Fair share per account (issue 14): one place in line per account per event, waiting tokens
//! used only by their account, and at most `max_per_order` tickets per account across its orders,
//! held or bought, under races and retries.

use std::sync::Arc;

use tacos_core::domain::auth::Principal;
use tacos_core::domain::payments::Scenario;
use tacos_core::domain::reservations::{HoldRequest, Reservation, ReservationStatus};
use tacos_core::error::Error;
use tacos_core::ids::{EventId, WaitingToken};

use crate::world::{World, HOLD_SECONDS};

/// People waiting in `event`'s line, as the operator's gauge counts them.
async fn waiting(world: &World, event: &EventId) -> u64 {
    world.platform().queue.gauge(event).await.unwrap().waiting
}

async fn join(world: &World, event: &EventId, buyer: Option<&Principal>) -> WaitingToken {
    world
        .platform()
        .queue
        .join(event, buyer.map(|b| b.user_id.clone()))
        .await
        .unwrap()
        .waiting_token
}

/// Lets `token`'s turn come (the clock moved on, the queue advanced by a status read).
async fn admitted(world: &World, token: &WaitingToken) {
    world.advance(1.0);
    let status = world.platform().queue.status(token).await.unwrap();
    assert!(status.ready_for_entry, "{status:?}");
}

async fn hold_with(
    world: &World,
    buyer: &Principal,
    event: &EventId,
    quantity: u32,
    reservation_token: String,
) -> Result<Reservation, Error> {
    let request = HoldRequest {
        event_id: event.clone(),
        seat_ids: None,
        quantity: Some(quantity),
        reservation_token,
    };
    let hold = world.platform().reservations.hold(buyer, request).await;
    if let Ok(hold) = &hold {
        world.track_reservation(&hold.reservation_id);
    }
    hold
}

#[tokio::test]
async fn an_account_that_joins_again_keeps_its_one_place() {
    let world = World::new();
    let event = world.general(200, 0.01).await;
    let id = &event.event_id;
    let buyer = world.buyer();
    let first = join(&world, id, Some(&buyer)).await;
    for _ in 0..24 {
        assert_eq!(join(&world, id, Some(&buyer)).await, first, "same token");
    }
    assert_eq!(waiting(&world, id).await, 1, "one place, not 25");
    // Others still line up behind, anonymous ones each in a place of their own.
    let other = join(&world, id, Some(&world.buyer())).await;
    let anon = [join(&world, id, None).await, join(&world, id, None).await];
    assert_ne!(other, first);
    assert_ne!(anon[0], anon[1]);
    assert_eq!(waiting(&world, id).await, 4);
    let status = world.platform().queue.status(&other).await.unwrap();
    assert_eq!(status.position, 2, "one person ahead: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_joins_of_one_account_end_with_one_place() {
    let world = Arc::new(World::new());
    let event = world.general(200, 0.01).await;
    let buyer = world.buyer();
    let joins = (0..12).map(|_| {
        let world = world.clone();
        let id = event.event_id.clone();
        let user = buyer.user_id.clone();
        tokio::spawn(async move { world.platform().queue.join(&id, Some(user)).await })
    });
    let tokens: Vec<WaitingToken> = futures::future::join_all(joins)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().waiting_token)
        .collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    // The orders the losing joins took were given back: nobody phantom stands in line.
    assert_eq!(waiting(&world, &event.event_id).await, 1);
    let late = join(&world, &event.event_id, None).await;
    let status = world.platform().queue.status(&late).await.unwrap();
    assert_eq!(status.position, 2, "only the account is ahead: {status:?}");
}

#[tokio::test]
async fn a_place_left_entered_or_lapsed_is_taken_anew_by_the_next_join() {
    let world = World::new();
    let event = world.general(200, 10.0).await;
    let id = &event.event_id;
    let buyer = world.buyer();
    let queue = &world.platform().queue;

    let first = join(&world, id, Some(&buyer)).await;
    queue
        .leave(&first, Some(buyer.user_id.clone()))
        .await
        .unwrap();
    let second = join(&world, id, Some(&buyer)).await;
    assert_ne!(second, first, "left: a new place");

    admitted(&world, &second).await;
    assert_eq!(
        join(&world, id, Some(&buyer)).await,
        second,
        "admitted and not entered yet: still the same place"
    );
    queue
        .enter(&second, Some(buyer.user_id.clone()))
        .await
        .unwrap();
    let third = join(&world, id, Some(&buyer)).await;
    assert_ne!(third, second, "entered: a new place");

    admitted(&world, &third).await;
    world.advance(tacos_core::domain::queue::READY_WINDOW_SECS as f64 + 1.0);
    let fourth = join(&world, id, Some(&buyer)).await;
    assert_ne!(
        fourth, third,
        "its turn passed without entering: a new place"
    );
}

#[tokio::test]
async fn a_waiting_token_joined_by_an_account_is_entered_and_left_only_by_it() {
    let world = World::new();
    let event = world.general(200, 10.0).await;
    let (owner, thief) = (world.buyer(), world.buyer());
    let queue = &world.platform().queue;
    let token = join(&world, &event.event_id, Some(&owner)).await;
    admitted(&world, &token).await;

    let stolen = queue.enter(&token, Some(thief.user_id.clone())).await;
    assert!(matches!(stolen, Err(Error::TokenNotFound)), "{stolen:?}");
    let anonymous = queue.enter(&token, None).await;
    assert!(
        matches!(anonymous, Err(Error::MissingAuthorization)),
        "{anonymous:?}"
    );
    for caller in [Some(thief.user_id.clone()), None] {
        let left = queue.leave(&token, caller).await;
        assert!(matches!(left, Err(Error::TokenNotFound)), "{left:?}");
    }
    // None of that used the place: its account enters and holds.
    let admission = queue
        .enter(&token, Some(owner.user_id.clone()))
        .await
        .unwrap();
    hold_with(
        &world,
        &owner,
        &event.event_id,
        2,
        admission.reservation_token,
    )
    .await
    .unwrap();
    // The thief, once it has entered, is still refused as a stranger, never told "entered".
    let again = queue.enter(&token, Some(thief.user_id.clone())).await;
    assert!(matches!(again, Err(Error::TokenNotFound)), "{again:?}");
}

#[tokio::test]
async fn an_anonymous_token_is_bound_to_the_account_that_enters_with_it() {
    let world = World::new();
    let event = world.general(200, 10.0).await;
    let (first, second) = (world.buyer(), world.buyer());
    let queue = &world.platform().queue;
    let token = join(&world, &event.event_id, None).await;
    admitted(&world, &token).await;
    queue
        .enter(&token, Some(first.user_id.clone()))
        .await
        .unwrap();
    let other = queue.enter(&token, Some(second.user_id.clone())).await;
    assert!(matches!(other, Err(Error::TokenNotFound)), "{other:?}");
    let again = queue.enter(&token, Some(first.user_id.clone())).await;
    assert!(matches!(again, Err(Error::AlreadyEntered)), "{again:?}");
    // Bound now: only its account may leave with it (a no-op once entered).
    let left = queue.leave(&token, None).await;
    assert!(matches!(left, Err(Error::TokenNotFound)), "{left:?}");
    queue
        .leave(&token, Some(first.user_id.clone()))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_cap_counts_every_order_of_the_account_held_or_bought() {
    let world = World::new();
    let event = world.general(200, 10.0).await;
    let id = &event.event_id;
    assert_eq!(event.max_per_order, 4);
    let buyer = world.buyer();

    let three = world.hold_quantity(&buyer, id, 3).await.unwrap();
    // Two more would make five: refused, and nothing changes (the token is still unused).
    let token = world.admitted(id, &buyer);
    let refused = hold_with(&world, &buyer, id, 2, token.clone()).await;
    assert!(
        matches!(
            refused,
            Err(Error::PurchaseLimitExceeded {
                limit: 4,
                counted: 3,
                requested: 2
            })
        ),
        "{refused:?}"
    );
    let inventory = world.ledger(id).await;
    assert_eq!((inventory.available, inventory.held), (197, 3));
    let one = hold_with(&world, &buyer, id, 1, token).await.unwrap();

    // Others are not affected by this account's cap.
    world.hold_quantity(&world.buyer(), id, 4).await.unwrap();

    // A cancelled hold gives its tickets back, once, however often the cancel is retried.
    let reservations = &world.platform().reservations;
    for _ in 0..3 {
        reservations
            .cancel(&three.reservation_id, &buyer)
            .await
            .unwrap();
    }
    let held_three = world.hold_quantity(&buyer, id, 3).await.unwrap();
    let over = world.hold_quantity(&buyer, id, 1).await;
    assert!(
        matches!(over, Err(Error::PurchaseLimitExceeded { .. })),
        "cancelled three were given back once, not three times: {over:?}"
    );

    // A bought ticket still counts; an expired hold gives its tickets back, once however often
    // its timer fires.
    let payment = world.pay(&buyer, &one, Scenario::Approve).await;
    reservations
        .confirm(
            &one.reservation_id,
            &payment.payment_intent_id,
            Some(&buyer),
        )
        .await
        .unwrap();
    world.advance(HOLD_SECONDS as f64 + 1.0);
    world.fire_timers().await;
    reservations
        .expire(&held_three.reservation_id)
        .await
        .unwrap();
    let expired = world.reservation(&buyer, &held_three.reservation_id).await;
    assert_eq!(expired.status, ReservationStatus::Expired);
    let bought = world.reservation(&buyer, &one.reservation_id).await;
    assert_eq!(bought.status, ReservationStatus::Confirmed);
    world.hold_quantity(&buyer, id, 3).await.unwrap();
    let over = world.hold_quantity(&buyer, id, 1).await;
    assert!(
        matches!(over, Err(Error::PurchaseLimitExceeded { counted: 4, .. })),
        "one bought + three held: {over:?}"
    );
    world.audit(id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_holds_of_one_account_past_the_cap_have_one_winner() {
    let world = Arc::new(World::new());
    let event = world.general(1_000, 10.0).await;
    for round in 0..20 {
        let buyer = world.buyer();
        let holds = (0..2).map(|_| {
            let world = world.clone();
            let buyer = buyer.clone();
            let id = event.event_id.clone();
            tokio::spawn(async move { world.hold_quantity(&buyer, &id, 3).await })
        });
        let results: Vec<_> = futures::future::join_all(holds)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(Error::PurchaseLimitExceeded { .. }))),
            "round {round}: {results:?}"
        );
    }
    let audit = world.audit(&event.event_id).await;
    assert_eq!(audit.inventory.held, 20 * 3, "exactly the winners hold");
}

/// The marks of the tokens `buyer` used for `event`, as its purchase-cap counter keeps them.
async fn used_marks(world: &World, event: &EventId, buyer: &Principal) -> Vec<String> {
    use tacos_core::ports::{Key, Store};
    let key = Key::new(
        ["BUYER#", event.as_str(), "#", buyer.user_id.as_str()].concat(),
        "CAP",
    );
    let counter = world.local.store.get(&key).await.unwrap().unwrap();
    let mut marks: Vec<String> = counter
        .keys()
        .filter(|name| name.starts_with("rtkn_"))
        .cloned()
        .collect();
    marks.sort();
    marks
}

#[tokio::test]
async fn an_accounts_tokens_are_each_used_once_in_any_order_and_forgotten_once_expired() {
    let world = World::new();
    let event = world.general(200, 10.0).await;
    let id = &event.event_id;
    let buyer = world.buyer();
    // Two tabs, two live tokens of one account: used in the opposite order to their issue.
    let first = world.admitted(id, &buyer);
    let second = world.admitted(id, &buyer);
    let mut holds = vec![
        hold_with(&world, &buyer, id, 1, second.clone())
            .await
            .unwrap(),
        hold_with(&world, &buyer, id, 1, first.clone())
            .await
            .unwrap(),
    ];
    for used in [&first, &second] {
        let again = hold_with(&world, &buyer, id, 1, used.clone()).await;
        assert!(
            matches!(&again, Err(Error::InvalidReservationToken(why)) if why == "already used"),
            "{again:?}"
        );
    }
    // At the cap, a used token is still told as used (not as the cap), and a fresh one as the cap.
    let third = world.admitted(id, &buyer);
    holds.push(
        hold_with(&world, &buyer, id, 2, third.clone())
            .await
            .unwrap(),
    );
    let again = hold_with(&world, &buyer, id, 1, third).await;
    assert!(
        matches!(&again, Err(Error::InvalidReservationToken(why)) if why == "already used"),
        "{again:?}"
    );
    let over = hold_with(&world, &buyer, id, 1, world.admitted(id, &buyer)).await;
    assert!(
        matches!(over, Err(Error::PurchaseLimitExceeded { counted: 4, .. })),
        "{over:?}"
    );
    assert_eq!(used_marks(&world, id, &buyer).await.len(), 3);
    assert_eq!(world.ledger(id).await.held, 4);

    // Once the three tokens have expired their marks are dropped by the account's next hold,
    // which leaves its own: the counter keeps the last 30 s of the account's holds, no history.
    for hold in &holds {
        world
            .platform()
            .reservations
            .cancel(&hold.reservation_id, &buyer)
            .await
            .unwrap();
    }
    world.advance(31.0);
    let latest = world.admitted(id, &buyer);
    hold_with(&world, &buyer, id, 1, latest).await.unwrap();
    assert_eq!(used_marks(&world, id, &buyer).await.len(), 1);
    // An expired token is refused as expired, whether or not its mark is still there.
    let expired = hold_with(&world, &buyer, id, 1, first).await;
    assert!(
        matches!(&expired, Err(Error::InvalidReservationToken(why)) if why == "expired"),
        "{expired:?}"
    );
    world.audit(id).await;
}
