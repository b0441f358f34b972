//! Sharded stock: an event's counters spread over several items sell exactly its capacity, a
//! general-admission hold gathers its places from several shards when none has them all, and
//! every shard's counters agree with what it holds, through holds, sales, cancels and expiries.

use std::sync::Arc;

use tacos_core::domain::catalog::{Event, SeatStatus};
use tacos_core::domain::payments::Scenario;
use tacos_core::domain::stock::{seat_shard, Stock};
use tacos_core::error::Error;

use crate::world::{World, HOLD_SECONDS};

/// A world whose events spread their stock over up to 8 items (64 places each at least).
fn sharded() -> Arc<World> {
    Arc::new(World::with_config(|config| config.stock_shards = 8))
}

async fn stock(world: &World, event: &Event) -> Stock {
    world
        .platform()
        .catalog
        .stock(&event.event_id)
        .await
        .unwrap()
}

/// Every shard balances on its own, and never shows a negative count.
fn each_shard_balances(stock: &Stock) {
    for (shard, c) in stock.shards().iter().enumerate() {
        assert_eq!(
            c.available + c.held + c.sold,
            c.total,
            "shard {shard}: {c:?}"
        );
        assert!(
            c.available >= 0 && c.held >= 0 && c.sold >= 0,
            "shard {shard}: {c:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sharded_general_admission_rush_sells_exactly_its_capacity() {
    let world = sharded();
    let event = world.general(300, 1000.0).await;
    assert_eq!(event.stock_shards, 5, "one shard per 64 places");
    let buyers = (0..600).map(|i| {
        let world = world.clone();
        let event = event.event_id.clone();
        tokio::spawn(async move {
            let buyer = world.buyer();
            match world.hold_quantity(&buyer, &event, 1 + (i % 4)).await {
                Ok(hold) => hold.quantity,
                Err(Error::InsufficientInventory { .. }) => 0,
                Err(other) => panic!("unexpected {other:?}"),
            }
        })
    });
    let mut taken: u32 = futures::future::join_all(buyers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert!(taken <= 300, "held {taken} of 300");
    // Whatever is left, wherever it is left, goes to buyers of one place each.
    loop {
        match world
            .hold_quantity(&world.buyer(), &event.event_id, 1)
            .await
        {
            Ok(_) => taken += 1,
            Err(Error::InsufficientInventory { available: 0, .. }) => break,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(taken, 300, "every place sold, none twice");
    let inventory = world.ledger(&event.event_id).await;
    assert_eq!((inventory.available, inventory.held), (0, 300));
    each_shard_balances(&stock(&world, &event).await);
}

#[tokio::test]
async fn a_hold_gathers_its_places_from_several_shards_and_gives_them_back_there() {
    let world = sharded();
    // Three shards of 44, 43 and 43 places.
    let event = world.general(130, 1000.0).await;
    let totals: Vec<i64> = stock(&world, &event)
        .await
        .shards()
        .iter()
        .map(|c| c.total)
        .collect();
    assert_eq!(totals, vec![44, 43, 43]);
    // Holds of four each come from one shard while one has four: 31 of them leave 0, 3 and 3.
    for _ in 0..31 {
        let hold = world
            .hold_quantity(&world.buyer(), &event.event_id, 4)
            .await
            .unwrap();
        assert_eq!(
            hold.stock.len(),
            1,
            "one shard had them all: {:?}",
            hold.stock
        );
    }
    let mut left: Vec<i64> = stock(&world, &event)
        .await
        .shards()
        .iter()
        .map(|c| c.available)
        .collect();
    left.sort();
    assert_eq!(left, vec![0, 3, 3]);
    // Six left, none with four: the next hold of four gathers them from two shards.
    let buyer = world.buyer();
    let gathered = world
        .hold_quantity(&buyer, &event.event_id, 4)
        .await
        .expect("four places are left between the shards");
    assert_eq!(gathered.stock.len(), 2, "{:?}", gathered.stock);
    assert_eq!(
        gathered.stock.iter().map(|s| s.quantity).sum::<u32>(),
        4,
        "{:?}",
        gathered.stock
    );
    let refused = world
        .hold_quantity(&world.buyer(), &event.event_id, 3)
        .await;
    assert!(
        matches!(
            refused,
            Err(Error::InsufficientInventory {
                requested: 3,
                available: 2
            })
        ),
        "{refused:?}"
    );
    // Cancelled, its places go back to the shards they came from.
    let before = stock(&world, &event).await;
    world
        .platform()
        .reservations
        .cancel(&gathered.reservation_id, &buyer)
        .await
        .unwrap();
    let after = stock(&world, &event).await;
    for share in &gathered.stock {
        let shard = usize::from(share.shard);
        assert_eq!(
            after.shards()[shard].available,
            before.shards()[shard].available + i64::from(share.quantity),
        );
    }
    each_shard_balances(&after);
    assert_eq!(world.ledger(&event.event_id).await.available, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sharded_seated_event_counts_each_seat_in_its_own_shard_through_a_sale() {
    let world = sharded();
    let event = world.seated(&[("A", 10, 20)], 1000.0).await;
    assert_eq!(event.stock_shards, 4);
    // 400 buyers for 200 seats, each wanting two neighbours (often in different shards).
    let buyers = (0..400).map(|n| {
        let world = world.clone();
        let event = event.event_id.clone();
        tokio::spawn(async move {
            let buyer = world.buyer();
            let first = n % 199 + 1;
            let seats = [format!("A-{first}"), format!("A-{}", first + 1)];
            let seats: Vec<&str> = seats.iter().map(String::as_str).collect();
            match world.hold_seats(&buyer, &event, &seats).await {
                Ok(hold) => Some((buyer, hold)),
                Err(Error::SeatUnavailable(_)) => None,
                Err(other) => panic!("unexpected {other:?}"),
            }
        })
    });
    let holds: Vec<_> = futures::future::join_all(buyers)
        .await
        .into_iter()
        .filter_map(Result::unwrap)
        .collect();
    assert!(!holds.is_empty());
    // A third paid for and confirmed, a third cancelled, a third left to expire.
    for (i, (buyer, hold)) in holds.iter().enumerate() {
        match i % 3 {
            0 => {
                let paid = world.pay(buyer, hold, Scenario::Approve).await;
                world
                    .platform()
                    .reservations
                    .confirm(&hold.reservation_id, &paid.payment_intent_id, Some(buyer))
                    .await
                    .unwrap();
            }
            1 => {
                world
                    .platform()
                    .reservations
                    .cancel(&hold.reservation_id, buyer)
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    world.advance(HOLD_SECONDS as f64 + 1.0);
    world.fire_timers().await;
    let inventory = world.ledger(&event.event_id).await;
    assert_eq!(inventory.held, 0);
    assert_eq!(inventory.sold, 2 * holds.len().div_ceil(3) as i64);
    // Each shard's counters are exactly its own seats'.
    let stock = stock(&world, &event).await;
    each_shard_balances(&stock);
    let seats = world.platform().catalog.seats(&event).await.unwrap();
    for (shard, counters) in stock.shards().iter().enumerate() {
        let mine: Vec<_> = seats
            .iter()
            .filter(|s| usize::from(seat_shard(&s.seat_id, event.stock_shards)) == shard)
            .collect();
        let count = |status| mine.iter().filter(|s| s.status == status).count() as i64;
        assert_eq!(
            (
                counters.total,
                counters.available,
                counters.held,
                counters.sold
            ),
            (
                mine.len() as i64,
                count(SeatStatus::Available),
                count(SeatStatus::Held),
                count(SeatStatus::Sold)
            ),
            "shard {shard}"
        );
    }
    world.audit(&event.event_id).await;
}
