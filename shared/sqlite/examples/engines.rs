//! The engine comparison behind docs/storage.md: the platform's write pattern through the same
//! store port over SQLite (this crate), over redb, and over the in-memory store as the ceiling.
//!
//! ```text
//! cargo run --release -p tacos-sqlite --example engines -- [--tasks 16] [--readers 4] [--scale 1.0] [--dir target/engines]
//! ```
//!
//! Each engine gets a fresh directory and the same four phases, each run by `--tasks`
//! concurrent tasks on a two-worker runtime:
//!
//! - join: a conditional counter update, then a conditional put of a new ticket (two calls, as
//!   `WaitingRoom::join` makes them);
//! - hold: one transaction of 4 conditional seat updates (AVAILABLE → HELD) and the inventory
//!   counter's conditional decrement;
//! - status: a point read of a random ticket;
//! - query: 50 items of one partition from a random starting sort key.
//!
//! The redb adapter below has the SQLite adapter's shape (one writer thread committing queued
//! jobs in groups, reads on blocking threads) so the engines, not the adapters, are compared.
//! It commits with `Durability::Immediate` (an fsync per group) under both settings: redb's
//! only other level, `None`, keeps a commit in the process's memory until a later durable one,
//! so a process crash loses it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use rand::Rng;
use serde_json::{json, Value};
use tacos_core::in_process::MemoryStore;
use tacos_core::ports::store::{
    key_of, Condition, Item, Key, SkRange, Store, StoreError, Update, Write,
};
use tacos_sqlite::{Durability, SqliteOptions, SqliteStore};
use tokio::sync::oneshot;

struct Settings {
    tasks: usize,
    readers: usize,
    scale: f64,
    dir: PathBuf,
}

fn settings() -> Settings {
    let mut settings = Settings {
        tasks: 16,
        readers: SqliteOptions::default().readers,
        scale: 1.0,
        dir: PathBuf::from("target/engines"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--tasks", Some(v)) => settings.tasks = v.parse().expect("--tasks N"),
            ("--readers", Some(v)) => settings.readers = v.parse().expect("--readers N"),
            ("--scale", Some(v)) => settings.scale = v.parse().expect("--scale X"),
            ("--dir", Some(v)) => settings.dir = PathBuf::from(v),
            _ => panic!("usage: engines [--tasks N] [--readers N] [--scale X] [--dir PATH]"),
        }
    }
    settings
}

fn item(key: &Key, attrs: Value) -> Item {
    let mut item = attrs.as_object().cloned().unwrap_or_default();
    item.insert("pk".into(), json!(key.pk));
    item.insert("sk".into(), json!(key.sk));
    item
}

/// Latencies of one phase and its wall time.
struct Phase {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Phase {
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

type Op = Arc<dyn Fn(usize) -> BoxFuture<'static, ()> + Send + Sync>;

/// Runs `ops` calls of `op` (numbered 0..ops) on `tasks` concurrent tasks.
async fn measure(tasks: usize, ops: usize, op: Op) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let (next, op) = (next.clone(), op.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= ops {
                        return latencies;
                    }
                    let t = Instant::now();
                    op(n).await;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(ops);
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let wall = started.elapsed();
    latencies.sort();
    Phase { latencies, wall }
}

struct Workload {
    joins: usize,
    holds: usize,
    statuses: usize,
    queries: usize,
}

const PHASES: [&str; 4] = ["join", "hold", "status", "query"];

async fn run_engine(store: Arc<dyn Store>, work: &Workload, tasks: usize) -> Vec<Phase> {
    // Seats for every hold, and the partition the queries read.
    let seats = work.holds * 4;
    let inventory = Key::new("EVENT#1", "INV");
    store
        .write(Write::put(item(&inventory, json!({ "available": seats }))))
        .await
        .unwrap();
    let seat = |n: usize| Key::new("EVENT#1", format!("SEAT#{n:07}"));
    for chunk in (0..seats).collect::<Vec<_>>().chunks(100) {
        let writes = chunk
            .iter()
            .map(|&n| Write::put(item(&seat(n), json!({ "status": "AVAILABLE", "row": "A" }))))
            .collect();
        store.transact(writes).await.unwrap();
    }
    let batch = |n: usize| Key::new("EVENT#1#BATCHES", format!("B#{n:07}"));
    for chunk in (0..2_000).collect::<Vec<_>>().chunks(100) {
        let writes = chunk
            .iter()
            .map(|&n| {
                let attrs = json!({ "start": n * 100, "end": n * 100 + 100, "admitted": 100, "open": 37, "expires_at": 4_000_000_000u64 });
                Write::put(item(&batch(n), attrs))
            })
            .collect();
        store.transact(writes).await.unwrap();
    }

    let ticket = |n: usize| Key::new(format!("WAIT#{n:032x}"), "TICKET");
    let join: Op = {
        let store = store.clone();
        Arc::new(move |n| {
            let store = store.clone();
            Box::pin(async move {
                let counter = Update::new(Key::new("EVENT#1", "QUEUE#0"))
                    .add("count", 1)
                    .when(Condition::Or(vec![
                        Condition::NotExists,
                        Condition::AtLeast("count".into(), 0),
                    ]));
                let order = store.update(counter).await.unwrap()["count"].clone();
                let record = json!({
                    "token": format!("{n:032x}"), "event_id": "evt-0000000000000001", "order": order,
                    "state": "waiting", "joined_at": "2026-12-02T09:40:11.123456Z", "expires_at": 4_000_000_000u64,
                });
                store
                    .write(Write::put_new(item(&ticket(n), record)))
                    .await
                    .unwrap();
            })
        })
    };
    let hold: Op = {
        let store = store.clone();
        Arc::new(move |n| {
            let store = store.clone();
            let inventory = inventory.clone();
            Box::pin(async move {
                let mut writes: Vec<Write> = (n * 4..n * 4 + 4)
                    .map(|s| {
                        Write::Update(
                            Update::new(seat(s))
                                .set("status", "HELD")
                                .set("reservation", format!("r-{n}"))
                                .when(Condition::equals("status", "AVAILABLE")),
                        )
                    })
                    .collect();
                writes.push(Write::Update(
                    Update::new(inventory)
                        .add("available", -4)
                        .when(Condition::AtLeast("available".into(), 4)),
                ));
                store.transact(writes).await.unwrap();
            })
        })
    };
    let joins = work.joins;
    let status: Op = {
        let store = store.clone();
        Arc::new(move |_| {
            let store = store.clone();
            let key = ticket(rand::thread_rng().gen_range(0..joins));
            Box::pin(async move {
                assert!(store.get(&key).await.unwrap().is_some());
            })
        })
    };
    let query: Op = {
        let store = store.clone();
        Arc::new(move |_| {
            let store = store.clone();
            let from = batch(rand::thread_rng().gen_range(0..1_950)).sk;
            Box::pin(async move {
                let range = SkRange::prefix("B#").from(from).limit(50);
                let items = store.query("EVENT#1#BATCHES", &range).await.unwrap();
                assert_eq!(items.len(), 50);
            })
        })
    };
    vec![
        measure(tasks, work.joins, join).await,
        measure(tasks, work.holds, hold).await,
        measure(tasks, work.statuses, status).await,
        measure(tasks, work.queries, query).await,
    ]
}

/// Median time of a 4 KiB write followed by `fdatasync` in `dir`: what one disk flush costs
/// on this machine, for reading the power-safe rows.
fn flush_cost(dir: &Path) -> Duration {
    use std::io::Write as _;
    let path = dir.join("flush-probe");
    let mut file = std::fs::File::create(&path).unwrap();
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            file.write_all(&[0u8; 4096]).unwrap();
            file.sync_data().unwrap();
            t.elapsed()
        })
        .collect();
    std::fs::remove_file(&path).unwrap();
    times.sort();
    times[times.len() / 2]
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let settings = settings();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let scaled = |n: f64| ((n * settings.scale) as usize).max(settings.tasks);
    let work = Workload {
        joins: scaled(20_000.0),
        holds: scaled(5_000.0),
        statuses: scaled(50_000.0),
        queries: scaled(20_000.0),
    };
    let _ = std::fs::remove_dir_all(&settings.dir);
    std::fs::create_dir_all(&settings.dir).unwrap();
    let flush = flush_cost(&settings.dir);
    println!(
        "tasks: {}, sqlite readers: {}, ops: join {} hold {} status {} query {}; one 4 KiB write + fdatasync here: {:.0} µs (median)",
        settings.tasks,
        settings.readers,
        work.joins,
        work.holds,
        work.statuses,
        work.queries,
        flush.as_secs_f64() * 1e6
    );
    type Open = Box<dyn Fn(&Path) -> Arc<dyn Store>>;
    let readers = settings.readers;
    let sqlite = |durability| -> Open {
        Box::new(move |dir: &Path| {
            let options = SqliteOptions {
                readers,
                ..SqliteOptions::default().with_durability(durability)
            };
            Arc::new(SqliteStore::open(dir, options).unwrap()) as Arc<dyn Store>
        })
    };
    let engines: Vec<(&str, Open)> = vec![
        (
            "memory",
            Box::new(|_: &Path| Arc::new(MemoryStore::new()) as Arc<dyn Store>),
        ),
        ("sqlite process-safe", sqlite(Durability::ProcessSafe)),
        ("sqlite power-safe", sqlite(Durability::PowerSafe)),
        (
            "redb (immediate)",
            Box::new(|dir: &Path| Arc::new(RedbStore::open(dir)) as Arc<dyn Store>),
        ),
    ];
    let mut results = Vec::new();
    for (name, open) in &engines {
        let dir = settings.dir.join(name.replace([' ', '(', ')'], ""));
        std::fs::create_dir_all(&dir).unwrap();
        let phases = runtime.block_on(async {
            let store = open(&dir);
            let phases = run_engine(store.clone(), &work, settings.tasks).await;
            drop(store);
            phases
        });
        let disk = dir_bytes(&dir);
        eprintln!("{name}: done");
        results.push((name, phases, disk));
    }
    println!();
    println!("| engine | op | median µs | p99 µs | ops/s | ops/s vs memory |");
    println!("|---|---|---:|---:|---:|---:|");
    let memory: Vec<f64> = results[0].1.iter().map(Phase::throughput).collect();
    for (name, phases, _) in &results {
        for (i, phase) in phases.iter().enumerate() {
            println!(
                "| {name} | {} | {:.0} | {:.0} | {:.0} | {:.2} |",
                PHASES[i],
                phase.percentile(0.5).as_secs_f64() * 1e6,
                phase.percentile(0.99).as_secs_f64() * 1e6,
                phase.throughput(),
                phase.throughput() / memory[i]
            );
        }
    }
    println!();
    for (name, _, disk) in results.iter().skip(1) {
        println!(
            "disk used by {name} after the run: {:.1} MiB",
            *disk as f64 / (1 << 20) as f64
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The store port over redb, shaped like the SQLite adapter.

const ITEMS: redb::TableDefinition<(&str, &str), &str> = redb::TableDefinition::new("items");

enum Job {
    Transact(Vec<Write>, oneshot::Sender<Result<(), StoreError>>),
    Update(Update, oneshot::Sender<Result<Item, StoreError>>),
}

enum Answer {
    Transact(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
    Update(
        oneshot::Sender<Result<Item, StoreError>>,
        Result<Item, StoreError>,
    ),
}

struct RedbStore {
    db: Arc<redb::Database>,
    jobs: mpsc::Sender<Job>,
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redb: {error}"))
}

type Table<'t> = redb::Table<'t, (&'static str, &'static str), &'static str>;

impl RedbStore {
    fn open(dir: &Path) -> Self {
        let db = Arc::new(
            redb::Builder::new()
                .set_cache_size(64 << 20)
                .create(dir.join("tacos.redb"))
                .unwrap(),
        );
        let txn = db.begin_write().unwrap();
        txn.open_table(ITEMS).unwrap();
        txn.commit().unwrap();
        let (jobs, queue) = mpsc::channel::<Job>();
        let writer = db.clone();
        std::thread::spawn(move || {
            while let Ok(first) = queue.recv() {
                let mut batch = vec![first];
                while batch.len() < 128 {
                    match queue.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let answers = commit_group(&writer, batch);
                for answer in answers {
                    let _ = match answer {
                        Answer::Transact(reply, result) => reply.send(result).map_err(drop),
                        Answer::Update(reply, result) => reply.send(result).map_err(drop),
                    };
                }
            }
        });
        Self { db, jobs }
    }
}

fn commit_group(db: &redb::Database, batch: Vec<Job>) -> Vec<Answer> {
    let mut txn = db.begin_write().unwrap();
    txn.set_durability(redb::Durability::Immediate).unwrap();
    let mut answers = Vec::with_capacity(batch.len());
    {
        let mut table = txn.open_table(ITEMS).unwrap();
        for job in batch {
            answers.push(match job {
                Job::Transact(writes, reply) => {
                    Answer::Transact(reply, redb_transact(&mut table, writes))
                }
                Job::Update(update, reply) => {
                    Answer::Update(reply, redb_update(&mut table, &update))
                }
            });
        }
    }
    if let Err(error) = txn.commit() {
        for answer in &mut answers {
            match answer {
                Answer::Transact(_, result) => *result = Err(unavailable(&error)),
                Answer::Update(_, result) => *result = Err(unavailable(&error)),
            }
        }
    }
    answers
}

fn redb_load(table: &Table<'_>, key: &Key) -> Result<Option<Item>, StoreError> {
    use redb::ReadableTable;
    let found = table
        .get((key.pk.as_str(), key.sk.as_str()))
        .map_err(unavailable)?;
    found
        .map(|guard| serde_json::from_str(guard.value()).map_err(unavailable))
        .transpose()
}

fn redb_store(table: &mut Table<'_>, key: &Key, item: &Item) -> Result<(), StoreError> {
    let text = serde_json::to_string(item).map_err(unavailable)?;
    table
        .insert((key.pk.as_str(), key.sk.as_str()), text.as_str())
        .map_err(unavailable)?;
    Ok(())
}

/// Conditions first, writes after: a refused transaction wrote nothing (the group's commit
/// then keeps the other jobs' writes).
fn redb_transact(table: &mut Table<'_>, writes: Vec<Write>) -> Result<(), StoreError> {
    let mut current = Vec::with_capacity(writes.len());
    for (index, write) in writes.iter().enumerate() {
        let needed = write.condition().is_some() || matches!(write, Write::Update(_));
        let item = if needed {
            redb_load(table, &write.key())?
        } else {
            None
        };
        if let Some(condition) = write.condition() {
            if !condition.holds(item.as_ref()) {
                return Err(StoreError::ConditionFailed { index });
            }
        }
        current.push(item);
    }
    for (write, item) in writes.into_iter().zip(current) {
        match write {
            Write::Put { item, .. } => redb_store(table, &key_of(&item), &item)?,
            Write::PutText { item, .. } => redb_store(table, item.key(), &item.to_item()?)?,
            Write::Update(update) => {
                let mut item = item.unwrap_or_else(|| update.new_item());
                update.apply_to(&mut item);
                redb_store(table, &update.key, &item)?;
            }
            Write::Delete { key, .. } => {
                table
                    .remove((key.pk.as_str(), key.sk.as_str()))
                    .map_err(unavailable)?;
            }
            Write::Check { .. } => {}
        }
    }
    Ok(())
}

fn redb_update(table: &mut Table<'_>, update: &Update) -> Result<Item, StoreError> {
    let item = redb_load(table, &update.key)?;
    if let Some(condition) = &update.condition {
        if !condition.holds(item.as_ref()) {
            return Err(StoreError::ConditionFailed { index: 0 });
        }
    }
    let mut item = item.unwrap_or_else(|| update.new_item());
    update.apply_to(&mut item);
    redb_store(table, &update.key, &item)?;
    Ok(item)
}

impl RedbStore {
    async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(job(reply)).map_err(unavailable)?;
        answer.await.map_err(unavailable)?
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let (db, key) = (self.db.clone(), key.clone());
        tokio::task::spawn_blocking(move || {
            use redb::ReadableDatabase;
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let found = table
                .get((key.pk.as_str(), key.sk.as_str()))
                .map_err(unavailable)?;
            found
                .map(|guard| serde_json::from_str(guard.value()).map_err(unavailable))
                .transpose()
        })
        .await
        .map_err(unavailable)?
    }

    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        let (db, pk, range) = (self.db.clone(), pk.to_string(), range.clone());
        tokio::task::spawn_blocking(move || {
            use redb::ReadableDatabase;
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let start = range
                .from
                .clone()
                .filter(|from| from > &range.prefix)
                .unwrap_or_else(|| range.prefix.clone());
            let rows = table
                .range((pk.as_str(), start.as_str())..)
                .map_err(unavailable)?;
            let limit = range.limit.unwrap_or(usize::MAX);
            let mut items = Vec::new();
            // Forward only: the comparison's queries are.
            for row in rows {
                let (key, value) = row.map_err(unavailable)?;
                let (row_pk, sk) = key.value();
                let past_to = range.to.as_deref().is_some_and(|to| sk >= to);
                if row_pk != pk || !sk.starts_with(&range.prefix) || past_to {
                    break;
                }
                if range.contains(sk) {
                    items.push(serde_json::from_str(value.value()).map_err(unavailable)?);
                    if items.len() == limit {
                        break;
                    }
                }
            }
            Ok(items)
        })
        .await
        .map_err(unavailable)?
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        self.submit(|reply| Job::Update(update, reply)).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.submit(|reply| Job::Transact(writes, reply)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
