//! Lost timers on the AWS adapters: holds whose expiry never ran are released by the sweep.
//!
//! moto's Scheduler never fires, which is what a lost timer looks like anyway; the two ways AWS
//! loses one are played here with the real adapters (DynamoDB and Scheduler on moto):
//!
//! * `expire` fails three times (the release's transaction refused, as a throttled table would),
//!   after which Lambda gives up and Scheduler has already deleted the one-shot schedule;
//! * the schedule is deleted before it fires.
//!
//! Either way the seats stay HELD past the hold's expiry until the sweeper's next run, which
//! releases them, and the next buyer can hold them.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::Utc;
use tacos_core::domain::auth::{Principal, Role};
use tacos_core::domain::catalog::{NewEvent, SeatStatus, Section};
use tacos_core::domain::queue::QueueStatusKind;
use tacos_core::domain::reservations::{HoldRequest, ReservationStatus};
use tacos_core::ids::{EventId, SeatId, UserId};
use tacos_core::in_process::{MemoryBus, RecordedWebhooks, StaticKeys};
use tacos_core::platform::Platform;
use tacos_core::ports::{Job, JobHandler, Key, ManualClock, Ports, Scheduler, Store, StoreError};
use tacos_core::sweep::LedgeredScheduler;
use tacos_tests::watched_store::{Call, WatchedStore};

use super::{connect, get_schedule, Aws};

/// The table, with every transaction refused while `failures` is above zero: the release of an
/// expired hold is one, so its `expire` fails as it would on a throttled table.
fn throttled(table: Arc<dyn Store>, failures: Arc<AtomicU32>) -> WatchedStore {
    WatchedStore::new(table, move |call| {
        let refused = matches!(call, Call::Transact(_))
            && failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if refused {
            return Err(StoreError::Unavailable(
                "ProvisionedThroughputExceededException (injected)".into(),
            ));
        }
        Ok(())
    })
}

/// The platform as a function builds it (`tacos_aws::AwsPlatform`): every timer filed in the
/// ledger before its schedule is set; the clock is the test's.
pub(super) fn platform(aws: &Aws, store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Platform {
    let scheduler: Arc<dyn Scheduler> = aws.scheduler.clone();
    let ports = Ports {
        scheduler: Arc::new(LedgeredScheduler::new(scheduler, store.clone())),
        store,
        bus: Arc::new(MemoryBus::new()),
        clock,
        webhooks: Arc::new(RecordedWebhooks::new()),
        keys: Arc::new(StaticKeys::new(None)),
    };
    Platform::new(ports, tacos_core::config::Config::for_tests())
}

/// A buyer's hold of `seat`, through the waiting room.
pub(super) async fn hold(
    platform: &Platform,
    clock: &ManualClock,
    event: &EventId,
    seat: &str,
) -> (Principal, tacos_core::ids::ReservationId) {
    let buyer = Principal {
        user_id: UserId::generate(),
        role: Role::User,
    };
    let token = platform
        .queue
        .join(event, Some(buyer.user_id.clone()))
        .await
        .unwrap()
        .waiting_token;
    for _ in 0..20 {
        clock.advance(chrono::Duration::milliseconds(500));
        if platform.queue.status(&token).await.unwrap().status == QueueStatusKind::Ready {
            break;
        }
    }
    let entered = platform
        .queue
        .enter(&token, Some(buyer.user_id.clone()))
        .await
        .unwrap();
    let request = HoldRequest {
        event_id: event.clone(),
        seat_ids: Some(vec![seat.parse::<SeatId>().unwrap()]),
        quantity: None,
        reservation_token: entered.reservation_token,
    };
    let reservation = platform.reservations.hold(&buyer, request).await.unwrap();
    (buyer, reservation.reservation_id)
}

async fn seat_status(platform: &Platform, event: &EventId, seat: &str) -> SeatStatus {
    let availability = platform.availability.read(event).await.unwrap();
    availability
        .seats
        .iter()
        .find(|s| s.seat_id.as_str() == seat)
        .map(|s| s.status)
        .expect("the seat exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_whose_expiry_was_lost_go_back_on_sale_at_the_next_sweep() {
    let Some(aws) = connect().await else {
        return;
    };
    // The sweep's cursor is the table's: start after wherever an earlier run on this table left
    // it, so this run's minutes are all ahead of it.
    let cursor = aws
        .store
        .get(&Key::new("SWEEP#CURSOR", "CURSOR"))
        .await
        .unwrap()
        .and_then(|c| c.get("next_minute_ms").and_then(|v| v.as_i64()))
        .unwrap_or(0);
    let start = Utc::now().max(
        chrono::DateTime::from_timestamp_millis(cursor).unwrap_or_default()
            + chrono::Duration::minutes(1),
    );
    let clock = Arc::new(ManualClock::new(start));
    let table: Arc<dyn Store> = aws.store.clone();
    let healthy = platform(&aws, table.clone(), clock.clone());
    let failures = Arc::new(AtomicU32::new(0));
    let throttled = platform(
        &aws,
        Arc::new(throttled(table.clone(), failures.clone())),
        clock.clone(),
    );
    // A sweep before anything is held: the cursor now stands at this run's clock.
    healthy.sweep().await.unwrap();

    let event = healthy
        .catalog
        .create(NewEvent {
            name: "Lost timers".into(),
            venue: "Hall".into(),
            starts_at: Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 1_000,
            sections: Some(vec![Section::straight("A", 1, 4)]),
            capacity: None,
            admission_rate_per_sec: 50.0,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .unwrap()
        .event_id;
    let (_, throttled_hold) = hold(&healthy, &clock, &event, "A-1").await;
    let (_, deleted_hold) = hold(&healthy, &clock, &event, "A-2").await;
    for id in [&throttled_hold, &deleted_hold] {
        let job = Job::ExpireHold {
            reservation_id: id.clone(),
        };
        assert!(
            get_schedule(&aws, &job).await.is_some(),
            "the hold's timer is set"
        );
    }

    // Past the holds' expiry: A-1's `expire` fails three times (Lambda's first try and its two
    // retries), then Scheduler's one-shot schedule is gone; A-2's schedule is deleted unfired.
    clock.advance(chrono::Duration::seconds(61));
    failures.store(3, Ordering::SeqCst);
    let expire_a1 = Job::ExpireHold {
        reservation_id: throttled_hold.clone(),
    };
    for attempt in 1..=3 {
        let outcome = throttled.run_job(expire_a1.clone()).await;
        assert!(
            outcome.is_err(),
            "attempt {attempt} fails on the throttled table"
        );
    }
    let expire_a2 = Job::ExpireHold {
        reservation_id: deleted_hold.clone(),
    };
    for job in [&expire_a1, &expire_a2] {
        aws.scheduler.cancel(job).await.unwrap();
        assert!(get_schedule(&aws, job).await.is_none());
    }
    assert_eq!(seat_status(&healthy, &event, "A-1").await, SeatStatus::Held);
    assert_eq!(seat_status(&healthy, &event, "A-2").await, SeatStatus::Held);

    // The sweeper runs every minute; within two minutes of the expiry the seats are on sale.
    let mut swept = 0;
    for _ in 0..2 {
        clock.advance(chrono::Duration::minutes(1));
        let report = healthy.sweep().await.unwrap();
        assert_eq!(report.failed, 0, "{report:?}");
        swept += report.jobs;
    }
    assert!(
        swept >= 2,
        "both holds' jobs were found in the ledger: {swept}"
    );
    for (seat, id) in [("A-1", &throttled_hold), ("A-2", &deleted_hold)] {
        assert_eq!(
            seat_status(&healthy, &event, seat).await,
            SeatStatus::Available,
            "{seat} is on sale again"
        );
        let reservation = healthy.reservations.get(id, None).await.unwrap();
        assert_eq!(reservation.status, ReservationStatus::Expired, "{id}");
    }
    let stock = healthy.catalog.inventory(&event).await.unwrap();
    assert_eq!((stock.available, stock.held), (4, 0), "{stock:?}");

    // And the next buyer gets A-1.
    let (_, next) = hold(&healthy, &clock, &event, "A-1").await;
    assert_eq!(
        healthy.reservations.get(&next, None).await.unwrap().status,
        ReservationStatus::Hold
    );
}
