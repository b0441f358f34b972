//! One sweep: the minutes that ended since the last sweep, read from the ledger, every job in
//! them run again, the cursor moved past them.

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::ledger::{minute_of, Entry, Ledger, MINUTE_MS};
use crate::domain::records::{get_record, to_item};
use crate::error::Result;
use crate::ports::clock::Clock;
use crate::ports::scheduler::JobHandler;
use crate::ports::store::{Condition, Key, StoreError, Write};

/// How long after a minute ends it is swept: its timers have fired by then (Scheduler is late by
/// seconds), so the sweep only finds what they could not do.
pub const SETTLE_MS: i64 = 30_000;
/// The first sweep of a deployment (no cursor yet) looks back this far.
const FIRST_LOOKBACK_MS: i64 = 15 * MINUTE_MS;
/// Minutes read in one sweep at most: a sweeper that was off for hours catches up over several
/// runs instead of running past its timeout.
const MINUTES_PER_SWEEP: i64 = 30;
/// Jobs run at once.
const CONCURRENCY: usize = 16;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Minutes read.
    pub minutes: u32,
    /// Jobs found in them and run.
    pub jobs: u32,
    /// Jobs that failed again, filed under the current minute for another try.
    pub failed: u32,
    /// The start of the first minute the next sweep reads (epoch milliseconds).
    pub next_minute_ms: i64,
    /// Whether another sweeper moved the cursor first (this one's work was a harmless repeat).
    pub overtaken: bool,
}

impl SweepReport {
    /// What to report when jobs failed again (they are already filed for the next sweep): a
    /// sweep with failures is an error wherever it runs, so it shows in its runner's alarms.
    pub fn failure(&self) -> Option<String> {
        (self.failed > 0).then(|| {
            format!(
                "{} of {} swept jobs failed; filed again for the next sweep",
                self.failed, self.jobs
            )
        })
    }
}

/// Where the sweep has read up to.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cursor {
    /// The first minute not swept yet.
    next_minute_ms: i64,
}

fn cursor_key() -> Key {
    Key::new("SWEEP#CURSOR", "CURSOR")
}

/// Runs sweeps over a [`Ledger`].
#[derive(Clone)]
pub struct Sweeper {
    ledger: Ledger,
    clock: std::sync::Arc<dyn Clock>,
}

impl Sweeper {
    pub fn new(ledger: Ledger, clock: std::sync::Arc<dyn Clock>) -> Self {
        Self { ledger, clock }
    }

    /// Sweeps every minute that ended at least [`SETTLE_MS`] ago and was not swept yet (at most
    /// [`MINUTES_PER_SWEEP`] of them), running each job found through `handler`. A store that
    /// fails stops the sweep where it is: the cursor stays, the next sweep reads that minute again.
    pub async fn sweep(&self, handler: &dyn JobHandler) -> Result<SweepReport> {
        let store = self.ledger.store();
        let now_ms = self.clock.now_ms();
        let stored: Option<Cursor> = get_record(store, &cursor_key()).await?;
        let mut next = stored
            .as_ref()
            .map_or(minute_of(now_ms) - FIRST_LOOKBACK_MS, |c| c.next_minute_ms);
        let mut previous = stored.map(|c| c.next_minute_ms);
        let mut report = SweepReport::default();
        while next + MINUTE_MS + SETTLE_MS <= now_ms
            && i64::from(report.minutes) < MINUTES_PER_SWEEP
        {
            let entries = self.ledger.due_in(next).await?;
            report.jobs += entries.len() as u32;
            report.failed += self.run_all(handler, entries, now_ms).await?;
            report.minutes += 1;
            let moved = Cursor {
                next_minute_ms: next + MINUTE_MS,
            };
            let condition = match previous {
                None => Condition::NotExists,
                Some(at) => Condition::equals("next_minute_ms", at),
            };
            let write = Write::Put {
                item: to_item(&cursor_key(), &moved),
                condition: Some(condition),
            };
            match store.write(write).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed { .. }) => {
                    // Another sweep moved it: it reads the minutes from there.
                    report.overtaken = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
            previous = Some(moved.next_minute_ms);
            next = moved.next_minute_ms;
        }
        report.next_minute_ms = next;
        Ok(report)
    }

    /// Runs one minute's jobs, [`CONCURRENCY`] at a time; those that fail are filed again under
    /// the current minute, which no sweep has read yet (it has not ended): the sweep a minute or
    /// two from now tries them again. How many failed.
    async fn run_all(
        &self,
        handler: &dyn JobHandler,
        entries: Vec<Entry>,
        now_ms: i64,
    ) -> Result<u32> {
        let outcomes: Vec<(Entry, std::result::Result<(), String>)> =
            futures::stream::iter(entries)
                .map(|entry| async move {
                    let outcome = handler.run_job(entry.job.job.clone()).await;
                    (entry, outcome)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let mut failed = 0;
        for (entry, outcome) in outcomes {
            let Err(error) = outcome else { continue };
            failed += 1;
            let attempts = entry.attempts + 1;
            tracing::error!(job = %entry.job.job.name(), attempts, %error, "swept job failed; filed again for the next minute");
            self.ledger.record(entry.job, now_ms, attempts).await?;
        }
        Ok(failed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use chrono::{TimeZone, Utc};
    use parking_lot::Mutex;

    use super::*;
    use crate::in_process::MemoryStore;
    use crate::ports::clock::ManualClock;
    use crate::ports::scheduler::{Job, TracedJob};

    /// Records the jobs it runs; fails the first `failures` runs.
    #[derive(Default)]
    struct Recorder {
        ran: Mutex<Vec<String>>,
        failures: Mutex<u32>,
    }

    #[async_trait]
    impl JobHandler for Recorder {
        async fn run_job(&self, job: Job) -> std::result::Result<(), String> {
            self.ran.lock().push(job.name());
            let mut failures = self.failures.lock();
            if *failures > 0 {
                *failures -= 1;
                return Err("throttled".into());
            }
            Ok(())
        }
    }

    fn expire(n: u32) -> TracedJob {
        TracedJob {
            job: Job::ExpireHold {
                reservation_id: format!("rsv_{n}").parse().unwrap(),
            },
            traceparent: None,
        }
    }

    fn setup() -> (Ledger, Sweeper, Arc<ManualClock>) {
        let store: Arc<dyn crate::ports::store::Store> = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 10).unwrap(),
        ));
        let ledger = Ledger::new(store);
        (ledger.clone(), Sweeper::new(ledger, clock.clone()), clock)
    }

    #[tokio::test]
    async fn a_job_is_swept_once_its_minute_has_settled_and_only_once() {
        let (ledger, sweeper, clock) = setup();
        let due = clock.now_ms() + 20_000; // 12:00:30
        ledger.record(expire(1), due, 0).await.unwrap();
        let handler = Recorder::default();

        clock.advance(chrono::Duration::seconds(70)); // 12:01:20: the minute ended 20 s ago
        let first = sweeper.sweep(&handler).await.unwrap();
        assert_eq!(first.jobs, 0, "not settled yet: {first:?}");

        clock.advance(chrono::Duration::seconds(15)); // 12:01:35
        let second = sweeper.sweep(&handler).await.unwrap();
        assert_eq!((second.minutes, second.jobs, second.failed), (1, 1, 0));
        assert_eq!(*handler.ran.lock(), vec!["expire-rsv_1".to_string()]);

        clock.advance(chrono::Duration::minutes(5));
        let later = sweeper.sweep(&handler).await.unwrap();
        assert_eq!(later.jobs, 0, "a swept minute is not read again");
        assert_eq!(handler.ran.lock().len(), 1);
    }

    #[tokio::test]
    async fn a_job_that_keeps_failing_is_tried_again_until_it_works_and_never_dropped() {
        let (ledger, sweeper, clock) = setup();
        ledger.record(expire(2), clock.now_ms(), 0).await.unwrap();
        let handler = Recorder::default();
        *handler.failures.lock() = 3;
        let mut failed = 0;
        let mut runs_at = Vec::new();
        for minute in 1..=10 {
            clock.advance(chrono::Duration::minutes(1));
            let report = sweeper.sweep(&handler).await.unwrap();
            failed += report.failed;
            if report.jobs > 0 {
                runs_at.push(minute);
            }
        }
        assert_eq!(failed, 3);
        assert_eq!(
            handler.ran.lock().len(),
            4,
            "three failed runs, then the one that worked, and no more"
        );
        assert!(
            runs_at.windows(2).all(|w| w[1] - w[0] <= 2),
            "tried again within two minutes each time: {runs_at:?}"
        );
    }

    #[tokio::test]
    async fn two_sweepers_racing_read_each_minute_once_between_them() {
        let (ledger, sweeper, clock) = setup();
        for n in 0..5 {
            ledger.record(expire(n), clock.now_ms(), 0).await.unwrap();
        }
        clock.advance(chrono::Duration::minutes(2));
        let handler = Recorder::default();
        let (a, b) = tokio::join!(sweeper.sweep(&handler), sweeper.sweep(&handler));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(
            a.overtaken || b.overtaken || a.jobs + b.jobs == 5,
            "{a:?} {b:?}"
        );
        let next = sweeper.sweep(&handler).await.unwrap();
        assert_eq!(next.jobs, 0, "the cursor moved past the minute: {next:?}");
    }
}
