//! Reads: point reads and range queries, run right where they are called (on the calling tokio
//! worker) on a read-only connection taken from a small idle list and put back after.
//!
//! Why on the calling thread: a read of a store whose pages are cached (SQLite's page cache, else
//! the operating system's) takes microseconds, less than handing it to another thread costs.
//! The earlier design ran every read on tokio's blocking threads behind four connections: on a
//! busy two-core machine each hand-off waited for a time slice and for a free connection, about
//! 2.5 ms a read from call to answer (BENCHMARKS.md §8), so a queue status (four or five reads in
//! turn) ran at a fifth of the memory store's rate.
//!
//! The price, bounded: a read blocks its worker for as long as it takes. In WAL mode a reader
//! never waits for the writer or the checkpointer (which is PASSIVE), so that is the time of the
//! read itself: microseconds from cache, one disk read (0.1 ms on an SSD) per page missing from
//! both caches, which only a store much larger than memory or a cold start sees. The one wait a
//! reader can have is SQLite's busy handler during WAL recovery, which happens when the store
//! opens (before serving); it is bounded by the connection's busy timeout. A deployment whose
//! store outgrows memory should measure before relying on this (docs/storage.md).
//!
//! Connections: a read takes an idle one, or opens one when none is idle (so a read never waits
//! for another read); at most [`SqliteOptions::readers`] are kept open between reads, each with
//! its page cache and prepared statements. Since a read never awaits, reads at once are at most
//! the threads calling, so the pool settles at about the runtime's worker count.
//!
//! In WAL mode a reader sees the last committed state; the writer acknowledges only after
//! `COMMIT`, so a read that starts after an acknowledged write sees it.
//!
//! A read finds its rows through the key directory (`keydir.rs`): a point read looks its key up
//! there and reads one row by id; a query takes its keys, in order, from there and reads their
//! rows in one read transaction.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection};

use crate::codec::{self, OrUnavailable};
use crate::connection::{self, Role};
use crate::directory::DataDir;
use crate::keydir::{KeyDir, RowId};
use crate::options::SqliteOptions;
use crate::port::{Item, Key, SkRange, StoreError};

pub struct Readers {
    path: PathBuf,
    options: SqliteOptions,
    idle: Mutex<Vec<Connection>>,
    /// Held so that the directory stays locked while a connection of the store is open.
    _dir: Arc<DataDir>,
}

impl Readers {
    pub fn new(path: PathBuf, options: SqliteOptions, dir: Arc<DataDir>) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            options,
            _dir: dir,
        }
    }

    /// Runs `read` here and now on a read-only connection (see the module's doc for why on the
    /// calling thread).
    pub fn run<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => connection::open(&self.path, &self.options, Role::Reader).or_unavailable()?,
        };
        let result = read(&conn);
        // A connection that failed is not trusted again; a new one is cheap. Beyond the ones
        // kept, a connection is closed (outside the lock: closing may touch the files).
        if result.is_ok() {
            let mut idle = self.idle.lock();
            if idle.len() < self.options.readers.max(1) {
                idle.push(conn);
                return result;
            }
        }
        drop(conn);
        result
    }
}

/// The item of `key`: its row, found in the key directory, read with its key (a row id the
/// directory handed out before the row was committed, or after it was deleted, reads as no
/// item, as it would have read at that moment).
#[cfg(test)]
pub fn get(conn: &Connection, keys: &KeyDir, key: &Key) -> Result<Option<Item>, StoreError> {
    get_encoded(conn, keys, key)?
        .map(|text| codec::decode(&text))
        .transpose()
}

/// The item of `key` as stored (JSON text), not decoded (see `get`).
pub fn get_encoded(
    conn: &Connection,
    keys: &KeyDir,
    key: &Key,
) -> Result<Option<String>, StoreError> {
    match keys.get(key) {
        Some(id) => row(conn, id, &key.pk, &key.sk, str::to_owned),
        None => Ok(None),
    }
}

/// The row `id` if it is the item `(pk, sk)`, its JSON text handed to `take`.
fn row<T>(
    conn: &Connection,
    id: RowId,
    pk: &str,
    sk: &str,
    take: impl FnOnce(&str) -> T,
) -> Result<Option<T>, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT item FROM items WHERE id = ?1 AND pk = ?2 AND sk = ?3")
        .or_unavailable()?;
    let mut rows = statement.query(params![id, pk, sk]).or_unavailable()?;
    match rows.next().or_unavailable()? {
        Some(row) => Ok(Some(take(
            row.get_ref(0)
                .and_then(|v| Ok(v.as_str()?))
                .or_unavailable()?,
        ))),
        None => Ok(None),
    }
}

/// Keys taken from the key directory at a time by a query: a limited query reads about its
/// limit, an unlimited one its partition in steps that never hold the directory for long.
const QUERY_STEP: usize = 256;

/// Items of `pk` in `range`, in sort-key order (or reversed): their keys from the key
/// directory, their rows in one read transaction (one snapshot, as a single statement would
/// read).
pub fn query(
    conn: &Connection,
    keys: &KeyDir,
    pk: &str,
    range: &SkRange,
) -> Result<Vec<Item>, StoreError> {
    let Some((start, end)) = range.interval() else {
        return Ok(Vec::new());
    };
    let limit = range.limit.unwrap_or(usize::MAX);
    // A few more than the limit: some keys may read as no item (see `get`).
    let step = limit.saturating_add(4).min(QUERY_STEP);
    let snapshot = conn.unchecked_transaction().or_unavailable()?;
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let found = keys.range(
            pk,
            (start, end.as_deref()),
            range.reverse,
            after.as_deref(),
            step,
        );
        let complete = found.len() < step;
        for (sk, id) in found {
            if range.contains(&sk) {
                if let Some(item) = row(&snapshot, id, pk, &sk, codec::decode)? {
                    items.push(item?);
                    if items.len() >= limit {
                        return Ok(items);
                    }
                }
            }
            after = Some(sk);
        }
        if complete {
            return Ok(items);
        }
    }
}
