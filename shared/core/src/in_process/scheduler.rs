//! [`Scheduler`] in memory: a timer table drained by a background task.
//!
//! Like EventBridge Scheduler it delivers at least once and retries a failed target with
//! backoff, so handlers written against it are ready for AWS. Like the AWS adapter it keeps the
//! trace context of the span that set each job ([`TracedJob`]) and runs the job in a span that
//! continues it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::ports::clock::Clock;
use crate::ports::scheduler::{Job, JobHandler, ScheduleError, Scheduler, TracedJob};
use tracing::Instrument;

/// Attempts before a job is given up (and logged), as a Scheduler retry policy would.
const MAX_ATTEMPTS: u32 = 8;

#[derive(Default)]
struct Timers {
    /// Due time in ms and job name, in firing order.
    queue: BTreeMap<(i64, String), (TracedJob, u32)>,
    /// Due time of each pending job name.
    due: HashMap<String, i64>,
}

pub struct MemoryScheduler {
    timers: Mutex<Timers>,
    wake: Notify,
    clock: Arc<dyn Clock>,
}

impl MemoryScheduler {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            timers: Mutex::new(Timers::default()),
            wake: Notify::new(),
            clock,
        }
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
        timers.queue.insert((at_ms, name), (job, attempts));
        drop(timers);
        self.wake.notify_one();
    }

    /// Removes and returns the jobs due now.
    fn take_due(&self) -> Vec<(TracedJob, u32)> {
        let now = self.clock.now_ms();
        let mut timers = self.timers.lock();
        let mut due = Vec::new();
        while let Some(entry) = timers.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, name), job) = entry.remove_entry();
            timers.due.remove(&name);
            due.push(job);
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

    async fn fire(
        self: &Arc<Self>,
        handler: &Arc<dyn JobHandler>,
        traced: TracedJob,
        attempts: u32,
    ) {
        let job = traced.job.clone();
        let span = traced.span();
        if let Err(error) = handler.run_job(job.clone()).instrument(span).await {
            let attempt = attempts + 1;
            if attempt >= MAX_ATTEMPTS {
                tracing::error!(job = %job.name(), %error, "job failed for good");
            } else {
                let backoff = 250i64 << attempt.min(6);
                tracing::warn!(job = %job.name(), %error, attempt, "job failed, retrying");
                self.insert(self.clock.now_ms() + backoff, traced, attempt);
            }
        }
    }

    /// Runs every job due now and waits for them (tests with a [`crate::ports::ManualClock`]).
    pub async fn run_due(self: &Arc<Self>, handler: &Arc<dyn JobHandler>) -> usize {
        let due = self.take_due();
        let count = due.len();
        for (job, attempts) in due {
            self.fire(handler, job, attempts).await;
        }
        count
    }

    /// Fires jobs as they fall due, each on its own task, until the runtime stops.
    pub async fn run(self: Arc<Self>, handler: Arc<dyn JobHandler>) {
        loop {
            for (job, attempts) in self.take_due() {
                let this = self.clone();
                let handler = handler.clone();
                tokio::spawn(async move { this.fire(&handler, job, attempts).await });
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
        self.insert(at.timestamp_millis(), TracedJob::current(job), 0);
        Ok(())
    }

    async fn cancel(&self, job: &Job) -> Result<(), ScheduleError> {
        let name = job.name();
        let mut timers = self.timers.lock();
        if let Some(at) = timers.due.remove(&name) {
            timers.queue.remove(&(at, name));
        }
        Ok(())
    }
}
