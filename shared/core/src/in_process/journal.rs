//! What the in-process timers and event bus keep in the store, so that a restart loses neither.
//!
//! The embedded server's timers (hold expiries, the payment simulator's jobs) and bus events
//! (payment outcomes on their way to the follow-up) live in memory while they wait. With a
//! [`Journal`] each is also written to the store before it is accepted, and removed once it has
//! run; at start the server reads back what is left ([`Journal::timers`], [`Journal::events`]) and
//! re-arms it. A timer that fell due while the server was down fires at once, exactly as a late
//! EventBridge Scheduler delivery would; its handler is idempotent, like every job's.
//!
//! Items: `pk = JOURNAL#TIMER`, `sk = <job name>` (one per job: scheduling a job again replaces
//! it, as the port promises), and `pk = JOURNAL#EVENT`, `sk = <id>` (time-ordered, so events are
//! re-delivered in the order they were published). Both partitions are written by one process
//! only: the embedded server.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ports::bus::DomainEvent;
use crate::ports::scheduler::TracedJob;
use crate::ports::store::{Condition, Item, Key, SkRange, Store, StoreError, Write};

const TIMERS: &str = "JOURNAL#TIMER";
const EVENTS: &str = "JOURNAL#EVENT";
const DEAD_EVENTS: &str = "JOURNAL#DEAD-EVENT";

/// A timer as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournaledTimer {
    /// When it is due, in milliseconds since the epoch.
    pub at_ms: i64,
    /// Failed runs so far.
    pub attempts: u32,
    pub job: TracedJob,
}

/// A published event not yet handled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournaledEvent {
    /// Its place in the journal (time-ordered).
    pub id: String,
    pub event: DomainEvent,
}

/// The store the in-process timers and bus keep their work in.
#[derive(Clone)]
pub struct Journal {
    store: Arc<dyn Store>,
}

impl Journal {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Records `timer`, replacing any timer of the same job.
    pub async fn put_timer(&self, timer: &JournaledTimer) -> Result<(), StoreError> {
        let item = encode(&timer_key(&timer.job.job.name()), timer)?;
        self.store.write(Write::put(item)).await
    }

    /// Forgets the timer of `name` if it is still due at `at_ms` (a job scheduled again since
    /// has a timer of its own that must stay); `None`: whatever is there.
    pub async fn remove_timer(&self, name: &str, at_ms: Option<i64>) -> Result<(), StoreError> {
        let condition = at_ms.map(|at| Condition::Equals("at_ms".into(), at.into()));
        let delete = Write::Delete {
            key: timer_key(name),
            condition,
        };
        match self.store.write(delete).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every timer the journal holds, soonest first.
    pub async fn timers(&self) -> Result<Vec<JournaledTimer>, StoreError> {
        let mut timers: Vec<JournaledTimer> =
            decode_all(self.store.query(TIMERS, &SkRange::default()).await?)?;
        timers.sort_by_key(|t| t.at_ms);
        Ok(timers)
    }

    /// Records a published event before it is delivered.
    pub async fn put_event(&self, event: &JournaledEvent) -> Result<(), StoreError> {
        let item = encode(&Key::new(EVENTS, event.id.as_str()), event)?;
        self.store.write(Write::put(item)).await
    }

    /// Forgets an event once its handler took it.
    pub async fn remove_event(&self, id: &str) -> Result<(), StoreError> {
        let delete = Write::Delete {
            key: Key::new(EVENTS, id),
            condition: None,
        };
        self.store.write(delete).await
    }

    /// Moves an event its handler kept refusing aside, where an operator can find it.
    pub async fn dead_letter(&self, event: &JournaledEvent) -> Result<(), StoreError> {
        let item = encode(&Key::new(DEAD_EVENTS, event.id.as_str()), event)?;
        let delete = Write::Delete {
            key: Key::new(EVENTS, event.id.as_str()),
            condition: None,
        };
        self.store.transact(vec![Write::put(item), delete]).await
    }

    /// Every event published and not yet handled, oldest first.
    pub async fn events(&self) -> Result<Vec<JournaledEvent>, StoreError> {
        decode_all(self.store.query(EVENTS, &SkRange::default()).await?)
    }

    /// Events given up on (for operators and tests).
    pub async fn dead_events(&self) -> Result<Vec<JournaledEvent>, StoreError> {
        decode_all(self.store.query(DEAD_EVENTS, &SkRange::default()).await?)
    }
}

fn timer_key(name: &str) -> Key {
    Key::new(TIMERS, name)
}

fn encode<T: Serialize>(key: &Key, value: &T) -> Result<Item, StoreError> {
    let mut item = match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) | Err(_) => return Err(StoreError::Invalid("journal entry".into())),
    };
    item.insert("pk".into(), key.pk.clone().into());
    item.insert("sk".into(), key.sk.clone().into());
    Ok(item)
}

fn decode_all<T: for<'de> Deserialize<'de>>(items: Vec<Item>) -> Result<Vec<T>, StoreError> {
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value(serde_json::Value::Object(item))
                .map_err(|e| StoreError::Invalid(format!("journal entry: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::in_process::MemoryStore;
    use crate::ports::scheduler::Job;

    fn timer(at_ms: i64, id: &str) -> JournaledTimer {
        JournaledTimer {
            at_ms,
            attempts: 0,
            job: TracedJob {
                job: Job::ExpireHold {
                    reservation_id: id.parse().unwrap(),
                },
                traceparent: None,
            },
        }
    }

    #[tokio::test]
    async fn timers_are_kept_one_per_job_and_forgotten_only_at_their_due_time() {
        let journal = Journal::new(Arc::new(MemoryStore::new()));
        journal.put_timer(&timer(2_000, "rsv_b")).await.unwrap();
        journal.put_timer(&timer(1_000, "rsv_a")).await.unwrap();
        // Scheduling a job again replaces its timer.
        journal.put_timer(&timer(3_000, "rsv_a")).await.unwrap();
        let kept = journal.timers().await.unwrap();
        assert_eq!(
            kept.iter().map(|t| t.at_ms).collect::<Vec<_>>(),
            [2_000, 3_000]
        );
        // The run of the old timer does not forget the new one.
        let name = kept[1].job.job.name();
        journal.remove_timer(&name, Some(1_000)).await.unwrap();
        assert_eq!(journal.timers().await.unwrap().len(), 2);
        journal.remove_timer(&name, Some(3_000)).await.unwrap();
        assert_eq!(journal.timers().await.unwrap().len(), 1);
    }
}
