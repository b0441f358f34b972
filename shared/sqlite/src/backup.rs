//! Online backup: a consistent copy of a store while it serves (restore is [`crate::restore`]).
//!
//! A backup is SQLite's `VACUUM INTO` on a connection of its own: one read transaction, so the
//! copy is the state after some commit and before the next (every transaction wholly in or
//! wholly out), while the writer goes on committing. The copy is written under a temporary
//! name, flushed, and only then given its name: a file at the backup's path is always whole.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::connection::{self, Role};
use crate::directory::{exists, sync_dir};
use crate::error::BackupError;
use crate::options::SqliteOptions;
use crate::store::SqliteStore;

/// A backup written by [`SqliteStore::backup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
}

impl SqliteStore {
    /// Writes a consistent snapshot of the store to `dest` (a new file; never overwritten)
    /// while the store keeps serving. The snapshot is a single self-contained file that
    /// [`restore`] takes back.
    pub async fn backup(&self, dest: &Path) -> Result<Backup, BackupError> {
        let database = self.database_path().to_path_buf();
        let options = self.options().clone();
        let dest = dest.to_path_buf();
        let closed = BackupError::Closed { path: dest.clone() };
        tokio::task::spawn_blocking(move || write_backup(&database, &options, &dest))
            .await
            .map_err(|_| closed)?
    }
}

/// Writes a consistent snapshot of the store in `data_dir` to `dest` from outside the server
/// that serves it (`tacos-local backup`): SQLite lets a second process read a WAL database while
/// its writer goes on, so the server keeps serving. Works as well with no server running.
pub fn backup_directory(data_dir: &Path, dest: &Path) -> Result<Backup, BackupError> {
    let database = data_dir.join(crate::directory::DATABASE_FILE);
    if !exists(&database) {
        return Err(BackupError::NoStore {
            dir: data_dir.to_path_buf(),
        });
    }
    write_backup(&database, &SqliteOptions::default(), dest)
}

fn write_backup(
    database: &Path,
    options: &SqliteOptions,
    dest: &Path,
) -> Result<Backup, BackupError> {
    if exists(dest) {
        return Err(BackupError::DestinationExists {
            path: dest.to_path_buf(),
        });
    }
    let partial = partial_file(dest)?;
    let written =
        snapshot(database, options, &partial, dest).and_then(|()| publish(&partial, dest));
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

/// Creates the empty, owner-only file a backup to `dest` is written into before it is renamed
/// to `dest`: beside it (a rename within one directory is atomic), hidden, and named for this
/// process. Owner-only from the start, because a backup holds everything the store does; empty,
/// because `VACUUM INTO` writes only into an empty file.
fn partial_file(dest: &Path) -> Result<PathBuf, BackupError> {
    let name = dest.file_name().ok_or_else(|| BackupError::Io {
        path: dest.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a backup needs a file name",
        ),
    })?;
    let mut partial_name = std::ffi::OsString::from(".");
    partial_name.push(name);
    partial_name.push(format!(".partial-{}", std::process::id()));
    let partial = dest.with_file_name(partial_name);
    let _ = fs::remove_file(&partial);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|source| BackupError::Io {
            path: partial.clone(),
            source,
        })?;
    Ok(partial)
}

/// Renames the finished `partial` to `dest` (never over a file that appeared meanwhile) and
/// makes the rename durable.
fn publish(partial: &Path, dest: &Path) -> Result<Backup, BackupError> {
    let io = |source| BackupError::Io {
        path: dest.to_path_buf(),
        source,
    };
    if exists(dest) {
        return Err(BackupError::DestinationExists {
            path: dest.to_path_buf(),
        });
    }
    fs::rename(partial, dest).map_err(io)?;
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty());
    sync_dir(parent.unwrap_or(Path::new("."))).map_err(io)?;
    let bytes = fs::metadata(dest).map_err(io)?.len();
    Ok(Backup {
        path: dest.to_path_buf(),
        bytes,
    })
}

/// Copies a snapshot of `database` into the empty file `partial` and flushes it.
fn snapshot(
    database: &Path,
    options: &SqliteOptions,
    partial: &Path,
    dest: &Path,
) -> Result<(), BackupError> {
    let sqlite = |source| BackupError::Sqlite {
        path: dest.to_path_buf(),
        source,
    };
    let target = partial.to_str().ok_or_else(|| BackupError::Io {
        path: dest.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a backup path must be valid UTF-8",
        ),
    })?;
    let source = connection::open(database, options, Role::Backup).map_err(sqlite)?;
    source.execute("VACUUM INTO ?1", [target]).map_err(sqlite)?;
    drop(source);
    // One file with nothing beside it: the copy leaves write-ahead-log mode.
    let copy =
        Connection::open_with_flags(partial, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sqlite)?;
    let _mode: String = copy
        .pragma_update_and_check(None, "journal_mode", "DELETE", |row| row.get(0))
        .map_err(sqlite)?;
    drop(copy);
    fs::File::open(partial)
        .and_then(|file| file.sync_all())
        .map_err(|source| BackupError::Io {
            path: dest.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::directory::DATABASE_FILE;
    use crate::error::{OpenError, RestoreError};
    use std::os::unix::fs::PermissionsExt;

    use crate::port::{Key, SkRange, Store, Write};
    use crate::restore::{immutable_uri, incoming, restore, RESTORE_JOURNAL};
    use crate::schema;
    use crate::testing::{item, TempDir};

    async fn store_with(dir: &Path, sks: &[&str]) -> SqliteStore {
        let store = SqliteStore::open(dir, SqliteOptions::default()).unwrap();
        for sk in sks {
            store
                .write(Write::put(item(&Key::new("P", *sk), json!({}))))
                .await
                .unwrap();
        }
        store
    }

    async fn sks(store: &SqliteStore) -> Vec<String> {
        let items = store.query("P", &SkRange::default()).await.unwrap();
        items
            .iter()
            .map(|i| i["sk"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn a_backup_is_one_owner_only_file_that_restores_into_an_empty_directory() {
        let temp = TempDir::new();
        let store = store_with(&temp.path().join("live"), &["A", "B"]).await;
        let dest = temp.path().join("backup.sqlite3");
        let backup = store.backup(&dest).await.unwrap();
        assert_eq!(backup.path, dest);
        assert_eq!(backup.bytes, fs::metadata(&dest).unwrap().len());
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let beside: Vec<_> = fs::read_dir(temp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != "live")
            .collect();
        assert_eq!(
            beside,
            ["backup.sqlite3"],
            "no log or partial file beside it"
        );

        let restored_dir = temp.path().join("restored");
        let restored = restore(&dest, &restored_dir).unwrap();
        assert_eq!(restored.database, restored_dir.join(DATABASE_FILE));
        assert_eq!(restored.set_aside, None);
        let copy = SqliteStore::open(&restored_dir, SqliteOptions::default()).unwrap();
        assert_eq!(sks(&copy).await, ["A", "B"]);
    }

    #[tokio::test]
    async fn a_backup_never_overwrites_a_file() {
        let temp = TempDir::new();
        let store = store_with(&temp.path().join("live"), &["A"]).await;
        let dest = temp.path().join("precious");
        fs::write(&dest, b"keep me").unwrap();
        let error = store.backup(&dest).await.unwrap_err();
        assert!(
            matches!(error, BackupError::DestinationExists { .. }),
            "{error:?}"
        );
        assert_eq!(fs::read(&dest).unwrap(), b"keep me");
    }

    #[tokio::test]
    async fn restore_sets_the_previous_database_aside() {
        let temp = TempDir::new();
        let old = store_with(&temp.path().join("old"), &["OLD"]).await;
        let dest = temp.path().join("old.backup");
        old.backup(&dest).await.unwrap();
        drop(old);
        let dir = temp.path().join("live");
        drop(store_with(&dir, &["NEW"]).await);

        let restored = restore(&dest, &dir).unwrap();
        let aside = restored
            .set_aside
            .expect("the live database was moved aside");
        assert!(aside.starts_with(&dir));
        let store = SqliteStore::open(&dir, SqliteOptions::default()).unwrap();
        assert_eq!(sks(&store).await, ["OLD"]);
        drop(store);
        // The set-aside file is a whole store of its own.
        let kept = temp.path().join("kept");
        fs::create_dir(&kept).unwrap();
        fs::rename(&aside, kept.join(DATABASE_FILE)).unwrap();
        let previous = SqliteStore::open(&kept, SqliteOptions::default()).unwrap();
        assert_eq!(sks(&previous).await, ["NEW"]);
    }

    #[tokio::test]
    async fn restore_is_refused_while_a_server_holds_the_directory() {
        let temp = TempDir::new();
        let dir = temp.path().join("live");
        let serving = store_with(&dir, &["LIVE"]).await;
        let other = store_with(&temp.path().join("other"), &["OTHER"]).await;
        let dest = temp.path().join("other.backup");
        other.backup(&dest).await.unwrap();

        let error = restore(&dest, &dir).unwrap_err();
        assert!(
            matches!(&error, RestoreError::Directory(e) if matches!(**e, OpenError::Locked { .. })),
            "{error:?}"
        );
        assert!(error.to_string().contains("in use"), "{error}");
        assert_eq!(sks(&serving).await, ["LIVE"]);
    }

    #[tokio::test]
    async fn restore_refuses_a_file_that_is_not_a_whole_store_and_changes_nothing() {
        let temp = TempDir::new();
        let dir = temp.path().join("live");
        drop(store_with(&dir, &["LIVE"]).await);
        let database = dir.join(DATABASE_FILE);
        let before = fs::read(&database).unwrap();

        let garbage = temp.path().join("garbage");
        fs::write(&garbage, vec![7u8; 10_000]).unwrap();
        let foreign = temp.path().join("foreign.sqlite3");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let newer = temp.path().join("newer.sqlite3");
        let newer_store = store_with(&temp.path().join("newer"), &["X"]).await;
        newer_store.backup(&newer).await.unwrap();
        drop(newer_store);
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", schema::CURRENT_VERSION + 1)
            .unwrap();
        let empty = temp.path().join("empty");
        fs::write(&empty, b"").unwrap();

        for (file, expected) in [
            (&garbage, "corrupted"),
            (&foreign, "not a Traffic Tacos store"),
            (&newer, "newer"),
            (&empty, "not a Traffic Tacos store"),
        ] {
            let error = restore(file, &dir).unwrap_err();
            assert!(
                matches!(&error, RestoreError::InvalidBackup { path, .. } if path == file),
                "{error:?}"
            );
            let message = format!("{error}: {}", std::error::Error::source(&error).unwrap());
            assert!(message.contains(expected), "{message}");
        }
        let missing = restore(&temp.path().join("missing"), &dir).unwrap_err();
        assert!(matches!(missing, RestoreError::Io { .. }), "{missing:?}");

        assert_eq!(
            fs::read(&database).unwrap(),
            before,
            "the live database is untouched"
        );
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            !left.iter().any(|name| name.contains("restoring")),
            "{left:?}"
        );
        let store = SqliteStore::open(&dir, SqliteOptions::default()).unwrap();
        assert_eq!(sks(&store).await, ["LIVE"]);
    }

    /// A directory holding LIVE, and a backup holding OTHER.
    async fn live_and_backup(temp: &TempDir) -> (PathBuf, PathBuf) {
        let dir = temp.path().join("live");
        drop(store_with(&dir, &["LIVE"]).await);
        let other = store_with(&temp.path().join("other"), &["OTHER"]).await;
        let backup = temp.path().join("other.backup");
        other.backup(&backup).await.unwrap();
        (dir, backup)
    }

    #[tokio::test]
    async fn a_restore_interrupted_after_its_journal_is_finished_by_the_next_open() {
        let temp = TempDir::new();
        let (dir, backup) = live_and_backup(&temp).await;
        let database = dir.join(DATABASE_FILE);
        // The crash: the checked copy and the journal are written, the live database was moved
        // aside, the copy has not taken its place yet.
        fs::copy(&backup, incoming(&database)).unwrap();
        fs::write(dir.join(RESTORE_JOURNAL), "tacos.sqlite3.before-restore-7").unwrap();
        let aside = dir.join("tacos.sqlite3.before-restore-7");
        fs::rename(&database, &aside).unwrap();

        let store = SqliteStore::open(&dir, SqliteOptions::default()).unwrap();
        assert_eq!(sks(&store).await, ["OTHER"], "the restore was finished");
        assert!(!exists(&dir.join(RESTORE_JOURNAL)));
        assert!(!exists(&incoming(&database)));
        drop(store);
        let kept = temp.path().join("kept");
        fs::create_dir(&kept).unwrap();
        fs::rename(&aside, kept.join(DATABASE_FILE)).unwrap();
        let previous = SqliteStore::open(&kept, SqliteOptions::default()).unwrap();
        assert_eq!(sks(&previous).await, ["LIVE"]);
    }

    #[tokio::test]
    async fn a_restore_interrupted_before_its_journal_leaves_the_live_database() {
        let temp = TempDir::new();
        let (dir, backup) = live_and_backup(&temp).await;
        let database = dir.join(DATABASE_FILE);
        fs::copy(&backup, incoming(&database)).unwrap();

        let store = SqliteStore::open(&dir, SqliteOptions::default()).unwrap();
        assert_eq!(sks(&store).await, ["LIVE"]);
        assert!(
            !exists(&incoming(&database)),
            "the half-made copy is dropped"
        );
    }

    #[test]
    fn uris_escape_what_sqlite_would_read_as_query_or_fragment() {
        assert_eq!(
            immutable_uri(Path::new("/data/a?b#c%d")),
            "file:/data/a%3fb%23c%25d?immutable=1"
        );
    }
}
