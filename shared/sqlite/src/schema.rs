//! The file's schema: its version, and the migrations that bring an older file up to date.
//!
//! A store file is marked with [`APPLICATION_ID`] and carries its schema version in
//! `PRAGMA user_version`. Opening reads both before writing anything, so a file of another
//! program, a newer build's file or a corrupted one is refused untouched.

use std::path::Path;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::error::OpenError;

/// `PRAGMA application_id` of a store file: "TACO".
pub const APPLICATION_ID: i32 = 0x5441_434F;

/// One step of the schema; applied in order, each once, all pending ones in one transaction.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    /// Why the step exists (for the log line that reports it).
    pub purpose: &'static str,
    pub sql: &'static str,
}

/// Every schema version so far. Never edit a released step: add one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        purpose: "items keyed by partition and sort key, stored as JSON text",
        // WITHOUT ROWID: the table is its primary key's b-tree, so a partition's items are
        // adjacent in sort-key order (byte-wise, as the port orders them) and a point read is
        // one b-tree descent.
        sql: "CREATE TABLE items (
                  pk TEXT NOT NULL,
                  sk TEXT NOT NULL,
                  item TEXT NOT NULL,
                  PRIMARY KEY (pk, sk)
              ) WITHOUT ROWID;",
    },
    Migration {
        version: 2,
        purpose: "expiry: each item's `expires_at` in a column with a partial index, so the purge of expired items reads only them",
        sql: "ALTER TABLE items ADD COLUMN expires_at INTEGER;
              UPDATE items SET expires_at = CAST(json_extract(item, '$.expires_at') AS INTEGER)
                  WHERE json_type(item, '$.expires_at') IN ('integer', 'real');
              CREATE INDEX items_by_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;",
    },
    Migration {
        version: 3,
        purpose: "items as rows in the order they are written, found by key through the key directory in memory",
        // The table becomes a rowid table with no index on its key: a new item is appended to
        // the table's last page instead of landing on a random page of a b-tree ordered by key
        // (keydir.rs says why, docs/storage.md has the measurements). The store enforces one row
        // per key (its writer alone writes); an open finds a file that breaks it corrupted.
        sql: "CREATE TABLE items_by_row (
                  id INTEGER PRIMARY KEY,
                  pk TEXT NOT NULL,
                  sk TEXT NOT NULL,
                  item TEXT NOT NULL,
                  expires_at INTEGER
              );
              INSERT INTO items_by_row (pk, sk, item, expires_at)
                  SELECT pk, sk, item, expires_at FROM items ORDER BY pk, sk;
              DROP TABLE items;
              ALTER TABLE items_by_row RENAME TO items;
              CREATE INDEX items_by_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;",
    },
];

/// The schema version this build writes and reads.
pub const CURRENT_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// What an opened file turned out to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// A new, empty file: the migrations create everything.
    Empty,
    /// A store file at this schema version (at most [`CURRENT_VERSION`]).
    Store { version: i64 },
}

/// Reads what `conn`'s file holds without writing to it; with `deep`, also runs SQLite's
/// `quick_check` over every page.
///
/// Until it returns `Ok`, `conn` can change nothing: statements are refused (`query_only`), and
/// closing it does not checkpoint a log left by a crash into a file that is then refused.
pub(crate) fn inspect(conn: &Connection, path: &Path, deep: bool) -> Result<Found, OpenError> {
    let failed = |source| file_error(path, source);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(failed)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(failed)?;
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(failed)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(failed)?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(failed)?;
    let found = if application_id == APPLICATION_ID {
        if version > CURRENT_VERSION {
            return Err(OpenError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: CURRENT_VERSION,
            });
        }
        Found::Store { version }
    } else if application_id == 0 && version == 0 && objects == 0 {
        Found::Empty
    } else {
        return Err(OpenError::NotAStore {
            path: path.to_path_buf(),
            application_id,
        });
    };
    if deep && found != Found::Empty {
        quick_check(conn, path)?;
    }
    conn.pragma_update(None, "query_only", false)
        .and_then(|()| conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false))
        .map_err(failed)?;
    Ok(found)
}

/// SQLite's structural check of every page (b-tree order, page links, free list; not the
/// cross-checks of indexes that `integrity_check` adds at several times the cost).
fn quick_check(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let mut statement = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|source| file_error(path, source))?;
    let problems = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|source| file_error(path, source))?;
    if problems == ["ok"] {
        Ok(())
    } else {
        Err(OpenError::Corrupt {
            path: path.to_path_buf(),
            detail: problems.join("; "),
        })
    }
}

/// Applies the migrations after `from`, in one transaction: a failure leaves the file as it was.
pub(crate) fn migrate(conn: &mut Connection, path: &Path, from: Found) -> Result<(), OpenError> {
    let version = match from {
        Found::Empty => 0,
        Found::Store { version } => version,
    };
    if version == CURRENT_VERSION {
        return Ok(());
    }
    let failed = |version, source| OpenError::Migration {
        path: path.to_path_buf(),
        version,
        source,
    };
    let transaction = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|source| failed(version + 1, source))?;
    if from == Found::Empty {
        transaction
            .pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|source| failed(1, source))?;
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > version) {
        transaction
            .execute_batch(migration.sql)
            .and_then(|()| transaction.pragma_update(None, "user_version", migration.version))
            .map_err(|source| failed(migration.version, source))?;
        tracing::info!(
            path = %path.display(),
            version = migration.version,
            purpose = migration.purpose,
            "store schema migrated"
        );
    }
    transaction
        .commit()
        .map_err(|source| failed(CURRENT_VERSION, source))
}

/// A failure to read a file, told apart: damaged or not a database at all, or something else.
pub(crate) fn file_error(path: &Path, source: rusqlite::Error) -> OpenError {
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => OpenError::Corrupt {
            path: path.to_path_buf(),
            detail: source.to_string(),
        },
        _ => OpenError::Sqlite {
            path: path.to_path_buf(),
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use rusqlite::params;
    use serde_json::json;
    use tacos_core::ports::ExpiringStore;

    use super::*;
    use crate::directory::DATABASE_FILE;
    use crate::port::{Key, Store, Write};
    use crate::testing::{item, TempDir};
    use crate::{SqliteOptions, SqliteStore};

    #[test]
    fn migrations_are_numbered_one_by_one() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1);
        }
    }

    fn user_version(path: &Path) -> i64 {
        Connection::open(path)
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn a_version_1_file_migrates_to_the_current_schema_keeping_its_items() {
        let temp = TempDir::new();
        let path = temp.path().join(DATABASE_FILE);
        {
            // A data directory as schema 1 left it: items, some with an expiry in their JSON.
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.execute_batch(MIGRATIONS[0].sql).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            for (sk, attrs) in [
                ("expired", json!({ "expires_at": 100 })),
                ("expired-fraction", json!({ "expires_at": 100.5 })),
                ("later", json!({ "expires_at": 10_000 })),
                ("forever", json!({ "n": 1 })),
            ] {
                let item = item(&Key::new("P", sk), attrs);
                conn.execute(
                    "INSERT INTO items (pk, sk, item) VALUES (?1, ?2, ?3)",
                    params!["P", sk, serde_json::to_string(&item).unwrap()],
                )
                .unwrap();
            }
        }
        assert_eq!(user_version(&path), 1);

        let store = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap();
        assert_eq!(user_version(&path), CURRENT_VERSION);
        let forever = store.get(&Key::new("P", "forever")).await.unwrap();
        assert_eq!(forever.unwrap()["n"], json!(1), "items are kept");
        assert_eq!(
            store.purge_expired(1_000).await.unwrap(),
            2,
            "the expiry of older items was filled in"
        );
        assert!(store.get(&Key::new("P", "later")).await.unwrap().is_some());
        drop(store);

        // Opening again finds nothing to migrate.
        let store = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap();
        assert_eq!(
            store.query("P", &Default::default()).await.unwrap().len(),
            2
        );
    }

    /// A store in `temp` holding one item, closed; its database file.
    async fn one_item_store(temp: &TempDir) -> std::path::PathBuf {
        let store = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap();
        store
            .write(Write::put(item(&Key::new("P", "A"), json!({}))))
            .await
            .unwrap();
        drop(store);
        temp.path().join(DATABASE_FILE)
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused_and_left_untouched() {
        let temp = TempDir::new();
        let path = one_item_store(&temp).await;
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", CURRENT_VERSION + 1)
            .unwrap();
        let before = fs::read(&path).unwrap();

        let error = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap_err();
        match &error {
            OpenError::NewerSchema {
                path: named,
                found,
                supported,
            } => {
                assert_eq!(named, &path);
                assert_eq!((*found, *supported), (CURRENT_VERSION + 1, CURRENT_VERSION));
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("newer"), "{message}");
        assert_eq!(fs::read(&path).unwrap(), before, "the file is untouched");
        assert_eq!(user_version(&path), CURRENT_VERSION + 1);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_reported_corrupted_and_left_untouched() {
        let temp = TempDir::new();
        let path = temp.path().join(DATABASE_FILE);
        let garbage: Vec<u8> = (0..8192u32).map(|n| (n * 7 % 251) as u8).collect();
        fs::write(&path, &garbage).unwrap();

        let error = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap_err();
        assert!(
            matches!(&error, OpenError::Corrupt { path: named, .. } if named == &path),
            "{error:?}"
        );
        assert!(error.to_string().contains("corrupted"), "{error}");
        assert_eq!(fs::read(&path).unwrap(), garbage, "the file is untouched");
    }

    #[tokio::test]
    async fn a_damaged_page_is_found_at_open_and_the_file_left_untouched() {
        let temp = TempDir::new();
        let store = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap();
        for n in 0..200 {
            let key = Key::new("P", format!("ITEM#{n:04}"));
            let write = Write::put(item(&key, json!({ "padding": "x".repeat(100) })));
            store.write(write).await.unwrap();
        }
        drop(store);
        let path = temp.path().join(DATABASE_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let page = 4096;
        assert!(bytes.len() >= 3 * page, "the items span several pages");
        bytes[page..2 * page].fill(0xFF);
        fs::write(&path, &bytes).unwrap();

        let error = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap_err();
        assert!(matches!(error, OpenError::Corrupt { .. }), "{error:?}");
        assert_eq!(fs::read(&path).unwrap(), bytes, "the file is untouched");
    }

    #[tokio::test]
    async fn two_rows_of_one_key_are_reported_corrupted_and_left_untouched() {
        let temp = TempDir::new();
        let path = one_item_store(&temp).await;
        Connection::open(&path)
            .unwrap()
            .execute_batch("INSERT INTO items (pk, sk, item) SELECT pk, sk, item FROM items")
            .unwrap();
        let before = fs::read(&path).unwrap();

        let error = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap_err();
        match &error {
            OpenError::Corrupt {
                path: named,
                detail,
            } => {
                assert_eq!(named, &path);
                assert!(detail.contains("\"P\", \"A\""), "{detail}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), before, "the file is untouched");
    }

    #[test]
    fn another_programs_database_is_refused() {
        let temp = TempDir::new();
        let path = temp.path().join(DATABASE_FILE);
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
            .unwrap();
        let error = SqliteStore::open(temp.path(), SqliteOptions::default()).unwrap_err();
        assert!(
            matches!(
                error,
                OpenError::NotAStore {
                    application_id: 0,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
