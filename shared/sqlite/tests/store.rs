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
    tacos_core::conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms_when_power_safe() {
    let temp = TempDir::new();
    let options = SqliteOptions::default().with_durability(Durability::PowerSafe);
    let store = SqliteStore::open(&temp.path().join("data"), options).unwrap();
    tacos_core::conformance::run_all(Arc::new(store)).await;
}

mod during_writes {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use serde_json::{json, Value};
    use tacos_core::ports::store::{
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

/// A server killed with SIGKILL in the middle of writing loses nothing it acknowledged: this
/// test runs the writer as a child process (this same test binary, re-run on `crash_child`).
mod process_crash {
    use std::io::{BufRead, BufReader, Write as _};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use serde_json::json;
    use tacos_core::ports::store::{Key, SkRange, Store, Update, Write};

    use super::*;

    const CHILD_DIR: &str = "TACOS_SQLITE_CRASH_CHILD_DIR";

    fn counter() -> Key {
        Key::new("EVENT#1", "QUEUE")
    }

    /// The child: 8 tasks joining as fast as they can, each join (the counter and a new ticket,
    /// in one transaction) printed once acknowledged. Nothing unless run by the test below;
    /// bounded in time and count all the same.
    #[test]
    fn crash_child() {
        let Ok(dir) = std::env::var(CHILD_DIR) else {
            return;
        };
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let store =
                Arc::new(SqliteStore::open(Path::new(&dir), SqliteOptions::default()).unwrap());
            let (acks, acked) = std::sync::mpsc::channel::<String>();
            let printer = std::thread::spawn(move || {
                let mut out = std::io::stdout().lock();
                for sk in acked {
                    writeln!(out, "ack {sk}").unwrap();
                    out.flush().unwrap();
                }
            });
            let deadline = Instant::now() + Duration::from_secs(60);
            let tasks: Vec<_> = (0..8)
                .map(|task| {
                    let (store, acks) = (store.clone(), acks.clone());
                    tokio::spawn(async move {
                        for n in 0..25_000 {
                            if Instant::now() > deadline {
                                return;
                            }
                            let sk = format!("TICKET#{task}-{n:05}");
                            let mut ticket = serde_json::Map::new();
                            ticket.insert("pk".into(), json!("EVENT#1"));
                            ticket.insert("sk".into(), json!(sk));
                            store
                                .transact(vec![
                                    Write::Update(Update::new(counter()).add("count", 1)),
                                    Write::put_new(ticket),
                                ])
                                .await
                                .unwrap();
                            acks.send(sk).unwrap();
                        }
                    })
                })
                .collect();
            drop(acks);
            for task in tasks {
                task.await.unwrap();
            }
            drop(store);
            printer.join().unwrap();
        });
    }

    #[tokio::test]
    async fn a_process_killed_mid_rush_keeps_every_acknowledged_write() {
        let temp = TempDir::new();
        let dir = temp.path().join("data");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["process_crash::crash_child", "--exact", "--nocapture"])
            .env(CHILD_DIR, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut acknowledged = Vec::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            if let Some(sk) = line.unwrap().strip_prefix("ack ") {
                acknowledged.push(sk.to_string());
                if acknowledged.len() == 3_000 {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert_eq!(
            acknowledged.len(),
            3_000,
            "the child wrote before it was killed"
        );

        let store = SqliteStore::open(&dir, SqliteOptions::default()).unwrap();
        let tickets: std::collections::HashSet<String> = store
            .query("EVENT#1", &SkRange::prefix("TICKET#"))
            .await
            .unwrap()
            .iter()
            .map(|item| item["sk"].as_str().unwrap().to_string())
            .collect();
        let lost: Vec<&String> = acknowledged
            .iter()
            .filter(|sk| !tickets.contains(*sk))
            .collect();
        assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
        let count = store.get(&counter()).await.unwrap().unwrap()["count"]
            .as_u64()
            .unwrap();
        assert_eq!(
            count,
            tickets.len() as u64,
            "each transaction whole or absent"
        );
    }
}
