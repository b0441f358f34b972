//! The waiting room: arrival order, positions that never grow, leaving moves people up, one
//! admission per token, and nobody let in beyond what can still be sold.

use tacos_shared::domain::payments::Scenario;
use tacos_shared::domain::queue::{QueueStatus, QueueStatusKind, READY_WINDOW_SECS};
use tacos_shared::domain::reservations::HoldRequest;
use tacos_shared::error::Error;
use tacos_shared::ids::WaitingToken;

use crate::world::World;

async fn join_many(
    world: &World,
    event: &tacos_shared::ids::EventId,
    n: usize,
) -> Vec<WaitingToken> {
    let mut tokens = Vec::new();
    for _ in 0..n {
        tokens.push(
            world
                .platform()
                .queue
                .join(event, None)
                .await
                .unwrap()
                .waiting_token,
        );
    }
    tokens
}

async fn statuses(world: &World, tokens: &[WaitingToken]) -> Vec<QueueStatus> {
    let mut out = Vec::new();
    for token in tokens {
        out.push(world.platform().queue.status(token).await.unwrap());
    }
    out
}

async fn positions(world: &World, tokens: &[WaitingToken]) -> Vec<u64> {
    statuses(world, tokens)
        .await
        .iter()
        .map(|s| s.position)
        .collect()
}

fn ready(statuses: &[QueueStatus]) -> usize {
    statuses
        .iter()
        .filter(|s| s.status == QueueStatusKind::Ready)
        .count()
}

#[tokio::test]
async fn positions_follow_arrival_and_never_grow_and_leaving_moves_people_up() {
    let world = World::new();
    let event = world.general(100, 1.0).await;
    let tokens = join_many(&world, &event.event_id, 10).await;
    let first = positions(&world, &tokens).await;
    let waiting: Vec<u64> = first.iter().copied().filter(|&p| p > 0).collect();
    assert!(
        waiting.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive places in arrival order: {first:?}"
    );

    let mut last = first.clone();
    for _ in 0..4 {
        world.advance(0.7);
        let now = positions(&world, &tokens).await;
        for (before, after) in last.iter().zip(&now) {
            assert!(
                *after <= *before || *before == 0,
                "a position never grows: {last:?} -> {now:?}"
            );
        }
        last = now;
    }
    // The last person's place before and after someone ahead of them leaves.
    let behind = tokens.last().unwrap().clone();
    let before = world
        .platform()
        .queue
        .status(&behind)
        .await
        .unwrap()
        .position;
    let leaver = tokens.iter().rev().nth(2).unwrap();
    world.platform().queue.leave(leaver).await.unwrap();
    world.platform().queue.leave(leaver).await.unwrap();
    let after = world
        .platform()
        .queue
        .status(&behind)
        .await
        .unwrap()
        .position;
    assert_eq!(after, before - 1, "leaving moves the people behind up");
    let eta = world
        .platform()
        .queue
        .status(&behind)
        .await
        .unwrap()
        .eta_sec;
    assert!(
        eta >= after / 2 && eta <= after * 3,
        "eta {eta}s for position {after} at about 1 person/s"
    );
}

#[tokio::test]
async fn admission_never_lets_in_more_people_than_can_buy() {
    let world = World::new();
    let event = world.general(3, 100.0).await;
    let tokens = join_many(&world, &event.event_id, 10).await;
    world.advance(1.0);
    assert_eq!(
        ready(&statuses(&world, &tokens).await),
        3,
        "three seats, three people admitted"
    );

    // The first admitted buyer enters and holds one seat: still three people inside, nobody new.
    let buyer = world.buyer();
    let admitted = world
        .platform()
        .queue
        .enter(&tokens[0], Some(buyer.user_id.clone()))
        .await
        .unwrap();
    let hold = world
        .platform()
        .reservations
        .hold(
            &buyer,
            HoldRequest {
                event_id: event.event_id.clone(),
                seat_ids: None,
                quantity: Some(1),
                reservation_token: admitted.reservation_token,
            },
        )
        .await
        .unwrap();
    world.advance(1.0);
    assert_eq!(ready(&statuses(&world, &tokens).await), 3);

    // The hold is cancelled: its seat is free again, so one more person comes in.
    world
        .platform()
        .reservations
        .cancel(&hold.reservation_id, &buyer)
        .await
        .unwrap();
    world.advance(1.0);
    let after = statuses(&world, &tokens).await;
    assert_eq!(ready(&after), 4);
    assert!(after[4].position > 0, "the fifth still waits");
}

#[tokio::test]
async fn a_waiting_token_is_admitted_once_and_only_in_its_turn() {
    let world = World::new();
    let event = world.general(100, 1.0).await;
    let tokens = join_many(&world, &event.event_id, 5).await;
    let buyer = world.buyer();
    assert!(matches!(
        world
            .platform()
            .queue
            .enter(&tokens[4], Some(buyer.user_id.clone()))
            .await,
        Err(Error::NotReady)
    ));
    assert!(matches!(
        world.platform().queue.enter(&tokens[0], None).await,
        Err(Error::MissingAuthorization | Error::NotReady)
    ));
    world.advance(1.5);
    world
        .platform()
        .queue
        .enter(&tokens[0], Some(buyer.user_id.clone()))
        .await
        .unwrap();
    assert!(matches!(
        world
            .platform()
            .queue
            .enter(&tokens[0], Some(buyer.user_id.clone()))
            .await,
        Err(Error::AlreadyEntered)
    ));
    assert!(
        world
            .platform()
            .queue
            .status(&tokens[0])
            .await
            .unwrap()
            .entered
    );

    // Someone admitted who never enters loses the turn after the ready window.
    world.advance(1.0);
    let second = world.platform().queue.status(&tokens[1]).await.unwrap();
    assert_eq!(second.status, QueueStatusKind::Ready);
    world.advance(READY_WINDOW_SECS as f64 + 1.0);
    assert_eq!(
        world
            .platform()
            .queue
            .status(&tokens[1])
            .await
            .unwrap()
            .status,
        QueueStatusKind::Expired
    );
    assert!(matches!(
        world
            .platform()
            .queue
            .enter(&tokens[1], Some(buyer.user_id))
            .await,
        Err(Error::TokenExpired)
    ));
}

#[tokio::test]
async fn sold_out_is_reported_to_everyone_waiting() {
    let world = World::new();
    let event = world.general(1, 100.0).await;
    let tokens = join_many(&world, &event.event_id, 3).await;
    world.advance(1.0);
    let buyer = world.buyer();
    world.platform().queue.status(&tokens[0]).await.unwrap();
    let admitted = world
        .platform()
        .queue
        .enter(&tokens[0], Some(buyer.user_id.clone()))
        .await
        .unwrap();
    let hold = world
        .platform()
        .reservations
        .hold(
            &buyer,
            HoldRequest {
                event_id: event.event_id.clone(),
                seat_ids: None,
                quantity: Some(1),
                reservation_token: admitted.reservation_token,
            },
        )
        .await
        .unwrap();
    assert!(
        !world
            .platform()
            .queue
            .status(&tokens[2])
            .await
            .unwrap()
            .sold_out,
        "a hold may still be released"
    );
    let intent = world.pay(&buyer, &hold, Scenario::Approve).await;
    world
        .platform()
        .reservations
        .confirm(
            &hold.reservation_id,
            &intent.payment_intent_id,
            Some(&buyer),
        )
        .await
        .unwrap();
    let late = world.platform().queue.status(&tokens[2]).await.unwrap();
    assert!(
        late.sold_out,
        "everything sold: the people still waiting are told"
    );
    assert!(late.position > 0, "and nobody is admitted to an empty hall");
}
