//! An opening time and the lobby draw (issue 16, item 1): joins before `on_sale_at` wait in a
//! lobby and get a uniformly random place at the opening, later joins queue behind them, and the
//! draw can be recomputed by anyone from what `GET /queue/draw` publishes.

use std::collections::HashMap;

use chrono::Duration;
use sha2::{Digest, Sha256};
use tacos_core::domain::auth::{Principal, Role};
use tacos_core::domain::queue::draw::{permute, Seed};
use tacos_core::domain::queue::lobby::token_sha256;
use tacos_core::domain::queue::{DrawRecord, DrawStatus, QueueStatusKind};
use tacos_core::domain::sale::audit::{read_log, AuditQuery};
use tacos_core::domain::sale::{SaleChange, SaleSettings};
use tacos_core::error::Error;
use tacos_core::ids::{EventId, UserId, WaitingToken};
use tacos_core::ports::clock::Clock;

use crate::queue::statuses;
use crate::world::World;

fn operator() -> Principal {
    Principal {
        user_id: "usr_operator".parse().unwrap(),
        role: Role::Admin,
    }
}

async fn join_lobby(world: &World, event: &EventId, n: usize) -> Vec<WaitingToken> {
    let mut tokens = Vec::new();
    for _ in 0..n {
        let joined = world.platform().queue.join(event, None).await.unwrap();
        assert_eq!(joined.status, "lobby");
        assert_eq!(joined.position_hint, 0);
        assert!(joined.opens_in_sec.is_some());
        tokens.push(joined.waiting_token);
    }
    tokens
}

/// Every entry of the published draw, all pages.
async fn published(world: &World, event: &EventId) -> DrawRecord {
    let queue = &world.platform().queue;
    let mut first = queue.draw_record(event, None, 7).await.unwrap();
    let mut next = first.next.clone();
    while let Some(after) = next {
        let page = queue
            .draw_record(event, Some(after.parse().unwrap()), 7)
            .await
            .unwrap();
        first.entries.extend(page.entries);
        next = page.next;
    }
    first
}

/// Each token's drawn place (0-based), recomputed from the published draw alone: the seed, the
/// frozen counts and each entry's lobby order.
fn recompute(draw: &DrawRecord, tokens: &[WaitingToken]) -> HashMap<WaitingToken, u64> {
    let seed = Seed::from_hex(draw.seed.as_deref().unwrap()).unwrap();
    let counts = draw.lobby_counts.clone().unwrap();
    let shards = counts.len() as u64;
    let size = draw.lobby_size.unwrap();
    assert_eq!(counts.iter().sum::<u64>(), size);
    let order_of: HashMap<&str, u64> = draw
        .entries
        .iter()
        .map(|e| (e.token_sha256.as_str(), e.lobby_order))
        .collect();
    tokens
        .iter()
        .map(|token| {
            let lobby = order_of[token_sha256(token).as_str()];
            // Orders taken before `lobby`: per counter, those of its orders below it it reached.
            let rank: u64 = counts
                .iter()
                .enumerate()
                .map(|(s, &count)| {
                    let s = s as u64;
                    count.min(if lobby > s {
                        (lobby - s).div_ceil(shards)
                    } else {
                        0
                    })
                })
                .sum();
            (token.clone(), permute(&seed, size, rank))
        })
        .collect()
}

#[tokio::test]
async fn the_lobby_is_drawn_at_random_at_the_opening_and_anyone_can_recompute_it() {
    let world = World::with_config(|c| c.queue_shards = 4);
    let event = world.general_opening(500, 1.0, 60).await;
    let id = &event.event_id;

    let lobby = join_lobby(&world, id, 40).await;
    let before = published(&world, id).await;
    assert_eq!(before.status, DrawStatus::Scheduled);
    assert_eq!(before.opens_in_sec, Some(60));
    assert!(
        before.seed.is_none(),
        "the seed stays secret until the draw"
    );
    let commitment = before.seed_sha256.clone().unwrap();
    assert_eq!(before.entries.len(), 40, "every lobby join is listed");

    for status in statuses(&world, &lobby).await {
        assert_eq!(status.status, QueueStatusKind::Lobby);
        assert_eq!(status.opens_in_sec, Some(60));
        assert_eq!(status.position, 0);
    }
    assert!(matches!(
        world
            .platform()
            .queue
            .enter(&lobby[0], Some(UserId::generate()))
            .await,
        Err(Error::NotReady)
    ));
    world.advance(59.0);
    let status = world.platform().queue.status(&lobby[3]).await.unwrap();
    assert_eq!(
        (status.status, status.opens_in_sec),
        (QueueStatusKind::Lobby, Some(1))
    );

    world.advance(1.0);
    let drawn = statuses(&world, &lobby).await;
    let positions: Vec<u64> = drawn.iter().map(|s| s.position).collect();
    assert!(
        drawn.iter().all(|s| s.status == QueueStatusKind::Waiting),
        "nobody admitted at the instant of the opening: {drawn:?}"
    );
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=40).collect::<Vec<u64>>(), "one place each");
    assert_ne!(positions, sorted, "places are not arrival order");

    let after = published(&world, id).await;
    assert_eq!(after.status, DrawStatus::Drawn);
    assert_eq!(after.lobby_size, Some(40));
    let seed = after.seed.clone().unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(hex::decode(&seed).unwrap())),
        commitment,
        "the revealed seed is the one committed to before the opening"
    );
    let places = recompute(&after, &lobby);
    for (token, status) in lobby.iter().zip(&drawn) {
        assert_eq!(status.position, places[token] + 1, "recomputed place");
    }

    // Joins after the opening queue behind the whole lobby (by arrival, up to the skew of four
    // randomly chosen join counters).
    let late = world.platform().queue.join(id, None).await.unwrap();
    assert_eq!(late.status, "waiting");
    let later = world.platform().queue.join(id, None).await.unwrap();
    let late_status = world
        .platform()
        .queue
        .status(&late.waiting_token)
        .await
        .unwrap();
    let later_status = world
        .platform()
        .queue
        .status(&later.waiting_token)
        .await
        .unwrap();
    let mut behind = [late_status.position, later_status.position];
    behind.sort_unstable();
    assert_eq!(behind, [41, 42]);

    // Admission goes by drawn place: after 3 s at 1/s, the three drawn first are ready.
    world.advance(3.0);
    let now = statuses(&world, &lobby).await;
    for (token, status) in lobby.iter().zip(&now) {
        let ready = status.status == QueueStatusKind::Ready;
        assert_eq!(ready, places[token] < 3, "{status:?}");
    }
}

#[tokio::test]
async fn the_draw_is_uniform_over_many_lobbies() {
    // Over many lobbies of 5, the first to arrive lands on each place about as often.
    let world = World::new();
    let mut first_place = [0u32; 5];
    for _ in 0..200 {
        let event = world.general_opening(50, 1.0, 1).await;
        let lobby = join_lobby(&world, &event.event_id, 5).await;
        world.advance(1.0);
        let status = world.platform().queue.status(&lobby[0]).await.unwrap();
        first_place[(status.position - 1) as usize] += 1;
        world.advance(-1.0);
    }
    // Expected 40 each; a uniform draw falls in 20..=60 with probability above 0.999.
    assert!(
        first_place.iter().all(|&n| (20..=60).contains(&n)),
        "{first_place:?}"
    );
}

#[tokio::test]
async fn those_who_leave_the_lobby_take_no_place_in_line() {
    let world = World::with_config(|c| c.queue_shards = 2);
    let event = world.general_opening(500, 1.0, 30).await;
    let id = &event.event_id;
    let lobby = join_lobby(&world, id, 10).await;
    for token in &lobby[..3] {
        world.platform().queue.leave(token, None).await.unwrap();
    }
    // Before the opening, one who left waits for nothing: expired, no wait, no opening told (a
    // probe saw a left ticket told it would wait until the opening).
    for status in statuses(&world, &lobby[..3]).await {
        assert_eq!(status.status, QueueStatusKind::Expired);
        assert_eq!((status.eta_sec, status.eta_range_sec), (0, [0, 0]));
        assert_eq!(status.opens_in_sec, None);
    }
    world.advance(30.0);
    let stayed = statuses(&world, &lobby[3..]).await;
    let mut positions: Vec<u64> = stayed.iter().map(|s| s.position).collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=7).collect::<Vec<u64>>());
    for status in statuses(&world, &lobby[..3]).await {
        assert_eq!(status.status, QueueStatusKind::Expired);
    }
    let gauge = world.platform().queue.gauge(id).await.unwrap();
    assert_eq!(gauge.waiting, 7);
}

#[tokio::test]
async fn a_lobby_join_the_draw_missed_is_placed_at_the_back_once() {
    // Two instances whose clocks disagree by two seconds: one draws, the other still takes a
    // lobby order after that.
    let world = World::new();
    let event = world.general_opening(500, 1.0, 10).await;
    let id = &event.event_id;
    let lobby = join_lobby(&world, id, 3).await;
    world.advance(11.0);
    world.platform().queue.status(&lobby[0]).await.unwrap();
    world.advance(-2.0);
    let straggler = join_lobby(&world, id, 1).await.remove(0);
    world.advance(2.0);
    let first_look = world.platform().queue.status(&straggler).await.unwrap();
    assert_eq!(first_look.status, QueueStatusKind::Waiting);
    assert_eq!(first_look.position, 4, "behind the three drawn");
    let late = world.platform().queue.join(id, None).await.unwrap();
    let late = world
        .platform()
        .queue
        .status(&late.waiting_token)
        .await
        .unwrap();
    assert_eq!(late.position, 5);
    let again = world.platform().queue.status(&straggler).await.unwrap();
    assert_eq!(again.position, 4, "placed once");
    let record = published(&world, id).await;
    assert_eq!(record.lobby_size, Some(3));
    assert_eq!(
        record.entries.len(),
        4,
        "the straggler is listed, past the frozen counts"
    );
}

#[tokio::test]
async fn an_account_keeps_one_lobby_place_and_an_operator_moves_the_opening_until_it_passes() {
    let world = World::new();
    let event = world.general_opening(500, 1.0, 120).await;
    let id = &event.event_id;
    let buyer = world.buyer();
    let queue = &world.platform().queue;
    let first = queue.join(id, Some(buyer.user_id.clone())).await.unwrap();
    let again = queue.join(id, Some(buyer.user_id.clone())).await.unwrap();
    assert_eq!(first.waiting_token, again.waiting_token);
    assert_eq!(again.status, "lobby");

    let sales = &world.platform().sales;
    let sooner = world.clock.now() + Duration::seconds(20);
    let moved = sales
        .change(
            id,
            &operator(),
            SaleChange::Settings(SaleSettings {
                on_sale_at: Some(sooner),
                ..SaleSettings::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(moved.on_sale_at, Some(sooner));
    let status = queue.status(&first.waiting_token).await.unwrap();
    assert_eq!(status.opens_in_sec, Some(20));

    world.advance(21.0);
    let status = queue.status(&first.waiting_token).await.unwrap();
    assert_eq!(
        (status.status, status.position),
        (QueueStatusKind::Waiting, 1)
    );
    let too_late = sales
        .change(
            id,
            &operator(),
            SaleChange::Settings(SaleSettings {
                on_sale_at: Some(world.clock.now() + Duration::seconds(60)),
                ..SaleSettings::default()
            }),
        )
        .await;
    assert!(
        matches!(too_late, Err(Error::InvalidState(_))),
        "{too_late:?}"
    );
    let log = read_log(
        &*world.platform().ports.store,
        &AuditQuery {
            event_id: Some(id.clone()),
            ..AuditQuery::default()
        },
    )
    .await
    .expect("audit log");
    assert_eq!(
        log.entries.len(),
        1,
        "the move is logged, the refusal is not"
    );
}

#[tokio::test]
async fn closing_a_sale_before_it_opens_tells_the_lobby() {
    let world = World::new();
    let event = world.general_opening(500, 1.0, 60).await;
    let lobby = join_lobby(&world, &event.event_id, 2).await;
    world
        .platform()
        .sales
        .change(&event.event_id, &operator(), SaleChange::Close)
        .await
        .unwrap();
    for status in statuses(&world, &lobby).await {
        assert_eq!(status.status, QueueStatusKind::Closed);
    }
    let join = world.platform().queue.join(&event.event_id, None).await;
    assert!(matches!(join, Err(Error::SaleClosed)));
}

/// Issue 16: "at 100,000 lobby entries on DynamoDB the draw writes no item above its partition
/// limits". Counted per partition over the real code path, with the join counters sharded as on
/// AWS (64): the lobby's joins spread over 128 partitions (counters and entries) besides each
/// ticket's own; the draw is one write of the queue's state and at most one raise of each line
/// counter; and nobody's place is written at all (each is computed), so the statuses after the
/// opening write nothing.
#[tokio::test]
async fn at_100000_in_the_lobby_the_draw_writes_no_partition_more_than_twice() {
    use std::sync::{Arc, Mutex};
    use tacos_core::platform::Platform;
    use tacos_core::ports::ManualClock;
    use tacos_tests::watched_store::WatchedStore;

    const LOBBY: usize = 100_000;
    type Log = Arc<Mutex<HashMap<(&'static str, String), u64>>>;
    let log: Log = Arc::default();
    let seen = log.clone();
    let store = WatchedStore::new(
        Arc::new(tacos_core::in_process::MemoryStore::new()),
        move |call| {
            let mut seen = seen.lock().unwrap();
            for pk in call.partitions() {
                *seen.entry((call.kind(), pk)).or_default() += 1;
            }
            Ok(())
        },
    );
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let mut config = tacos_core::config::Config::for_tests();
    config.queue_shards = 64;
    let platform = Platform::new(
        tacos_core::in_process::ports_over(Arc::new(store), clock.clone()),
        config,
    );
    let mut new =
        serde_json::from_value::<tacos_core::domain::catalog::NewEvent>(serde_json::json!({
            "name": "Rush night", "venue": "Hall", "starts_at": "2030-01-01T00:00:00Z",
            "price": 100, "capacity": 5000, "admission_rate_per_sec": 50
        }))
        .unwrap();
    new.on_sale_at = Some(clock.now() + Duration::seconds(60));
    let id = platform.catalog.create(new).await.unwrap().event_id;
    let take = |log: &Log| std::mem::take(&mut *log.lock().unwrap());

    let mut tokens = Vec::with_capacity(LOBBY);
    for _ in 0..LOBBY {
        tokens.push(platform.queue.join(&id, None).await.unwrap().waiting_token);
    }
    let joins = take(&log);
    let writes = |calls: &HashMap<(&str, String), u64>, prefix: &str| -> Vec<u64> {
        calls
            .iter()
            .filter(|((kind, pk), _)| *kind != "read" && *kind != "query" && pk.starts_with(prefix))
            .map(|(_, &n)| n)
            .collect()
    };
    for prefix in ["QLOBBY#", "QLENTRY#"] {
        let per_partition = writes(&joins, prefix);
        assert_eq!(
            per_partition.len(),
            64,
            "{prefix}: one partition per counter"
        );
        let hottest = *per_partition.iter().max().unwrap();
        // At 30,000 joins a second, the hottest partition's share of them, per second.
        let at_rush = hottest as f64 / LOBBY as f64 * 30_000.0;
        println!("{prefix}: hottest of 64 partitions {hottest} writes of {LOBBY} joins: {at_rush:.0}/s at 30k joins/s");
        assert!(
            at_rush < 1_000.0,
            "{prefix}: {at_rush:.0} writes/s at 30k joins/s"
        );
    }
    assert!(
        writes(&joins, "WTKN#").iter().all(|&n| n == 1),
        "a ticket is written once"
    );

    clock.advance(chrono::Duration::seconds(60));
    let first = platform.queue.status(&tokens[0]).await.unwrap();
    assert_eq!(first.status, QueueStatusKind::Waiting);
    let draw = take(&log);
    let written: Vec<_> = draw
        .iter()
        .filter(|((kind, _), _)| *kind != "read" && *kind != "query")
        .collect();
    for ((_, pk), &n) in &written {
        assert!(n <= 2, "{pk} written {n} times by the draw");
    }
    assert!(
        written.len() <= 1 + 64,
        "the state and the line's counters: {written:?}"
    );
    println!(
        "the draw: {} partitions written, at most {} times each; {} store calls in all",
        written.len(),
        written.iter().map(|(_, &n)| n).max().unwrap_or(0),
        draw.values().sum::<u64>()
    );
    // Each lobby counter read once, each entries partition queried once (for the leavers), the
    // rest a status's own reads.
    for ((kind, pk), &n) in &draw {
        let most = if pk.starts_with("QLOBBY#") || pk.starts_with("QLENTRY#") {
            1
        } else {
            4
        };
        assert!(n <= most, "{kind} of {pk}: {n} times");
    }

    for token in tokens.iter().step_by(100) {
        let status = platform.queue.status(token).await.unwrap();
        assert!(status.position >= 1 && status.position <= LOBBY as u64);
    }
    let after = take(&log);
    assert!(
        after
            .keys()
            .all(|(kind, _)| *kind == "read" || *kind == "query"),
        "places are computed, not written: {:?}",
        after
            .keys()
            .filter(|(kind, _)| *kind != "read" && *kind != "query")
            .collect::<Vec<_>>()
    );
}
