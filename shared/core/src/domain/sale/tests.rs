//! Changes, their audit entries, and how soon other processes see them.

use std::sync::Arc;

use chrono::{Duration, Utc};

use super::audit::{read_log, AuditAction, AuditQuery};
use super::*;
use crate::domain::auth::Role;
use crate::domain::catalog::NewEvent;
use crate::in_process::{ports_over, MemoryStore};
use crate::ports::{Clock, ManualClock};

struct Fixture {
    clock: Arc<ManualClock>,
    ports: Ports,
    catalog: Catalog,
    event: Arc<Event>,
}

async fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::default());
    let ports = ports_over(Arc::new(MemoryStore::default()), clock.clone());
    let catalog = Catalog::new(ports.clone(), 1, |_, _| Vec::new());
    let created = catalog.create(ten_places(None)).await.unwrap();
    let event = catalog.get(&created.event_id).await.unwrap();
    Fixture {
        clock,
        ports,
        catalog,
        event,
    }
}

/// A general-admission event of ten places a month ahead, admitting 5 a second, whose sale
/// opens at `on_sale_at` (open from the start without one).
fn ten_places(on_sale_at: Option<chrono::DateTime<Utc>>) -> NewEvent {
    NewEvent {
        name: "Night".into(),
        venue: "Hall".into(),
        starts_at: Utc::now() + Duration::days(30),
        currency: "USD".into(),
        price: 1_000,
        sections: None,
        capacity: Some(10),
        admission_rate_per_sec: 5.0,
        max_per_order: 4,
        event_id: None,
        on_sale_at,
    }
}

fn operator(name: &str) -> Principal {
    Principal {
        user_id: format!("usr_{name}").parse().unwrap(),
        role: Role::Admin,
    }
}

impl Fixture {
    /// A process of its own (its own kept reads) over the same store.
    fn process(&self) -> SaleControl {
        SaleControl::new(self.ports.clone(), self.catalog.clone(), 60)
    }
}

#[tokio::test]
async fn an_untouched_sale_is_open_at_the_events_rate_and_the_platforms_hold_time() {
    let f = fixture().await;
    let sale = f.process().current(&f.event).await.unwrap();
    assert_eq!(sale.state, SaleState::Open);
    assert_eq!(sale.admission_rate_per_sec, 5.0);
    assert_eq!(sale.hold_seconds, 60);
    assert_eq!(sale.changed_at, None);
    let log = read_log(&*f.ports.store, &AuditQuery::default())
        .await
        .unwrap();
    assert!(log.entries.is_empty());
}

#[tokio::test]
async fn each_change_is_logged_with_who_when_and_before_after() {
    let f = fixture().await;
    let control = f.process();
    let id = &f.event.event_id;
    control
        .change(id, &operator("ann"), SaleChange::Pause)
        .await
        .unwrap();
    f.clock.advance(Duration::seconds(5));
    let tuned = control
        .change(
            id,
            &operator("bob"),
            SaleChange::Settings(SaleSettings {
                admission_rate_per_sec: Some(12.5),
                hold_seconds: Some(90),
                join_challenge_bits: None,
                on_sale_at: None,
            }),
        )
        .await
        .unwrap();
    assert_eq!(tuned.state, SaleState::Paused);
    assert_eq!(tuned.admission_rate_per_sec, 12.5);
    assert_eq!(tuned.hold_seconds, 90);

    let log = read_log(&*f.ports.store, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(log.entries.len(), 2);
    let (newest, oldest) = (&log.entries[0], &log.entries[1]);
    assert_eq!(newest.action, AuditAction::Update);
    assert_eq!(newest.actor.as_str(), "usr_bob");
    assert_eq!(newest.before.admission_rate_per_sec, 5.0);
    assert_eq!(newest.after.hold_seconds, 90);
    assert_eq!(oldest.action, AuditAction::Pause);
    assert_eq!(oldest.before.state, SaleState::Open);
    assert_eq!(oldest.after.state, SaleState::Paused);
    assert!(oldest.at < newest.at);
}

/// An opening moved to a time already past opens the sale now, and the sale says when it opened:
/// now, not the past time sent (a hostile client's probe saw a sale "opened" in 2020).
#[tokio::test]
async fn an_opening_moved_into_the_past_opens_the_sale_now_and_says_so() {
    let f = fixture().await;
    let now = f.clock.now();
    let created = f
        .catalog
        .create(ten_places(Some(now + Duration::minutes(10))))
        .await
        .unwrap();
    let moved = f
        .process()
        .change(
            &created.event_id,
            &operator("ann"),
            SaleChange::Settings(SaleSettings {
                on_sale_at: Some(now - Duration::days(365 * 6)),
                ..SaleSettings::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(moved.on_sale_at, Some(now));
    assert!(!moved.before_opening(now), "open now");
}

#[tokio::test]
async fn repeating_a_change_writes_and_logs_nothing() {
    let f = fixture().await;
    let control = f.process();
    let id = &f.event.event_id;
    control
        .change(id, &operator("ann"), SaleChange::Pause)
        .await
        .unwrap();
    let again = control
        .change(id, &operator("ann"), SaleChange::Pause)
        .await
        .unwrap();
    assert_eq!(again.state, SaleState::Paused);
    let log = read_log(&*f.ports.store, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(log.entries.len(), 1);
}

#[tokio::test]
async fn a_closed_sale_stays_closed() {
    let f = fixture().await;
    let control = f.process();
    let id = &f.event.event_id;
    control
        .change(id, &operator("ann"), SaleChange::Close)
        .await
        .unwrap();
    for change in [
        SaleChange::Resume,
        SaleChange::Pause,
        SaleChange::Settings(SaleSettings {
            admission_rate_per_sec: Some(1.0),
            hold_seconds: None,
            join_challenge_bits: None,
            on_sale_at: None,
        }),
    ] {
        assert!(matches!(
            control.change(id, &operator("ann"), change).await,
            Err(Error::SaleClosed)
        ));
    }
    // Closing again is no error and no entry.
    control
        .change(id, &operator("ann"), SaleChange::Close)
        .await
        .unwrap();
    let log = read_log(&*f.ports.store, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(log.entries.len(), 1);
}

#[tokio::test]
async fn bad_settings_change_nothing() {
    let f = fixture().await;
    let control = f.process();
    let id = &f.event.event_id;
    for settings in [
        SaleSettings::default(),
        SaleSettings {
            admission_rate_per_sec: Some(0.0),
            hold_seconds: None,
            join_challenge_bits: None,
            on_sale_at: None,
        },
        SaleSettings {
            admission_rate_per_sec: Some(f64::NAN),
            hold_seconds: None,
            join_challenge_bits: None,
            on_sale_at: None,
        },
        SaleSettings {
            admission_rate_per_sec: None,
            hold_seconds: Some(5),
            join_challenge_bits: None,
            on_sale_at: None,
        },
        SaleSettings {
            admission_rate_per_sec: Some(10.0),
            hold_seconds: Some(86_400),
            join_challenge_bits: None,
            on_sale_at: None,
        },
    ] {
        let result = control
            .change(id, &operator("ann"), SaleChange::Settings(settings))
            .await;
        assert!(
            matches!(result, Err(Error::InvalidRequest(_))),
            "{result:?}"
        );
    }
    let sale = f.process().current(&f.event).await.unwrap();
    assert_eq!((sale.admission_rate_per_sec, sale.hold_seconds), (5.0, 60));
    let log = read_log(&*f.ports.store, &AuditQuery::default())
        .await
        .unwrap();
    assert!(log.entries.is_empty());
}

#[tokio::test]
async fn another_process_sees_a_change_within_a_second() {
    let f = fixture().await;
    let (here, there) = (f.process(), f.process());
    assert!(there.current(&f.event).await.unwrap().is_open());
    here.change(&f.event.event_id, &operator("ann"), SaleChange::Pause)
        .await
        .unwrap();
    // At once where it was made; the other process goes by its read for under a second.
    assert_eq!(
        here.current(&f.event).await.unwrap().state,
        SaleState::Paused
    );
    f.clock.advance(Duration::milliseconds(SALE_FRESH_MS - 1));
    assert!(there.current(&f.event).await.unwrap().is_open());
    f.clock.advance(Duration::milliseconds(1));
    assert_eq!(
        there.current(&f.event).await.unwrap().state,
        SaleState::Paused
    );
}

#[tokio::test]
async fn two_operators_changing_at_once_both_land_and_both_are_logged() {
    let f = fixture().await;
    let (a, b) = (f.process(), f.process());
    let id = &f.event.event_id;
    let rate = SaleChange::Settings(SaleSettings {
        admission_rate_per_sec: Some(20.0),
        hold_seconds: None,
        join_challenge_bits: None,
        on_sale_at: None,
    });
    let (ann, bob) = (operator("ann"), operator("bob"));
    let (paused, tuned) = tokio::join!(
        a.change(id, &ann, SaleChange::Pause),
        b.change(id, &bob, rate)
    );
    paused.unwrap();
    tuned.unwrap();
    f.clock.advance(Duration::milliseconds(SALE_FRESH_MS));
    let sale = f.process().current(&f.event).await.unwrap();
    assert_eq!(sale.state, SaleState::Paused);
    assert_eq!(sale.admission_rate_per_sec, 20.0);
    let log = read_log(&*f.ports.store, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(log.entries.len(), 2);
}

#[tokio::test]
async fn the_log_pages_newest_first_and_filters_by_event() {
    let f = fixture().await;
    let control = f.process();
    let other = f
        .catalog
        .create(NewEvent {
            event_id: Some("evt_other".parse().unwrap()),
            ..serde_json::from_value(serde_json::json!({
                "name": "Other", "venue": "Hall", "starts_at": "2030-01-01T00:00:00Z",
                "price": 100, "capacity": 5
            }))
            .unwrap()
        })
        .await
        .unwrap();
    for (i, id) in [&f.event.event_id, &other.event_id]
        .into_iter()
        .cycle()
        .take(6)
        .enumerate()
    {
        f.clock.advance(Duration::seconds(1));
        let change = if i % 4 < 2 {
            SaleChange::Pause
        } else {
            SaleChange::Resume
        };
        control.change(id, &operator("ann"), change).await.unwrap();
    }
    let first = read_log(
        &*f.ports.store,
        &AuditQuery {
            limit: Some(4),
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(first.entries.len(), 4);
    assert!(first.entries.windows(2).all(|w| w[0].at > w[1].at));
    let rest = read_log(
        &*f.ports.store,
        &AuditQuery {
            limit: Some(4),
            before: first.next.clone(),
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(rest.entries.len(), 2);
    assert!(rest.next.is_none());
    assert!(rest.entries[0].at < first.entries[3].at);

    let mine = read_log(
        &*f.ports.store,
        &AuditQuery {
            event_id: Some(other.event_id.clone()),
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(mine.entries.len(), 3);
    assert!(mine.entries.iter().all(|e| e.event_id == other.event_id));

    for bad in [
        AuditQuery {
            limit: Some(0),
            ..AuditQuery::default()
        },
        AuditQuery {
            before: Some("yesterday".into()),
            ..AuditQuery::default()
        },
    ] {
        assert!(matches!(
            read_log(&*f.ports.store, &bad).await,
            Err(Error::InvalidRequest(_))
        ));
    }
}
