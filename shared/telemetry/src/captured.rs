//! A log writer that keeps what it is given in memory, for the tests that read what a request or
//! a purchase logged (the access line's trace id, no secret in any line).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// Every byte written to it (and to its clones), in order.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Makes this capture the thread's default subscriber for as long as the guard lives
    /// ([`set_default`]), writing what the servers write: JSON lines of events
    /// ([`LogLine`](crate::log_line::LogLine)), no spans layer.
    #[must_use = "the capture is the default only while the guard lives"]
    pub fn as_server_log(&self) -> DefaultGuard {
        use tracing_subscriber::layer::SubscriberExt;
        let sink = self.clone();
        set_default(
            tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .event_format(crate::log_line::LogLine)
                    .with_writer(move || sink.clone()),
            ),
        )
    }

    /// What was written so far, as text (log lines are UTF-8: anything else panics).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8(bytes.clone()).expect("log lines are UTF-8")
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A subscriber set as this thread's default for as long as the guard lives, seeing every event
/// of this thread even while other threads, with no subscriber of their own, reach the same
/// callsites first.
///
/// Why not `tracing::subscriber::set_default` alone: `tracing` caches one interest per callsite
/// for the whole process, and while a single dispatcher is alive a callsite's first use computes
/// it from the using thread's default only. A test thread with no subscriber (a router test
/// reaching the access line, say) then caches "never" for a line this thread's subscriber wanted,
/// and the line is never written, here or anywhere: a capture test failing now and then under
/// parallel tests (seen in CI). A second dispatcher kept alive beside the subscriber makes every
/// callsite's interest the union of all live subscribers', whoever uses it first; creating the
/// subscriber's own dispatcher after it recomputes the interest of callsites cached before.
#[must_use = "the subscriber is the default only while the guard lives"]
pub fn set_default<S>(subscriber: S) -> DefaultGuard
where
    S: tracing::Subscriber + Send + Sync + 'static,
{
    let anchor = tracing::Dispatch::new(tracing_subscriber::registry());
    let guard = tracing::subscriber::set_default(subscriber);
    DefaultGuard {
        _guard: guard,
        _anchor: anchor,
    }
}

/// Keeps [`set_default`]'s subscriber the thread's default, and its interest in every callsite.
pub struct DefaultGuard {
    // Dropped first: the thread's default goes back before the anchor goes.
    _guard: tracing::subscriber::DefaultGuard,
    _anchor: tracing::Dispatch,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// The one callsite of this test: reached first by a thread with no subscriber.
    fn log_a_line() {
        tracing::info!("a line this thread wanted");
    }

    #[test]
    fn a_capture_sees_its_lines_when_a_thread_without_a_subscriber_reached_them_first() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(move || sink.clone()));
        let _guard = set_default(subscriber);

        std::thread::spawn(log_a_line).join().unwrap();
        log_a_line();

        assert!(
            captured.text().contains("a line this thread wanted"),
            "{}",
            captured.text()
        );
    }
}
