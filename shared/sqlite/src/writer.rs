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

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::codec::{self, OrUnavailable};
use crate::directory::DataDir;
use crate::port::{key_of, Item, Key, StoreError, Update, Watchers, Write};

/// What the jobs of a group left of watched items, reported once the group is committed.
struct Changes<'w> {
    watchers: &'w Watchers,
    items: Vec<(Key, Option<Item>)>,
}

impl Changes<'_> {
    fn record(&mut self, key: &Key, item: Option<&Item>) {
        if self.watchers.watch(key) {
            self.items.push((key.clone(), item.cloned()));
        }
    }

    /// Reports every change, in order (the group is committed).
    fn report(&mut self) {
        for (key, item) in self.items.drain(..) {
            self.watchers.report(&key, item.as_ref());
        }
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
    /// Runs the job, recording in `changes` what it left of watched items if it succeeds.
    fn run(self, conn: &Connection, changes: &mut Changes) -> Answer {
        let before = changes.items.len();
        let answer = match self {
            Self::Transact { writes, reply } => {
                Answer::Transact(reply, transact(conn, writes, changes))
            }
            Self::Update { update, reply } => {
                Answer::Update(reply, update_item(conn, &update, changes))
            }
            Self::Purge { now, limit, reply } => Answer::Purge(reply, purge(conn, now, limit)),
        };
        if answer.is_err() {
            changes.items.truncate(before);
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
}

impl Writer {
    /// Starts the thread on `conn`; it holds `dir` until it has committed its last job.
    /// `watchers` are told of the committed changes to the items they watch.
    pub fn spawn(
        conn: Connection,
        max_batch: usize,
        dir: Arc<DataDir>,
        watchers: Arc<Watchers>,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tacos-db-writer".into())
            .spawn(move || {
                run(&conn, &queue, max_batch.max(1), &watchers);
                drop(conn);
                drop(dir);
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
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

fn stopped() -> StoreError {
    StoreError::Unavailable("the store's writer has stopped".into())
}

fn run(conn: &Connection, queue: &Receiver<Job>, max_batch: usize, watchers: &Watchers) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut answers = Vec::with_capacity(max_batch);
    let mut changes = Changes {
        watchers,
        items: Vec::new(),
    };
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if commit_group(conn, &mut batch, &mut answers, &mut changes) {
            changes.report();
        }
        changes.items.clear();
        answers.drain(..).for_each(Answer::send);
    }
}

/// Runs `batch` in one transaction (a savepoint for each job of several writes), and leaves in `answers`
/// what each caller is told: its own outcome if the `COMMIT` succeeded, an error otherwise.
/// Returns whether the group was committed (its `changes` stand).
fn commit_group(
    conn: &Connection,
    batch: &mut Vec<Job>,
    answers: &mut Vec<Answer>,
    changes: &mut Changes,
) -> bool {
    if let Err(error) = exec(conn, "BEGIN IMMEDIATE") {
        tracing::error!(%error, "store write group could not begin");
        answers.extend(batch.drain(..).map(|job| job.refuse(error.clone())));
        return false;
    }
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
        let answer = job.run(conn, changes);
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
        None => exec(conn, "COMMIT"),
    };
    if let Err(error) = outcome {
        tracing::error!(%error, jobs = answers.len(), "store write group failed; nothing of it was committed");
        if !conn.is_autocommit() {
            let _ = exec(conn, "ROLLBACK");
        }
        answers.iter_mut().for_each(|answer| answer.fail(&error));
        answers.extend(jobs.map(|job| job.refuse(error.clone())));
        return false;
    }
    true
}

fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .or_unavailable()
}

fn load(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT item FROM items WHERE pk = ?1 AND sk = ?2")
        .or_unavailable()?;
    let text: Option<String> = statement
        .query_row(params![key.pk, key.sk], |row| row.get(0))
        .optional()
        .or_unavailable()?;
    text.as_deref().map(codec::decode).transpose()
}

fn store(conn: &Connection, key: &Key, item: &Item) -> Result<(), StoreError> {
    let text = codec::encode(item)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO items (pk, sk, item, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut statement| {
        statement.execute(params![key.pk, key.sk, text, codec::expires_at(item)])
    })
    .map(drop)
    .or_unavailable()
}

fn delete(conn: &Connection, key: &Key) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut statement| statement.execute(params![key.pk, key.sk]))
        .map(drop)
        .or_unavailable()
}

/// Checks every condition against the items as they are, then applies every write: a failed
/// condition has written nothing. (The caller has refused empty, oversized and duplicate-key
/// transactions already.)
fn transact(
    conn: &Connection,
    writes: Vec<Write>,
    changes: &mut Changes,
) -> Result<(), StoreError> {
    let mut current = Vec::with_capacity(writes.len());
    for (index, write) in writes.iter().enumerate() {
        let needed = write.condition().is_some() || matches!(write, Write::Update(_));
        let item = if needed {
            load(conn, &write.key())?
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
            Write::Put { item, .. } => {
                let key = key_of(&item);
                store(conn, &key, &item)?;
                changes.record(&key, Some(&item));
            }
            Write::Update(update) => {
                let mut item = item.unwrap_or_else(|| update.new_item());
                update.apply_to(&mut item);
                store(conn, &update.key, &item)?;
                changes.record(&update.key, Some(&item));
            }
            Write::Delete { key, .. } => {
                delete(conn, &key)?;
                changes.record(&key, None);
            }
            Write::Check { .. } => {}
        }
    }
    Ok(())
}

fn update_item(
    conn: &Connection,
    update: &Update,
    changes: &mut Changes,
) -> Result<Item, StoreError> {
    let item = load(conn, &update.key)?;
    if let Some(condition) = &update.condition {
        if !condition.holds(item.as_ref()) {
            return Err(StoreError::ConditionFailed { index: 0 });
        }
    }
    let mut item = item.unwrap_or_else(|| update.new_item());
    update.apply_to(&mut item);
    store(conn, &update.key, &item)?;
    changes.record(&update.key, Some(&item));
    Ok(item)
}

fn purge(conn: &Connection, now: i64, limit: usize) -> Result<usize, StoreError> {
    // Through the partial index on `expires_at`: only expired items are read.
    conn.prepare_cached(
        "DELETE FROM items WHERE (pk, sk) IN
             (SELECT pk, sk FROM items WHERE expires_at < ?1 LIMIT ?2)",
    )
    .and_then(|mut statement| statement.execute(params![now, limit as i64]))
    .or_unavailable()
}
