//! The writer thread: every write goes through one connection on one thread, in group commits.
//!
//! Async callers queue a job and await its answer; they never wait on SQLite themselves. The
//! thread takes every job queued so far (up to `max_batch`), runs each inside one transaction
//! (under its own savepoint when it writes more than one row), and answers them all only after
//! that transaction's `COMMIT` returned:
//! no caller hears "done" for a write that is not committed, and under
//! [`Durability::PowerSafe`](crate::Durability::PowerSafe) one disk flush serves the whole group.
//! A job whose condition fails has written nothing (conditions are checked before any write);
//! one that hits an engine error is undone without disturbing the others: by SQLite's own
//! statement rollback when it is one statement, else by rolling back to its savepoint. Only
//! transactions of several writes take a savepoint: one costs two more statements and a copy of
//! every page the job touches into the savepoint's journal, and most jobs (a counter, a ticket,
//! an idempotency record) are one write.
//!
//! Conditions are checked against the state the earlier jobs of the same group left, exactly as
//! if the jobs had been committed one by one in queue order.
//!
//! What the group's successful jobs left of the items someone watches
//! ([`ChangeListener`](tacos_core::ports::store::ChangeListener)) is reported after the `COMMIT`
//! and before any caller is answered, in queue order: the one order in which this store's writes
//! take effect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::codec::{self, OrUnavailable};
use crate::directory::DataDir;
use crate::keydir::{GroupKeys, KeyDir, RowId, Slot};
use crate::port::{key_of, Item, KeptText, Key, StoreError, Update, Watchers, Write};
use crate::recent::RecentItems;

/// What the jobs of a group left: of watched items, reported once the group is committed; of
/// every item, for the recently used items kept in memory (`recent.rs`).
struct Changes<'w> {
    watchers: &'w Watchers,
    recent: &'w RecentItems,
    /// Watched items' changes, in order.
    items: Vec<(Key, Option<Item>)>,
    /// Every item written, as stored (`None`: deleted), in order.
    written: Vec<(Key, Option<Arc<KeptText>>)>,
}

impl<'w> Changes<'w> {
    fn new(watchers: &'w Watchers, recent: &'w RecentItems) -> Self {
        Self {
            watchers,
            recent,
            items: Vec::new(),
            written: Vec::new(),
        }
    }

    /// `key` now holds the item stored as `text`, which `item` gives as its attributes, asked
    /// only if someone watches `key`.
    fn wrote(&mut self, key: Key, text: String, item: impl FnOnce(&str) -> Item) {
        if self.watchers.watch(&key) {
            self.items.push((key.clone(), Some(item(&text))));
        }
        self.written
            .push((key, Some(Arc::new(KeptText::new(text)))));
    }

    /// `key`'s item is deleted.
    fn deleted(&mut self, key: Key) {
        if self.watchers.watch(&key) {
            self.items.push((key.clone(), None));
        }
        self.written.push((key, None));
    }

    /// `key` was purged (past its expiry): the recent items forget it; watchers are not told,
    /// as DynamoDB's TTL deletions reach no application code.
    fn purged(&mut self, key: Key) {
        self.written.push((key, None));
    }

    /// Where a job's changes start, to undo them if it fails.
    fn mark(&self) -> (usize, usize) {
        (self.items.len(), self.written.len())
    }

    fn roll_back_to(&mut self, (items, written): (usize, usize)) {
        self.items.truncate(items);
        self.written.truncate(written);
    }

    /// The group is about to `COMMIT`: reads that miss the recent items from here until it is
    /// through keep nothing there (`recent.rs`).
    fn committing(&self) {
        self.recent
            .committing(self.written.iter().map(|(key, _)| key));
    }

    /// The group is committed: the recent items take its changes, then every watcher is told,
    /// in order.
    fn committed(&mut self) {
        self.recent.committed(self.written.drain(..));
        for (key, item) in self.items.drain(..) {
            self.watchers.report(&key, item.as_ref());
        }
    }

    /// The group failed: nothing of it stands.
    fn failed(&mut self) {
        self.recent.forget(self.written.iter().map(|(key, _)| key));
        self.written.clear();
        self.items.clear();
    }
}

/// The items the writer last wrote by an update, decoded, by row: the join counters every join
/// adds one to and the queue states every advance rewrites are read by their next update from
/// here, not from their row (a statement and a JSON decode each time: about a tenth of the
/// writer's time per join, BENCHMARKS §8.14).
///
/// Only the writer writes, so an entry is the row's item until the writer itself writes or
/// deletes that row, which drops it ([`Rows::store`], [`Rows::delete`]); whatever may have
/// undone writes already made (a failed job, a failed group) and a purge empty it all. Row ids
/// are never given to another item (`keydir.rs`), so an entry cannot be read as another key's.
/// A read takes its entry rather than copying it (the update that read it keeps what it writes,
/// so one copy is made per update, not two); a read for a condition that leaves the row as it
/// is just sends the row's next update to the row.
#[derive(Default)]
struct LastUpdates {
    items: HashMap<RowId, Item>,
}

impl LastUpdates {
    /// Entries kept at most: far more than an event's counters and states, and when reached the
    /// map starts again rather than tracking use.
    const MOST: usize = 4_096;

    fn take(&mut self, id: RowId) -> Option<Item> {
        self.items.remove(&id)
    }

    fn keep(&mut self, id: RowId, item: &Item) {
        if self.items.len() >= Self::MOST {
            self.items.clear();
        }
        self.items.insert(id, item.clone());
    }

    fn forget(&mut self, id: RowId) {
        self.items.remove(&id);
    }

    fn clear(&mut self) {
        self.items.clear();
    }
}

/// A write waiting for the writer thread, with where to send its outcome.
enum Job {
    Transact {
        writes: Vec<Write>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Update {
        update: Update,
        reply: oneshot::Sender<Result<Item, StoreError>>,
    },
    Purge {
        now: i64,
        limit: usize,
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
}

/// A job's outcome, held until the group it ran in is committed (or failed as a whole).
enum Answer {
    Transact(
        oneshot::Sender<Result<(), StoreError>>,
        Result<(), StoreError>,
    ),
    Update(
        oneshot::Sender<Result<Item, StoreError>>,
        Result<Item, StoreError>,
    ),
    Purge(
        oneshot::Sender<Result<usize, StoreError>>,
        Result<usize, StoreError>,
    ),
}

impl Answer {
    fn is_err(&self) -> bool {
        match self {
            Self::Transact(_, result) => result.is_err(),
            Self::Update(_, result) => result.is_err(),
            Self::Purge(_, result) => result.is_err(),
        }
    }

    fn fail(&mut self, error: &StoreError) {
        match self {
            Self::Transact(_, result) => *result = Err(error.clone()),
            Self::Update(_, result) => *result = Err(error.clone()),
            Self::Purge(_, result) => *result = Err(error.clone()),
        }
    }

    /// A caller that stopped waiting (its request was cancelled) simply gets no answer; its
    /// write stands, as a DynamoDB write does after the client hung up.
    fn send(self) {
        match self {
            Self::Transact(reply, result) => drop(reply.send(result)),
            Self::Update(reply, result) => drop(reply.send(result)),
            Self::Purge(reply, result) => drop(reply.send(result)),
        }
    }
}

impl Job {
    /// Runs the job, recording in `changes` what it left of watched items and in `keys` where
    /// its items' rows are, if it succeeds.
    fn run(
        self,
        conn: &Connection,
        keys: &mut GroupKeys,
        latest: &mut LastUpdates,
        changes: &mut Changes,
    ) -> Answer {
        let before = changes.mark();
        let mark = keys.mark();
        let rows = &mut Rows { conn, keys, latest };
        let answer = match self {
            Self::Transact { writes, reply } => {
                Answer::Transact(reply, transact(rows, writes, changes))
            }
            Self::Update { update, reply } => {
                Answer::Update(reply, update_item(rows, &update, changes))
            }
            Self::Purge { now, limit, reply } => {
                Answer::Purge(reply, purge(rows, now, limit, changes))
            }
        };
        if answer.is_err() {
            changes.roll_back_to(before);
            keys.roll_back_to(mark);
            latest.clear();
        }
        answer
    }

    /// Whether the job may have written part of its rows when it fails, so needs a savepoint to
    /// be undone alone: a transaction of several writes. An update, a one-write transaction and a
    /// purge are each one statement, which SQLite undoes by itself when it fails.
    fn writes_several_rows(&self) -> bool {
        match self {
            Self::Transact { writes, .. } => {
                writes
                    .iter()
                    .filter(|w| !matches!(w, Write::Check { .. }))
                    .count()
                    > 1
            }
            Self::Update { .. } | Self::Purge { .. } => false,
        }
    }

    fn refuse(self, error: StoreError) -> Answer {
        match self {
            Self::Transact { reply, .. } => Answer::Transact(reply, Err(error)),
            Self::Update { reply, .. } => Answer::Update(reply, Err(error)),
            Self::Purge { reply, .. } => Answer::Purge(reply, Err(error)),
        }
    }
}

/// The queue to the writer thread; dropping it lets the thread finish what is queued, then
/// joins it.
pub struct Writer {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Whether the last write group failed to commit (a full disk, an I/O error): the store
    /// answers its reads but cannot take a write, which a readiness probe must tell.
    failing: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the thread on `conn`; it holds `dir` until it has committed its last job.
    /// `watchers` are told of the committed changes to the items they watch; `keys` is kept
    /// where the items' rows are, `recent` holding what each committed group wrote.
    pub fn spawn(
        conn: Connection,
        max_batch: usize,
        dir: Arc<DataDir>,
        keys: Arc<KeyDir>,
        watchers: Arc<Watchers>,
        recent: Arc<RecentItems>,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let failing = Arc::new(AtomicBool::new(false));
        let health = failing.clone();
        let thread = std::thread::Builder::new()
            .name("tacos-db-writer".into())
            .spawn(move || {
                let changes = Changes::new(&watchers, &recent);
                run(&conn, &queue, (max_batch.max(1), &health), &keys, changes);
                drop(conn);
                drop(dir);
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
            failing,
        })
    }

    pub async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Transact { writes, reply })?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    pub async fn update(&self, update: Update) -> Result<Item, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Update { update, reply })?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Deletes up to `limit` items whose `expires_at` is before `now`; returns how many.
    pub async fn purge(&self, now: i64, limit: usize) -> Result<usize, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Purge { now, limit, reply })?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// Whether the thread still takes jobs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Whether the last write group failed to commit; the next one that commits clears it.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(stopped)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            // Only the jobs already queued are left: a few milliseconds at most.
            let _ = thread.join();
        }
    }
}

thread_local! {
    /// The writer thread's failed groups, logged at most once a second.
    static GROUP_FAILURES: FailureLog = const { FailureLog::new() };
}

/// Failed write groups, logged at most once a second with how many failed since the last line: a
/// store that fails every write (a full disk) fails every group, and a line for each (39,000 a
/// minute with the requests' own, in an operator's probe) buries the cause in the log.
struct FailureLog {
    last: std::cell::Cell<Option<std::time::Instant>>,
    since: std::cell::Cell<u64>,
}

impl FailureLog {
    const fn new() -> Self {
        Self {
            last: std::cell::Cell::new(None),
            since: std::cell::Cell::new(0),
        }
    }

    /// Counts a failure; `Some(failures since the last line)` when a line is due.
    fn due(&self) -> Option<u64> {
        self.since.set(self.since.get() + 1);
        let now = std::time::Instant::now();
        let due = self
            .last
            .get()
            .is_none_or(|last| now.duration_since(last) >= std::time::Duration::from_secs(1));
        due.then(|| {
            self.last.set(Some(now));
            self.since.replace(0)
        })
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's writer has stopped".into())
}

fn run(
    conn: &Connection,
    queue: &Receiver<Job>,
    (max_batch, failing): (usize, &AtomicBool),
    keys: &KeyDir,
    mut changes: Changes,
) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut answers = Vec::with_capacity(max_batch);
    let mut latest = LastUpdates::default();
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if commit_group(
            conn,
            keys,
            &mut batch,
            &mut answers,
            &mut latest,
            &mut changes,
        ) {
            changes.committed();
            failing.store(false, Ordering::Relaxed);
        } else {
            changes.failed();
            failing.store(true, Ordering::Relaxed);
        }
        answers.drain(..).for_each(Answer::send);
    }
}

/// Runs `batch` in one transaction (a savepoint for each job of several writes), and leaves in `answers`
/// what each caller is told: its own outcome if the `COMMIT` succeeded, an error otherwise.
/// Returns whether the group was committed (its `changes` stand, `keys` shows its rows).
fn commit_group(
    conn: &Connection,
    keys: &KeyDir,
    batch: &mut Vec<Job>,
    answers: &mut Vec<Answer>,
    latest: &mut LastUpdates,
    changes: &mut Changes,
) -> bool {
    if let Err(error) = exec(conn, "BEGIN IMMEDIATE") {
        if let Some(groups) = GROUP_FAILURES.with(FailureLog::due) {
            tracing::error!(%error, groups, "store write group could not begin");
        }
        answers.extend(batch.drain(..).map(|job| job.refuse(error.clone())));
        return false;
    }
    let mut group_keys = GroupKeys::new(keys);
    let mut jobs = batch.drain(..);
    let mut lost = None;
    for job in jobs.by_ref() {
        let savepoint = job.writes_several_rows();
        if savepoint {
            if let Err(error) = exec(conn, "SAVEPOINT job") {
                answers.push(job.refuse(error.clone()));
                lost = Some(error);
                break;
            }
        }
        let answer = job.run(conn, &mut group_keys, latest, changes);
        let ended = match (savepoint, answer.is_err()) {
            (false, _) => Ok(()),
            (true, true) => exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job")),
            (true, false) => exec(conn, "RELEASE job"),
        };
        answers.push(answer);
        // SQLite ends the whole transaction by itself after some errors (a full disk, I/O):
        // what the group did so far is gone, so none of it may be reported as done.
        if let Err(error) = ended {
            lost = Some(error);
            break;
        }
        if conn.is_autocommit() {
            lost = Some(StoreError::Unavailable(
                "sqlite: the write group's transaction was rolled back".into(),
            ));
            break;
        }
    }
    let outcome = match lost {
        Some(error) => Err(error),
        None => {
            group_keys.publish_added();
            changes.committing();
            exec(conn, "COMMIT")
        }
    };
    if let Err(error) = outcome {
        group_keys.failed();
        latest.clear();
        if let Some(groups) = GROUP_FAILURES.with(FailureLog::due) {
            tracing::error!(%error, jobs = answers.len(), groups,
                "store write group failed; nothing of it was committed");
        }
        if !conn.is_autocommit() {
            let _ = exec(conn, "ROLLBACK");
        }
        answers.iter_mut().for_each(|answer| answer.fail(&error));
        answers.extend(jobs.map(|job| job.refuse(error.clone())));
        return false;
    }
    group_keys.committed();
    true
}

fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .or_unavailable()
}

/// The writer's connection with where the group's items' rows are: the one way a job reads or
/// writes an item by its key.
struct Rows<'a, 'd> {
    conn: &'a Connection,
    keys: &'a mut GroupKeys<'d>,
    latest: &'a mut LastUpdates,
}

/// A write's item as it is before the write, and where its row is: found once per write (a
/// lookup in the key directory, then the row).
struct Found {
    slot: Slot,
    item: Option<Item>,
}

impl Rows<'_, '_> {
    /// Where `key`'s row is, and (`read`) its item.
    fn find(&mut self, key: &Key, read: bool) -> Result<Found, StoreError> {
        let slot = self.keys.slot(key);
        let item = match slot {
            Slot::Live(id) if read => self.load(key, id)?,
            _ => None,
        };
        Ok(Found { slot, item })
    }

    fn load(&mut self, key: &Key, id: RowId) -> Result<Option<Item>, StoreError> {
        if let Some(item) = self.latest.take(id) {
            return Ok(Some(item));
        }
        let mut statement = self
            .conn
            .prepare_cached("SELECT item FROM items WHERE id = ?1")
            .or_unavailable()?;
        let text: Option<String> = statement
            .query_row(params![id], |row| row.get(0))
            .optional()
            .or_unavailable()?;
        match text {
            Some(text) => codec::decode(&text).map(Some),
            None => Err(out_of_step(key, id)),
        }
    }

    /// Writes `item` at `key` (whose row is at `slot`): over its row, or in a new row appended
    /// to the table (the row it had if this group deleted it). Returns the item's row and the
    /// item as stored.
    fn store(&mut self, key: &Key, slot: Slot, item: &Item) -> Result<(RowId, String), StoreError> {
        let text = codec::encode(item)?;
        let id = self.store_text(key, slot, &text, codec::expires_at(item))?;
        Ok((id, text))
    }

    /// Stores `text`, an item's JSON, expiring at `expires_at`, as `key`'s row.
    fn store_text(
        &mut self,
        key: &Key,
        slot: Slot,
        text: &str,
        expires_at: Option<i64>,
    ) -> Result<RowId, StoreError> {
        let (id, new) = match slot {
            Slot::Live(id) => (id, false),
            Slot::Freed(id) => (id, true),
            Slot::Absent => (self.keys.new_row(), true),
        };
        self.latest.forget(id);
        let written = if new {
            self.conn
                .prepare_cached(
                    "INSERT INTO items (id, pk, sk, item, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut statement| {
                    statement.execute(params![id, key.pk, key.sk, text, expires_at])
                })
        } else {
            self.conn
                .prepare_cached("UPDATE items SET item = ?2, expires_at = ?3 WHERE id = ?1")
                .and_then(|mut statement| statement.execute(params![id, text, expires_at]))
        }
        .or_unavailable()?;
        if written != 1 {
            return Err(out_of_step(key, id));
        }
        if new {
            self.keys.written(key, slot, id);
        }
        Ok(id)
    }

    /// [`Self::store`] for an update, whose item the row's next update reads from memory
    /// ([`LastUpdates`]).
    fn store_updated(&mut self, key: &Key, slot: Slot, item: &Item) -> Result<String, StoreError> {
        let (id, text) = self.store(key, slot, item)?;
        self.latest.keep(id, item);
        Ok(text)
    }

    fn delete(&mut self, key: &Key, slot: Slot) -> Result<(), StoreError> {
        let Slot::Live(id) = slot else {
            return Ok(());
        };
        self.latest.forget(id);
        self.conn
            .prepare_cached("DELETE FROM items WHERE id = ?1")
            .and_then(|mut statement| statement.execute(params![id]))
            .or_unavailable()?;
        self.keys.deleted(key);
        Ok(())
    }
}

/// The key directory names a row that is not the key's: a bug, never a state of the file (the
/// directory is read from the rows at open). Refused rather than written over.
fn out_of_step(key: &Key, id: RowId) -> StoreError {
    tracing::error!(pk = %key.pk, sk = %key.sk, row = id, "the store's key directory is out of step with its rows");
    StoreError::Unavailable(format!(
        "sqlite: row {id} is not the item ({}, {})",
        key.pk, key.sk
    ))
}

/// Checks every condition against the items as they are, then applies every write: a failed
/// condition has written nothing. (The caller has refused empty, oversized and duplicate-key
/// transactions already.)
fn transact(rows: &mut Rows, writes: Vec<Write>, changes: &mut Changes) -> Result<(), StoreError> {
    // Each write's key is its own (validated), so what is found first stays true until that
    // write is made.
    let mut current = Vec::with_capacity(writes.len());
    for (index, write) in writes.iter().enumerate() {
        let read = write.condition().is_some() || matches!(write, Write::Update(_));
        let found = rows.find(&write.key(), read)?;
        if let Some(condition) = write.condition() {
            if !condition.holds(found.item.as_ref()) {
                return Err(StoreError::ConditionFailed { index });
            }
        }
        current.push(found);
    }
    for (write, found) in writes.into_iter().zip(current) {
        match write {
            Write::Put { item, .. } => {
                let key = key_of(&item);
                let (_, text) = rows.store(&key, found.slot, &item)?;
                changes.wrote(key, text, |_| item);
            }
            Write::PutText { item, .. } => {
                rows.store_text(item.key(), found.slot, item.text(), item.expires_at())?;
                let (key, text) = item.into_parts();
                changes.wrote(key, text, decoded);
            }
            Write::Update(update) => {
                let mut item = found.item.unwrap_or_else(|| update.new_item());
                update.apply_to(&mut item);
                let text = rows.store_updated(&update.key, found.slot, &item)?;
                changes.wrote(update.key, text, |_| item);
            }
            Write::Delete { key, .. } => {
                rows.delete(&key, found.slot)?;
                changes.deleted(key);
            }
            Write::Check { .. } => {}
        }
    }
    Ok(())
}

/// The item a text put as an item's JSON holds ([`tacos_core::ports::store::ItemText`]), for
/// its watchers. Its writer serialized it, so it decodes; were it not an item's JSON, the
/// watchers are told of an empty item and the failure is logged, the write stands.
fn decoded(text: &str) -> Item {
    codec::decode(text).unwrap_or_else(|error| {
        tracing::error!(%error, "an item put as text is not an item's JSON");
        Item::new()
    })
}

fn update_item(
    rows: &mut Rows,
    update: &Update,
    changes: &mut Changes,
) -> Result<Item, StoreError> {
    let Found { slot, item } = rows.find(&update.key, true)?;
    if let Some(condition) = &update.condition {
        if !condition.holds(item.as_ref()) {
            return Err(StoreError::ConditionFailed { index: 0 });
        }
    }
    let mut item = item.unwrap_or_else(|| update.new_item());
    update.apply_to(&mut item);
    let text = rows.store_updated(&update.key, slot, &item)?;
    changes.wrote(update.key.clone(), text, |_| item.clone());
    Ok(item)
}

fn purge(
    rows: &mut Rows,
    now: i64,
    limit: usize,
    changes: &mut Changes,
) -> Result<usize, StoreError> {
    // Through the partial index on `expires_at`: only expired items are read. One statement
    // (SQLite makes every change of a `RETURNING` statement at its first step), so a failure
    // leaves nothing deleted.
    let purged: Vec<Key> = rows
        .conn
        .prepare_cached(
            "DELETE FROM items WHERE id IN
                 (SELECT id FROM items WHERE expires_at < ?1 LIMIT ?2)
             RETURNING pk, sk",
        )
        .and_then(|mut statement| {
            statement
                .query_map(params![now, limit as i64], |row| {
                    Ok(Key::new(row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?
                .collect()
        })
        .or_unavailable()?;
    let count = purged.len();
    // The purge's rows are not named by id: nothing kept is trusted after it.
    rows.latest.clear();
    for key in purged {
        rows.keys.deleted(&key);
        changes.purged(key);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::port::Store;
    use crate::testing::{item, TempDir};
    use crate::{SqliteOptions, SqliteStore};

    /// A store file holding items `a` and `b` of partition `P`, opened on a bare connection, with
    /// its key directory.
    async fn fixture(temp: &TempDir) -> (Connection, KeyDir) {
        let store = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap();
        for sk in ["a", "b"] {
            let put = Write::put(item(&Key::new("P", sk), json!({ "v": 0 })));
            store.write(put).await.unwrap();
        }
        let path = store.database_path().to_path_buf();
        drop(store);
        let conn = Connection::open(path).unwrap();
        let keys = KeyDir::load(&conn).unwrap();
        (conn, keys)
    }

    fn job(writes: Vec<Write>) -> (Job, oneshot::Receiver<Result<(), StoreError>>) {
        let (reply, answer) = oneshot::channel();
        (Job::Transact { writes, reply }, answer)
    }

    fn row_ids(conn: &Connection) -> Vec<(String, RowId)> {
        let mut statement = conn
            .prepare("SELECT sk, id FROM items ORDER BY id")
            .unwrap();
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[tokio::test]
    async fn a_group_appends_new_items_and_an_item_deleted_and_written_again_keeps_its_row() {
        let temp = TempDir::new();
        let (conn, keys) = fixture(&temp).await;
        let (a, c) = (Key::new("P", "a"), Key::new("P", "c"));
        let a_row = keys.get(&a).unwrap();
        let watchers = Watchers::default();
        let recent = RecentItems::new(0);
        let mut changes = Changes::new(&watchers, &recent);
        let (jobs, answers): (Vec<_>, Vec<_>) = [
            job(vec![Write::Delete {
                key: a.clone(),
                condition: None,
            }]),
            job(vec![Write::put(item(&a, json!({ "v": 1 })))]),
            job(vec![Write::put_new(item(&c, json!({ "v": 1 })))]),
            // Refused: `c` exists now (a condition checked against the group's own writes).
            job(vec![Write::put_new(item(&c, json!({ "v": 2 })))]),
        ]
        .into_iter()
        .unzip();
        let mut batch = jobs;
        let mut sent = Vec::new();
        assert!(commit_group(
            &conn,
            &keys,
            &mut batch,
            &mut sent,
            &mut LastUpdates::default(),
            &mut changes
        ));
        sent.into_iter().for_each(Answer::send);
        let outcomes: Vec<_> = futures::future::join_all(answers).await;
        assert!(outcomes[..3].iter().all(|o| matches!(o, Ok(Ok(())))));
        assert!(matches!(
            outcomes[3],
            Ok(Err(StoreError::ConditionFailed { index: 0 }))
        ));

        assert_eq!(keys.get(&a), Some(a_row), "a's key never moved");
        let c_row = keys.get(&c).expect("c is published");
        assert_eq!(
            row_ids(&conn),
            [
                ("a".into(), a_row),
                ("b".into(), a_row + 1),
                ("c".into(), c_row)
            ]
        );
        assert!(c_row > a_row + 1, "a new item's row is appended");
        assert_eq!(
            crate::readers::get(&conn, &keys, &c).unwrap().unwrap()["v"],
            json!(1)
        );
    }

    /// Runs `jobs` as one group with what earlier groups left in `latest`, and answers them.
    fn group(conn: &Connection, keys: &KeyDir, latest: &mut LastUpdates, jobs: Vec<Job>) -> bool {
        let watchers = Watchers::default();
        let recent = RecentItems::new(0);
        let mut changes = Changes::new(&watchers, &recent);
        let mut batch = jobs;
        let mut sent = Vec::new();
        let committed = commit_group(conn, keys, &mut batch, &mut sent, latest, &mut changes);
        sent.into_iter().for_each(Answer::send);
        committed
    }

    fn stored_v(conn: &Connection, sk: &str) -> i64 {
        let text: String = conn
            .query_row("SELECT item FROM items WHERE sk = ?1", [sk], |row| {
                row.get(0)
            })
            .unwrap();
        codec::decode(&text).unwrap()["v"].as_i64().unwrap()
    }

    #[tokio::test]
    async fn an_update_reads_what_the_last_one_left_and_nothing_a_failed_job_undid() {
        let temp = TempDir::new();
        let (conn, keys) = fixture(&temp).await;
        let mut latest = LastUpdates::default();
        let a = Key::new("P", "a");
        let add = |n| job(vec![Write::Update(Update::new(a.clone()).add("v", n))]);
        // Two groups of updates: the second group's first update reads the first's last.
        for n in [1, 2] {
            let (j, answer) = add(n);
            assert!(group(&conn, &keys, &mut latest, vec![j]));
            answer.await.unwrap().unwrap();
        }
        assert_eq!(stored_v(&conn, "a"), 3);
        assert_eq!(latest.items[&keys.get(&a).unwrap()]["v"], json!(3));

        // A job that updates `a` and then fails (its second write finds `b`'s row gone from
        // under the key directory) is undone: its update must not be read by the next one.
        conn.execute("DELETE FROM items WHERE sk = 'b'", [])
            .unwrap();
        let (failing, failed) = job(vec![
            Write::Update(Update::new(a.clone()).add("v", 100)),
            Write::put(item(&Key::new("P", "b"), json!({ "v": 0 }))),
        ]);
        let (next, answer) = add(1);
        assert!(group(&conn, &keys, &mut latest, vec![failing, next]));
        assert!(matches!(failed.await, Ok(Err(StoreError::Unavailable(_)))));
        answer.await.unwrap().unwrap();
        assert_eq!(stored_v(&conn, "a"), 4, "the failed job's 100 was undone");
        assert_eq!(
            crate::readers::get(&conn, &keys, &a).unwrap().unwrap()["v"],
            json!(4)
        );
    }

    #[test]
    fn failed_groups_are_logged_once_a_second_with_their_count() {
        let log = FailureLog::new();
        assert_eq!(log.due(), Some(1), "the first failure is logged at once");
        assert_eq!((0..99).filter_map(|_| log.due()).count(), 0);
        log.last.set(Some(
            std::time::Instant::now() - std::time::Duration::from_secs(2),
        ));
        assert_eq!(
            log.due(),
            Some(100),
            "the next line counts what it stood for"
        );
    }

    #[tokio::test]
    async fn a_write_that_fails_leaves_no_key_behind() {
        let temp = TempDir::new();
        let (conn, keys) = fixture(&temp).await;
        let watchers = Watchers::default();
        let recent = RecentItems::new(0);
        let mut changes = Changes::new(&watchers, &recent);
        let new = Key::new("P", "new");
        // The file refuses writes from here on: the COMMIT (or a statement) fails.
        let (put, answer) = job(vec![Write::put(item(&new, json!({})))]);
        conn.execute_batch("PRAGMA query_only = ON").unwrap();
        let mut batch = vec![put];
        let mut sent = Vec::new();
        commit_group(
            &conn,
            &keys,
            &mut batch,
            &mut sent,
            &mut LastUpdates::default(),
            &mut changes,
        );
        sent.into_iter().for_each(Answer::send);
        assert!(matches!(answer.await, Ok(Err(StoreError::Unavailable(_)))));
        assert_eq!(keys.get(&new), None);
        assert_eq!(keys.len(), 2);
    }
}
