//! Log lines written in batches by a thread of their own, which no logger wakes.
//!
//! A server's access log writes a line per request. Handed to a writer thread one line at a time
//! (as `tracing_appender::non_blocking` does), each line costs the request's worker a wake-up of
//! that thread (a `futex` call) and the machine a context switch to write a few hundred bytes:
//! about a tenth of a health check's CPU on this project's two-core machine (BENCHMARKS.md
//! §8.6). Here a logger only appends its line to a shared buffer under a lock held for a copy;
//! the writer thread wakes on its own every [`FLUSH_EVERY`] (or once [`WAKE_AT`] bytes gathered)
//! and writes them with one `write` call. So a line reaches stdout at most that long after it
//! was logged, in the order the lines were logged.
//!
//! Nothing is dropped: a logger that finds [`HIGH_WATER`] bytes waiting waits for the writer
//! (stdout slower than the logs is back-pressure, not loss). Dropping the [`Guard`] writes what
//! is left and stops the thread; a process killed outright loses the lines of the last
//! [`FLUSH_EVERY`] at most.

use std::io::{self, Write};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// How often the writer thread writes what gathered.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Bytes waiting at which the logger that reaches it wakes the writer before its time.
pub const WAKE_AT: usize = 64 * 1024;

/// Bytes waiting at which a logger waits for the writer to take them.
pub const HIGH_WATER: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    lines: Vec<u8>,
    stopping: bool,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer before its time (enough gathered, shutdown).
    wake: Condvar,
    /// Wakes loggers waiting for room.
    room: Condvar,
}

/// The [`MakeWriter`] of a batched log: cheap to clone, one per subscriber.
#[derive(Clone)]
pub struct Batched {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it wrote every line logged before.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Batched {
    /// Starts the writer thread `name`, writing to `out`.
    pub fn spawn<W: Write + Send + 'static>(name: &str, out: W) -> io::Result<(Self, Guard)> {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || write_batches(&shared, out))?
        };
        Ok((
            Self {
                shared: shared.clone(),
            },
            Guard {
                shared,
                thread: Some(thread),
            },
        ))
    }
}

/// The writer thread: every [`FLUSH_EVERY`] (or when woken), takes what gathered and writes it.
fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    loop {
        let stopping = {
            let mut pending = shared.pending.lock();
            if pending.lines.len() < WAKE_AT && !pending.stopping {
                shared.wake.wait_for(&mut pending, FLUSH_EVERY);
            }
            // The emptied buffer goes back to the loggers with its capacity: no allocation
            // once the log has reached its pace.
            std::mem::swap(&mut batch, &mut pending.lines);
            pending.stopping
        };
        shared.room.notify_all();
        if !batch.is_empty() {
            // A failing stdout has nowhere to report to; the lines are dropped, the loggers
            // go on.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
        if stopping {
            return;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.pending.lock().stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One logger's write: appends to the shared buffer. The subscriber writes a formatted line
/// with one call, so lines of different threads never interleave.
pub struct Line<'a> {
    shared: &'a Shared,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut pending = self.shared.pending.lock();
        while pending.lines.len() >= HIGH_WATER && !pending.stopping {
            self.shared.wake.notify_one();
            self.shared.room.wait(&mut pending);
        }
        let before = pending.lines.len();
        pending.lines.extend_from_slice(bytes);
        if before < WAKE_AT && pending.lines.len() >= WAKE_AT {
            self.shared.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes a test can read after the writer thread stopped.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_logged_before_shutdown_is_written_in_order() {
        let sink = Sink::default();
        let (batched, guard) = Batched::spawn("test-log", sink.clone()).unwrap();
        let loggers: Vec<_> = (0..4)
            .map(|t| {
                let batched = batched.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        // One write per line, as the subscriber writes a formatted event.
                        let line = format!("{t} {i}\n");
                        batched.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        loggers.into_iter().for_each(|l| l.join().unwrap());
        drop(guard);
        let written = String::from_utf8(sink.0.lock().clone()).unwrap();
        let mut next = [0; 4];
        for line in written.lines() {
            let (t, i) = line.split_once(' ').unwrap();
            let (t, i): (usize, u32) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[t], "thread {t}'s lines in order, none lost");
            next[t] += 1;
        }
        assert_eq!(next, [5_000; 4]);
    }

    #[test]
    fn a_line_is_written_without_anyone_waking_the_writer() {
        let sink = Sink::default();
        let (batched, _guard) = Batched::spawn("test-log", sink.clone()).unwrap();
        writeln!(batched.make_writer(), "served").unwrap();
        let deadline = std::time::Instant::now() + FLUSH_EVERY * 40;
        while sink.0.lock().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the line was never written"
            );
            std::thread::sleep(FLUSH_EVERY / 5);
        }
        assert_eq!(&*sink.0.lock(), b"served\n");
    }

    #[test]
    fn a_logger_past_the_high_water_mark_waits_for_room_and_loses_nothing() {
        /// A stdout that takes its time.
        #[derive(Clone, Default)]
        struct Slow(Sink);
        impl Write for Slow {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                std::thread::sleep(Duration::from_millis(20));
                self.0.write(bytes)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let slow = Slow::default();
        let (batched, guard) = Batched::spawn("test-log", slow.clone()).unwrap();
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..12 {
            batched.make_writer().write_all(&line).unwrap();
        }
        drop(guard);
        assert_eq!(slow.0 .0.lock().len(), 12 * 1024 * 1024);
    }
}
