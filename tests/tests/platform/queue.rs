//! The waiting room: arrival order, positions that never grow, leaving moves people up, one
//! admission per token, and nobody let in beyond what can still be sold.

use tacos_core::domain::auth::Principal;
use tacos_core::domain::payments::Scenario;
use tacos_core::domain::queue::{QueueStatus, QueueStatusKind, READY_WINDOW_SECS};
use tacos_core::domain::reservations::{HoldRequest, Reservation};
use tacos_core::error::Error;
use tacos_core::ids::{EventId, UserId, WaitingToken};
use tacos_core::platform::Platform;
use tacos_core::ports::store::{SkRange, Store};
use tacos_core::ports::Clock;
use tacos_tests::watched_store::WatchedStore;

use crate::world::World;

pub(crate) async fn join_many(
    world: &World,
    event: &tacos_core::ids::EventId,
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

pub(crate) async fn statuses(world: &World, tokens: &[WaitingToken]) -> Vec<QueueStatus> {
    let mut out = Vec::new();
    for token in tokens {
        out.push(world.platform().queue.status(token).await.unwrap());
    }
    out
}

/// `seconds` seconds on, everyone asking for their status every second (so nobody is given up).
async fn keep_asking(world: &World, tokens: &[WaitingToken], seconds: usize) {
    for _ in 0..seconds {
        world.advance(1.0);
        statuses(world, tokens).await;
    }
}

async fn positions(world: &World, tokens: &[WaitingToken]) -> Vec<u64> {
    statuses(world, tokens)
        .await
        .iter()
        .map(|s| s.position)
        .collect()
}

/// A new buyer enters with an admitted `token` and holds one general-admission ticket.
async fn enter_and_hold_one(
    world: &World,
    event: &EventId,
    token: &WaitingToken,
) -> (Principal, Reservation) {
    let buyer = world.buyer();
    let admitted = world
        .platform()
        .queue
        .enter(token, Some(buyer.user_id.clone()))
        .await
        .unwrap();
    let request = HoldRequest {
        event_id: event.clone(),
        seat_ids: None,
        quantity: Some(1),
        reservation_token: admitted.reservation_token,
    };
    let hold = world
        .platform()
        .reservations
        .hold(&buyer, request)
        .await
        .unwrap();
    (buyer, hold)
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
    world.platform().queue.leave(leaver, None).await.unwrap();
    world.platform().queue.leave(leaver, None).await.unwrap();
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

/// A crowd joining at once: each person gets a place of their own, and once the crowd has passed
/// the line counts exactly its people and the next joiner stands right behind them. A process's
/// joins at once share the join counter's raises, and in a crowd take spare orders ahead, given
/// back when the crowd has passed (`queue::counting`): none may show as a person in line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_joining_at_once_stands_in_a_line_of_exactly_its_people() {
    let world = World::new();
    let event = world.general(1_000, 0.01).await;
    let queue = &world.platform().queue;
    let joined =
        futures::future::join_all((0..1_000).map(|_| queue.join(&event.event_id, None))).await;
    let tokens: Vec<WaitingToken> = joined
        .into_iter()
        .map(|joined| joined.unwrap().waiting_token)
        .collect();
    let mut places = positions(&world, &tokens).await;
    places.sort_unstable();
    let admitted = places.iter().take_while(|&&p| p == 0).count();
    assert_eq!(
        places[admitted..],
        (1..=(1_000 - admitted) as u64).collect::<Vec<_>>(),
        "one place each, none twice, no gap"
    );

    // The crowd has passed: whatever the counter took ahead for it is given back.
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    let gauge = queue.gauge(&event.event_id).await.unwrap();
    assert_eq!(gauge.waiting, 1_000 - admitted as u64, "{gauge:?}");
    let next = queue.join(&event.event_id, None).await.unwrap();
    let status = queue.status(&next.waiting_token).await.unwrap();
    assert_eq!(
        status.position,
        1_000 - admitted as u64 + 1,
        "the next joiner stands right behind the crowd"
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
    let (buyer, hold) = enter_and_hold_one(&world, &event.event_id, &tokens[0]).await;
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
    world.platform().queue.status(&tokens[0]).await.unwrap();
    let (buyer, hold) = enter_and_hold_one(&world, &event.event_id, &tokens[0]).await;
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

/// Two platforms on one store with `queue_view_ms` windows, as two Lambda instances are.
fn instances(world: &World, view_ms: i64) -> [Platform; 2] {
    let ports = world.platform().ports.clone();
    let mut config = world.platform().config().clone();
    config.queue_view_ms = view_ms;
    [
        Platform::new(ports.clone(), config.clone()),
        Platform::new(ports, config),
    ]
}

#[tokio::test]
async fn instances_that_read_the_queue_at_different_moments_show_the_same_position() {
    // AWS's timings, then parity's windows of a second with the README's 100 ms admission steps
    // (20 admissions a second, so the cursor has people to admit at every step).
    for (view_ms, advance_ms, rate, people) in [(250, 200, 4.0, 16), (1_000, 100, 20.0, 120)] {
        instances_agree(view_ms, advance_ms, rate, people).await;
    }
}

async fn instances_agree(view_ms: i64, advance_ms: i64, rate: f64, people: usize) {
    let world = World::with_config(|config| config.queue_advance_ms = advance_ms);
    let event = world.general(1_000, rate).await;
    let both = instances(&world, view_ms);
    let mut tokens = Vec::new();
    for _ in 0..people {
        tokens.push(
            both[0]
                .queue
                .join(&event.event_id, None)
                .await
                .unwrap()
                .waiting_token,
        );
    }
    let mut last: Vec<Option<u64>> = vec![None; tokens.len()];
    let mut ready_seen = vec![false; tokens.len()];
    let mut left = false;
    for step in 0..400usize {
        // The clock moves between requests and each instance is mostly asked alone, so the two
        // read the queue at different points of a window, one before an advance, one after.
        world.advance([0.03, 0.11, 0.07, 0.19, 0.05][step % 5]);
        let i = step % tokens.len();
        let first = &both[step % 2];
        let a = first.queue.status(&tokens[i]).await.unwrap();
        if step % 3 == 0 {
            let other = &both[1 - step % 2];
            let b = other.queue.status(&tokens[i]).await.unwrap();
            assert_eq!(
                (a.status, a.position),
                (b.status, b.position),
                "two instances asked at the same instant agree (step {step}, joiner {i}, \
                 windows of {view_ms} ms, moves every {advance_ms} ms)"
            );
        }
        match a.status {
            QueueStatusKind::Ready => ready_seen[i] = true,
            QueueStatusKind::Waiting => {
                assert!(!ready_seen[i], "joiner {i} went back from ready to waiting");
                if let Some(prev) = last[i] {
                    assert!(
                        a.position <= prev,
                        "joiner {i}: position grew from {prev} to {}",
                        a.position
                    );
                }
                last[i] = Some(a.position);
            }
            QueueStatusKind::Expired => assert!(left || ready_seen[i], "{a:?}"),
            QueueStatusKind::Closed => panic!("nobody closed this sale: {a:?}"),
            QueueStatusKind::Lobby => panic!("this sale has no opening time: {a:?}"),
        }
        if step == 20 {
            // Someone near the back leaves through one instance: within a window (and the
            // settling time) both instances show the person behind right after the one ahead.
            let n = tokens.len();
            let (ahead, leaver, behind) = (&tokens[n - 3], &tokens[n - 2], &tokens[n - 1]);
            let gap = |instance: &Platform| {
                let queue = instance.queue.clone();
                let (ahead, behind) = (ahead.clone(), behind.clone());
                async move {
                    let ahead = queue.status(&ahead).await.unwrap().position;
                    queue.status(&behind).await.unwrap().position - ahead
                }
            };
            assert_eq!(gap(&both[1]).await, 2, "the leaver between them");
            both[0].queue.leave(leaver, None).await.unwrap();
            // A window and the settling time (100 ms) later.
            world.advance((view_ms + 100) as f64 / 1000.0);
            assert_eq!(
                gap(&both[1]).await,
                1,
                "the leave shows on the other instance"
            );
            assert_eq!(gap(&both[0]).await, 1, "and on its own");
            left = true;
        }
    }
    let admitted = ready_seen.iter().filter(|r| **r).count();
    assert!(
        admitted >= tokens.len() - 1,
        "at {rate}/s everyone still in line is admitted within the ~36 s: {ready_seen:?}"
    );
}

/// With sharded join counters (64, as on AWS) most shards lag behind the line's end while the
/// line is short, and the cursor moves past their next orders: a join arriving afterwards on such a
/// shard must still get a place at or after the cursor, wait its turn, be counted by the advance
/// that admits it, and be able to enter.
#[tokio::test]
async fn with_many_shards_a_late_joiner_still_waits_its_turn_is_counted_and_enters() {
    let world = World::with_config(|config| config.queue_shards = 64);
    let seats = 12;
    let event = world.general(seats, 2.0).await;
    let id = &event.event_id;
    assert_eq!(event.queue_shards, 64);
    let mut entered = 0;
    for joiner in 0..seats + 4 {
        // One buyer at a time: the line is empty when each arrives.
        let token = world
            .platform()
            .queue
            .join(id, None)
            .await
            .unwrap()
            .waiting_token;
        let mut admitted = false;
        for _ in 0..40 {
            world.advance(0.25);
            let status = world.platform().queue.status(&token).await.unwrap();
            match status.status {
                QueueStatusKind::Waiting => assert!(status.position > 0, "{status:?}"),
                QueueStatusKind::Ready => {
                    admitted = true;
                    break;
                }
                QueueStatusKind::Expired => {
                    panic!("joiner {joiner} expired without ever being admitted: {status:?}")
                }
                QueueStatusKind::Closed => panic!("nobody closed this sale: {status:?}"),
                QueueStatusKind::Lobby => panic!("this sale has no opening time: {status:?}"),
            }
        }
        if joiner < seats {
            assert!(admitted, "joiner {joiner} is admitted within 10 s at 2/s");
            enter_and_hold_one(&world, id, &token).await;
            entered += 1;
        } else {
            assert!(
                !admitted,
                "joiner {joiner}: every seat is held, nobody more may come in"
            );
        }
        // Every admission was counted by the advance that made it.
        assert_eq!(
            counted_admissions(&world, id).await,
            entered,
            "joiner {joiner}: admissions counted = people who came in"
        );
        world.advance(3.0);
    }
    assert_eq!(world.inventory(id).await.held, seats);
}

/// People admitted by the advances so far, as the admission batches counted them.
async fn counted_admissions(world: &World, event: &EventId) -> i64 {
    world
        .local
        .store
        .query(
            &format!("QUEUE#{}", event.as_str()),
            &SkRange::prefix("BATCH#"),
        )
        .await
        .unwrap()
        .iter()
        .map(|b| b.get("admitted").and_then(|v| v.as_i64()).unwrap())
        .sum()
}

/// The same with views windowed as on AWS and people waiting together: a position counts only
/// people who joined (never the holes the advances closed), and everyone enters in turn.
#[tokio::test]
async fn with_many_shards_and_views_positions_count_people_and_everyone_enters() {
    let world = World::with_config(|config| {
        config.queue_shards = 64;
        config.queue_view_ms = 250;
    });
    let event = world.general(100, 0.5).await;
    let id = &event.event_id;
    let mut tokens = Vec::new();
    let mut entered = Vec::new();
    let mut last: Vec<Option<u64>> = Vec::new();
    for step in 0..800 {
        // Uneven steps, so the cursor moves at any point of a view window.
        world.advance([0.03, 0.11, 0.07, 0.19, 0.05][step % 5]);
        if step % 10 == 0 && tokens.len() < 12 {
            let joined = world.platform().queue.join(id, None).await.unwrap();
            tokens.push(joined.waiting_token);
            entered.push(false);
            last.push(None);
        }
        for (i, token) in tokens.iter().enumerate() {
            if entered[i] {
                continue;
            }
            let status = world.platform().queue.status(token).await.unwrap();
            match status.status {
                QueueStatusKind::Waiting => {
                    assert!(
                        status.position >= 1 && status.position <= tokens.len() as u64,
                        "joiner {i} of {}: position {} counts only people (step {step})",
                        tokens.len(),
                        status.position
                    );
                    // Once everyone has joined (and a view window has passed), no late join
                    // fills a hole ahead: a position can only go down.
                    if let Some(last) = last[i].filter(|_| step > 130) {
                        assert!(
                            status.position <= last,
                            "joiner {i}: position grew from {last} to {} (step {step})",
                            status.position
                        );
                    }
                    last[i] = Some(status.position);
                }
                QueueStatusKind::Ready => {
                    enter_and_hold_one(&world, id, token).await;
                    entered[i] = true;
                }
                QueueStatusKind::Expired => {
                    panic!("joiner {i} expired without ever being admitted: {status:?}")
                }
                QueueStatusKind::Closed => panic!("nobody closed this sale: {status:?}"),
                QueueStatusKind::Lobby => panic!("this sale has no opening time: {status:?}"),
            }
        }
    }
    assert!(entered.iter().all(|e| *e), "everyone entered: {entered:?}");
    assert_eq!(
        counted_admissions(&world, id).await,
        tokens.len() as i64,
        "every admission counted by the advance that made it"
    );
}

/// Each store call's kind and partition, in order (a transaction's, one per write), as the
/// in-process store receives them ([`WatchedStore`]).
#[derive(Default)]
struct CallLog {
    calls: std::sync::Mutex<Vec<(&'static str, String)>>,
}

impl CallLog {
    /// The in-process store, noting every call into `log`.
    fn store(log: std::sync::Arc<CallLog>) -> WatchedStore {
        let inner = std::sync::Arc::new(tacos_core::in_process::MemoryStore::new());
        WatchedStore::new(inner, move |call| {
            let mut calls = log.calls.lock().unwrap();
            for pk in call.partitions() {
                calls.push((call.kind(), pk));
            }
            Ok(())
        })
    }
    fn take(&self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

/// A platform with 1-second view windows over a store whose calls a [`CallLog`] records, on a
/// manual clock at the start of a whole second (so that calls made before it moves a second fall
/// within one window).
fn logged_platform() -> (
    std::sync::Arc<CallLog>,
    std::sync::Arc<tacos_core::ports::ManualClock>,
    Platform,
) {
    use std::sync::Arc;
    let log = Arc::new(CallLog::default());
    let watched = Arc::new(CallLog::store(log.clone()));
    let start = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap();
    let clock = Arc::new(tacos_core::ports::ManualClock::new(start));
    let mut config = tacos_core::config::Config::for_tests();
    config.queue_view_ms = 1_000;
    let platform = Platform::new(
        tacos_core::in_process::ports_over(watched, clock.clone()),
        config,
    );
    (log, clock, platform)
}

/// A general-admission event of `capacity` places admitting `rate` people a second.
async fn general_event(platform: &Platform, name: &str, capacity: i64, rate: f64) -> EventId {
    platform
        .catalog
        .create(tacos_core::domain::catalog::NewEvent {
            name: name.into(),
            venue: "Hall".into(),
            starts_at: chrono::Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 1_000,
            sections: None,
            capacity: Some(capacity),
            admission_rate_per_sec: rate,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .unwrap()
        .event_id
}

/// On AWS the join function shows no statuses, so it must not pay for a view (the join
/// counters, the inventory, the state, and perhaps an admission transaction) in every instance
/// every window just to compute a position hint: a join is its order and its ticket, and the
/// hint reads the queue's state at most once per window.
#[tokio::test]
async fn with_views_joins_read_the_queue_state_once_per_window_and_nothing_else_of_it() {
    // Each round of joins below falls within one window.
    let (store, clock, platform) = logged_platform();
    let event = general_event(&platform, "Hint night", 100, 5.0).await;
    let queue_pk = format!("QUEUE#{}", event.as_str());
    let mut hints = Vec::new();
    for window in 0..3 {
        store.take();
        for _ in 0..10 {
            clock.advance(chrono::Duration::milliseconds(50));
            hints.push(
                platform
                    .queue
                    .join(&event, None)
                    .await
                    .unwrap()
                    .position_hint,
            );
        }
        let calls = store.take();
        let of_queue: Vec<_> = calls
            .iter()
            .filter(|(kind, pk)| pk == &queue_pk && *kind != "update")
            .collect();
        assert_eq!(
            of_queue,
            vec![&("read", queue_pk.clone())],
            "window {window}: one read of the queue's items besides the ten orders taken: {calls:?}"
        );
        assert!(
            calls.iter().all(|(kind, _)| *kind != "query"),
            "window {window}: no view's queries: {calls:?}"
        );
        clock.advance(chrono::Duration::milliseconds(500));
    }
    // Nobody polled, so nobody was admitted: the hints count everyone who joined before.
    assert_eq!(hints, (1..=30).collect::<Vec<u64>>());

    // Accounts joining again get the place they hold; checking that it can still be used reads
    // their ticket and the same once-per-window state, not the queue's state each.
    let accounts: Vec<UserId> = (0..5).map(|_| UserId::generate()).collect();
    let mut held = Vec::new();
    for user in &accounts {
        let joined = platform
            .queue
            .join(&event, Some(user.clone()))
            .await
            .unwrap();
        held.push(joined.waiting_token);
    }
    clock.advance(chrono::Duration::seconds(1));
    store.take();
    for _ in 0..3 {
        for (user, token) in accounts.iter().zip(&held) {
            let again = platform
                .queue
                .join(&event, Some(user.clone()))
                .await
                .unwrap();
            assert_eq!(&again.waiting_token, token, "the place the account holds");
        }
    }
    let calls = store.take();
    let state_reads = calls.iter().filter(|(_, pk)| pk == &queue_pk).count();
    assert_eq!(state_reads, 1, "15 re-joins in one window: {calls:?}");
}

/// A join keeps its idempotency key on its ticket (`domain::request_keys`): an anonymous join
/// is two writes (its order and its ticket) and no idempotency records; a retry replays the first
/// answer's bytes and writes nothing; concurrent duplicates make one ticket and all answer the
/// same; the key reused for another event is a conflict; and another caller's same key is theirs.
#[tokio::test]
async fn a_keyed_join_is_two_writes_and_its_retries_replay_it() {
    use std::sync::Arc;
    use tacos_core::domain::catalog::NewEvent;
    use tacos_core::domain::queue::{KeyedAnswer, RequestKey};

    let log = Arc::new(CallLog::default());
    let watched = Arc::new(CallLog::store(log.clone()));
    let clock = Arc::new(tacos_core::ports::ManualClock::new(chrono::Utc::now()));
    let platform = Platform::new(
        tacos_core::in_process::ports_over(watched, clock),
        tacos_core::config::Config::for_tests(),
    );
    let new_event = |name: &str| NewEvent {
        name: name.into(),
        venue: "Hall".into(),
        starts_at: chrono::Utc::now() + chrono::Duration::days(1),
        currency: "USD".into(),
        price: 1_000,
        sections: None,
        capacity: Some(100),
        admission_rate_per_sec: 0.01,
        max_per_order: 4,
        event_id: None,
        on_sale_at: None,
    };
    let event = platform
        .catalog
        .create(new_event("Keys"))
        .await
        .unwrap()
        .event_id;
    let other = platform
        .catalog
        .create(new_event("Other"))
        .await
        .unwrap()
        .event_id;
    let key = |owner: &str, fingerprint: &str| RequestKey {
        owner: owner.into(),
        key: uuid::Uuid::from_u128(7).hyphenated().to_string(),
        fingerprint: fingerprint.into(),
    };
    let queue = &platform.queue;
    let body = |answer: KeyedAnswer| match answer {
        KeyedAnswer::Fresh(body) | KeyedAnswer::Replay(body) => body,
    };

    log.take();
    let first = queue
        .join_keyed(&event, None, &key("addr:1", "f"), None)
        .await
        .unwrap();
    let writes: Vec<_> = log
        .take()
        .into_iter()
        .filter(|(kind, _)| *kind != "read")
        .collect();
    assert_eq!(writes.len(), 2, "the order and the ticket: {writes:?}");
    assert!(
        writes.iter().all(|(_, pk)| !pk.starts_with("IDEM#")),
        "{writes:?}"
    );
    let KeyedAnswer::Fresh(first) = first else {
        panic!("the first join is fresh")
    };

    let again = queue
        .join_keyed(&event, None, &key("addr:1", "f"), None)
        .await
        .unwrap();
    assert_eq!(
        again,
        KeyedAnswer::Replay(first.clone()),
        "the same bytes, marked a replay"
    );

    let conflict = queue
        .join_keyed(&other, None, &key("addr:1", "g"), None)
        .await;
    assert!(
        matches!(conflict, Err(Error::IdempotencyConflict)),
        "{conflict:?}"
    );

    let theirs = body(
        queue
            .join_keyed(&event, None, &key("addr:2", "f"), None)
            .await
            .unwrap(),
    );
    assert_ne!(theirs, first, "another caller's key is its own");

    // Concurrent duplicates of a new key, anonymous and signed in: one ticket, one answer.
    for user in [None, Some(UserId::generate())] {
        let join = key("usr_or_addr:3", "h");
        let join = RequestKey {
            key: uuid::Uuid::from_u128(9 + user.is_some() as u128)
                .hyphenated()
                .to_string(),
            ..join
        };
        let answers = futures::future::join_all(
            (0..8).map(|_| queue.join_keyed(&event, user.clone(), &join, None)),
        )
        .await;
        let bodies: Vec<String> = answers.into_iter().map(|a| body(a.unwrap())).collect();
        assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
        let token: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
        let status = queue
            .status(&token["waiting_token"].as_str().unwrap().parse().unwrap())
            .await
            .unwrap();
        assert_eq!(status.status, QueueStatusKind::Waiting);
    }
    // Every duplicate gave back the order it took: the line counts the people in it.
    let gauge = queue.gauge(&event).await.unwrap();
    assert_eq!(
        gauge.waiting, 4,
        "four people joined, whatever their retries: {gauge:?}"
    );
}

/// Issue 16, item 4: people beyond the stock are told they are likely to miss out rather than
/// given a time; once the admitted are seen not to buy, the places they give back come round
/// again and the people next in line are given a time: about when the places come back.
#[tokio::test]
async fn people_beyond_the_stock_are_told_they_may_miss_out_until_places_come_back() {
    let world = World::new();
    let event = world.general(5, 100.0).await;
    let tokens = join_many(&world, &event.event_id, 30).await;
    world.advance(0.5);
    let first = statuses(&world, &tokens).await;
    assert_eq!(ready(&first), 5);
    let waiting = |all: &[QueueStatus]| -> Vec<QueueStatus> {
        all.iter()
            .filter(|s| s.status == QueueStatusKind::Waiting)
            .cloned()
            .collect()
    };
    // Five places, all taken by people who have not bought yet: most of the 25 behind are told.
    let told = waiting(&first).iter().filter(|s| s.likely_sold_out).count();
    assert!(told >= 15, "{first:?}");
    assert!(
        waiting(&first)
            .iter()
            .all(|s| s.likely_sold_out || s.position <= 10),
        "{first:?}"
    );

    // Nobody admitted buys: their places come back after their windows, and the next five are
    // let in.
    keep_asking(&world, &tokens, 62).await;
    let later = statuses(&world, &tokens).await;
    assert_eq!(
        later
            .iter()
            .filter(|s| s.status != QueueStatusKind::Waiting)
            .count(),
        10
    );
    let next = waiting(&later)
        .into_iter()
        .find(|s| s.position == 1)
        .expect("someone is next");
    assert!(!next.likely_sold_out, "places keep coming back: {next:?}");
    assert!(
        (20..=90).contains(&next.eta_sec),
        "about when the places taken now come back: {next:?}"
    );
    for status in later.iter().chain(&first) {
        assert!(
            status.eta_range_sec[0] <= status.eta_sec && status.eta_sec <= status.eta_range_sec[1],
            "{status:?}"
        );
    }
}

/// Issue 16, item 4: once nothing is free, the next person is told when the places taken by
/// people who never entered come back: when their admission batch closes, a minute after it
/// admitted them, not some average of a cycle later.
#[tokio::test]
async fn the_next_person_is_told_when_unused_admissions_come_back() {
    let world = World::new();
    let event = world.general(5, 100.0).await;
    let tokens = join_many(&world, &event.event_id, 12).await;
    world.advance(0.5);
    assert_eq!(ready(&statuses(&world, &tokens).await), 5);
    // Forty seconds on, the five admitted have not entered and can no longer: their places come
    // back when their batch closes, at a minute.
    keep_asking(&world, &tokens, 40).await;
    let next = statuses(&world, &tokens)
        .await
        .into_iter()
        .find(|s| s.status == QueueStatusKind::Waiting && s.position == 1)
        .expect("someone is next");
    assert!(!next.likely_sold_out, "{next:?}");
    assert!((18..=22).contains(&next.eta_sec), "in about 20 s: {next:?}");
    // And they are let in then.
    keep_asking(&world, &tokens, 22).await;
    let after = statuses(&world, &tokens).await;
    assert_eq!(
        ready(&after),
        5,
        "the next five, the first five's turn over"
    );
    assert!(after[5..10]
        .iter()
        .all(|s| s.status == QueueStatusKind::Ready));
}

/// A line that admits nobody (the rate is far too low to earn one admission), with places given
/// up after two minutes unseen.
async fn still_line(n: usize) -> (World, EventId, Vec<WaitingToken>) {
    let world = World::with_config(|config| config.queue_abandon_secs = 120);
    let event = world.general(100, 0.001).await;
    let tokens = join_many(&world, &event.event_id, n).await;
    (world, event.event_id, tokens)
}

/// Four minutes on (twice the abandonment time), only `askers` asking for their status, every
/// 10 seconds: everyone else in line is given up.
async fn ask_past_abandonment(world: &World, askers: &[WaitingToken]) {
    for _ in 0..24 {
        world.advance(10.0);
        statuses(world, askers).await;
    }
}

/// `gone`'s place was given up: its status says its turn passed, and it cannot enter.
async fn assert_given_up(world: &World, gone: &WaitingToken) {
    let queue = &world.platform().queue;
    let back = queue.status(gone).await.unwrap();
    assert_eq!(back.status, QueueStatusKind::Expired, "{back:?}");
    assert!(matches!(
        queue.enter(gone, Some(world.buyer().user_id)).await,
        Err(Error::TokenExpired)
    ));
}

/// Issue 16, item 3: someone who stops asking loses their place after two minutes, the people
/// behind move up (positions and ETAs), and when they come back they are told their turn passed;
/// everyone who kept asking keeps their place.
#[tokio::test]
async fn a_person_not_seen_for_two_minutes_loses_their_place_and_the_line_moves_up() {
    let (world, _event, tokens) = still_line(8).await;
    let gone = tokens[2].clone();
    let before = statuses(&world, &tokens).await;
    assert_eq!(
        before.iter().map(|s| s.position).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 8]
    );
    let stayers: Vec<WaitingToken> = tokens.iter().filter(|t| **t != gone).cloned().collect();
    ask_past_abandonment(&world, &stayers).await;
    let after = statuses(&world, &stayers).await;
    assert_eq!(
        after.iter().map(|s| s.position).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7],
        "the people behind the one who left moved up: {after:?}"
    );
    assert!(after.iter().all(|s| s.status == QueueStatusKind::Waiting));
    assert_given_up(&world, &gone).await;
}

/// Issue 16, item 3 at scale: a crowd that stops asking together (a flood of joins that never ask
/// again) is given up within the abandonment time, one marker per run of them, where a sweep
/// used to give up 500 people and leave the rest to the next one, 30 seconds on (2,600 would have
/// taken three minutes more). Someone from the middle of the crowd who comes back is told their
/// turn passed, and their leaving then moves nobody twice.
#[tokio::test]
async fn a_crowd_that_stops_asking_together_is_given_up_at_once() {
    let (world, _event, tokens) = still_line(2_600).await;
    let stayers = tokens[2_597..].to_vec();
    ask_past_abandonment(&world, &stayers).await;
    let after = statuses(&world, &stayers).await;
    assert_eq!(
        after.iter().map(|s| s.position).collect::<Vec<_>>(),
        [1, 2, 3],
        "{after:?}"
    );
    for gone in [&tokens[0], &tokens[1_500], &tokens[2_596]] {
        assert_given_up(&world, gone).await;
    }
    let queue = &world.platform().queue;
    queue.leave(&tokens[1_500], None).await.unwrap();
    queue.leave(&tokens[1_000], None).await.unwrap();
    world.advance(1.0);
    let after_leaves = statuses(&world, &stayers).await;
    assert_eq!(
        after_leaves.iter().map(|s| s.position).collect::<Vec<_>>(),
        [1, 2, 3],
        "{after_leaves:?}"
    );
}

/// Issue 16, item 3: coming back within the two minutes keeps the place, however long the wait.
#[tokio::test]
async fn a_person_who_comes_back_in_time_keeps_their_place() {
    let (world, _event, tokens) = still_line(4).await;
    let occasional = tokens[1].clone();
    let others = [tokens[0].clone(), tokens[2].clone(), tokens[3].clone()];
    for step in 0..36 {
        world.advance(10.0);
        statuses(&world, &others).await;
        // Asks every 100 seconds only: never two minutes unseen.
        if step % 10 == 9 {
            let status = world.platform().queue.status(&occasional).await.unwrap();
            assert_eq!(
                (status.status, status.position),
                (QueueStatusKind::Waiting, 2)
            );
        }
    }
    let last = statuses(&world, &tokens).await;
    assert_eq!(
        last.iter().map(|s| s.position).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
}

/// How the store fails in [`an_outage_as_long_as_the_abandonment_time_gives_up_nobody_who_asked`].
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// Every call fails: the store is unreachable.
    Down,
    /// Writes fail, reads answer: a full disk, a throttled table.
    WritesFail,
}

impl Outage {
    fn set(self, world: &World, on: bool) {
        match self {
            Self::Down => world.local.store.set_unavailable(on),
            Self::WritesFail => world.local.store.set_writes_failing(on),
        }
    }
}

/// Ops probe, item 2: a store outage longer than the abandonment time, everyone but one asking
/// every 10 seconds throughout (their statuses failing or their presence going unrecorded). Once
/// the store is back, everyone who kept asking still has their place, at the position they had;
/// the one who had stopped asking before the outage is still given up, once the sweep can judge
/// again. Before, the first sweep after the outage read the buckets it had not been able to
/// record as "nobody seen" and gave up the whole line.
async fn an_outage_as_long_as_the_abandonment_time_gives_up_nobody_who_asked(outage: Outage) {
    let (world, _event, tokens) = still_line(10).await;
    let gone = tokens[3].clone();
    let stayers: Vec<WaitingToken> = tokens.iter().filter(|t| **t != gone).cloned().collect();
    statuses(&world, &tokens).await;
    for _ in 0..3 {
        world.advance(10.0);
        statuses(&world, &stayers).await;
    }
    outage.set(&world, true);
    // 150 s of outage (longer than the 120 s), everyone asking: whatever they are answered.
    for _ in 0..15 {
        world.advance(10.0);
        for token in &stayers {
            let _ = world.platform().queue.status(token).await;
        }
    }
    outage.set(&world, false);
    // The next asks come in a half-minute no sweep was tried in yet (presence's buckets are half
    // minutes), whose first status sweeps before it records its asker.
    let now_ms = world.clock.now().timestamp_millis();
    world.advance((30_000 - now_ms.rem_euclid(30_000) + 1_000) as f64 / 1_000.0);
    let back = statuses(&world, &stayers).await;
    assert!(
        back.iter().all(|s| s.status == QueueStatusKind::Waiting),
        "{outage:?}: nobody who kept asking lost their place: {back:?}"
    );
    assert_eq!(
        back.iter().map(|s| s.position).collect::<Vec<_>>(),
        [1, 2, 3, 5, 6, 7, 8, 9, 10],
        "{outage:?}: the one who stopped asking is not given up yet, nobody else is: {back:?}"
    );
    ask_past_abandonment(&world, &stayers).await;
    let after = statuses(&world, &stayers).await;
    assert_eq!(
        after.iter().map(|s| s.position).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "{outage:?}: {after:?}"
    );
    assert!(after.iter().all(|s| s.status == QueueStatusKind::Waiting));
    assert_given_up(&world, &gone).await;
}

#[tokio::test]
async fn a_store_down_as_long_as_the_abandonment_time_gives_up_nobody_who_asked() {
    an_outage_as_long_as_the_abandonment_time_gives_up_nobody_who_asked(Outage::Down).await;
}

#[tokio::test]
async fn writes_failing_as_long_as_the_abandonment_time_give_up_nobody_who_asked() {
    an_outage_as_long_as_the_abandonment_time_gives_up_nobody_who_asked(Outage::WritesFail).await;
}

/// Issue 16, item 3: an account whose place was given up takes a new one at the back when it
/// joins again (not the given-up token).
#[tokio::test]
async fn an_account_whose_place_was_given_up_joins_again_at_the_back() {
    let (world, event, tokens) = still_line(3).await;
    let buyer = world.buyer();
    let first = world
        .platform()
        .queue
        .join(&event, Some(buyer.user_id.clone()))
        .await
        .unwrap()
        .waiting_token;
    ask_past_abandonment(&world, &tokens).await;
    let again = world
        .platform()
        .queue
        .join(&event, Some(buyer.user_id.clone()))
        .await
        .unwrap()
        .waiting_token;
    assert_ne!(again, first);
    let status = world.platform().queue.status(&again).await.unwrap();
    assert_eq!(
        (status.status, status.position),
        (QueueStatusKind::Waiting, 4)
    );
}

/// With views, a status reads its own ticket and nothing of the queue's partition: the leavers
/// ahead come with the view, read once per window and process, like the state and the counters
/// (issue 15: 10,000 statuses a second each querying that partition put over three times its
/// read limit on it). So the queue partition's reads in a window do not grow with its statuses.
#[tokio::test]
async fn with_views_statuses_read_their_ticket_and_nothing_else_of_the_queue() {
    let (log, clock, platform) = logged_platform();
    let event = general_event(&platform, "Quiet polls", 10, 1.0).await;
    let mut tokens = Vec::new();
    for _ in 0..40 {
        tokens.push(
            platform
                .queue
                .join(&event, None)
                .await
                .unwrap()
                .waiting_token,
        );
    }
    // Two people leave: the view carries their markers.
    platform.queue.leave(&tokens[5], None).await.unwrap();
    platform.queue.leave(&tokens[6], None).await.unwrap();
    let queue_pk = format!("QUEUE#{}", event.as_str());
    let mut per_window = Vec::new();
    for (window, polls) in [(1, 40), (2, 400)] {
        clock.advance(chrono::Duration::seconds(1));
        // Everyone seen in this bucket of presence before counting, so only statuses remain.
        for token in &tokens {
            let _ = platform.queue.status(token).await.unwrap();
        }
        clock.advance(chrono::Duration::seconds(1));
        log.take();
        let (mut positions, mut ready) = (Vec::new(), 0);
        for poll in 0..polls {
            let token = &tokens[poll % tokens.len()];
            let status = platform.queue.status(token).await.unwrap();
            ready += usize::from(status.status == QueueStatusKind::Ready);
            positions.push(status.position);
        }
        // Admitted people asked too: their batch comes from the process's read of the open ones.
        assert!(ready > 0, "window {window}: someone admitted by now");
        let calls = log.take();
        let of_queue = calls.iter().filter(|(_, pk)| pk == &queue_pk).count();
        let ticket_reads = calls
            .iter()
            .filter(|(kind, pk)| *kind == "read" && pk.starts_with("WTKN#"))
            .count();
        assert_eq!(
            ticket_reads, polls,
            "window {window}: one ticket read a status"
        );
        per_window.push((of_queue, calls.len() - ticket_reads));
        // The two who left count in no one's position: the last joiner has 37 people ahead
        // at most (fewer once admissions began).
        let last = positions[tokens.len() - 1];
        assert!(last <= 38, "window {window}: {positions:?}");
    }
    assert_eq!(
        per_window[0], per_window[1],
        "the queue's reads (and all but the tickets') are the window's, not the statuses': \
         40 statuses and 400 make the same calls besides their tickets"
    );
}

/// The people ready after each step of `steps` seconds, at 10 admissions a second with the
/// cursor moving at most every `advance_ms`.
async fn admitted_after(advance_ms: i64, steps: &[f64]) -> Vec<usize> {
    let world = World::with_config(|config| config.queue_advance_ms = advance_ms);
    let event = world.general(100, 10.0).await;
    let tokens = join_many(&world, &event.event_id, 20).await;
    let mut admitted = vec![ready(&statuses(&world, &tokens).await)];
    for step in steps {
        world.advance(*step);
        admitted.push(ready(&statuses(&world, &tokens).await));
    }
    admitted
}

#[tokio::test]
async fn the_cursor_moves_as_often_as_configured_admitting_what_the_rate_earned() {
    let steps = [0.1, 0.05, 0.05, 0.1, 0.2];
    // Every 100 ms (the README's server): one person per move at 10/s; half a cadence moves
    // nothing.
    assert_eq!(admitted_after(100, &steps).await, [0, 1, 1, 2, 3, 5]);
    // Every 200 ms (AWS): the same people, in moves twice as far apart.
    assert_eq!(admitted_after(200, &steps).await, [0, 0, 0, 2, 2, 5]);
}
