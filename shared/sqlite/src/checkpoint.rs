//! The checkpointer thread: every `sync_interval`, copies the write-ahead log into the database
//! file and flushes the log to disk.
//!
//! Under [`Durability::ProcessSafe`](crate::Durability::ProcessSafe) commits are acknowledged
//! once they are in the log, in the operating system's cache; this thread's flush is what
//! bounds what a power loss can take back to about one interval. The flush is of the log file
//! itself rather than left to the checkpoint, which skips its flush when a long reader (a
//! backup) keeps it from copying anything. Checkpointing here also keeps that work, with its
//! flushes, off the writer thread.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::directory::{wal_of, DataDir};

pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn spawn(
        conn: Connection,
        database: &Path,
        every: Duration,
        dir: Arc<DataDir>,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let wal = wal_of(database);
        let thread = std::thread::Builder::new()
            .name("tacos-db-ckpt".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    checkpoint(&conn, &wal);
                }
                drop(conn);
                drop(dir);
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn checkpoint(conn: &Connection, wal: &PathBuf) {
    // PASSIVE: copies what no reader still needs, never waits for readers or the writer.
    if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(%error, "store checkpoint failed");
    }
    match File::open(wal).and_then(|log| log.sync_data()) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::error!(%error, wal = %wal.display(), "store log flush failed"),
    }
}
