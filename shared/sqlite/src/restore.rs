//! Restore: a backup put back into a data directory no server is using.
//!
//! The swap of files is journaled (`tacos.restore`), so a restore interrupted by a crash is
//! finished by the next open or restore of the directory, never left half done; the database the
//! directory held is moved aside, never deleted.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::directory::{exists, suffixed, sync_dir, wal_of, DataDir};
use crate::error::{OpenError, RestoreError};
use crate::schema;
use crate::time::unix_now;

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The database file now holding the backup's contents.
    pub database: PathBuf,
    /// Where the database the directory held before was moved (with its `-wal` file), if it
    /// held one: a restore never deletes data.
    pub set_aside: Option<PathBuf>,
}

/// Replaces the store in `data_dir` with the backup at `backup`.
///
/// Refuses while a server holds the directory ([`OpenError::Locked`] inside
/// [`RestoreError::Directory`]), and refuses a file that is not a whole store this build can
/// read ([`RestoreError::InvalidBackup`]), leaving the directory as it was. The database the
/// directory held is moved aside, not deleted ([`Restored::set_aside`]).
///
/// The swap of files is journaled: a restore interrupted by a crash is finished by the next
/// [`SqliteStore::open`] or `restore` on the directory, never left half done.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<Restored, RestoreError> {
    let dir = DataDir::claim(data_dir).map_err(|e| RestoreError::Directory(Box::new(e)))?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RestoreError::Io { path, source }
    };
    finish_interrupted_restore(&dir).map_err(io(dir.path()))?;
    let database = dir.database();
    let incoming = incoming(&database);
    fs::copy(backup, &incoming).map_err(io(backup))?;
    let checked = fs::set_permissions(&incoming, fs::Permissions::from_mode(0o600))
        .and_then(|()| fs::File::open(&incoming)?.sync_all())
        .map_err(io(&incoming))
        .and_then(|()| {
            check_backup(&incoming, backup).map_err(|source| RestoreError::InvalidBackup {
                path: backup.to_path_buf(),
                source: Box::new(source),
            })
        });
    if let Err(error) = checked {
        let _ = fs::remove_file(&incoming);
        return Err(error);
    }
    let had_data = exists(&database) || exists(&wal_of(&database));
    let aside = aside_name(&database);
    // From here on the swap is decided: the journal names where the current files go, and
    // whoever finds it finishes the swap.
    let journal = dir.path().join(RESTORE_JOURNAL);
    fs::write(&journal, aside.as_os_str().as_encoded_bytes())
        .and_then(|()| fs::File::open(&journal)?.sync_all())
        .and_then(|()| sync_dir(dir.path()))
        .map_err(io(&journal))?;
    finish_interrupted_restore(&dir).map_err(io(dir.path()))?;
    let set_aside = had_data.then(|| dir.path().join(aside));
    tracing::info!(
        backup = %backup.display(),
        database = %database.display(),
        set_aside = ?set_aside,
        "store restored"
    );
    Ok(Restored {
        database,
        set_aside,
    })
}

/// The restore's journal, beside the database: written once the incoming copy is whole and
/// checked, holding the name the current database moves to; removed once the swap is done.
pub(crate) const RESTORE_JOURNAL: &str = "tacos.restore";

pub(crate) fn incoming(database: &Path) -> PathBuf {
    suffixed(database, ".restoring")
}

/// Finishes a restore that a crash interrupted after its journal was written (every step of
/// the swap is a rename, each done only if its source is still there), or drops the copy of
/// one interrupted before: the directory then holds exactly one database, whole.
pub(crate) fn finish_interrupted_restore(dir: &DataDir) -> std::io::Result<()> {
    let database = dir.database();
    let incoming = incoming(&database);
    let journal = dir.path().join(RESTORE_JOURNAL);
    let aside = match fs::read(&journal) {
        Ok(name) => dir.path().join(String::from_utf8_lossy(&name).trim()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if exists(&incoming) {
                fs::remove_file(&incoming)?;
            }
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    // The log first: a database moved without it would lose the commits still in it, and
    // a log left beside the restored database would be replayed into it.
    for suffix in ["-wal", "-shm", ""] {
        let from = suffixed(&database, suffix);
        if exists(&from) && exists(&incoming) {
            fs::rename(&from, suffixed(&aside, suffix))?;
        }
    }
    if exists(&incoming) {
        fs::rename(&incoming, &database)?;
    }
    sync_dir(dir.path())?;
    fs::remove_file(&journal)?;
    sync_dir(dir.path())
}

/// Whether `copy` is a whole store this build reads (messages name `shown`, the file the
/// operator gave): opened immutable and read-only, so nothing is written beside it.
fn check_backup(copy: &Path, shown: &Path) -> Result<(), OpenError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(immutable_uri(copy), flags)
        .map_err(|source| schema::file_error(shown, source))?;
    match schema::inspect(&conn, shown, true)? {
        schema::Found::Store { .. } => Ok(()),
        schema::Found::Empty => Err(OpenError::NotAStore {
            path: shown.to_path_buf(),
            application_id: 0,
        }),
    }
}

/// `file:` URI of `path` with `immutable=1`; `%`, `?` and `#` are the characters a URI path
/// must escape.
pub(crate) fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// A name beside `database` that nothing has, for the database a restore replaces.
fn aside_name(database: &Path) -> std::ffi::OsString {
    let stamp = unix_now();
    (0..)
        .map(|n| match n {
            0 => suffixed(database, &format!(".before-restore-{stamp}")),
            n => suffixed(database, &format!(".before-restore-{stamp}-{n}")),
        })
        .find(|candidate| !exists(candidate) && !exists(&wal_of(candidate)))
        .and_then(|free| free.file_name().map(ToOwned::to_owned))
        .unwrap_or_else(|| unreachable!("an unused name exists"))
}
