//! The durable store from outside: the port's conformance suite, and backups taken while it
//! serves writes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tacos_sqlite::{Durability, SqliteOptions, SqliteStore};

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("tacos-sqlite-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let temp = TempDir::new();
    let store = SqliteStore::open(&temp.path().join("data"), SqliteOptions::default()).unwrap();
    tacos_shared::conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms_when_power_safe() {
    let temp = TempDir::new();
    let options = SqliteOptions::default().with_durability(Durability::PowerSafe);
    let store = SqliteStore::open(&temp.path().join("data"), options).unwrap();
    tacos_shared::conformance::run_all(Arc::new(store)).await;
}

mod during_writes {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use serde_json::{json, Value};
    use tacos_shared::ports::store::{
        Condition, Item, Key, SkRange, Store, StoreError, Update, Write,
    };

    use super::*;

    const SEATS: usize = 400;

    fn item(key: &Key, attrs: Value) -> Item {
        let mut item = attrs.as_object().cloned().unwrap_or_default();
        item.insert("pk".into(), json!(key.pk));
        item.insert("sk".into(), json!(key.sk));
        item
    }

    fn queue() -> Key {
        Key::new("EVENT#1", "QUEUE")
    }

    fn inventory() -> Key {
        Key::new("EVENT#1", "INV")
    }

    fn seat(n: usize) -> Key {
        Key::new("EVENT#1", format!("SEAT#{n:04}"))
    }

    /// A join: the queue counter and the new ticket, in one transaction.
    async fn join(store: &dyn Store) {
        let ticket = Key::new("EVENT#1", format!("TICKET#{}", uuid::Uuid::new_v4()));
        store
            .transact(vec![
                Write::Update(Update::new(queue()).add("count", 1)),
                Write::put_new(item(&ticket, json!({ "state": "WAITING" }))),
            ])
            .await
            .unwrap();
    }

    /// A hold of two seats: both AVAILABLE → HELD and the inventory down by two, or nothing.
    async fn hold(store: &dyn Store, first: usize) -> Result<(), StoreError> {
        let take = |n| {
            Write::Update(
                Update::new(seat(n))
                    .set("status", "HELD")
                    .when(Condition::equals("status", "AVAILABLE")),
            )
        };
        let inventory = Update::new(inventory())
            .add("available", -2)
            .when(Condition::AtLeast("available".into(), 2));
        store
            .transact(vec![take(first), take(first + 1), Write::Update(inventory)])
            .await
    }

    /// The ledger's invariants: one ticket per join counted, and every seat either available
    /// (counted in the inventory) or held.
    async fn check_ledger(store: &dyn Store) -> (i64, usize) {
        let items = store.query("EVENT#1", &SkRange::default()).await.unwrap();
        let tickets = items
            .iter()
            .filter(|i| i["sk"].as_str().unwrap().starts_with("TICKET#"))
            .count();
        let joined = store
            .get(&queue())
            .await
            .unwrap()
            .map_or(0, |q| q["count"].as_i64().unwrap());
        assert_eq!(joined, tickets as i64, "a ticket for every join counted");
        let seats: Vec<&Item> = items
            .iter()
            .filter(|i| i["sk"].as_str().unwrap().starts_with("SEAT#"))
            .collect();
        assert_eq!(seats.len(), SEATS);
        let held = seats
            .iter()
            .filter(|s| s["status"] == json!("HELD"))
            .count();
        let available = store.get(&inventory()).await.unwrap().unwrap()["available"]
            .as_i64()
            .unwrap();
        assert_eq!(available as usize + held, SEATS, "available + held = total");
        (joined, held)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backups_taken_while_buyers_keep_writing_restore_to_a_consistent_ledger() {
        let temp = TempDir::new();
        let store = Arc::new(
            SqliteStore::open(&temp.path().join("live"), SqliteOptions::default()).unwrap(),
        );
        let mut setup = vec![Write::put(item(
            &inventory(),
            json!({ "available": SEATS }),
        ))];
        setup.extend((0..99).map(|n| Write::put(item(&seat(n), json!({ "status": "AVAILABLE" })))));
        store.transact(setup).await.unwrap();
        for chunk in (99..SEATS).collect::<Vec<_>>().chunks(100) {
            let seats = chunk
                .iter()
                .map(|&n| Write::put(item(&seat(n), json!({ "status": "AVAILABLE" }))))
                .collect();
            store.transact(seats).await.unwrap();
        }

        let stop = Arc::new(AtomicBool::new(false));
        let buyers: Vec<_> = (0..8)
            .map(|buyer| {
                let store = store.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut n = buyer * 2;
                    while !stop.load(Ordering::Relaxed) {
                        join(&*store).await;
                        if n + 1 < SEATS {
                            // Pairs overlap between buyers, so some holds lose their race.
                            let _ = hold(&*store, n).await;
                            n += 3;
                        }
                    }
                })
            })
            .collect();

        let mut backups = Vec::new();
        for n in 0..3 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let path = temp.path().join(format!("backup-{n}.sqlite3"));
            store.backup(&path).await.unwrap();
            backups.push(path);
        }
        stop.store(true, Ordering::Relaxed);
        for buyer in buyers {
            buyer.await.unwrap();
        }
        let (live_joins, _) = check_ledger(&*store).await;

        let mut seen = Vec::new();
        for (n, backup) in backups.iter().enumerate() {
            let dir = temp.path().join(format!("restored-{n}"));
            tacos_sqlite::restore(backup, &dir).unwrap();
            let restored = SqliteStore::open(&dir, SqliteOptions::default()).unwrap();
            seen.push(check_ledger(&restored).await);
        }
        assert!(
            seen[0].0 > 0,
            "the first backup was taken mid-rush: {seen:?}"
        );
        assert!(
            seen.windows(2).all(|w| w[0].0 <= w[1].0) && seen[2].0 <= live_joins,
            "each backup is a later state: {seen:?} then {live_joins}"
        );
    }
}
