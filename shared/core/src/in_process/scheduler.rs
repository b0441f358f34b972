//! [`Scheduler`] in memory: a timer table drained by a background task.
//!
//! Like EventBridge Scheduler it delivers at least once and retries a failed target with
//! backoff, so handlers written against it are ready for AWS. Like the AWS adapter it keeps the
//! trace context of the span that set each job ([`TracedJob`]) and runs the job in a span that
//! continues it.
//!
//! With a [`Journal`] (the embedded server's durable store) every timer is also written to the
//! store before it is accepted and removed once its job ran, so a restart loses none:
//! [`MemoryScheduler::rearm`] reads them back at start, and those that fell due while the server
//! was down fire at once. A journaled job that keeps failing is not given up: it stays in the
//! journal and is tried again every minute, its failures logged as errors.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;

use tracing::Instrument;

use super::journal::{Journal, JournaledTimer};
use crate::ports::clock::Clock;
use crate::ports::scheduler::{Job, JobHandler, ScheduleError, Scheduler, TracedJob};

/// Attempts before a job is given up (and logged), as a Scheduler retry policy would; a
/// journaled job is tried again every [`JOURNALED_RETRY_MS`] instead.
const MAX_ATTEMPTS: u32 = 8;
/// How often a journaled job that keeps failing is tried again.
const JOURNALED_RETRY_MS: i64 = 60_000;

/// A timer waiting in memory: its job, and its failed runs so far.
struct Waiting {
    job: TracedJob,
    attempts: u32,
}

#[derive(Default)]
struct Timers {
    /// Due time in ms and job name, in firing order.
    queue: BTreeMap<(i64, String), Waiting>,
    /// Due time of each pending job name.
    due: HashMap<String, i64>,
}

pub struct MemoryScheduler {
    timers: Mutex<Timers>,
    wake: Notify,
    clock: Arc<dyn Clock>,
    journal: Option<Journal>,
}

impl MemoryScheduler {
    /// Timers in memory only: a restart forgets them.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            timers: Mutex::new(Timers::default()),
            wake: Notify::new(),
            clock,
            journal: None,
        }
    }

    /// Timers also kept in `journal`, so a restart re-arms them ([`MemoryScheduler::rearm`]).
    pub fn journaled(clock: Arc<dyn Clock>, journal: Journal) -> Self {
        Self {
            journal: Some(journal),
            ..Self::new(clock)
        }
    }

    /// Arms every timer the journal holds (at start, before the timers run); returns how many.
    pub async fn rearm(&self) -> Result<usize, ScheduleError> {
        let Some(journal) = &self.journal else {
            return Ok(0);
        };
        let timers = journal.timers().await.map_err(unavailable)?;
        let count = timers.len();
        for timer in timers {
            self.insert(timer.at_ms, timer.job, timer.attempts);
        }
        Ok(count)
    }

    /// Number of timers pending.
    pub fn pending(&self) -> usize {
        self.timers.lock().due.len()
    }

    fn insert(&self, at_ms: i64, job: TracedJob, attempts: u32) {
        let name = job.job.name();
        let mut timers = self.timers.lock();
        if let Some(old) = timers.due.insert(name.clone(), at_ms) {
            timers.queue.remove(&(old, name.clone()));
        }
        timers
            .queue
            .insert((at_ms, name), Waiting { job, attempts });
        drop(timers);
        self.wake.notify_one();
    }

    /// Removes and returns the jobs due now, with their due times.
    fn take_due(&self) -> Vec<(i64, Waiting)> {
        let now = self.clock.now_ms();
        let mut timers = self.timers.lock();
        let mut due = Vec::new();
        while let Some(entry) = timers.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((at_ms, name), waiting) = entry.remove_entry();
            timers.due.remove(&name);
            due.push((at_ms, waiting));
        }
        due
    }

    fn next_due_in(&self) -> Option<Duration> {
        let now = self.clock.now_ms();
        let timers = self.timers.lock();
        timers
            .queue
            .keys()
            .next()
            .map(|(at, _)| Duration::from_millis((at - now).max(0) as u64))
    }

    async fn fire(self: &Arc<Self>, handler: &Arc<dyn JobHandler>, at_ms: i64, waiting: Waiting) {
        let Waiting {
            job: traced,
            attempts,
        } = waiting;
        let job = traced.job.clone();
        let span = traced.span();
        let trace_id = crate::trace_context::trace_id_or_new(traced.traceparent.as_deref());
        let run = handler.run_job(job.clone()).instrument(span);
        match crate::trace_context::in_trace(trace_id, run).await {
            Ok(()) => self.forget(&job.name(), at_ms).await,
            Err(error) => self.retry(traced, attempts + 1, &error).await,
        }
    }

    /// A job that ran: its journal entry goes, unless the job was scheduled again meanwhile.
    async fn forget(&self, name: &str, at_ms: i64) {
        if let Some(journal) = &self.journal {
            if let Err(error) = journal.remove_timer(name, Some(at_ms)).await {
                // It runs again at the next start; jobs are idempotent.
                tracing::warn!(job = %name, %error, "timer not removed from the journal");
            }
        }
    }

    /// A job that failed: tried again after a backoff, or given up after [`MAX_ATTEMPTS`]
    /// unless it is journaled.
    async fn retry(&self, traced: TracedJob, attempt: u32, error: &str) {
        let name = traced.job.name();
        let backoff = match (&self.journal, attempt >= MAX_ATTEMPTS) {
            (None, true) => {
                tracing::error!(job = %name, %error, "job failed for good");
                return;
            }
            (Some(_), true) => {
                tracing::error!(job = %name, %error, attempt, "job keeps failing; trying again in a minute");
                JOURNALED_RETRY_MS
            }
            (_, false) => {
                tracing::warn!(job = %name, %error, attempt, "job failed, retrying");
                250i64 << attempt.min(6)
            }
        };
        let at_ms = self.clock.now_ms() + backoff;
        if let Some(journal) = &self.journal {
            let timer = JournaledTimer {
                at_ms,
                attempts: attempt,
                job: traced.clone(),
            };
            if let Err(error) = journal.put_timer(&timer).await {
                tracing::warn!(job = %name, %error, "retry not journaled; the old entry stays");
            }
        }
        self.insert(at_ms, traced, attempt);
    }

    /// Runs every job due now and waits for them (tests with a [`crate::ports::ManualClock`]).
    pub async fn run_due(self: &Arc<Self>, handler: &Arc<dyn JobHandler>) -> usize {
        let due = self.take_due();
        let count = due.len();
        for (at_ms, waiting) in due {
            self.fire(handler, at_ms, waiting).await;
        }
        count
    }

    /// Fires jobs as they fall due, each on its own task, until the runtime stops.
    pub async fn run(self: Arc<Self>, handler: Arc<dyn JobHandler>) {
        loop {
            for (at_ms, waiting) in self.take_due() {
                let this = self.clone();
                let handler = handler.clone();
                tokio::spawn(async move { this.fire(&handler, at_ms, waiting).await });
            }
            // Sleep until the next timer, but wake at least every 250 ms so a clock that is moved
            // by hand is noticed, and at once when a sooner timer is added.
            let nap = self
                .next_due_in()
                .unwrap_or(Duration::from_millis(250))
                .min(Duration::from_millis(250));
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

#[async_trait]
impl Scheduler for MemoryScheduler {
    async fn schedule(&self, at: DateTime<Utc>, job: Job) -> Result<(), ScheduleError> {
        let timer = JournaledTimer {
            at_ms: at.timestamp_millis(),
            attempts: 0,
            job: TracedJob::current(job),
        };
        if let Some(journal) = &self.journal {
            journal.put_timer(&timer).await.map_err(unavailable)?;
        }
        self.insert(timer.at_ms, timer.job, 0);
        Ok(())
    }

    async fn cancel(&self, job: &Job) -> Result<(), ScheduleError> {
        let name = job.name();
        if let Some(journal) = &self.journal {
            journal
                .remove_timer(&name, None)
                .await
                .map_err(unavailable)?;
        }
        let mut timers = self.timers.lock();
        if let Some(at) = timers.due.remove(&name) {
            timers.queue.remove(&(at, name));
        }
        Ok(())
    }
}

fn unavailable(error: crate::ports::StoreError) -> ScheduleError {
    ScheduleError(format!("timer journal: {error}"))
}
