//! Zero oversell under a rush.
//!
//! Proves the platform's central promise: when 500 registered buyers rush an event with exactly 20
//! seats, each going through the waiting room, picking seats at random among those shown available
//! (so they collide), retrying after `SEAT_UNAVAILABLE`/`INSUFFICIENT_INVENTORY`, and paying, then
//! exactly 20 seats end SOLD in exactly 20 distinct confirmed reservations, no seat belongs to two
//! confirmed reservations, the availability counts add up, and every other buyer is told
//! `sold_out: true` instead of waiting forever. Also: two admitted buyers who reserve the same
//! seat at the same instant get exactly one 201 and one 409 `SEAT_UNAVAILABLE`; and 120 buyers
//! asking for 1–4 general-admission tickets each confirm exactly the capacity, never more.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};
use std::sync::Mutex;
use tokio::sync::{Barrier, Semaphore};

use crate::client::*;

const BUYERS: usize = 500;
const SEATS: i64 = 20;

#[derive(Debug)]
enum Outcome {
    Confirmed {
        reservation_id: String,
        seats: Vec<String>,
        quantity: i64,
        user: User,
    },
    SoldOut,
    GaveUp(String),
}

#[derive(Default)]
struct Log {
    /// Responses no buyer should ever see in this scenario.
    unexpected: Vec<String>,
    seat_conflicts: usize,
    rejoins: usize,
    /// The longest a join took to answer: how close the rush came to the client's timeout.
    slowest_join: Duration,
}

fn note(log: &Mutex<Log>, what: &str, r: &Resp) {
    log.lock()
        .unwrap()
        .unexpected
        .push(format!("{what}: {} {} {}", r.what, r.status, r.text()));
}

async fn jitter_sleep(min_ms: u64, max_ms: u64) {
    tokio::time::sleep(Duration::from_millis(
        min_ms + rand_u64() % (max_ms - min_ms + 1),
    ))
    .await;
}

/// One buyer, as a real client would behave.
async fn buyer(
    api: Arc<Api>,
    user: User,
    event_id: String,
    seated: bool,
    deadline: Instant,
    log: Arc<Mutex<Log>>,
) -> Outcome {
    'journey: loop {
        if Instant::now() > deadline {
            return Outcome::GaveUp("deadline before admission".into());
        }
        let asked = Instant::now();
        let r = api.join_raw(&event_id, Some(&user)).await;
        {
            let mut log = log.lock().unwrap();
            log.slowest_join = log.slowest_join.max(asked.elapsed());
        }
        if r.code() != 202 {
            note(&log, "join", &r);
            jitter_sleep(200, 500).await;
            continue;
        }
        let wtkn = str_of(&r.json, "waiting_token").to_string();

        // Poll the status every 200–500 ms.
        loop {
            if Instant::now() > deadline {
                return Outcome::GaveUp(format!("still waiting with {wtkn}"));
            }
            let r = api.status_raw(&wtkn).await;
            if r.code() != 200 {
                note(&log, "status", &r);
                jitter_sleep(200, 500).await;
                continue;
            }
            let s = &r.json;
            if s["sold_out"] == true {
                return Outcome::SoldOut;
            }
            if s["ready_for_entry"] == true {
                break;
            }
            if s["status"] == "expired" {
                log.lock().unwrap().rejoins += 1;
                continue 'journey;
            }
            jitter_sleep(200, 500).await;
        }

        let r = api.enter_raw(&wtkn, Some(&user)).await;
        if r.code() != 200 {
            if r.error_code() != Some("TOKEN_EXPIRED") {
                note(&log, "enter", &r);
            }
            log.lock().unwrap().rejoins += 1;
            continue 'journey;
        }
        let rtkn = str_of(&r.json, "reservation_token").to_string();
        let ttl = r.json["ttl_sec"].as_u64().unwrap_or(30);
        let token_deadline = Instant::now() + Duration::from_secs(ttl);

        // Pick a random available seat; retry with fresh availability after losing a race.
        let rsv = loop {
            if Instant::now() > token_deadline {
                log.lock().unwrap().rejoins += 1;
                continue 'journey;
            }
            let av = api
                .get(&format!("/events/{event_id}/availability"))
                .send()
                .await;
            if av.code() != 200 {
                note(&log, "availability", &av);
                jitter_sleep(100, 300).await;
                continue;
            }
            let available = av.json["available"].as_i64().unwrap_or(0);
            if available == 0 {
                if av.json["held"] == 0 {
                    return Outcome::SoldOut;
                }
                jitter_sleep(200, 400).await;
                continue;
            }
            let r = if seated {
                let free: Vec<String> = av.json["seats"]
                    .as_array()
                    .map(|s| {
                        s.iter()
                            .filter(|x| x["status"] == "AVAILABLE")
                            .filter_map(|x| x["seat_id"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if free.is_empty() {
                    jitter_sleep(200, 400).await;
                    continue;
                }
                let seat = free[rand_below(free.len())].clone();
                api.reserve_seats(&user, &event_id, &[seat.as_str()], &rtkn)
                    .await
            } else {
                // 1 to 4 tickets, no more than shown available (someone may take them first).
                let want = (1 + rand_below(4) as i64).min(available);
                api.reserve_qty(&user, &event_id, want as u32, &rtkn).await
            };
            match (r.code(), r.error_code()) {
                (201, _) => break r.json,
                (409, Some("SEAT_UNAVAILABLE")) | (409, Some("INSUFFICIENT_INVENTORY")) => {
                    log.lock().unwrap().seat_conflicts += 1;
                }
                (403, Some("INVALID_RESERVATION_TOKEN"))
                    if Instant::now() + Duration::from_secs(2) > token_deadline =>
                {
                    log.lock().unwrap().rejoins += 1;
                    continue 'journey;
                }
                _ => {
                    note(&log, "reserve", &r);
                    continue 'journey;
                }
            }
        };
        let rsv_id = str_of(&rsv, "reservation_id").to_string();

        // Pay at once with approval.
        let body = json!({"reservation_id": rsv_id, "amount": rsv["total_amount"], "currency": rsv["currency"]});
        let r = api.intent_raw(&user, &body).await;
        if r.code() != 200 {
            note(&log, "intent", &r);
            continue 'journey;
        }
        let pi = str_of(&r.json, "payment_intent_id").to_string();
        let r = api.process_raw(&user, &pi, Some("approve")).await;
        if r.code() != 200 {
            note(&log, "process", &r);
        }

        // Wait for the webhook to confirm.
        let wait_until = Instant::now() + Duration::from_secs(20);
        loop {
            let r = api.reservation_raw(&user, &rsv_id).await;
            if r.code() != 200 {
                note(&log, "get reservation", &r);
            } else {
                match r.json["status"].as_str() {
                    Some("CONFIRMED") => {
                        return Outcome::Confirmed {
                            reservation_id: rsv_id,
                            seats: seat_ids(&r.json),
                            quantity: r.json["quantity"].as_i64().unwrap_or(0),
                            user,
                        }
                    }
                    Some("HOLD") => {}
                    // The hold ran out before the approval arrived: try again from the queue.
                    Some("EXPIRED") | Some("CANCELLED") => {
                        log.lock().unwrap().rejoins += 1;
                        continue 'journey;
                    }
                    _ => note(&log, "reservation status", &r),
                }
            }
            if Instant::now() > wait_until {
                return Outcome::GaveUp(format!(
                    "{rsv_id} never left HOLD after an approved payment"
                ));
            }
            jitter_sleep(200, 400).await;
        }
    }
}

/// Registers `n` buyers, a few at a time: password hashing is deliberately slow and CPU-bound, so
/// more in parallel would not finish sooner, only starve every other test's requests.
async fn register_many(api: &Arc<Api>, n: usize) -> Vec<User> {
    let sem = Arc::new(Semaphore::new(4));
    join_all((0..n).map(|_| {
        let api = api.clone();
        let sem = sem.clone();
        async move {
            let _p = sem.acquire_owned().await.unwrap();
            api.register().await
        }
    }))
    .await
}

/// Every buyer either bought or was told `sold_out`, and nobody saw a response outside the
/// scenario.
fn assert_every_buyer_answered(gave_up: &[String], log: &Log) {
    assert!(
        gave_up.is_empty(),
        "{} buyers were never told sold_out: {:?}",
        gave_up.len(),
        &gave_up[..gave_up.len().min(5)]
    );
    assert!(
        log.unexpected.is_empty(),
        "{} unexpected responses, e.g. {:?}",
        log.unexpected.len(),
        &log.unexpected[..log.unexpected.len().min(5)]
    );
}

/// Lets every buyer loose at once (deadline 50 s); their outcomes and the log.
async fn rush(
    api: &Arc<Api>,
    users: Vec<User>,
    event_id: &str,
    seated: bool,
) -> (Vec<Outcome>, Log) {
    let log = Arc::new(Mutex::new(Log::default()));
    let deadline = Instant::now() + Duration::from_secs(50);
    let tasks: Vec<_> = users
        .into_iter()
        .map(|u| {
            tokio::spawn(buyer(
                api.clone(),
                u,
                event_id.to_string(),
                seated,
                deadline,
                log.clone(),
            ))
        })
        .collect();
    let outcomes = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("buyer task"))
        .collect();
    let log = std::mem::take(&mut *log.lock().unwrap());
    (outcomes, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_buyers_twenty_seats_exactly_twenty_sold() {
    let started = Instant::now();
    // Every buyer is a client of its own, as 500 browsers are: one cap on requests in flight shared
    // by all of them would queue one buyer's reservation behind the others' polls, which no
    // deployment does to its users.
    let api = Arc::new(Api::new());
    let event = api.seated_event(&[("A", 2, 10)], 3000, 500.0).await;
    let event_id = str_of(&event, "event_id").to_string();
    assert_eq!(event["total"], SEATS, "{event}");

    let users = register_many(&api, BUYERS).await;
    let registered = started.elapsed();

    let (outcomes, log) = rush(&api, users, &event_id, true).await;
    let rush_took = started.elapsed() - registered;
    eprintln!(
        "race: registered {BUYERS} in {registered:?}, rush took {rush_took:?}; slowest join {:?}; {} seat conflicts, {} rejoins, {} unexpected",
        log.slowest_join,
        log.seat_conflicts,
        log.rejoins,
        log.unexpected.len()
    );

    let mut confirmed = Vec::new();
    let mut gave_up = Vec::new();
    for o in &outcomes {
        match o {
            Outcome::Confirmed {
                reservation_id,
                seats,
                user,
                ..
            } => confirmed.push((reservation_id, seats, user)),
            Outcome::SoldOut => {}
            Outcome::GaveUp(why) => gave_up.push(why.clone()),
        }
    }

    // Exactly 20 distinct confirmed reservations, no seat twice.
    assert_eq!(
        confirmed.len() as i64,
        SEATS,
        "confirmed reservations (gave up: {gave_up:?})"
    );
    let ids: HashSet<&String> = confirmed.iter().map(|c| c.0).collect();
    assert_eq!(ids.len() as i64, SEATS, "distinct reservation ids");
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (rid, seats, _) in &confirmed {
        assert_eq!(
            seats.len(),
            1,
            "each buyer reserved one seat: {rid} {seats:?}"
        );
        for s in seats.iter() {
            if let Some(prev) = owner.insert(s.clone(), (*rid).clone()) {
                panic!("seat {s} is in two confirmed reservations: {prev} and {rid}");
            }
        }
    }
    assert_eq!(owner.len() as i64, SEATS);

    // Each confirmed reservation reads CONFIRMED with its own order.
    let mut orders = HashSet::new();
    for (rid, _, user) in &confirmed {
        let v: Value = api.reservation(user, rid).await;
        assert_eq!(v["status"], "CONFIRMED", "{v}");
        orders.insert(str_of(&v, "order_id").to_string());
    }
    assert_eq!(orders.len() as i64, SEATS, "distinct orders");

    // The event is sold out, and says so.
    let av = api.availability(&event_id).await;
    assert_eq!(counts(&av), (SEATS, 0, 0, SEATS), "{av}");
    for seat in owner.keys() {
        assert_eq!(seat_status(&av, seat), "SOLD");
    }

    assert_every_buyer_answered(&gave_up, &log);
    eprintln!("race: total {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_buyers_reserving_the_same_seat_at_once_one_wins() {
    let api = Arc::new(Api::new());
    let event = api.seated_event(&[("A", 2, 10)], 1000, 200.0).await;
    let event_id = str_of(&event, "event_id").to_string();

    for round in 1..=5 {
        let seat = format!("A-{round}");
        let (a, b) = tokio::join!(api.register(), api.register());
        let (ta, tb) = tokio::join!(api.admit(&event_id, &a), api.admit(&event_id, &b));
        let barrier = Arc::new(Barrier::new(2));
        let go = |user: User, rtkn: String| {
            let api = api.clone();
            let barrier = barrier.clone();
            let event_id = event_id.clone();
            let seat = seat.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                api.reserve_seats(&user, &event_id, &[seat.as_str()], &rtkn)
                    .await
            })
        };
        let (ra, rb) = tokio::join!(go(a.clone(), ta), go(b.clone(), tb));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let (winner, loser) = match (ra.code(), rb.code()) {
            (201, _) => (&ra, &rb),
            (_, 201) => (&rb, &ra),
            _ => panic!(
                "round {round}: nobody got {seat}: {} / {}",
                ra.text(),
                rb.text()
            ),
        };
        assert_eq!(winner.json["seat_ids"], json!([seat]), "{}", winner.text());
        let err = loser.expect_error(409, "SEAT_UNAVAILABLE");
        assert_eq!(
            err["seats"],
            json!([seat]),
            "SEAT_UNAVAILABLE names the seat: {}",
            loser.text()
        );
        assert!(
            str_of(&err, "message").contains(&seat),
            "message names the seat: {}",
            loser.text()
        );

        let av = api.availability(&event_id).await;
        assert_eq!(seat_status(&av, &seat), "HELD");
        let (_, _, held, _) = counts(&av);
        assert_eq!(
            held, 1,
            "one hold per round (the previous rounds' holds are cancelled): {av}"
        );

        // Free the seat holder's hold so rounds do not pile up.
        let winner_user = if ra.code() == 201 { &a } else { &b };
        api.cancel_delete(winner_user, str_of(&winner.json, "reservation_id"))
            .await
            .expect(200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn general_admission_rush_sells_exactly_the_capacity() {
    const CAPACITY: i64 = 30;
    let api = Arc::new(Api::with_limit(64));
    let event = api.ga_event(CAPACITY as u64, 2500, 500.0).await;
    let event_id = str_of(&event, "event_id").to_string();
    let users = register_many(&api, 120).await;
    let (outcomes, log) = rush(&api, users, &event_id, false).await;
    eprintln!(
        "ga race: slowest join {:?}; {} conflicts, {} rejoins, {} unexpected",
        log.slowest_join,
        log.seat_conflicts,
        log.rejoins,
        log.unexpected.len()
    );
    let mut sold_by_orders = 0;
    let mut ids = HashSet::new();
    let mut gave_up = Vec::new();
    for o in &outcomes {
        match o {
            Outcome::Confirmed {
                reservation_id,
                quantity,
                user,
                ..
            } => {
                assert!((1..=4).contains(quantity), "quantity {quantity}");
                assert!(
                    ids.insert(reservation_id.clone()),
                    "reservation {reservation_id} twice"
                );
                let v = api.reservation(user, reservation_id).await;
                assert_eq!(v["status"], "CONFIRMED", "{v}");
                assert_eq!(v["total_amount"], 2500 * quantity, "{v}");
                sold_by_orders += quantity;
            }
            Outcome::SoldOut => {}
            Outcome::GaveUp(why) => gave_up.push(why.clone()),
        }
    }
    assert_eq!(
        sold_by_orders, CAPACITY,
        "confirmed tickets must be exactly the capacity"
    );
    assert_eq!(
        counts(&api.availability(&event_id).await),
        (CAPACITY, 0, 0, CAPACITY)
    );
    assert_every_buyer_answered(&gave_up, &log);
}
