//! [`SqliteStore`]: the store port over one SQLite file in a data directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use async_trait::async_trait;

use crate::checkpoint::Checkpointer;
use crate::codec::{self, OrUnavailable};
use crate::connection::{self, Role};
use crate::directory::DataDir;
use crate::error::OpenError;
use crate::keydir::{KeyDir, LoadError};
use crate::options::SqliteOptions;
use crate::port::{
    ChangeListener, Item, KeptText, Key, Lent, SkRange, Store, StoreError, Update, Watchers, Write,
    MAX_TRANSACTION_WRITES,
};
use crate::readers::{self, Readers};
use crate::recent::{Lookup, RecentItems};
use crate::schema;
use crate::writer::Writer;

/// The durable store: items in a SQLite file (WAL mode) inside a data directory that it holds
/// exclusively while open.
///
/// Writes go to one writer thread that commits them in groups; reads run on the calling thread,
/// each on a read-only connection from a small idle list (see `readers.rs` for why). Dropping
/// the store finishes the writes already queued, then releases the directory.
pub struct SqliteStore {
    // Field order is drop order: the writer finishes its queue before anything else closes.
    writer: Writer,
    _checkpointer: Checkpointer,
    readers: Readers,
    /// Where each item's row is (see `keydir.rs`).
    keys: Arc<KeyDir>,
    /// The items most recently written or read, as stored (see `recent.rs`).
    recent: Arc<RecentItems>,
    database: PathBuf,
    options: SqliteOptions,
    dir: Arc<DataDir>,
    /// Told of committed changes by the writer thread ([`Store::watch`]).
    watchers: Arc<Watchers>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("database", &self.database)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// `key`'s item as stored, its JSON text: from the recent items, else from its row (then
    /// offered to the recent items, `recent.rs`).
    fn stored_text(&self, key: &Key) -> Result<Option<Arc<KeptText>>, StoreError> {
        let seen = match self.recent.get(key) {
            Lookup::Hit(text) => return Ok(Some(text)),
            Lookup::Miss(seen) => seen,
        };
        let text = self
            .readers
            .run(|conn| readers::get_encoded(conn, &self.keys, key))?;
        Ok(text.map(|text| {
            let text = Arc::new(KeptText::new(text));
            self.recent.offer(key, text.clone(), seen);
            text
        }))
    }

    /// Opens the store in `dir`, creating the directory (owner-only) and the database when
    /// missing, and migrating an older schema.
    ///
    /// Refuses, leaving every file as it was: a directory another store holds
    /// ([`OpenError::Locked`]), a file of a newer schema ([`OpenError::NewerSchema`]), a
    /// corrupted file ([`OpenError::Corrupt`]) or another program's database
    /// ([`OpenError::NotAStore`]).
    ///
    /// Blocks while it checks the file (see [`SqliteOptions::check_on_open`]): call it before
    /// serving, or from a blocking thread. It needs no tokio runtime; the store's methods do.
    pub fn open(dir: &Path, options: SqliteOptions) -> Result<Self, OpenError> {
        let dir = Arc::new(DataDir::claim(dir)?);
        crate::restore::finish_interrupted_restore(&dir).map_err(|source| OpenError::Io {
            path: dir.path().to_path_buf(),
            source,
        })?;
        let database = dir.create_database_file()?;
        let open = |role| {
            connection::open(&database, &options, role)
                .map_err(|source| schema::file_error(&database, source))
        };
        let mut writer = open(Role::Writer)?;
        let found = schema::inspect(&writer, &database, options.check_on_open)?;
        connection::enable_wal(&writer).map_err(|source| schema::file_error(&database, source))?;
        schema::migrate(&mut writer, &database, found)?;
        let loading = std::time::Instant::now();
        let keys = Arc::new(KeyDir::load(&writer).map_err(|error| match error {
            LoadError::Sqlite(source) => schema::file_error(&database, source),
            duplicate @ LoadError::Duplicate { .. } => OpenError::Corrupt {
                path: database.clone(),
                detail: duplicate.to_string(),
            },
        })?);
        let checkpointer = open(Role::Checkpointer)?;
        let readers = Readers::new(database.clone(), options.clone(), dir.clone());
        let thread_error = |thread| move |source| OpenError::Thread { thread, source };
        let watchers = Arc::new(Watchers::default());
        let recent = Arc::new(RecentItems::new(options.recent_items));
        let checkpointer =
            Checkpointer::spawn(checkpointer, &database, options.sync_interval, dir.clone())
                .map_err(thread_error("checkpoint"))?;
        checkpointer
            .watch(&mut writer)
            .map_err(|source| schema::file_error(&database, source))?;
        let writer = Writer::spawn(
            writer,
            options.max_batch,
            dir.clone(),
            keys.clone(),
            watchers.clone(),
            recent.clone(),
        )
        .map_err(thread_error("writer"))?;
        tracing::info!(
            database = %database.display(),
            schema = schema::CURRENT_VERSION,
            durability = %options.durability,
            items = keys.len(),
            keys_loaded_ms = loading.elapsed().as_millis() as u64,
            "store opened"
        );
        Ok(Self {
            writer,
            _checkpointer: checkpointer,
            readers,
            keys,
            recent,
            database,
            options,
            dir,
            watchers,
        })
    }

    /// The data directory the store holds.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database file (its `-wal` and `-shm` files are beside it).
    pub fn database_path(&self) -> &Path {
        &self.database
    }

    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.writer
    }
}

/// The port's rules on a transaction's shape, checked before it is queued.
fn validate(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() || writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Invalid(format!(
            "{} writes in one transaction",
            writes.len()
        )));
    }
    if writes.len() > 1 {
        let keys: Vec<Key> = writes.iter().map(Write::key).collect();
        if keys.iter().collect::<HashSet<_>>().len() != keys.len() {
            return Err(StoreError::Invalid(
                "two writes to one item in a transaction".into(),
            ));
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.stored_text(key)?
            .map(|text| codec::decode(text.text()))
            .transpose()
    }

    /// As [`Store::get`], lending the item's text: the caller decodes it into its record.
    async fn read(
        &self,
        key: &Key,
        visit: &mut (dyn for<'i> FnMut(Option<Lent<'i>>) + Send),
    ) -> Result<(), StoreError> {
        let text = self.stored_text(key)?;
        visit(text.as_deref().map(Lent::Kept));
        Ok(())
    }

    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        self.readers
            .run(|conn| readers::query(conn, &self.keys, pk, range))
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        self.writer.update(update).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        validate(&writes)?;
        self.writer.transact(writes).await
    }

    /// Ready when a reader answers and the writer takes writes. While the last write group
    /// failed (a full disk: reads still answer), each ping tries a write of its own, a probe
    /// item the purge drops a minute later, so the store is reported ready again as soon as a
    /// write commits, though a server taken out of rotation gets no other write to prove it.
    async fn ping(&self) -> Result<(), StoreError> {
        if !self.writer.is_running() {
            return Err(StoreError::Unavailable(
                "the store's writer has stopped".into(),
            ));
        }
        if self.writer.is_failing() {
            let mut probe = serde_json::Map::new();
            probe.insert("pk".into(), "OPS#READY".into());
            probe.insert("sk".into(), "PROBE".into());
            probe.insert("expires_at".into(), (crate::time::unix_now() + 60).into());
            self.writer
                .transact(vec![Write::put(probe)])
                .await
                .map_err(|e| StoreError::Unavailable(format!("the store takes no write: {e}")))?;
        }
        self.readers
            .run(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).or_unavailable())
    }

    fn watch(&self, listener: Weak<dyn ChangeListener>) -> bool {
        self.watchers.add(listener);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::port::{key_of, Condition, MemoryStore};
    use crate::testing::{item, TempDir};

    fn open(dir: &Path) -> SqliteStore {
        SqliteStore::open(dir, SqliteOptions::default()).unwrap()
    }

    /// A store opened in `dir` holding one available seat, and the seat's key.
    async fn with_available_seat(dir: &Path) -> (SqliteStore, Key) {
        let store = open(dir);
        let seat = Key::new("EVENT#1", "SEAT#A-7");
        store
            .write(Write::put(item(&seat, json!({ "status": "AVAILABLE" }))))
            .await
            .unwrap();
        (store, seat)
    }

    #[tokio::test]
    async fn acknowledged_writes_are_there_after_a_restart() {
        let temp = TempDir::new();
        let (store, seat) = with_available_seat(temp.path()).await;
        store
            .update(
                Update::new(seat.clone())
                    .set("status", "SOLD")
                    .set("order", "o-1"),
            )
            .await
            .unwrap();
        drop(store);

        let store = open(temp.path());
        let after = store.get(&seat).await.unwrap().unwrap();
        assert_eq!(after["status"], json!("SOLD"));
        assert_eq!(after["order"], json!("o-1"));
    }

    /// A record read shared from a kept item is decoded once for all its reads, and a write
    /// of the item brings the new record, never the old one decoded before it.
    #[tokio::test]
    async fn a_shared_record_is_decoded_once_and_follows_every_write() {
        async fn shared(store: &SqliteStore, key: &Key) -> Arc<serde_json::Value> {
            let mut seat = None;
            store
                .read(key, &mut |lent| seat = lent.map(|l| l.shared().unwrap()))
                .await
                .unwrap();
            seat.unwrap()
        }
        let temp = TempDir::new();
        let (store, seat) = with_available_seat(temp.path()).await;
        let (first, again) = (shared(&store, &seat).await, shared(&store, &seat).await);
        assert_eq!(first["status"], "AVAILABLE");
        assert!(Arc::ptr_eq(&first, &again), "decoded once");
        store
            .update(Update::new(seat.clone()).set("status", "SOLD"))
            .await
            .unwrap();
        assert_eq!(shared(&store, &seat).await["status"], "SOLD");
    }

    #[tokio::test]
    async fn a_second_store_on_the_same_directory_is_refused() {
        let temp = TempDir::new();
        let _first = open(temp.path());
        let error = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap_err();
        assert!(
            matches!(&error, OpenError::Locked { dir, .. } if dir == temp.path()),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn transactions_of_the_wrong_shape_are_refused_and_write_nothing() {
        let temp = TempDir::new();
        let store = open(temp.path());
        let put = |n: usize| Write::put(item(&Key::new("P", format!("{n:03}")), json!({})));
        let invalid = |result| matches!(result, Err(StoreError::Invalid(_)));
        assert!(invalid(store.transact(Vec::new()).await));
        assert!(invalid(store.transact((0..101).map(put).collect()).await));
        assert!(invalid(store.transact(vec![put(1), put(2), put(1)]).await));
        assert!(store
            .query("P", &SkRange::default())
            .await
            .unwrap()
            .is_empty());
        store.transact((0..100).map(put).collect()).await.unwrap();
        assert_eq!(
            store.query("P", &SkRange::default()).await.unwrap().len(),
            100
        );
    }

    #[tokio::test]
    async fn queries_answer_as_the_memory_store_does_in_sort_key_byte_order() {
        let temp = TempDir::new();
        let store = open(temp.path());
        let memory = MemoryStore::new();
        let mut sks: Vec<String> = (0..50).map(|n| format!("B#{n:03}")).collect();
        sks.extend(["A", "C", "Z", "a", "é", "x\u{10ffff}", "x\u{10ffff}y"].map(String::from));
        for (pk, sk) in sks
            .iter()
            .map(|sk| ("P", sk.as_str()))
            .chain([("P2", "B#000")])
        {
            let write = Write::put(item(&Key::new(pk, sk), json!({ "sk_copy": sk })));
            store.write(write.clone()).await.unwrap();
            memory.write(write).await.unwrap();
        }
        let sks = |items: &[Item]| -> Vec<String> { items.iter().map(|i| key_of(i).sk).collect() };
        let ranges = [
            SkRange::default(),
            SkRange::default().reverse().limit(3),
            SkRange::default().from("Z").limit(3),
            SkRange::prefix("B#").reverse().limit(2),
            SkRange::prefix("B#").to("B#010").reverse().limit(1),
            SkRange::prefix("B#").between("B#047", "ZZZ"),
            SkRange::prefix("B#").between("B#020", "B#010"),
            SkRange::prefix("B#").limit(3),
            SkRange::prefix("B#").from("A").to("B#002"),
            SkRange::prefix("x\u{10ffff}").limit(5),
            SkRange::prefix("x\u{10ffff}").reverse().limit(1),
            SkRange::prefix("nothing"),
        ];
        for range in ranges {
            let got = store.query("P", &range).await.unwrap();
            let expected = memory.query("P", &range).await.unwrap();
            assert_eq!(
                got,
                expected,
                "{range:?}: {:?} vs {:?}",
                sks(&got),
                sks(&expected)
            );
        }
        let all = store.query("P", &SkRange::default()).await.unwrap();
        assert_eq!(all.len(), 57, "one partition only");
        assert_eq!(
            sks(&all)[52..],
            ["Z", "a", "x\u{10ffff}", "x\u{10ffff}y", "é"],
            "byte order, as DynamoDB sorts"
        );
        let newest = store
            .query("P", &SkRange::prefix("B#").reverse().limit(2))
            .await
            .unwrap();
        assert_eq!(sks(&newest), ["B#049", "B#048"]);
        assert!(store
            .query("nobody", &SkRange::default())
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_transaction_of_a_group_commit_stands_or_fails_on_its_own() {
        let temp = TempDir::new();
        let store = Arc::new(open(temp.path()));
        let counter = Key::new("EVENT#1", "INV");
        store
            .write(Write::put(item(&counter, json!({ "left": 32 }))))
            .await
            .unwrap();
        // 64 buyers for 32 places, all queued at once: each takes a place and writes its own
        // item in one transaction, so the refused ones must leave no item behind.
        let buyers = (0..64).map(|n| {
            let store = store.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let take = Update::new(counter)
                    .add("left", -1)
                    .when(Condition::AtLeast("left".into(), 1));
                let mine = item(&Key::new("EVENT#1", format!("BUYER#{n:02}")), json!({}));
                store
                    .transact(vec![Write::Update(take), Write::put_new(mine)])
                    .await
            })
        });
        let results = futures::future::join_all(buyers).await;
        let served = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Ok(Err(StoreError::ConditionFailed { index: 0 }))))
            .count();
        assert_eq!((served, refused), (32, 32));
        let left = store.get(&counter).await.unwrap().unwrap()["left"].clone();
        assert_eq!(left, json!(0));
        let buyers = store
            .query("EVENT#1", &SkRange::prefix("BUYER#"))
            .await
            .unwrap();
        assert_eq!(
            buyers.len(),
            32,
            "an item for each place taken, none for the refused"
        );
    }

    /// The recent items (`recent.rs`) under load: one task updates an item again and again while
    /// readers on other threads read it (filling the cache from the file as they miss, racing the
    /// writer's updates of it). No reader ever sees the item go back, and a read made after a
    /// write was acknowledged sees that write or a later one. Also with the cache small enough
    /// that the item keeps being evicted, and with none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reads_never_go_back_in_time_while_the_item_is_rewritten() {
        for recent_items in [16_384, 1, 0] {
            let temp = TempDir::new();
            let options = SqliteOptions {
                recent_items,
                ..SqliteOptions::default()
            };
            let store = Arc::new(SqliteStore::open(temp.path(), options).unwrap());
            let key = Key::new("P", "counter");
            let other = Key::new("P", "other");
            store
                .write(Write::put(item(&key, json!({ "v": 0 }))))
                .await
                .unwrap();
            let value = |item: Option<Item>| item.unwrap()["v"].as_i64().unwrap();
            let acknowledged = Arc::new(std::sync::atomic::AtomicI64::new(0));
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let readers: Vec<_> = (0..3)
                .map(|_| {
                    let (store, key) = (store.clone(), key.clone());
                    let (acknowledged, done) = (acknowledged.clone(), done.clone());
                    tokio::spawn(async move {
                        let mut last = 0;
                        while !done.load(std::sync::atomic::Ordering::SeqCst) {
                            let floor = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
                            let seen = value(store.get(&key).await.unwrap());
                            assert!(
                                seen >= last,
                                "went back from {last} to {seen} ({recent_items} recent items)"
                            );
                            assert!(
                                seen >= floor,
                                "{seen} read after {floor} was acknowledged ({recent_items} recent items)"
                            );
                            last = seen;
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for v in 1..=300 {
                let update = Update::new(key.clone()).set("v", v);
                store.update(update).await.unwrap();
                acknowledged.store(v, std::sync::atomic::Ordering::SeqCst);
                // Another item in between evicts the counter from a one-item cache.
                let put = Write::put(item(&other, json!({ "v": v })));
                store.write(put).await.unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            for reader in readers {
                reader.await.unwrap();
            }
            assert_eq!(value(store.get(&key).await.unwrap()), 300);
            // Deleted, then read: gone, though it was just read (and kept) many times.
            let delete = Write::Delete {
                key: key.clone(),
                condition: None,
            };
            store.write(delete).await.unwrap();
            assert_eq!(store.get(&key).await.unwrap(), None, "{recent_items}");
        }
    }

    /// A store whose writes fail (here another process holds the file's write lock; a full disk
    /// is the same to the writer) still answers reads, and is not ready until a write commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ping_tells_a_store_that_takes_no_write_until_one_commits_again() {
        let temp = TempDir::new();
        let store = open(temp.path());
        let locker = rusqlite::Connection::open(store.database_path()).unwrap();
        locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let key = Key::new("P", "k");
        let refused = store.write(Write::put(item(&key, json!({})))).await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        assert!(store.ping().await.is_err(), "reads answer, writes do not");
        locker.execute_batch("COMMIT").unwrap();
        store.ping().await.unwrap();
        store
            .write(Write::put(item(&key, json!({}))))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn ping_answers_while_the_store_is_open() {
        let temp = TempDir::new();
        let store = open(temp.path());
        store.ping().await.unwrap();
        assert_eq!(store.data_dir(), temp.path());
        assert_eq!(
            store.database_path(),
            temp.path().join(crate::DATABASE_FILE)
        );
    }
}
