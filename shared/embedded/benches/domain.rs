//! Criterion benchmarks of the domain's hot functions: `cargo bench -p tacos-embedded --bench domain`.
//!
//! Each runs on the in-process adapters (`InProcess`) with a manual clock, so a run measures our
//! code (domain, items, memory store, HTTP middleware) and nothing else: no network, no sleeping.
//! Groups:
//!
//! * `queue`: join and status through `Platform`, and the same two through the whole router
//!   (trace ids, idempotency, JSON) as the embedded server serves them.
//! * `reserve`: join → admit → enter → hold of one general-admission ticket.
//! * `availability`: a 10,000-seat venue's availability as JSON: read from the store every time
//!   (as on AWS), kept and unchanged, and kept but changed by one seat since the last read.
//! * `tokens`: reservation-token issue and verify, access-token (JWT) verify, webhook signatures.
//! * `challenge`: a join's proof of work (issue 16, item 5): issuing a challenge, checking a
//!   solved one (what the server pays per join), and solving one of 18 bits (what a client pays;
//!   the web app's own solver is timed in the browser, docs/web-app.md).
//! * `outlook`: the wait a status predicts, with stock to spare, at a sale's end, and far beyond
//!   the stock while few buy (the flow followed for hundreds of cycles: BENCHMARKS §12.3).
//! * `items`: records to store items and back.
//! * `ids`: identifier generation and parsing.
//!
//! Measurement is kept short (the whole suite runs in about a minute); `cargo test --all-targets`
//! runs each benchmark once, as a smoke test.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use tacos_core::config::Config;
use tacos_core::domain::auth::{AccessTokens, Principal, Role, UserRecord};
use tacos_core::domain::catalog::{seat_key, NewEvent, Section};
use tacos_core::domain::queue::challenge::{solve, JoinChallenges};
use tacos_core::domain::queue::draw::{permute, Draw, Seeds};
use tacos_core::domain::queue::outlook::{Admitted, LineFacts, Returning};
use tacos_core::domain::queue::{TicketState, WaitingRecord};
use tacos_core::domain::records::{from_item, to_item, to_text};
use tacos_core::domain::request_keys::KeyStamp;
use tacos_core::domain::reservation_tokens::ReservationTokens;
use tacos_core::domain::reservations::{HoldRequest, Reservation};
use tacos_core::domain::webhook_signature::WebhookSigner;
use tacos_core::ids::{EventId, ReservationId, SeatId, UserId, WaitingToken};
use tacos_core::in_process::StaticKeys;
use tacos_core::ports::store::{Key, Update};
use tacos_core::ports::ManualClock;
use tacos_core::ports::Store;
use tacos_embedded::InProcess;
use tacos_http::settings::HttpSettings;
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// People already in line when status is measured (the measured ticket is in the middle).
const LINE: usize = 1_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A platform on in-process adapters whose clock moves only when told to.
fn platform() -> (InProcess, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    (
        InProcess::with_clock(Config::for_tests(), clock.clone()),
        clock,
    )
}

/// A general-admission event as big as the catalog allows; `rate` people admitted per second.
async fn general_admission(local: &InProcess, rate: f64) -> EventId {
    let new = NewEvent {
        name: "Bench night".into(),
        venue: "Bench hall".into(),
        starts_at: Utc::now() + chrono::Duration::days(1),
        currency: "USD".into(),
        price: 1_500,
        sections: None,
        capacity: Some(1_000_000),
        admission_rate_per_sec: rate,
        max_per_order: 4,
        event_id: None,
        on_sale_at: None,
    };
    local
        .platform
        .catalog
        .create(new)
        .await
        .expect("event")
        .event_id
}

/// A venue of 10,000 seats in four sections of 25 rows by 100.
async fn arena(local: &InProcess) -> EventId {
    let sections = ["A", "B", "C", "D"]
        .iter()
        .map(|name| Section::straight(name, 25, 100))
        .collect();
    let new = NewEvent {
        name: "Bench arena".into(),
        venue: "Bench arena".into(),
        starts_at: Utc::now() + chrono::Duration::days(1),
        currency: "USD".into(),
        price: 1_500,
        sections: Some(sections),
        capacity: None,
        admission_rate_per_sec: 100.0,
        max_per_order: 4,
        event_id: None,
        on_sale_at: None,
    };
    let event = local.platform.catalog.create(new).await.expect("event");
    event.event_id
}

fn availability(c: &mut Criterion) {
    let rt = runtime();
    let (local, _) = platform();
    let board = &local.platform.availability;
    let event = rt.block_on(arena(&local));
    let seat: SeatId = "B-1234".parse().expect("seat");
    let mut held = false;
    let mut group = c.benchmark_group("availability");
    group.bench_function("from_store_10k_seats", |b| {
        b.iter(|| {
            rt.block_on(async {
                let read = board.from_store(&event).await.expect("read");
                serde_json::to_vec(&read).expect("json")
            })
        })
    });
    group.bench_function("kept_10k_seats", |b| {
        b.iter(|| rt.block_on(async { board.read(&event).await.expect("read").json() }))
    });
    group.bench_function("kept_10k_seats_after_a_change", |b| {
        b.iter(|| {
            rt.block_on(async {
                held = !held;
                let status = if held { "HELD" } else { "AVAILABLE" };
                let flip = Update::new(seat_key(&event, &seat)).set("status", status);
                local.store.update(flip).await.expect("seat");
                board.read(&event).await.expect("read").json()
            })
        })
    });
    group.finish();
}

fn buyer() -> Principal {
    Principal {
        user_id: UserId::generate(),
        role: Role::User,
    }
}

fn queue(c: &mut Criterion) {
    let rt = runtime();
    let (local, _clock) = platform();
    let event = rt.block_on(general_admission(&local, 50.0));
    let queue = &local.platform.queue;
    let mut tokens = Vec::with_capacity(LINE);
    for _ in 0..LINE {
        let joined = rt.block_on(queue.join(&event, None)).expect("join");
        tokens.push(joined.waiting_token);
    }
    let middle = tokens[LINE / 2].clone();

    let mut group = c.benchmark_group("queue");
    group.bench_function("join", |b| {
        b.iter(|| {
            rt.block_on(queue.join(black_box(&event), None))
                .expect("join")
        })
    });
    group.bench_function("status", |b| {
        b.iter(|| {
            let status = rt
                .block_on(queue.status(black_box(&middle)))
                .expect("status");
            assert!(status.position > 0);
            status
        })
    });

    // The same two as the embedded server serves them: the whole router and its middleware.
    // The benchmarks call from one (unknown) address far faster than any caller may.
    let settings = HttpSettings {
        rate_limit: None,
        ..HttpSettings::defaults()
    };
    let app = tacos_http::router(local.platform.clone(), &settings);
    let join_body = format!("{{\"event_id\":\"{event}\"}}");
    group.bench_function("http_join", |b| {
        b.iter(|| {
            let request = Request::post("/api/v1/queue/join")
                .header("content-type", "application/json")
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .body(Body::from(join_body.clone()))
                .expect("request");
            let response = rt.block_on(app.clone().oneshot(request)).expect("response");
            assert_eq!(response.status(), 202);
            response
        })
    });
    let status_uri = format!("/api/v1/queue/status?token={middle}");
    group.bench_function("http_status", |b| {
        b.iter(|| {
            let request = Request::get(status_uri.as_str())
                .body(Body::empty())
                .expect("request");
            let response = rt.block_on(app.clone().oneshot(request)).expect("response");
            assert_eq!(response.status(), 200);
            response
        })
    });
    group.finish();
}

fn reserve(c: &mut Criterion) {
    let rt = runtime();
    let (local, clock) = platform();
    let platform = &local.platform;
    let mut event = rt.block_on(general_admission(&local, 1_000.0));
    let mut sold = 0;
    let mut group = c.benchmark_group("reserve");
    group.bench_function("join_enter_hold_ga", |b| {
        b.iter(|| {
            if sold == 900_000 {
                event = rt.block_on(general_admission(&local, 1_000.0));
                sold = 0;
            }
            sold += 1;
            rt.block_on(async {
                let joined = platform.queue.join(&event, None).await.expect("join");
                // Past the advance interval and every earlier admission batch's minute, so each
                // iteration admits exactly its own buyer and scans no older batch.
                clock.advance(chrono::Duration::seconds(61));
                let buyer = buyer();
                let admission = platform
                    .queue
                    .enter(&joined.waiting_token, Some(buyer.user_id.clone()))
                    .await
                    .expect("enter");
                let request = HoldRequest {
                    event_id: event.clone(),
                    seat_ids: None,
                    quantity: Some(1),
                    reservation_token: admission.reservation_token,
                };
                platform
                    .reservations
                    .hold(&buyer, request)
                    .await
                    .expect("hold")
            })
        })
    });
    group.finish();
}

fn tokens(c: &mut Criterion) {
    let rt = runtime();
    let config = Config::for_tests();
    let now = Utc::now();
    let (event, user, waiting) = (
        EventId::generate(),
        UserId::generate(),
        WaitingToken::generate(),
    );
    let reservation_tokens = ReservationTokens::new(&config.jwt_secret);
    let token = reservation_tokens.issue(&event, &user, &waiting, 7, now);
    let access = AccessTokens::new(&config, Arc::new(StaticKeys::default()));
    let record = UserRecord {
        user_id: user.clone(),
        username: "bench".into(),
        password_hash: String::new(),
        role: Role::User,
        email: None,
        display_name: "Bench".into(),
        created_at: now,
    };
    let jwt = access.issue(&record.principal(), now);
    let signer = WebhookSigner::new(&config.webhook_secret);
    let body = r#"{"event":"payment.approved","payment_intent_id":"pi_0123456789abcdef0123456789abcdef","reservation_id":"rsv_0123456789abcdef0123456789abcdef","amount":4500,"currency":"USD"}"#;
    let headers = signer.sign("wh_0123456789abcdef", now.timestamp(), body);

    let mut group = c.benchmark_group("tokens");
    group.bench_function("reservation_issue", |b| {
        b.iter(|| reservation_tokens.issue(black_box(&event), &user, &waiting, 7, now))
    });
    group.bench_function("reservation_verify", |b| {
        b.iter(|| {
            reservation_tokens
                .verify(black_box(&token), &event, &user, now)
                .expect("valid")
        })
    });
    group.bench_function("access_verify", |b| {
        b.iter(|| rt.block_on(access.verify(black_box(&jwt))).expect("valid"))
    });
    group.bench_function("webhook_verify", |b| {
        b.iter(|| {
            signer
                .verify(black_box(&headers), body.as_bytes(), now.timestamp())
                .expect("valid")
        })
    });
    group.finish();
}

/// The lobby draw: placing one lobby ticket among 100,000 (what every status of a lobby ticket
/// pays after the opening, instead of a write per person at it).
fn draw(c: &mut Criterion) {
    let seed = Seeds::new("bench secret").of(&"evt_bench".parse().expect("id"));
    let draw = Draw::new(seed.clone(), vec![1_563; 64], 0);
    let mut group = c.benchmark_group("draw");
    let mut rank = 0u64;
    group.bench_function("permute_of_100k", |b| {
        b.iter(|| {
            rank = (rank + 7_919) % 100_000;
            permute(&seed, 100_000, black_box(rank))
        })
    });
    let mut lobby = 0u64;
    group.bench_function("place_of_100k_64_counters", |b| {
        b.iter(|| {
            lobby = (lobby + 7_919) % 100_000;
            draw.place(black_box(lobby))
        })
    });
    group.finish();
}

/// The wait a status predicts (`queue::outlook`): with stock to spare (a division), and at the
/// end of a sale, where the places coming back are followed second by second; the worst case is
/// someone far beyond the stock when half the admitted do not buy (the flow runs until it dies
/// out, to tell them they will likely miss out).
fn outlook(c: &mut Criterion) {
    let returning = Returning {
        over: std::array::from_fn(|second| (second % 7) as f64),
        entering: std::array::from_fn(|second| Admitted {
            admitted: 10.0,
            open: (second % 10) as f64,
        }),
        took: Some(0.5),
    };
    let facts = |position, available, open| LineFacts {
        position,
        rate: 25.0,
        available,
        held: 300,
        open,
        sold: 1_500,
        admitted: 2_400,
        returning: Some(&returning),
    };
    let mut group = c.benchmark_group("outlook");
    group.bench_function("stock_to_spare", |b| {
        b.iter(|| black_box(facts(black_box(900), 10_000, 100)).outlook())
    });
    group.bench_function("places_coming_back", |b| {
        b.iter(|| black_box(facts(black_box(120), 200, 200)).outlook())
    });
    group.bench_function("far_beyond_the_stock", |b| {
        b.iter(|| black_box(facts(black_box(5_000), 200, 200)).outlook())
    });
    // The first minute of an on-sale: hundreds admitted, nobody has held yet, so the measured
    // share who buy is its floor and nearly every place is expected back, cycle after cycle.
    let first_minute = LineFacts {
        position: 30_000,
        rate: 25.0,
        available: 2_000,
        held: 0,
        open: 1_500,
        sold: 0,
        admitted: 1_500,
        returning: None,
    };
    group.bench_function("far_beyond_before_anyone_bought", |b| {
        b.iter(|| black_box(first_minute).outlook())
    });
    // The same after the operator slowed admission: more places come back in a cycle than it
    // admits, so free places pile up and are admitted at the rate, second after second.
    group.bench_function("far_beyond_after_slowing", |b| {
        b.iter(|| {
            black_box(LineFacts {
                rate: 8.0,
                ..first_minute
            })
            .outlook()
        })
    });
    // The recent admissions all still open (none held yet): every place is expected back.
    let none_took = Returning {
        took: Some(0.0),
        ..returning.clone()
    };
    group.bench_function("far_beyond_when_none_took", |b| {
        b.iter(|| {
            black_box(LineFacts {
                returning: Some(&none_took),
                ..first_minute
            })
            .outlook()
        })
    });
    group.finish();
}

fn challenge(c: &mut Criterion) {
    let challenges = JoinChallenges::new("bench secret");
    let event: EventId = "evt_bench".parse().expect("id");
    let owner = "addr:203.0.113.7";
    let key = "0b6f2c1e-9b1a-4a47-8f57-3f0c7b4a2f10";
    let now = Utc::now();
    let issued = challenges.issue(&event, owner, 18, now);
    let answer = solve(&issued, key);
    let mut group = c.benchmark_group("challenge");
    group.bench_function("issue", |b| {
        b.iter(|| challenges.issue(black_box(&event), owner, 18, now))
    });
    group.bench_function("check_18_bits", |b| {
        b.iter(|| {
            challenges
                .check(&event, owner, key, 18, Some(black_box(&answer)), now)
                .expect("solved")
        })
    });
    group.sample_size(10);
    group.bench_function("solve_18_bits", |b| {
        let mut n = 0u64;
        b.iter(|| {
            // A fresh key each time: each solve is a new search, about 2^18 hashes on average.
            n += 1;
            solve(&issued, &format!("{key}-{n}"))
        })
    });
    group.finish();
}

fn items(c: &mut Criterion) {
    let now = Utc::now();
    let ticket = WaitingRecord {
        token: WaitingToken::generate(),
        event_id: EventId::generate(),
        order: 123_456,
        lobby: false,
        user_id: Some(UserId::generate()),
        state: TicketState::Waiting,
        joined_at: now,
        expires_at: now.timestamp() + 6 * 3600,
        stamp: None,
        entry: None,
    };
    let key = Key::new(format!("WTKN#{}", ticket.token), "WTKN");
    let ticket_item = to_item(&key, &ticket);
    let reservation: Reservation = serde_json::from_value(serde_json::json!({
        "reservation_id": ReservationId::generate(),
        "status": "HOLD",
        "event_id": ticket.event_id,
        "seat_ids": ["A-1", "A-2"],
        "quantity": 2,
        "user_id": UserId::generate(),
        "total_amount": 9_000,
        "currency": "USD",
        "hold_expires_at": now,
        "order_id": null,
        "payment_intent_id": null,
        "created_at": now,
        "hold_expires_at_ms": now.timestamp_millis(),
    }))
    .expect("reservation");
    let reservation_key = Key::new(format!("RSV#{}", reservation.reservation_id), "RSV");
    let reservation_item = to_item(&reservation_key, &reservation);

    // A keyed join's ticket, as every join of the contract writes it: with its answer kept.
    let stamped = WaitingRecord {
        stamp: Some(KeyStamp {
            fingerprint: "3f9a1c0d5e7b2a4c6e8f0a1b3c5d7e9f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d".into(),
            response: format!(
                r#"{{"waiting_token":"{}","position_hint":1234,"status":"waiting"}}"#,
                ticket.token
            ),
        }),
        ..ticket.clone()
    };

    let mut group = c.benchmark_group("items");
    group.bench_function("ticket_to_item", |b| {
        b.iter(|| to_item(&key, black_box(&ticket)))
    });
    // What a join's ticket write cost before the store got it as text (its attributes, then
    // their JSON), and what it costs as text (BENCHMARKS §8.16).
    group.bench_function("stamped_ticket_to_item_then_json", |b| {
        b.iter(|| serde_json::to_string(&to_item(&key, black_box(&stamped))).expect("json"))
    });
    group.bench_function("stamped_ticket_to_text", |b| {
        b.iter(|| to_text(&key, black_box(&stamped)).expect("text"))
    });
    group.bench_function("ticket_from_item", |b| {
        b.iter(|| from_item::<WaitingRecord>(black_box(ticket_item.clone())).expect("ticket"))
    });
    group.bench_function("reservation_to_item", |b| {
        b.iter(|| to_item(&reservation_key, black_box(&reservation)))
    });
    group.bench_function("reservation_from_item", |b| {
        b.iter(|| {
            from_item::<Reservation>(black_box(reservation_item.clone())).expect("reservation")
        })
    });
    group.finish();
}

fn ids(c: &mut Criterion) {
    let raw = WaitingToken::generate().to_string();
    let mut group = c.benchmark_group("ids");
    group.bench_function("generate", |b| b.iter(ReservationId::generate));
    group.bench_function("parse", |b| {
        b.iter(|| black_box(raw.as_str()).parse::<WaitingToken>().expect("id"))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = queue, reserve, availability, tokens, challenge, draw, outlook, items, ids
}
criterion_main!(benches);
