//! When work starts: a fixed rate (open model) or as fast as N workers go (closed model).
//!
//! An open model starts job `i` at `t0 + i / rate` whether or not earlier jobs have finished,
//! as independent buyers do; a slow server then shows up as latency and a growing number of jobs
//! in flight, not as a lower request rate. A closed model (N workers, each starting its next job
//! when the last one ends) finds the most a server can do, but hides latency: while a request is
//! stuck, its worker sends nothing else (coordinated omission). The report says which was used.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::Serialize;
use tokio::task::JoinSet;

/// How jobs are started.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Load {
    /// Open model: `per_sec` jobs start each second, on schedule.
    FixedRate { per_sec: f64 },
    /// Closed model: `workers` loops, each starting its next job as soon as its last one ends.
    MaxRate { workers: usize },
}

/// When the run stops starting jobs.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    After { seconds: f64 },
    Count { jobs: u64 },
}

impl Stop {
    fn reached(&self, started: u64, elapsed: Duration) -> bool {
        match *self {
            Stop::After { seconds } => elapsed.as_secs_f64() >= seconds,
            Stop::Count { jobs } => started >= jobs,
        }
    }
}

/// What the pacer itself did.
#[derive(Debug, Clone, Serialize)]
pub struct Paced {
    pub started: u64,
    /// Jobs not started because `max_in_flight` were already running: the driver's own limit,
    /// reported so that a run which hit it is not mistaken for a clean one.
    pub skipped: u64,
    /// From the first job's start to the last job's end.
    pub seconds: f64,
}

/// Runs `job(i, due)` for i = 0, 1, … under `load` until `stop`, then waits for every job.
///
/// `due` is the instant job `i` was scheduled for; jobs measure their first call's latency from it.
pub async fn run<F, Fut>(
    load: Load,
    stop: Stop,
    max_in_flight: usize,
    progress: &ProgressBar,
    job: F,
) -> Paced
where
    F: Fn(u64, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let t0 = Instant::now();
    let job = Arc::new(job);
    let (started, skipped) = match load {
        Load::FixedRate { per_sec } => {
            open(per_sec, stop, max_in_flight, progress, job.clone(), t0).await
        }
        Load::MaxRate { workers } => (closed(workers, stop, progress, job, t0).await, 0),
    };
    Paced {
        started,
        skipped,
        seconds: t0.elapsed().as_secs_f64(),
    }
}

async fn open<F, Fut>(
    per_sec: f64,
    stop: Stop,
    max_in_flight: usize,
    progress: &ProgressBar,
    job: Arc<F>,
    t0: Instant,
) -> (u64, u64)
where
    F: Fn(u64, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut jobs = JoinSet::new();
    let (mut issued, mut skipped) = (0u64, 0u64);
    let interval = 1.0 / per_sec;
    loop {
        let elapsed = t0.elapsed();
        // Every slot whose time has come: timers tick about once a millisecond, so at high
        // rates each tick starts a batch, each job still stamped with its own slot.
        let due_now = (elapsed.as_secs_f64() * per_sec).floor() as u64 + 1;
        while issued < due_now {
            let due = t0 + Duration::from_secs_f64(issued as f64 * interval);
            if stop.reached(issued, due - t0) {
                break;
            }
            while jobs.try_join_next().is_some() {}
            if jobs.len() >= max_in_flight {
                skipped += 1;
            } else {
                jobs.spawn(job(issued, due));
            }
            issued += 1;
        }
        progress.set_position(progress_of(stop, issued, elapsed));
        let next = t0 + Duration::from_secs_f64(issued as f64 * interval);
        if stop.reached(issued, next - t0) {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
    }
    while jobs.join_next().await.is_some() {
        progress.tick();
    }
    (issued - skipped, skipped)
}

async fn closed<F, Fut>(
    workers: usize,
    stop: Stop,
    progress: &ProgressBar,
    job: Arc<F>,
    t0: Instant,
) -> u64
where
    F: Fn(u64, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let mut loops = JoinSet::new();
    for _ in 0..workers.max(1) {
        let (next, job) = (next.clone(), job.clone());
        loops.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if stop.reached(i, t0.elapsed()) {
                    break;
                }
                job(i, Instant::now()).await;
            }
        });
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            done = loops.join_next() => if done.is_none() { break },
            _ = ticker.tick() => {
                let issued = next.load(Ordering::Relaxed);
                progress.set_position(progress_of(stop, issued, t0.elapsed()));
            }
        }
    }
    // Each worker took one index past the stop before noticing it.
    next.load(Ordering::Relaxed) - workers.max(1) as u64
}

/// The progress bar counts jobs for a count and tenths of seconds for a duration.
pub fn progress_len(stop: Stop) -> u64 {
    match stop {
        Stop::After { seconds } => (seconds * 10.0).ceil() as u64,
        Stop::Count { jobs } => jobs,
    }
}

fn progress_of(stop: Stop, issued: u64, elapsed: Duration) -> u64 {
    match stop {
        Stop::After { .. } => (elapsed.as_secs_f64() * 10.0) as u64,
        Stop::Count { .. } => issued,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[tokio::test]
    async fn a_fixed_rate_starts_jobs_on_schedule_even_when_earlier_ones_are_still_running() {
        let dues = Arc::new(Mutex::new(Vec::new()));
        let seen = dues.clone();
        let paced = run(
            Load::FixedRate { per_sec: 100.0 },
            Stop::Count { jobs: 20 },
            1_000,
            &ProgressBar::hidden(),
            move |i, due| {
                let seen = seen.clone();
                async move {
                    seen.lock().push((i, due));
                    // Each job takes 10 times the interval: a closed loop would fall behind.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        )
        .await;
        assert_eq!((paced.started, paced.skipped), (20, 0));
        assert!(paced.seconds < 0.19 + 0.1 + 0.2, "took {}", paced.seconds);
        let mut dues = dues.lock().clone();
        dues.sort();
        let gaps: Vec<u128> = dues
            .windows(2)
            .map(|w| (w[1].1 - w[0].1).as_micros())
            .collect();
        assert!(
            gaps.iter().all(|&g| (9_000..=11_000).contains(&g)),
            "{gaps:?}"
        );
    }

    #[tokio::test]
    async fn max_rate_runs_exactly_the_count_with_each_worker_waiting_for_its_last_job() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let paced = run(
            Load::MaxRate { workers: 4 },
            Stop::Count { jobs: 50 },
            1,
            &ProgressBar::hidden(),
            move |_, _| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            },
        )
        .await;
        assert_eq!(count.load(Ordering::Relaxed), 50);
        assert_eq!(paced.started, 50);
    }

    #[tokio::test]
    async fn a_full_driver_skips_and_says_so() {
        let paced = run(
            Load::FixedRate { per_sec: 1_000.0 },
            Stop::Count { jobs: 30 },
            5,
            &ProgressBar::hidden(),
            |_, _| tokio::time::sleep(Duration::from_millis(200)),
        )
        .await;
        assert_eq!(paced.started + paced.skipped, 30);
        assert!(paced.skipped >= 20, "{paced:?}");
    }
}
