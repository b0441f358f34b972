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

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection};

use crate::codec::{self, OrUnavailable};
use crate::connection::{self, Role};
use crate::directory::DataDir;
use crate::options::SqliteOptions;
use crate::port::{prefix_end, Item, Key, SkRange, StoreError};

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

pub fn get(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT item FROM items WHERE pk = ?1 AND sk = ?2")
        .or_unavailable()?;
    let mut rows = statement.query(params![key.pk, key.sk]).or_unavailable()?;
    match rows.next().or_unavailable()? {
        Some(row) => codec::decode(
            row.get_ref(0)
                .and_then(|v| Ok(v.as_str()?))
                .or_unavailable()?,
        )
        .map(Some),
        None => Ok(None),
    }
}

/// Items of `pk` in `range`, in sort-key order (or reversed): the bounds become an index range,
/// so a query reads only the rows it returns.
pub fn query(conn: &Connection, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
    let Some(bounds) = Bounds::of(range) else {
        return Ok(Vec::new());
    };
    let limit = range.limit.unwrap_or(usize::MAX);
    let sql_limit = if bounds.exact {
        i64::try_from(limit).unwrap_or(-1)
    } else {
        -1
    };
    let mut statement = conn
        .prepare_cached(select(bounds.end.is_some(), range.reverse))
        .or_unavailable()?;
    let mut rows = statement
        .query(params![pk, bounds.start, bounds.end, sql_limit])
        .or_unavailable()?;
    let mut items = Vec::new();
    while items.len() < limit {
        let Some(row) = rows.next().or_unavailable()? else {
            break;
        };
        let sk = row
            .get_ref(0)
            .and_then(|v| Ok(v.as_str()?))
            .or_unavailable()?;
        if bounds.exact || range.contains(sk) {
            let text = row
                .get_ref(1)
                .and_then(|v| Ok(v.as_str()?))
                .or_unavailable()?;
            items.push(codec::decode(text)?);
        }
    }
    Ok(items)
}

/// A range's sort keys as the index sees them: from `start` (inclusive) to `end` (exclusive,
/// none for "to the end of the partition").
struct Bounds<'a> {
    start: &'a str,
    end: Option<String>,
    /// Whether every key the index returns is in the range. Not so for a non-empty prefix that
    /// has no end bound (one ending in the last code point): the index range holds more than the
    /// prefix, so rows are filtered here, and limited after filtering.
    exact: bool,
}

impl<'a> Bounds<'a> {
    /// `None` when the range is empty.
    fn of(range: &'a SkRange) -> Option<Self> {
        let (start, end) = range.interval()?;
        Some(Self {
            start,
            end,
            exact: range.prefix.is_empty() || prefix_end(&range.prefix).is_some(),
        })
    }
}

/// The statement for a range with or without an end bound, in either order (`?3` is the end,
/// NULL when there is none; `?4` the limit, -1 for none).
fn select(bounded: bool, reverse: bool) -> &'static str {
    match (bounded, reverse) {
        (true, false) => {
            "SELECT sk, item FROM items WHERE pk = ?1 AND sk >= ?2 AND sk < ?3 ORDER BY sk LIMIT ?4"
        }
        (true, true) => {
            "SELECT sk, item FROM items WHERE pk = ?1 AND sk >= ?2 AND sk < ?3 ORDER BY sk DESC LIMIT ?4"
        }
        (false, false) => {
            "SELECT sk, item FROM items WHERE pk = ?1 AND sk >= ?2 AND ?3 IS NULL ORDER BY sk LIMIT ?4"
        }
        (false, true) => {
            "SELECT sk, item FROM items WHERE pk = ?1 AND sk >= ?2 AND ?3 IS NULL ORDER BY sk DESC LIMIT ?4"
        }
    }
}
