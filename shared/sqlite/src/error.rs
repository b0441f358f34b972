//! Why a data directory cannot be opened, backed up or restored.
//!
//! Every variant that concerns a file says which one, so the message alone tells an operator
//! what to look at; none of these errors leaves a file changed.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {dir}: {source}")]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another process (or another store in this one) serves from the directory.
    #[error(
        "the data directory {dir} is in use by another server{}; stop it or choose another directory",
        holder.map(|pid| format!(" (process {pid})")).unwrap_or_default()
    )]
    Locked { dir: PathBuf, holder: Option<u32> },
    #[error("cannot lock the data directory through {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file was written by a newer build; opening it here could misread it.
    #[error(
        "{path} has schema version {found}, newer than this build reads (up to {supported}); \
         it was left untouched: run a newer build, or restore a backup made by this one"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A valid SQLite file that some other program wrote.
    #[error(
        "{path} is a SQLite database but not a Traffic Tacos store (application id {application_id:#010x}); \
         it was left untouched: choose another data directory"
    )]
    NotAStore { path: PathBuf, application_id: i32 },
    #[error(
        "{path} is corrupted ({detail}); it was left untouched: restore a backup, or move the \
         file aside to start empty"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "schema migration to version {version} of {path} failed, nothing was changed: {source}"
    )]
    Migration {
        path: PathBuf,
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot open {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the store's {thread} thread: {source}")]
    Thread {
        thread: &'static str,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Backups never replace a file.
    #[error("{path} already exists; a backup never overwrites a file")]
    DestinationExists { path: PathBuf },
    #[error("backup to {path} failed: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("backup to {path} failed: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("backup to {path} failed: the store is shutting down")]
    Closed { path: PathBuf },
    /// The data directory holds no store to back up.
    #[error("{dir} holds no Traffic Tacos store to back up")]
    NoStore { dir: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The file offered as a backup is not one this build can serve from.
    #[error("{path} cannot be restored: {source}")]
    InvalidBackup {
        path: PathBuf,
        #[source]
        source: Box<OpenError>,
    },
    /// The data directory cannot be taken (most often: a server is running on it).
    #[error(transparent)]
    Directory(Box<OpenError>),
    #[error("restore failed at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}
