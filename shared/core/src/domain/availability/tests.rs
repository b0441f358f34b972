//! The board against a store that reports its changes, one whose reads are overtaken by
//! writes, a reader that gives up, and a store that cannot report.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::Semaphore;

use super::*;
use crate::domain::catalog::{seat_transition, NewEvent, SeatStatus, Section, SEAT_SK_PREFIX};
use crate::domain::stock::stock_key;
use crate::ids::SeatId;
use crate::in_process::{ports_over, MemoryStore};
use crate::ports::store::{Item, Key, SkRange, Store, StoreError, Update, Write};
use crate::ports::SystemClock;

/// A memory store whose queries count themselves and, once closed, hold their answer of the
/// seats (already read) until opened: a read overtaken by writes. `queries` counts the seats'
/// queries, one per load; `stock_queries` those of the counters.
#[derive(Default)]
struct SlowReads {
    inner: MemoryStore,
    queries: AtomicUsize,
    stock_queries: AtomicUsize,
    gate: Option<Semaphore>,
}

#[async_trait]
impl Store for SlowReads {
    async fn get(&self, key: &Key) -> std::result::Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn query(&self, pk: &str, range: &SkRange) -> std::result::Result<Vec<Item>, StoreError> {
        if range.prefix != SEAT_SK_PREFIX {
            self.stock_queries.fetch_add(1, Ordering::SeqCst);
            return self.inner.query(pk, range).await;
        }
        self.queries.fetch_add(1, Ordering::SeqCst);
        let answer = self.inner.query(pk, range).await;
        if let Some(gate) = &self.gate {
            drop(gate.acquire().await);
        }
        answer
    }
    async fn update(&self, update: Update) -> std::result::Result<Item, StoreError> {
        self.inner.update(update).await
    }
    async fn transact(&self, writes: Vec<Write>) -> std::result::Result<(), StoreError> {
        self.inner.transact(writes).await
    }
    async fn ping(&self) -> std::result::Result<(), StoreError> {
        Ok(())
    }
    fn watch(&self, listener: Weak<dyn ChangeListener>) -> bool {
        self.inner.watch(listener)
    }
}

async fn seated(store: Arc<SlowReads>) -> (AvailabilityBoard, EventId) {
    let catalog = Catalog::new(ports_over(store, Arc::new(SystemClock)), 1, |_, _| {
        Vec::new()
    });
    let event = catalog
        .create(NewEvent {
            name: "Night".into(),
            venue: "Hall".into(),
            starts_at: Utc::now() + chrono::Duration::days(1),
            currency: "USD".into(),
            price: 100,
            sections: Some(vec![Section::straight("A", 2, 5)]),
            capacity: None,
            admission_rate_per_sec: 1.0,
            max_per_order: 4,
            event_id: None,
            on_sale_at: None,
        })
        .await
        .unwrap();
    (AvailabilityBoard::new(catalog), event.event_id)
}

/// Moves seat `n` of section A from one state to another, with its counters, as a hold or a
/// release does.
async fn move_seat(store: &SlowReads, event: &EventId, n: u32, from: SeatStatus, to: SeatStatus) {
    let counter = |status| match status {
        SeatStatus::Available => "available",
        SeatStatus::Held => "held",
        SeatStatus::Sold => "sold",
    };
    let seat: SeatId = format!("A-{n}").parse().unwrap();
    store
        .transact(vec![
            seat_transition(event, &seat, from, None, to, None),
            Write::Update(
                Update::new(stock_key(event, 0))
                    .add(counter(from), -1)
                    .add(counter(to), 1),
            ),
        ])
        .await
        .unwrap();
}

fn statuses(availability: &Availability) -> Vec<(String, SeatStatus)> {
    availability
        .seats
        .iter()
        .map(|s| (s.seat_id.to_string(), s.status))
        .collect()
}

#[tokio::test]
async fn a_kept_view_follows_the_changes_without_reading_the_store_again() {
    let store = Arc::new(SlowReads::default());
    let (board, event) = seated(store.clone()).await;
    let first = board.read(&event).await.unwrap();
    assert_eq!((first.available, first.held), (10, 0));
    assert_eq!(store.queries.load(Ordering::SeqCst), 1);
    assert!(
        Arc::ptr_eq(&first, &board.read(&event).await.unwrap()),
        "shared until a change"
    );

    move_seat(&store, &event, 3, SeatStatus::Available, SeatStatus::Held).await;
    move_seat(&store, &event, 4, SeatStatus::Available, SeatStatus::Held).await;
    move_seat(&store, &event, 4, SeatStatus::Held, SeatStatus::Sold).await;
    let now = board.read(&event).await.unwrap();
    assert_eq!(
        (
            store.queries.load(Ordering::SeqCst),
            store.stock_queries.load(Ordering::SeqCst)
        ),
        (1, 1),
        "no read of the store"
    );
    let stored = board.from_store(&event).await.unwrap();
    assert_eq!(statuses(&now), statuses(&stored));
    assert_eq!((now.available, now.held, now.sold), (8, 1, 1));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&now.json()).unwrap(),
        serde_json::to_value(&stored).unwrap(),
        "its JSON is the contract's"
    );
}

/// A seated event's first availability read, started and held (by a closed gate) once the store
/// has answered its query: a load overtaken by whatever the test writes next.
async fn a_first_read_held_after_its_query() -> (
    Arc<SlowReads>,
    AvailabilityBoard,
    EventId,
    tokio::task::JoinHandle<Result<Arc<AvailabilitySnapshot>>>,
) {
    let store = Arc::new(SlowReads {
        gate: Some(Semaphore::new(0)),
        ..SlowReads::default()
    });
    let (board, event) = seated(store.clone()).await;
    let reader = tokio::spawn({
        let board = board.clone();
        let event = event.clone();
        async move { board.read(&event).await }
    });
    while store.queries.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    (store, board, event, reader)
}

#[tokio::test]
async fn changes_committed_while_the_view_is_first_read_are_not_lost() {
    let (store, board, event, reader) = a_first_read_held_after_its_query().await;
    // The reader has its (now stale) answer and waits; meanwhile seats change.
    move_seat(&store, &event, 1, SeatStatus::Available, SeatStatus::Held).await;
    move_seat(&store, &event, 2, SeatStatus::Available, SeatStatus::Held).await;
    move_seat(&store, &event, 2, SeatStatus::Held, SeatStatus::Available).await;
    store.gate.as_ref().unwrap().add_permits(100);
    let read = reader.await.unwrap().unwrap();
    let stored = board.from_store(&event).await.unwrap();
    assert_eq!(
        statuses(&read),
        statuses(&stored),
        "the first answer has them"
    );
    assert_eq!((read.available, read.held), (9, 1));
    let kept = board.read(&event).await.unwrap();
    assert_eq!(
        statuses(&kept),
        statuses(&stored),
        "and so does the kept view"
    );
    assert_eq!(
        store.queries.load(Ordering::SeqCst),
        2,
        "the one load, and our check"
    );
}

#[tokio::test]
async fn a_reader_that_gives_up_while_loading_leaves_no_view_behind() {
    let (store, board, event, reader) = a_first_read_held_after_its_query().await;
    reader.abort();
    assert!(reader.await.unwrap_err().is_cancelled());
    store.gate.as_ref().unwrap().add_permits(100);
    move_seat(&store, &event, 5, SeatStatus::Available, SeatStatus::Held).await;
    let read = board.read(&event).await.unwrap();
    assert_eq!(read.held, 1);
    assert_eq!(store.queries.load(Ordering::SeqCst), 2, "loaded afresh");
    move_seat(&store, &event, 6, SeatStatus::Available, SeatStatus::Held).await;
    assert_eq!(board.read(&event).await.unwrap().held, 2, "and kept");
    assert_eq!(store.queries.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_store_that_cannot_report_is_read_every_time() {
    struct Silent(SlowReads);
    #[async_trait]
    impl Store for Silent {
        async fn get(&self, key: &Key) -> std::result::Result<Option<Item>, StoreError> {
            self.0.get(key).await
        }
        async fn query(
            &self,
            pk: &str,
            range: &SkRange,
        ) -> std::result::Result<Vec<Item>, StoreError> {
            self.0.query(pk, range).await
        }
        async fn update(&self, update: Update) -> std::result::Result<Item, StoreError> {
            self.0.update(update).await
        }
        async fn transact(&self, writes: Vec<Write>) -> std::result::Result<(), StoreError> {
            self.0.transact(writes).await
        }
        async fn ping(&self) -> std::result::Result<(), StoreError> {
            Ok(())
        }
    }
    let silent = Arc::new(Silent(SlowReads::default()));
    let catalog = Catalog::new(
        ports_over(silent.clone(), Arc::new(SystemClock)),
        1,
        |_, _| Vec::new(),
    );
    let board = AvailabilityBoard::new(catalog);
    assert!(board.kept.is_none());
    let missing: EventId = "evt_missing".parse().unwrap();
    assert!(board.read(&missing).await.is_err());
}
