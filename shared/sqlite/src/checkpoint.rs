//! The checkpointer thread: copies the write-ahead log into the database file every
//! `sync_interval`, and sooner when the writer's log passes [`CHECKPOINT_FRAMES`]; flushes the log
//! to disk every `sync_interval`.
//!
//! Under [`Durability::ProcessSafe`](crate::Durability::ProcessSafe) commits are acknowledged
//! once they are in the log, in the operating system's cache; this thread's flush is what
//! bounds what a power loss can take back to about one interval. The flush is of the log file
//! itself rather than left to the checkpoint, which skips its flush when a long reader (a
//! backup) keeps it from copying anything.
//!
//! Checkpointing here keeps that work, with its flushes, off the writer thread. SQLite's own
//! automatic checkpoint runs inside the writer's `COMMIT` once the log passes its limit, holding
//! up every write queued behind it: under a rush of joins the log passed 10,000 frames within the
//! one-second interval and that checkpoint was a quarter of the writer thread's time (BENCHMARKS.md
//! §8.5). So the writer's log hook ([`Checkpointer::watch`]) replaces it: past
//! [`CHECKPOINT_FRAMES`] it wakes this thread, and only past [`BACKSTOP_FRAMES`] (this thread
//! falling behind) does it checkpoint itself.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::Connection;

use crate::directory::{wal_of, DataDir};

/// Frames in the log (pages of 4 KiB, ~40 MB) past which the writer wakes the checkpointer
/// before its interval is up: SQLite's automatic checkpoint of the writer before this change.
pub const CHECKPOINT_FRAMES: i32 = 10_000;

/// Frames in the log (~400 MB) past which the writer checkpoints itself, should this thread
/// fall that far behind.
pub const BACKSTOP_FRAMES: i32 = 100_000;

/// What the thread is told.
enum Signal {
    /// The writer's log passed [`CHECKPOINT_FRAMES`].
    LogGrew,
    Stop,
}

pub struct Checkpointer {
    signals: SyncSender<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn spawn(
        conn: Connection,
        database: &Path,
        every: Duration,
        dir: Arc<DataDir>,
    ) -> std::io::Result<Self> {
        // Room for a stop behind a pending wake-up; further wake-ups are dropped.
        let (signals, received) = mpsc::sync_channel(2);
        let wal = wal_of(database);
        let thread = std::thread::Builder::new()
            .name("tacos-db-ckpt".into())
            .spawn(move || {
                run(&conn, &wal, &received, every);
                drop(conn);
                drop(dir);
            })?;
        Ok(Self {
            signals,
            thread: Some(thread),
        })
    }

    /// Has `writer` wake this thread when its log passes [`CHECKPOINT_FRAMES`], in place of
    /// SQLite's automatic checkpoint on the writer's own thread.
    pub fn watch(&self, writer: &mut Connection) -> rusqlite::Result<()> {
        let signals = self.signals.clone();
        writer.wal_hook(Some(move |wal: &mut Wal, frames| {
            if frames >= BACKSTOP_FRAMES {
                // As SQLite's automatic checkpoint does, inside the commit. An error here would
                // be reported as the commit's although the commit stands, so it is only logged.
                if let Err(error) = wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                    tracing::warn!(%error, frames, "store backstop checkpoint failed");
                }
            } else if frames >= CHECKPOINT_FRAMES {
                match signals.try_send(Signal::LogGrew) {
                    Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
                }
            }
            Ok(())
        }))
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Blocks only while the thread has both slots to take, which it is doing.
        let _ = self.signals.send(Signal::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Checkpoints when the writer's log has grown and every `every`, flushing the log on that
/// interval however often the log grows, until told to stop.
fn run(conn: &Connection, wal: &PathBuf, signals: &Receiver<Signal>, every: Duration) {
    let mut flush_at = Instant::now() + every;
    loop {
        let wait = flush_at.saturating_duration_since(Instant::now());
        match signals.recv_timeout(wait) {
            Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Signal::LogGrew) => checkpoint(conn),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() >= flush_at {
            checkpoint(conn);
            flush(wal);
            flush_at = Instant::now() + every;
        }
    }
}

fn checkpoint(conn: &Connection) {
    // PASSIVE: copies what no reader still needs, never waits for readers or the writer.
    if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(%error, "store checkpoint failed");
    }
}

fn flush(wal: &PathBuf) {
    match File::open(wal).and_then(|log| log.sync_data()) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::error!(%error, wal = %wal.display(), "store log flush failed"),
    }
}
