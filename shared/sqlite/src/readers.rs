//! Reads: point reads and range queries on a small pool of read-only connections, run on
//! tokio's blocking threads so that a read waiting on the disk never holds up a runtime worker.
//! At most [`SqliteOptions::readers`] reads run at once, each on a connection kept open (with
//! its page cache and prepared statements); more wait for one without holding a thread. (A pool
//! that opened a connection for every read beyond the ones kept served a third of the reads.)
//!
//! In WAL mode a reader sees the last committed state and never waits for the writer; the
//! writer acknowledges only after `COMMIT`, so a read that starts after an acknowledged write
//! sees it.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection};
use tokio::sync::Semaphore;

use crate::codec::{self, prefix_end, OrUnavailable};
use crate::connection::{self, Role};
use crate::directory::DataDir;
use crate::options::SqliteOptions;
use crate::port::{Item, Key, SkRange, StoreError};

pub struct Readers {
    path: PathBuf,
    options: SqliteOptions,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection the pool may have.
    permits: Arc<Semaphore>,
    /// Held so that the directory stays locked while a read started before the store was
    /// dropped still has a connection open.
    _dir: Arc<DataDir>,
}

impl Readers {
    pub fn new(path: PathBuf, options: SqliteOptions, dir: Arc<DataDir>) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(options.readers.max(1))),
            options,
            _dir: dir,
        }
    }

    /// Runs `read` on a pooled connection on a blocking thread.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .or_unavailable()?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let result = readers.with(read);
            drop(permit);
            result
        })
        .await
        .or_unavailable()?
    }

    /// Runs `read` on a pooled connection, here and now (the caller holds a permit).
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => connection::open(&self.path, &self.options, Role::Reader).or_unavailable()?,
        };
        let result = read(&conn);
        // A connection that failed is not trusted again; a new one is cheap.
        if result.is_ok() {
            self.idle.lock().push(conn);
        }
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
        let prefix_end = prefix_end(&range.prefix);
        let start = match &range.from {
            Some(from) if from.as_str() > range.prefix.as_str() => from.as_str(),
            _ => range.prefix.as_str(),
        };
        let end = match (range.to.as_deref(), prefix_end.as_deref()) {
            (Some(to), Some(prefix_end)) => Some(to.min(prefix_end).to_owned()),
            (Some(to), None) => Some(to.to_owned()),
            (None, prefix_end) => prefix_end.map(str::to_owned),
        };
        if end.as_deref().is_some_and(|end| end <= start) {
            return None;
        }
        Some(Self {
            start,
            end,
            exact: range.prefix.is_empty() || prefix_end.is_some(),
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
