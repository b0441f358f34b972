//! The store port over SQLite: the embedded deployment's durable store.
//!
//! One data directory holds one SQLite file (bundled SQLite, write-ahead-log mode) with every
//! item as JSON text in a row appended in write order, and a lock file that keeps a second server
//! out. Where each key's row is lives in memory (`keydir.rs`: a new item never lands on a random
//! page of a b-tree ordered by key).
//! [`SqliteStore`] has exactly the in-memory store's semantics (the same conformance suite
//! checks both): conditional writes, all-or-nothing transactions of up to 100 writes, sort-key
//! range queries.
//!
//! - Writes: one writer thread, group commit (a caller is answered only after its group's
//!   `COMMIT`). Reads: on the calling thread, each on a read-only connection from a small idle
//!   list (microseconds from the page cache; no hand-off to another thread, see `readers.rs`).
//!   Async callers never wait on the writer.
//! - Durability: [`Durability`] (`TACOS_DURABILITY=process-safe|power-safe`); the promise and the
//!   measurements that chose SQLite are in docs/storage.md.
//! - Expiry: items with a numeric `expires_at` are deleted once past by
//!   [`SqliteStore`]'s `ExpiringStore::purge_expired`, run every minute by
//!   `tacos_core::in_process::spawn_purge`.
//! - Safety of the files: [`OpenError`] says why a directory cannot be served from (held by
//!   another server, newer schema, corrupted, another program's file), never changing a file to
//!   say it; schema versions and migrations are in [`schema`].
//! - [`SqliteStore::backup`] while serving, [`restore`] while stopped.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tacos_sqlite::{SqliteOptions, SqliteStore};
//!
//! let store = Arc::new(SqliteStore::open("data".as_ref(), SqliteOptions::default())?);
//! let purge = tacos_core::in_process::spawn_purge(&store, std::time::Duration::from_secs(60), tacos_sqlite::unix_now);
//! store.backup("backup.sqlite3".as_ref()).await?;
//! # purge.abort();
//! # Ok(())
//! # }
//! ```

mod backup;
mod checkpoint;
mod codec;
mod connection;
mod directory;
mod error;
mod expiry;
mod keydir;
mod options;
mod port;
mod readers;
mod recent;
mod restore;
pub mod schema;
mod store;
mod time;
mod writer;

#[cfg(test)]
mod testing;

pub use backup::{backup_directory, Backup};
pub use directory::{DATABASE_FILE, LOCK_FILE};
pub use error::{BackupError, OpenError, RestoreError};
pub use options::{Durability, SqliteOptions, UnknownDurability, DURABILITY_ENV};
pub use port::EXPIRES_AT;
pub use restore::{restore, Restored};
pub use store::SqliteStore;
pub use time::unix_now;
