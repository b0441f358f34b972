//! The ledger of due work: every job a timer was set for, filed under the minute it is due.
//!
//! Items: `pk = SWEEP#<minute>#<shard>` (the minute as epoch milliseconds, zero-padded, so it
//! sorts; the shard from a hash of the job's name), `sk = <job name>`: one per job and minute, so
//! setting a job twice for the same minute writes one item. The sweep's cursor is `pk =
//! SWEEP#CURSOR`, `sk = CURSOR`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::records::{decode, sort_key, to_item};
use crate::ports::scheduler::{Job, ScheduleError, Scheduler, TracedJob};
use crate::ports::store::{Key, SkRange, Store, StoreError, Write};

/// Partitions per minute. At 2,000 holds a second a minute's 120,000 entries take 1/16 each:
/// 125 writes a second per partition, far below DynamoDB's 1,000.
pub const SHARDS: u32 = 16;
/// The ledger's unit of time: the sweep reads one minute at a time.
pub const MINUTE_MS: i64 = 60_000;
/// How long an entry is kept (DynamoDB's TTL deletes it): long after any sweep has read it.
const KEEP_SECS: i64 = 7 * 24 * 3600;

/// One job in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When the job is due, in milliseconds since the epoch.
    pub at_ms: i64,
    /// Runs of the sweep that failed so far.
    #[serde(default)]
    pub attempts: u32,
    pub job: TracedJob,
    /// TTL attribute (epoch seconds).
    pub expires_at: i64,
}

/// The start of the minute `at_ms` falls in.
pub fn minute_of(at_ms: i64) -> i64 {
    at_ms - at_ms.rem_euclid(MINUTE_MS)
}

/// The shard a job's entries go to: stable across processes and releases.
fn shard_of(name: &str) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SHARDS
}

fn partition(minute_ms: i64, shard: u32) -> String {
    let mut pk = sort_key("SWEEP#", u64::try_from(minute_ms).unwrap_or(0));
    pk.push('#');
    pk.push_str(&shard.to_string());
    pk
}

/// The ledger in a store.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn Store>,
}

impl Ledger {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Files `job`, due at `at_ms`, under its minute.
    pub async fn record(
        &self,
        job: TracedJob,
        at_ms: i64,
        attempts: u32,
    ) -> Result<(), StoreError> {
        let name = job.job.name();
        let key = Key::new(partition(minute_of(at_ms), shard_of(&name)), name);
        let entry = Entry {
            at_ms,
            attempts,
            job,
            expires_at: at_ms.div_euclid(1000) + KEEP_SECS,
        };
        self.store.write(Write::put(to_item(&key, &entry))).await
    }

    /// Every job filed under the minute starting at `minute_ms`, all shards read at once.
    pub async fn due_in(&self, minute_ms: i64) -> Result<Vec<Entry>, StoreError> {
        let reads = (0..SHARDS).map(|shard| {
            let pk = partition(minute_ms, shard);
            async move { self.store.query(&pk, &SkRange::default()).await }
        });
        let pages = futures::future::try_join_all(reads).await?;
        let mut entries = Vec::new();
        for item in pages.iter().flatten() {
            match decode::<Entry>(item) {
                Ok(entry) => entries.push(entry),
                // Written by a release that knew a job this one does not: leave it to that one.
                Err(e) => {
                    tracing::error!(error = %e, sk = ?item.get("sk"), "unreadable ledger entry skipped")
                }
            }
        }
        Ok(entries)
    }

    pub(super) fn store(&self) -> &dyn Store {
        &*self.store
    }
}

/// A [`Scheduler`] that files every job in the [`Ledger`] before setting its timer, so the sweep
/// finds it if the timer is lost. The entry comes first: a ledger entry whose timer was never set
/// is run by the sweep; a timer without an entry is exactly what this exists to prevent.
pub struct LedgeredScheduler {
    inner: Arc<dyn Scheduler>,
    ledger: Ledger,
}

impl LedgeredScheduler {
    pub fn new(inner: Arc<dyn Scheduler>, store: Arc<dyn Store>) -> Self {
        Self {
            inner,
            ledger: Ledger::new(store),
        }
    }
}

#[async_trait]
impl Scheduler for LedgeredScheduler {
    async fn schedule(&self, at: DateTime<Utc>, job: Job) -> Result<(), ScheduleError> {
        self.ledger
            .record(TracedJob::current(job.clone()), at.timestamp_millis(), 0)
            .await
            .map_err(|e| ScheduleError(format!("the ledger of due work: {e}")))?;
        self.inner.schedule(at, job).await
    }

    /// Cancels the timer; the ledger entry stays (the sweep finds its job done).
    async fn cancel(&self, job: &Job) -> Result<(), ScheduleError> {
        self.inner.cancel(job).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_and_partitions_sort_by_time() {
        assert_eq!(minute_of(120_000), 120_000);
        assert_eq!(minute_of(179_999), 120_000);
        assert!(partition(60_000, 3) < partition(120_000, 3));
        assert!(partition(60_000, 15).starts_with("SWEEP#00000000000000060000#"));
    }

    #[test]
    fn a_job_always_goes_to_the_same_shard_and_jobs_spread() {
        let names: Vec<String> = (0..1_000).map(|i| format!("expire-rsv_{i}")).collect();
        let mut counts = [0u32; SHARDS as usize];
        for name in &names {
            assert_eq!(shard_of(name), shard_of(name));
            counts[shard_of(name) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| c > 30),
            "1,000 jobs over 16 shards, none nearly empty: {counts:?}"
        );
    }
}
