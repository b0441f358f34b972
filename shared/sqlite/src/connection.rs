//! Opening a connection to a store file with the settings of its role.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::options::SqliteOptions;

/// What a connection is for; each role has its own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The one connection that writes items (on the writer thread).
    Writer,
    /// Point reads and queries; refuses to write.
    Reader,
    /// Moves the write-ahead log into the database file and flushes it, off the writer thread.
    Checkpointer,
    /// Copies a consistent snapshot into a backup file.
    Backup,
}

/// Opens `path` (which must exist) without reading it: a file that is not a database fails
/// later, at the first statement that reads it, where [`crate::schema::inspect`] tells why.
pub fn open(path: &Path, options: &SqliteOptions, role: Role) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    configure(&conn, options, role)?;
    Ok(conn)
}

fn configure(conn: &Connection, options: &SqliteOptions, role: Role) -> rusqlite::Result<()> {
    // Only the writer writes, so waits are rare (a checkpoint finishing, WAL recovery at start);
    // bounded all the same, so a stuck lock turns into an error rather than a hung request.
    conn.busy_timeout(Duration::from_secs(5))?;
    // Every connection may run a checkpoint (the last one to close does), and a checkpoint's
    // flushes follow the connection's own setting.
    conn.pragma_update(None, "synchronous", options.durability.synchronous())?;
    let cache_kib = match role {
        Role::Writer | Role::Reader => i64::from(options.cache_mib) * 1024,
        Role::Checkpointer | Role::Backup => 1024,
    };
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    conn.set_prepared_statement_cache_capacity(32);
    // The query planner stability guarantee: a plan never depends on the values bound to a
    // statement. Without it, the partial index on `expires_at` makes the planner compare every
    // bound parameter with the index's condition, which marks the statement to be parsed and
    // planned again whenever a new value is bound: every prepared statement of the store was
    // re-prepared on every run (a third of a durable status's SQLite time, BENCHMARKS.md §8.2).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    match role {
        Role::Writer => {
            // Checkpoints are the checkpointer thread's: the store's writer connection gets its
            // log hook (crate::checkpoint::Checkpointer::watch) in place of SQLite's automatic
            // checkpoint, which would run on the writer's thread.
            // After a checkpoint resets the log, the file is cut back to this size.
            conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
            map_database_file(conn)?;
        }
        Role::Reader => {
            conn.pragma_update(None, "query_only", true)?;
            map_database_file(conn)?;
        }
        Role::Checkpointer | Role::Backup => {}
    }
    Ok(())
}

/// Reads the database file's pages through a memory map. In WAL mode a reader drops its page
/// cache whenever the writer has committed since its last read, and the writer's cache holds
/// only `cache_mib` of a file that outgrows it under a rush; mapped, those pages are read from
/// memory without a system call each (the log's pages still are read with one; writes still go
/// through the log): status 1.05-1.15x in same-run A/Bs (BENCHMARKS.md §8.1), and the writer's
/// reads under a rush of joins (§8.5). A disk error under the map ends the process (SIGBUS)
/// where a read would have failed, which loses nothing acknowledged.
fn map_database_file(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)
}

/// Puts the file in write-ahead-log mode (a property of the file, kept across opens): readers
/// see the last commit without waiting for the writer, and a commit appends to the log instead
/// of rewriting pages in place.
pub fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("the file stays in journal mode {mode}, not WAL")),
        ))
    }
}
