//! Operators' live control of a sale (issue 16, item 2): pause keeps places and admits nobody,
//! resume admits again without a burst, a new rate or hold time takes effect, close tells
//! everyone waiting and refuses joins, entries and holds; every action is in the audit log, and
//! only administrators may act.

use serde_json::json;
use tacos_core::domain::auth::{Principal, Role};
use tacos_core::domain::payments::Scenario;
use tacos_core::domain::queue::challenge;
use tacos_core::domain::queue::{KeyedAnswer, QueueStatus, QueueStatusKind, RequestKey};
use tacos_core::domain::sale::{SaleChange, SaleSettings, SaleState};
use tacos_core::error::Error;
use tacos_core::ids::EventId;

use crate::queue::{join_many, statuses};
use crate::world::World;

fn operator() -> Principal {
    Principal {
        user_id: "usr_operator".parse().unwrap(),
        role: Role::Admin,
    }
}

async fn change(world: &World, event: &EventId, change: SaleChange) {
    world
        .platform()
        .sales
        .change(event, &operator(), change)
        .await
        .unwrap();
}

/// Settings changing only what is given.
fn settings(rate: Option<f64>, hold: Option<u64>, bits: Option<u32>) -> SaleChange {
    SaleChange::Settings(SaleSettings {
        admission_rate_per_sec: rate,
        hold_seconds: hold,
        join_challenge_bits: bits,
        on_sale_at: None,
    })
}

fn count(statuses: &[QueueStatus], kind: QueueStatusKind) -> usize {
    statuses.iter().filter(|s| s.status == kind).count()
}

#[tokio::test]
async fn a_pause_admits_nobody_keeps_places_and_resuming_lets_in_no_burst() {
    let world = World::new();
    let event = world.general(100, 2.0).await;
    let tokens = join_many(&world, &event.event_id, 20).await;
    world.advance(1.0);
    let before = statuses(&world, &tokens).await;
    let admitted = count(&before, QueueStatusKind::Ready);
    assert_eq!(admitted, 2, "two a second");

    change(&world, &event.event_id, SaleChange::Pause).await;
    for _ in 0..10 {
        world.advance(1.0);
        let now = statuses(&world, &tokens).await;
        assert_eq!(count(&now, QueueStatusKind::Ready), admitted, "nobody more");
        assert!(now.iter().all(|s| s.paused));
        for (b, n) in before.iter().zip(&now) {
            assert_eq!(b.position, n.position, "places kept");
        }
    }

    change(&world, &event.event_id, SaleChange::Resume).await;
    world.advance(1.0);
    let resumed = statuses(&world, &tokens).await;
    assert!(resumed.iter().all(|s| !s.paused));
    // Ten paused seconds bank nothing: one second of the rate after resuming.
    assert_eq!(count(&resumed, QueueStatusKind::Ready), admitted + 2);
    world.ledger(&event.event_id).await;
}

#[tokio::test]
async fn a_new_admission_rate_takes_effect_within_a_second() {
    let world = World::new();
    let event = world.general(500, 1.0).await;
    let tokens = join_many(&world, &event.event_id, 60).await;
    world.advance(1.0);
    assert_eq!(
        count(&statuses(&world, &tokens).await, QueueStatusKind::Ready),
        1
    );
    world
        .platform()
        .sales
        .change(
            &event.event_id,
            &operator(),
            settings(Some(20.0), None, None),
        )
        .await
        .unwrap();
    world.advance(1.0);
    assert_eq!(
        count(&statuses(&world, &tokens).await, QueueStatusKind::Ready),
        21
    );
    let shown = world.platform().catalog.get(&event.event_id).await.unwrap();
    let sale = world.platform().sales.current(&shown).await.unwrap();
    assert_eq!(sale.admission_rate_per_sec, 20.0);
}

#[tokio::test]
async fn a_new_hold_time_applies_to_holds_placed_after_it() {
    let world = World::new();
    let event = world.seated(&[("A", 1, 10)], 100.0).await;
    let buyer = world.buyer();
    let early = world
        .hold_seats(&buyer, &event.event_id, &["A-1"])
        .await
        .unwrap();
    assert_eq!((early.hold_expires_at - early.created_at).num_seconds(), 60);
    world
        .platform()
        .sales
        .change(
            &event.event_id,
            &operator(),
            settings(None, Some(180), None),
        )
        .await
        .unwrap();
    let late = world
        .hold_seats(&world.buyer(), &event.event_id, &["A-2"])
        .await
        .unwrap();
    assert_eq!((late.hold_expires_at - late.created_at).num_seconds(), 180);
    // The earlier hold keeps its own expiry; the later one outlives it.
    world.advance(61.0);
    world.fire_timers().await;
    assert_eq!(world.inventory(&event.event_id).await.held, 1);
    world.ledger(&event.event_id).await;
}

#[tokio::test]
async fn closing_tells_everyone_waiting_and_refuses_joins_entries_and_holds() {
    let world = World::new();
    let event = world.general(100, 1.0).await;
    let tokens = join_many(&world, &event.event_id, 5).await;
    world.advance(1.0);
    let first = statuses(&world, &tokens).await;
    let ready = first
        .iter()
        .position(|s| s.status == QueueStatusKind::Ready)
        .expect("one admitted");
    // One buyer holds before the close: the hold stands and may still be paid.
    let buyer = world.buyer();
    let hold = world
        .hold_quantity(&buyer, &event.event_id, 1)
        .await
        .unwrap();

    change(&world, &event.event_id, SaleChange::Close).await;
    let closed = statuses(&world, &tokens).await;
    assert!(
        closed
            .iter()
            .all(|s| s.status == QueueStatusKind::Closed && s.position == 0 && !s.ready_for_entry),
        "{closed:?}"
    );
    assert!(matches!(
        world.platform().queue.join(&event.event_id, None).await,
        Err(Error::SaleClosed)
    ));
    assert!(matches!(
        world
            .platform()
            .queue
            .enter(&tokens[ready], Some(world.buyer().user_id))
            .await,
        Err(Error::SaleClosed)
    ));
    assert!(matches!(
        world
            .hold_quantity(&world.buyer(), &event.event_id, 1)
            .await,
        Err(Error::SaleClosed)
    ));
    // A join that went through before the close, retried after it (its answer lost on the
    // way), gets that answer again; a new join with another key is refused.
    let key = |n: u128| RequestKey {
        owner: "addr:203.0.113.9".into(),
        key: uuid::Uuid::from_u128(n).hyphenated().to_string(),
        fingerprint: "POST /api/v1/queue/join {}".into(),
    };
    let queue = &world.platform().queue;
    let reopened = world.general(100, 1.0).await;
    let KeyedAnswer::Fresh(first) = queue
        .join_keyed(&reopened.event_id, None, &key(41), None)
        .await
        .unwrap()
    else {
        panic!("a first join is fresh")
    };
    change(&world, &reopened.event_id, SaleChange::Close).await;
    match queue
        .join_keyed(&reopened.event_id, None, &key(41), None)
        .await
    {
        Ok(KeyedAnswer::Replay(again)) => assert_eq!(again, first),
        other => panic!("the retry replays its answer: {other:?}"),
    }
    assert!(matches!(
        queue
            .join_keyed(&reopened.event_id, None, &key(42), None)
            .await,
        Err(Error::SaleClosed)
    ));
    // A closed sale stays closed.
    assert!(matches!(
        world
            .platform()
            .sales
            .change(&event.event_id, &operator(), SaleChange::Resume)
            .await,
        Err(Error::SaleClosed)
    ));
    let paid = world.pay(&buyer, &hold, Scenario::Approve).await;
    world
        .platform()
        .reservations
        .confirm(&hold.reservation_id, &paid.payment_intent_id, Some(&buyer))
        .await
        .unwrap();
    assert_eq!(world.inventory(&event.event_id).await.sold, 1);
    world.ledger(&event.event_id).await;
}

#[tokio::test]
async fn only_administrators_act_and_every_action_is_audited_over_http() {
    let world = World::with_config(|config| {
        config.admin_password = Some("operator password".into());
    });
    let event = world.general(50, 5.0).await;
    let id = event.event_id.as_str();
    let (status, login) = world
        .call(
            "POST",
            "/api/v1/auth/login",
            &[],
            Some(json!({"username": "admin", "password": "operator password"})),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    let admin = format!("Bearer {}", login["token"].as_str().unwrap());
    let (_, buyer) = world
        .call(
            "POST",
            "/api/v1/auth/register",
            &[],
            Some(json!({"username": "mallory", "password": "not an operator"})),
        )
        .await;
    let buyer = format!("Bearer {}", buyer["token"].as_str().unwrap());

    let pause = format!("/api/v1/admin/events/{id}/pause");
    let (status, body) = world.call("POST", &pause, &[], None).await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (401, Some("MISSING_AUTHORIZATION"))
    );
    let (status, body) = world
        .call("POST", &pause, &[("authorization", &buyer)], None)
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN"))
    );
    let (status, body) = world
        .call(
            "POST",
            "/api/v1/admin/events/evt_nope/pause",
            &[("authorization", &admin)],
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (404, Some("EVENT_NOT_FOUND"))
    );

    let (status, body) = world
        .call("POST", &pause, &[("authorization", &admin)], None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "paused");
    let patch = format!("/api/v1/admin/events/{id}");
    let (status, body) = world
        .call(
            "PATCH",
            &patch,
            &[("authorization", &admin)],
            Some(json!({"hold_seconds": 5})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );
    let (status, body) = world
        .call(
            "PATCH",
            &patch,
            &[("authorization", &admin)],
            Some(json!({"admission_rate_per_sec": 12.5, "hold_seconds": 90})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["admission_rate_per_sec"].as_f64(),
            body["hold_seconds"].as_u64()
        ),
        (Some(12.5), Some(90))
    );
    let (status, _) = world
        .call(
            "POST",
            &format!("/api/v1/admin/events/{id}/close"),
            &[("authorization", &admin)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = world
        .call(
            "POST",
            &format!("/api/v1/admin/events/{id}/resume"),
            &[("authorization", &admin)],
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (409, Some("SALE_CLOSED"))
    );

    // The event shows its sale; the audit log shows who did what, newest first.
    let (_, shown) = world
        .call("GET", &format!("/api/v1/events/{id}"), &[], None)
        .await;
    assert_eq!(shown["sale"]["state"], "closed");
    assert_eq!(shown["admission_rate_per_sec"], 12.5);
    let audit = format!("/api/v1/admin/audit?event_id={id}");
    let (status, _) = world
        .call("GET", &audit, &[("authorization", &buyer)], None)
        .await;
    assert_eq!(status, 403);
    let (status, log) = world
        .call("GET", &audit, &[("authorization", &admin)], None)
        .await;
    assert_eq!(status, 200, "{log}");
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["close", "update", "pause"]);
    let update = &log["entries"][1];
    assert_eq!(update["before"]["hold_seconds"], 60);
    assert_eq!(update["after"]["hold_seconds"], 90);
    assert_eq!(update["actor"].as_str(), login["user_id"].as_str());
    assert_eq!(
        world
            .platform()
            .sales
            .current(&world.platform().catalog.get(&event.event_id).await.unwrap())
            .await
            .unwrap()
            .state,
        SaleState::Closed
    );
}

/// The proof of work of `challenge` (as `GET /queue/challenge` answered it) for a join keyed
/// `key`, found by counting up as a client does ([`challenge::solve`]).
fn solve(answered: &serde_json::Value, key: &str) -> String {
    let issued = challenge::Challenge {
        challenge: answered["challenge"].as_str().unwrap().to_string(),
        bits: answered["bits"].as_u64().unwrap() as u32,
        expires_at: answered["expires_at"].as_str().unwrap().parse().unwrap(),
        algorithm: "sha256",
    };
    challenge::solve(&issued, key).solution
}

#[tokio::test]
async fn an_event_asking_for_proof_of_work_admits_only_joins_that_carry_it() {
    let world = World::new();
    let event = world.general(50, 5.0).await;
    let id = event.event_id.as_str();
    let challenge_uri = format!("/api/v1/queue/challenge?event_id={id}");
    let join = |key: &str, body: serde_json::Value| {
        let key = key.to_string();
        let world = &world;
        async move {
            world
                .call(
                    "POST",
                    "/api/v1/queue/join",
                    &[("idempotency-key", &key)],
                    Some(body),
                )
                .await
        }
    };

    // Off by default: no work asked, none needed.
    let (status, off) = world.call("GET", &challenge_uri, &[], None).await;
    assert_eq!(
        (status.as_u16(), off["bits"].as_u64()),
        (200, Some(0)),
        "{off}"
    );
    let (status, _) = join(&uuid(), json!({"event_id": id})).await;
    assert_eq!(status, 202);

    change(&world, &event.event_id, settings(None, None, Some(10))).await;
    let (status, body) = join(&uuid(), json!({"event_id": id})).await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (428, Some("CHALLENGE_REQUIRED")),
        "{body}"
    );

    let (_, challenge) = world.call("GET", &challenge_uri, &[], None).await;
    assert_eq!(challenge["bits"], 10, "{challenge}");
    let key = uuid();
    let solution = solve(&challenge, &key);
    let body = json!({"event_id": id, "challenge": challenge["challenge"], "solution": solution});
    let (status, first) = join(&key, body.clone()).await;
    assert_eq!(status, 202, "{first}");

    // The same work for another place in line is refused; so is made-up work.
    let other_key = (0..)
        .map(|_| uuid())
        .find(|k| {
            tacos_core::domain::queue::challenge::leading_zero_bits(
                challenge["challenge"].as_str().unwrap(),
                k,
                &solution,
            ) < 10
        })
        .unwrap();
    let (status, _) = join(&other_key, body.clone()).await;
    assert_eq!(status, 428);
    let forged = json!({"event_id": id, "challenge": "c1.0.1.00.00", "solution": "1"});
    let (status, _) = join(&uuid(), forged).await;
    assert_eq!(status, 428);

    // Past its lifetime the challenge is refused for a new join, but the retry of the join it
    // let in still answers as the first time did.
    world.advance(601.0);
    let (status, _) = join(&uuid(), body.clone()).await;
    assert_eq!(status, 428);
    let (status, replay) = join(&key, body).await;
    assert_eq!((status.as_u16(), &replay), (202, &first));

    // The operator makes it harder: earlier challenges no longer do.
    let (_, fresh) = world.call("GET", &challenge_uri, &[], None).await;
    change(&world, &event.event_id, settings(None, None, Some(12))).await;
    let key = uuid();
    let easy =
        json!({"event_id": id, "challenge": fresh["challenge"], "solution": solve(&fresh, &key)});
    let (status, body) = join(&key, easy).await;
    assert_eq!(status, 428, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("harder"),
        "{body}"
    );
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Ops probe, item 9: a closed sale's line counts nobody waiting in the `queue_length` gauge
/// (every status there says `closed`: nobody can be admitted any more); it kept showing the 20
/// people who had been waiting, a stuck line on the dashboard for every closed event.
#[tokio::test]
async fn a_closed_sale_counts_nobody_waiting() {
    let world = World::new();
    let event = world.general(100, 1.0).await;
    let tokens = join_many(&world, &event.event_id, 20).await;
    world.advance(2.0);
    statuses(&world, &tokens).await;
    let queue = &world.platform().queue;
    let open = queue.gauge(&event.event_id).await.unwrap();
    assert!((15..20).contains(&open.waiting), "{open:?}");
    change(&world, &event.event_id, SaleChange::Close).await;
    let closed = queue.gauge(&event.event_id).await.unwrap();
    assert_eq!(closed.waiting, 0, "{closed:?}");
    assert_eq!(closed.admitted, open.admitted, "{closed:?}");
}
