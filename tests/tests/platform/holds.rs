//! Holds: they expire on their own, races between confirm, cancel and expiry have exactly one
//! winner, reservation tokens are single-use, and no seat is ever sold twice.

use std::collections::HashSet;
use std::sync::Arc;

use rand::seq::SliceRandom;
use tacos_core::domain::catalog::SeatStatus;
use tacos_core::domain::payments::{IntentRequest, Scenario};
use tacos_core::domain::reservations::{HoldRequest, ReservationStatus};
use tacos_core::error::Error;
use tacos_core::ids::{PaymentIntentId, SeatId};
use tacos_core::ports::{DetailType, Job, Scheduler};

use crate::world::{World, HOLD_SECONDS};

#[tokio::test]
async fn an_unpaid_hold_expires_by_its_timer_and_frees_the_seat() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 5)], 10.0).await;
    let buyer = world.buyer();
    let hold = world
        .hold_seats(&buyer, &event.event_id, &["A-1", "A-2"])
        .await
        .unwrap();
    assert_eq!(hold.status, ReservationStatus::Hold);
    assert_eq!(world.ledger(&event.event_id).await.held, 2);

    world.advance(HOLD_SECONDS as f64 - 1.0);
    world.fire_timers().await;
    assert_eq!(
        world.ledger(&event.event_id).await.held,
        2,
        "not expired a second early"
    );

    world.advance(1.5);
    assert_eq!(world.fire_timers().await, 1);
    let inventory = world.ledger(&event.event_id).await;
    assert_eq!(
        (inventory.available, inventory.held),
        (5, 0),
        "seats released without anyone reading the hold"
    );
    let after = world.reservation(&buyer, &hold.reservation_id).await;
    assert_eq!(after.status, ReservationStatus::Expired);

    // The timer firing again (at-least-once delivery) changes nothing.
    world
        .platform()
        .reservations
        .expire(&hold.reservation_id)
        .await
        .unwrap();
    assert_eq!(world.ledger(&event.event_id).await.available, 5);
    let expired_events = world.published(DetailType::ReservationExpired);
    assert_eq!(expired_events, 1);

    // Another buyer can take the seats now.
    world
        .hold_seats(&world.buyer(), &event.event_id, &["A-1"])
        .await
        .unwrap();
}

/// A hold whose expiry timer is lost for good (Scheduler gave up on a throttled `expire`, the
/// schedule was deleted) does not keep its seats off sale: before its expiry the seats stay its
/// holder's; after it, the next buyer who asks for one of them gets it, and the lapsed hold ends
/// `EXPIRED`, its seats released once, the ledger balanced.
#[tokio::test]
async fn a_hold_whose_timer_was_lost_gives_its_seats_to_the_next_buyer_after_expiry() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 5)], 10.0).await;
    let first = world.buyer();
    let lapsed = world
        .hold_seats(&first, &event.event_id, &["A-1", "A-2"])
        .await
        .unwrap();
    let timer = Job::ExpireHold {
        reservation_id: lapsed.reservation_id.clone(),
    };
    world.local.scheduler.cancel(&timer).await.unwrap();

    let second = world.buyer();
    let early = world.hold_seats(&second, &event.event_id, &["A-2"]).await;
    assert!(
        matches!(&early, Err(Error::SeatUnavailable(seats)) if seats.len() == 1),
        "still the first buyer's before its expiry: {early:?}"
    );

    world.advance(HOLD_SECONDS as f64 + 1.0);
    assert_eq!(world.fire_timers().await, 0, "the timer is gone");
    assert_eq!(world.ledger(&event.event_id).await.held, 2);

    let hold = world
        .hold_seats(&second, &event.event_id, &["A-2", "A-3"])
        .await
        .expect("a seat of a lapsed hold is on sale again");
    assert_eq!(hold.status, ReservationStatus::Hold);
    let inventory = world.ledger(&event.event_id).await;
    assert_eq!(
        (inventory.available, inventory.held, inventory.sold),
        (3, 2, 0),
        "A-1 back on sale, A-2 and A-3 the second buyer's"
    );
    assert_eq!(world.published(DetailType::ReservationExpired), 1);
    assert_eq!(
        world
            .reservation(&first, &lapsed.reservation_id)
            .await
            .status,
        ReservationStatus::Expired
    );
}

#[tokio::test]
async fn a_timer_that_fires_early_waits_for_the_real_expiry() {
    let world = World::new();
    let event = world.general(10, 10.0).await;
    let buyer = world.buyer();
    let hold = world
        .hold_quantity(&buyer, &event.event_id, 3)
        .await
        .unwrap();
    world
        .platform()
        .reservations
        .expire(&hold.reservation_id)
        .await
        .unwrap();
    assert_eq!(
        world.ledger(&event.event_id).await.held,
        3,
        "an early timer does not expire the hold"
    );
    world.advance(HOLD_SECONDS as f64 + 1.0);
    world.fire_timers().await;
    assert_eq!(world.ledger(&event.event_id).await.held, 0);
}

async fn approved_payment(
    world: &World,
    buyer: &tacos_core::domain::auth::Principal,
    reservation: &tacos_core::domain::reservations::Reservation,
) -> PaymentIntentId {
    let processed = world.pay(buyer, reservation, Scenario::Approve).await;
    assert_eq!(processed.status.as_str(), "APPROVED");
    processed.payment_intent_id
}

#[tokio::test]
async fn confirm_racing_expiry_has_exactly_one_winner() {
    let world = World::new();
    let event = world.seated(&[("A", 2, 10)], 10.0).await;
    let mut outcomes = (0, 0);
    for round in 0..20 {
        let buyer = world.buyer();
        let seat = format!("A-{}", round + 1);
        let hold = world
            .hold_seats(&buyer, &event.event_id, &[&seat])
            .await
            .unwrap();
        let payment = approved_payment(&world, &buyer, &hold).await;
        world.advance(HOLD_SECONDS as f64 - 0.001);
        let reservations = &world.platform().reservations;
        let (confirmed, _) = tokio::join!(
            reservations.confirm(&hold.reservation_id, &payment, Some(&buyer)),
            async {
                tokio::task::yield_now().await;
                world.advance(0.002);
                world.fire_timers().await
            }
        );
        let after = reservations
            .get(&hold.reservation_id, Some(&buyer))
            .await
            .unwrap();
        match confirmed {
            Ok(confirmation) => {
                outcomes.0 += 1;
                assert_eq!(after.status, ReservationStatus::Confirmed);
                assert_eq!(after.order_id, Some(confirmation.order_id));
            }
            Err(Error::ReservationExpired) => {
                outcomes.1 += 1;
                assert_eq!(after.status, ReservationStatus::Expired);
            }
            Err(other) => panic!("unexpected outcome {other:?}"),
        }
        world.ledger(&event.event_id).await;
    }
    let inventory = world.ledger(&event.event_id).await;
    assert_eq!(inventory.sold, outcomes.0);
    assert_eq!(inventory.held, 0);
}

#[tokio::test]
async fn confirm_racing_cancel_has_exactly_one_winner() {
    let world = World::new();
    let event = world.general(50, 10.0).await;
    for _ in 0..20 {
        let buyer = world.buyer();
        let hold = world
            .hold_quantity(&buyer, &event.event_id, 1)
            .await
            .unwrap();
        let payment = approved_payment(&world, &buyer, &hold).await;
        let reservations = &world.platform().reservations;
        let (confirmed, cancelled) = tokio::join!(
            reservations.confirm(&hold.reservation_id, &payment, Some(&buyer)),
            reservations.cancel(&hold.reservation_id, &buyer)
        );
        assert!(
            confirmed.is_ok() != cancelled.is_ok(),
            "exactly one of confirm {confirmed:?} / cancel {cancelled:?} wins"
        );
        let after = reservations
            .get(&hold.reservation_id, Some(&buyer))
            .await
            .unwrap();
        let expected = if confirmed.is_ok() {
            ReservationStatus::Confirmed
        } else {
            ReservationStatus::Cancelled
        };
        assert_eq!(after.status, expected);
    }
    let inventory = world.ledger(&event.event_id).await;
    assert_eq!(inventory.held, 0);
}

#[tokio::test]
async fn confirming_twice_returns_the_same_order_and_needs_an_approved_payment() {
    let world = World::new();
    let event = world.general(5, 10.0).await;
    let buyer = world.buyer();
    let hold = world
        .hold_quantity(&buyer, &event.event_id, 2)
        .await
        .unwrap();
    let payments = &world.platform().payments;
    let pending = world.intent(&buyer, &hold, None).await;
    let refused = world
        .platform()
        .reservations
        .confirm(
            &hold.reservation_id,
            &pending.payment_intent_id,
            Some(&buyer),
        )
        .await;
    assert!(
        matches!(refused, Err(Error::PaymentNotApproved(_))),
        "{refused:?}"
    );
    let wrong_amount = payments
        .create_intent(
            &buyer,
            IntentRequest {
                reservation_id: hold.reservation_id.clone(),
                amount: hold.total_amount - 1,
                currency: "USD".into(),
                scenario: None,
            },
        )
        .await;
    assert!(matches!(wrong_amount, Err(Error::InvalidAmount(_))));
    let payment = approved_payment(&world, &buyer, &hold).await;
    let first = world
        .platform()
        .reservations
        .confirm(&hold.reservation_id, &payment, Some(&buyer))
        .await
        .unwrap();
    let second = world
        .platform()
        .reservations
        .confirm(&hold.reservation_id, &payment, Some(&buyer))
        .await
        .unwrap();
    assert_eq!(first.order_id, second.order_id);
    let stranger = world.buyer();
    let hidden = world
        .platform()
        .reservations
        .confirm(&hold.reservation_id, &payment, Some(&stranger))
        .await;
    assert!(
        matches!(hidden, Err(Error::ReservationNotFound)),
        "another user's reservation is not found"
    );
    assert_eq!(world.ledger(&event.event_id).await.sold, 2);
}

#[tokio::test]
async fn a_reservation_token_is_single_use_even_under_concurrency() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 20)], 10.0).await;
    let buyer = world.buyer();
    let token = world.admitted(&event.event_id, &buyer);
    let attempts = (1..=10).map(|n| {
        let platform = world.local.platform.clone();
        let buyer = buyer.clone();
        let request = HoldRequest {
            event_id: event.event_id.clone(),
            seat_ids: Some(vec![SeatId::new("A", n)]),
            quantity: None,
            reservation_token: token.clone(),
        };
        tokio::spawn(async move { platform.reservations.hold(&buyer, request).await })
    });
    let results: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "one hold per token"
    );
    assert!(results
        .iter()
        .filter(|r| r.is_err())
        .all(|r| matches!(r, Err(Error::InvalidReservationToken(_)))));
    assert_eq!(world.ledger(&event.event_id).await.held, 1);

    // A token for another user or event is refused.
    let other_event = world.general(5, 1.0).await;
    let stolen = HoldRequest {
        event_id: event.event_id.clone(),
        seat_ids: Some(vec![SeatId::new("A", 15)]),
        quantity: None,
        reservation_token: world.admitted(&event.event_id, &world.buyer()),
    };
    assert!(matches!(
        world.platform().reservations.hold(&buyer, stolen).await,
        Err(Error::InvalidReservationToken(_))
    ));
    let elsewhere = HoldRequest {
        event_id: event.event_id.clone(),
        seat_ids: Some(vec![SeatId::new("A", 16)]),
        quantity: None,
        reservation_token: world.admitted(&other_event.event_id, &buyer),
    };
    assert!(matches!(
        world.platform().reservations.hold(&buyer, elsewhere).await,
        Err(Error::InvalidReservationToken(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_buyers_for_twenty_seats_never_oversell() {
    let world = Arc::new(World::new());
    let event = world.seated(&[("A", 2, 10)], 1000.0).await;
    let all_seats: Vec<String> = (1..=20).map(|n| format!("A-{n}")).collect();
    let buyers = (0..500).map(|_| {
        let world = world.clone();
        let event = event.event_id.clone();
        let mut seats = all_seats.clone();
        tokio::spawn(async move {
            let buyer = world.buyer();
            // Everyone wants the same few front seats first, then anything.
            seats[..5].shuffle(&mut rand::thread_rng());
            for seat in seats {
                match world.hold_seats(&buyer, &event, &[&seat]).await {
                    Ok(hold) => return Some((seat, hold.reservation_id)),
                    Err(Error::SeatUnavailable(_)) => continue,
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            None
        })
    });
    let won: Vec<(String, _)> = futures::future::join_all(buyers)
        .await
        .into_iter()
        .filter_map(Result::unwrap)
        .collect();
    assert_eq!(won.len(), 20, "exactly twenty buyers hold a seat");
    assert_eq!(
        won.iter()
            .map(|(seat, _)| seat)
            .collect::<HashSet<_>>()
            .len(),
        20,
        "no seat held twice"
    );
    let inventory = world.ledger(&event.event_id).await;
    assert_eq!(
        (inventory.available, inventory.held, inventory.sold),
        (0, 20, 0)
    );
    let event = world.platform().catalog.get(&event.event_id).await.unwrap();
    for seat in world.platform().catalog.seats(&event).await.unwrap() {
        assert_eq!(seat.status, SeatStatus::Held);
        let holder = seat
            .reservation_id
            .expect("held seats name their reservation");
        assert!(
            won.iter()
                .any(|(s, r)| s == seat.seat_id.as_str() && *r == holder),
            "seat {} held by its winner",
            seat.seat_id
        );
    }
}

/// The availability the process keeps follows every hold and cancel of a rush, including the
/// ones that commit while it is first read from the store (the view is loaded mid-rush).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kept_availability_follows_a_rush_it_was_first_read_in() {
    let world = Arc::new(World::new());
    let event = world.seated_unread(&[("A", 5, 10)], 1000.0).await.event_id;
    let buyers = (0..200).map(|n| {
        let world = world.clone();
        let event = event.clone();
        tokio::spawn(async move {
            let buyer = world.buyer();
            let seat = format!("A-{}", n % 50 + 1);
            if let Ok(hold) = world.hold_seats(&buyer, &event, &[&seat]).await {
                if n % 3 == 0 {
                    let platform = world.platform();
                    platform
                        .reservations
                        .cancel(&hold.reservation_id, &buyer)
                        .await
                        .unwrap();
                }
            }
        })
    });
    let readers = (0..4).map(|_| {
        let world = world.clone();
        let event = event.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                let read = world.platform().availability.read(&event).await.unwrap();
                assert_eq!(read.available + read.held + read.sold, read.total);
                tokio::task::yield_now().await;
            }
        })
    });
    let tasks: Vec<_> = buyers.chain(readers).collect();
    for task in futures::future::join_all(tasks).await {
        task.unwrap();
    }
    // The ledger compares the kept availability, seat by seat, with the store's.
    let inventory = world.ledger(&event).await;
    assert!(inventory.held > 0, "{inventory:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn general_admission_never_sells_more_than_capacity() {
    let world = Arc::new(World::new());
    let event = world.general(20, 1000.0).await;
    let buyers = (0..500).map(|i| {
        let world = world.clone();
        let event = event.event_id.clone();
        tokio::spawn(async move {
            let buyer = world.buyer();
            match world.hold_quantity(&buyer, &event, 1 + (i % 3)).await {
                Ok(hold) => hold.quantity,
                Err(Error::InsufficientInventory { .. }) => 0,
                Err(other) => panic!("unexpected {other:?}"),
            }
        })
    });
    let taken: u32 = futures::future::join_all(buyers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    let inventory = world.ledger(&event.event_id).await;
    assert!(taken <= 20, "held {taken} of 20");
    assert_eq!(inventory.held, i64::from(taken));
    assert!(taken >= 18, "the last seats go to someone ({taken})");
}
