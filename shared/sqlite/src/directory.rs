//! The data directory: created owner-only, and held by one store at a time through an
//! exclusive lock on a file inside it.
//!
//! The lock is the kernel's (`flock`), so it goes away with the process however it ends: a
//! server killed with SIGKILL never leaves a stale lock behind to be cleared by hand.

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::OpenError;

/// The database file's name inside the data directory (SQLite keeps `-wal` and `-shm` beside it).
pub const DATABASE_FILE: &str = "tacos.sqlite3";
/// The lock file's name; it holds the pid of the process that has the directory.
pub const LOCK_FILE: &str = "tacos.lock";

/// A data directory this process holds; dropping it lets another process have it.
#[derive(Debug)]
pub struct DataDir {
    dir: PathBuf,
    /// Held, never read: the open file carries the lock.
    _lock: File,
}

impl DataDir {
    /// Creates `dir` (owner-only) when missing and takes its lock, or says who has it.
    pub fn claim(dir: &Path) -> Result<Self, OpenError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| OpenError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        let path = dir.join(LOCK_FILE);
        let lock_error = |source| OpenError::Lock {
            path: path.clone(),
            source,
        };
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(lock_error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                return Err(OpenError::Locked {
                    dir: dir.to_path_buf(),
                    holder: holder.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(source)) => return Err(lock_error(source)),
        }
        // Who holds it, for the message another process gets; only a courtesy, so a failure to
        // write it is not one to refuse to start over.
        let _ = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| write!(lock, "{}", std::process::id()));
        Ok(Self {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn database(&self) -> PathBuf {
        self.dir.join(DATABASE_FILE)
    }

    /// Creates the database file, owner-only, when it does not exist yet (SQLite would create it
    /// with the process umask; its `-wal` and `-shm` files copy the database file's mode).
    pub fn create_database_file(&self) -> Result<PathBuf, OpenError> {
        let path = self.database();
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => sync_dir(&self.dir).map_err(|source| OpenError::Io {
                path: self.dir.clone(),
                source,
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(OpenError::Io { path, source }),
        }
        Ok(path)
    }
}

/// Flushes a directory's entries (a created or renamed file's name) to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The `-wal` file beside a database.
pub fn wal_of(database: &Path) -> PathBuf {
    suffixed(database, "-wal")
}

pub fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether `path` exists (a broken link or an unreadable entry counts as existing).
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::testing::TempDir;

    #[test]
    fn a_directory_is_created_owner_only_and_held_by_one_store_at_a_time() {
        let temp = TempDir::new();
        let dir = temp.path().join("nested").join("data");
        let held = DataDir::claim(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "only the owner may enter the data directory");

        match DataDir::claim(&dir) {
            Err(error @ OpenError::Locked { .. }) => {
                let OpenError::Locked { dir: named, holder } = &error else {
                    unreachable!()
                };
                assert_eq!(named, &dir);
                assert_eq!(*holder, Some(std::process::id()));
                let message = error.to_string();
                assert!(message.contains(&dir.display().to_string()), "{message}");
                assert!(message.contains("in use"), "{message}");
            }
            other => panic!("a second claim must be refused, got {other:?}"),
        }

        drop(held);
        DataDir::claim(&dir).expect("the directory is free again once released");
    }

    #[test]
    fn the_database_file_is_created_owner_only() {
        let temp = TempDir::new();
        let dir = DataDir::claim(temp.path()).unwrap();
        let path = dir.create_database_file().unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::write(&path, b"kept").unwrap();
        dir.create_database_file().unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            b"kept",
            "an existing file is kept"
        );
    }
}
