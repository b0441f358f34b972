//! The wait a status predicts, against the wait that followed (issue 16, item 4):
//! `cargo bench -p tacos-embedded --bench eta`.
//!
//! A simulated on-sale over the real waiting room, holds and payments (in-process adapters, a
//! manual clock moved a second at a time, so a run takes seconds and is the same every time for a
//! given seed). 5,000 people join a general-admission event of 2,000 places over the first 20
//! seconds; the operator changes the admission rate twice (10/s, then 25/s at 2 minutes, then
//! 8/s at 5 minutes); a fifth of the people abandon (stop asking at a random moment and never
//! come back); of those still there when admitted, most enter, hold one place and pay, some hold
//! and let the hold expire, some never enter. Everyone still waiting asks for their status every
//! 5 seconds.
//!
//! Each person's prediction is recorded at join and every 30 seconds after: `eta_sec`,
//! `eta_range_sec` and `likely_sold_out`, against when the person was in fact admitted (their
//! first `ready`). Printed: the median and p90 of the absolute percentage error of `eta_sec`
//! over the predictions of people who were admitted, the share of those whose actual wait fell
//! inside `eta_range_sec`, and how `likely_sold_out` fared for the people who were never
//! admitted and those who were. Abandoning people's predictions are left out (they were not
//! there to see the outcome).

use std::sync::Arc;

use chrono::{Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tacos_core::config::Config;
use tacos_core::domain::auth::{Principal, Role};
use tacos_core::domain::catalog::NewEvent;
use tacos_core::domain::payments::{IntentRequest, ProcessRequest, Scenario};
use tacos_core::domain::queue::QueueStatusKind;
use tacos_core::domain::reservations::HoldRequest;
use tacos_core::domain::sale::{SaleChange, SaleSettings};
use tacos_core::ids::{EventId, ReservationId, UserId, WaitingToken};
use tacos_core::ports::{JobHandler, ManualClock};
use tacos_embedded::InProcess;

const PEOPLE: usize = 5_000;
const PLACES: i64 = 2_000;
const ARRIVALS_SECS: u64 = 20;
const POLL_SECS: u64 = 5;
const PREDICT_EVERY_SECS: u64 = 30;
const LAST_SECOND: u64 = 1_800;
/// The admission rate from each second on.
const RATES: [(u64, f64); 3] = [(0, 10.0), (120, 25.0), (300, 8.0)];

/// The admission rates over time: [`RATES`], or `ETA_RATES` (`second:rate,…`, the first at 0),
/// to measure how much of the error the operator's changes make (`ETA_RATES=0:10`: none).
fn rates() -> Vec<(u64, f64)> {
    let Ok(spec) = std::env::var("ETA_RATES") else {
        return RATES.to_vec();
    };
    spec.split(',')
        .map(|pair| {
            let (at, rate) = pair.split_once(':').expect("ETA_RATES: second:rate,…");
            (
                at.trim().parse().expect("a second"),
                rate.trim().parse().expect("a rate"),
            )
        })
        .collect()
}

/// What a person does once admitted.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    /// Stops asking at this second (after joining) and never comes back.
    Abandon(u64),
    /// Enters after a few seconds, holds one place and pays a few seconds later.
    Buy,
    /// Enters and holds, then lets the hold expire.
    HoldAndWalkAway,
    /// Never enters.
    NeverEnter,
}

#[derive(Debug, Clone, Copy)]
struct Prediction {
    at: u64,
    eta: u64,
    range: [u64; 2],
    likely_sold_out: bool,
}

struct Person {
    joins_at: u64,
    plan: Plan,
    token: Option<WaitingToken>,
    principal: Principal,
    next_poll: u64,
    next_prediction: u64,
    predictions: Vec<Prediction>,
    admitted_at: Option<u64>,
    /// Second to enter, then to pay; the hold to pay.
    enter_at: Option<u64>,
    pay_at: Option<(u64, ReservationId)>,
    done: bool,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(simulate());
}

async fn simulate() {
    let mut rng = StdRng::seed_from_u64(16);
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut config = Config::for_tests();
    config.queue_view_ms = 250;
    config.queue_abandon_secs = 120;
    let local = InProcess::with_clock(config, clock.clone());
    let platform = local.platform.clone();
    let handler: Arc<dyn JobHandler> = platform.clone();
    let operator = Principal {
        user_id: "usr_operator".parse().expect("id"),
        role: Role::Admin,
    };
    let event = platform
        .catalog
        .create(NewEvent {
            name: "Simulated on-sale".into(),
            venue: "Hall".into(),
            starts_at: Utc::now() + Duration::days(30),
            currency: "USD".into(),
            price: 5_000,
            sections: None,
            capacity: Some(PLACES),
            admission_rate_per_sec: rates()[0].1,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .expect("event");
    let id: EventId = event.event_id.clone();

    let mut people: Vec<Person> = (0..PEOPLE)
        .map(|_| {
            let joins_at = rng.gen_range(0..ARRIVALS_SECS);
            let plan = match rng.gen_range(0..100) {
                0..20 => Plan::Abandon(joins_at + rng.gen_range(10..200)),
                20..88 => Plan::Buy,
                88..94 => Plan::HoldAndWalkAway,
                _ => Plan::NeverEnter,
            };
            Person {
                joins_at,
                plan,
                token: None,
                principal: Principal {
                    user_id: UserId::generate(),
                    role: Role::User,
                },
                next_poll: joins_at,
                next_prediction: joins_at,
                predictions: Vec::new(),
                admitted_at: None,
                enter_at: None,
                pay_at: None,
                done: false,
            }
        })
        .collect();

    for second in 0..=LAST_SECOND {
        if let Some(&(_, rate)) = rates().iter().find(|(at, _)| *at == second && second > 0) {
            platform
                .sales
                .change(
                    &id,
                    &operator,
                    SaleChange::Settings(SaleSettings {
                        admission_rate_per_sec: Some(rate),
                        hold_seconds: None,
                        join_challenge_bits: None,
                        on_sale_at: None,
                    }),
                )
                .await
                .expect("rate changed");
        }
        for person in people.iter_mut().filter(|p| !p.done) {
            step(&platform, &id, person, second, &mut rng).await;
        }
        local.scheduler.run_due(&handler).await;
        if people.iter().all(|p| p.done) {
            break;
        }
        clock.advance(Duration::seconds(1));
    }
    report(
        &people,
        &platform.catalog.inventory(&id).await.expect("inventory"),
    );
}

/// One second of one person.
async fn step(
    platform: &tacos_core::platform::Platform,
    event: &EventId,
    person: &mut Person,
    second: u64,
    rng: &mut StdRng,
) {
    if second < person.joins_at {
        return;
    }
    let Some(token) = person.token.clone() else {
        let joined = platform.queue.join(event, None).await.expect("join");
        person.token = Some(joined.waiting_token);
        return;
    };
    if let Plan::Abandon(at) = person.plan {
        if second >= at {
            person.done = true;
            return;
        }
    }
    if let Some(at) = person.enter_at.filter(|&at| at <= second) {
        person.enter_at = None;
        let admission = match platform
            .queue
            .enter(&token, Some(person.principal.user_id.clone()))
            .await
        {
            Ok(admission) => admission,
            Err(_) => {
                person.done = true;
                return;
            }
        };
        let _ = at;
        let hold = platform
            .reservations
            .hold(
                &person.principal,
                HoldRequest {
                    event_id: event.clone(),
                    seat_ids: None,
                    quantity: Some(1),
                    reservation_token: admission.reservation_token,
                },
            )
            .await;
        match (hold, person.plan) {
            (Ok(hold), Plan::Buy) => {
                person.pay_at = Some((second + rng.gen_range(3..30), hold.reservation_id));
            }
            _ => person.done = true,
        }
        return;
    }
    if let Some((at, reservation)) = person.pay_at.clone() {
        if at <= second {
            pay(platform, &person.principal, &reservation).await;
            person.done = true;
        }
        return;
    }
    if person.admitted_at.is_some() || second < person.next_poll {
        return;
    }
    person.next_poll = second + POLL_SECS;
    let status = platform.queue.status(&token).await.expect("status");
    match status.status {
        QueueStatusKind::Waiting => {
            if second >= person.next_prediction {
                person.next_prediction = second + PREDICT_EVERY_SECS;
                person.predictions.push(Prediction {
                    at: second,
                    eta: status.eta_sec,
                    range: status.eta_range_sec,
                    likely_sold_out: status.likely_sold_out,
                });
            }
            if status.sold_out {
                person.done = true;
            }
        }
        QueueStatusKind::Ready => {
            person.admitted_at = Some(second);
            match person.plan {
                Plan::Buy | Plan::HoldAndWalkAway => {
                    person.enter_at = Some(second + rng.gen_range(1..10));
                }
                Plan::NeverEnter | Plan::Abandon(_) => person.done = true,
            }
        }
        QueueStatusKind::Expired | QueueStatusKind::Closed => person.done = true,
        QueueStatusKind::Lobby => unreachable!("the sale has no opening time"),
    }
}

async fn pay(
    platform: &tacos_core::platform::Platform,
    buyer: &Principal,
    reservation: &ReservationId,
) {
    let hold = platform
        .reservations
        .get(reservation, Some(buyer))
        .await
        .expect("hold");
    let Ok(intent) = platform
        .payments
        .create_intent(
            buyer,
            IntentRequest {
                reservation_id: reservation.clone(),
                amount: hold.total_amount,
                currency: hold.currency.clone(),
                scenario: Some(Scenario::Approve),
            },
        )
        .await
    else {
        return;
    };
    let Ok(paid) = platform
        .payments
        .process(
            buyer,
            ProcessRequest {
                payment_intent_id: intent.payment_intent_id,
                action: None,
            },
        )
        .await
    else {
        return;
    };
    let _ = platform
        .reservations
        .confirm(reservation, &paid.payment_intent_id, Some(buyer))
        .await;
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(people: &[Person], inventory: &tacos_core::domain::catalog::Inventory) {
    let stayed = |p: &&Person| !matches!(p.plan, Plan::Abandon(_));
    let mut errors = Vec::new();
    // The predictions that gave a time (not `likely_sold_out`).
    let mut timed = Vec::new();
    let (mut inside, mut scored, mut false_alarms) = (0usize, 0usize, 0usize);
    let (mut missed_told, mut missed_total) = (0usize, 0usize);
    let mut by_time: Vec<(u64, f64)> = Vec::new();
    let mut signed: Vec<(u64, f64)> = Vec::new();
    for person in people.iter().filter(stayed) {
        match person.admitted_at {
            Some(admitted) => {
                for prediction in &person.predictions {
                    let actual = (admitted - prediction.at) as f64;
                    if actual < 1.0 {
                        continue;
                    }
                    scored += 1;
                    let error = (prediction.eta as f64 - actual).abs() / actual;
                    errors.push(error);
                    if !prediction.likely_sold_out {
                        timed.push(error);
                    }
                    by_time.push((prediction.at, error));
                    signed.push((prediction.at, (prediction.eta as f64 - actual) / actual));
                    if prediction.likely_sold_out {
                        false_alarms += 1;
                    } else if (prediction.range[0] as f64) <= actual
                        && actual <= prediction.range[1] as f64
                    {
                        inside += 1;
                    }
                }
            }
            None => {
                for prediction in &person.predictions {
                    missed_total += 1;
                    missed_told += usize::from(prediction.likely_sold_out);
                }
            }
        }
    }
    errors.sort_by(f64::total_cmp);
    timed.sort_by(f64::total_cmp);
    let admitted = people.iter().filter(|p| p.admitted_at.is_some()).count();
    println!("## ETA against the actual wait (cargo bench -p tacos-embedded --bench eta)\n");
    println!(
        "{PEOPLE} people, {PLACES} places, rates {:?} (second, people/s), 20 % abandoning; \
         {admitted} admitted; sold {}, held {}, available {}\n",
        rates(),
        inventory.sold,
        inventory.held,
        inventory.available
    );
    println!("| measure | value |\n|---|---:|");
    println!("| predictions scored (people admitted, not abandoning) | {scored} |");
    println!(
        "| median absolute percentage error of `eta_sec` | **{:.1} %** |",
        100.0 * percentile(&errors, 0.5)
    );
    println!(
        "| p90 absolute percentage error | {:.1} % |",
        100.0 * percentile(&errors, 0.9)
    );
    println!(
        "| the same, over the {} predictions that gave a time (not `likely_sold_out`): median, p90 | **{:.1} %**, {:.1} % |",
        timed.len(),
        100.0 * percentile(&timed, 0.5),
        100.0 * percentile(&timed, 0.9)
    );
    println!(
        "| actual wait inside `eta_range_sec` | **{:.1} %** |",
        100.0 * inside as f64 / scored.max(1) as f64
    );
    println!(
        "| admitted people told `likely_sold_out` (false alarms) | {:.1} % |",
        100.0 * false_alarms as f64 / scored.max(1) as f64
    );
    println!(
        "| predictions to people never admitted that said `likely_sold_out` | {:.1} % of {missed_total} |",
        100.0 * missed_told as f64 / missed_total.max(1) as f64
    );
    println!("\n| predicted during | predictions | median error | p90 error | median signed |\n|---|---:|---:|---:|---:|");
    for (from, to) in [
        (0, 30),
        (30, 60),
        (60, 90),
        (90, 120),
        (120, 150),
        (150, 180),
        (180, 240),
        (240, 360),
        (360, LAST_SECOND + 1),
    ] {
        let mut window: Vec<f64> = by_time
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|(_, e)| *e)
            .collect();
        window.sort_by(f64::total_cmp);
        let mut bias: Vec<f64> = signed
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
            .map(|(_, e)| *e)
            .collect();
        bias.sort_by(f64::total_cmp);
        println!(
            "| {from}–{to} s | {} | {:.1} % | {:.1} % | {:+.1} % |",
            window.len(),
            100.0 * percentile(&window, 0.5),
            100.0 * percentile(&window, 0.9),
            100.0 * percentile(&bias, 0.5)
        );
    }
}
