//! Expiry: items whose `expires_at` (unix seconds) is past are deleted by a periodic purge, as
//! DynamoDB's TTL deletes them. Until purged they read as before (the domain ignores expired
//! records itself), so the purge only reclaims space; it reads through a partial index that
//! holds only items with an expiry.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::port::StoreError;
use crate::store::SqliteStore;

/// Items deleted per write job, so that a large purge never holds the writer for long.
const PURGE_BATCH: usize = 1_000;

impl SqliteStore {
    /// Deletes every item whose `expires_at` is before `now` (unix seconds), in batches that
    /// interleave with other writes; returns how many.
    pub async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let mut purged = 0;
        loop {
            let deleted = self.writer().purge(now, PURGE_BATCH).await?;
            purged += deleted;
            if deleted < PURGE_BATCH {
                return Ok(purged);
            }
        }
    }
}

/// Purges expired items every `every`, by the clock `now` (unix seconds; [`unix_now`] for the
/// system's), until the store is dropped (the task holds it weakly) or the task is aborted.
pub fn spawn_purge(
    store: &Arc<SqliteStore>,
    every: Duration,
    now: impl Fn() -> i64 + Send + 'static,
) -> JoinHandle<()> {
    let store: Weak<SqliteStore> = Arc::downgrade(store);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(store) = store.upgrade() else {
                return;
            };
            match store.purge_expired(now()).await {
                Ok(0) => {}
                Ok(purged) => tracing::debug!(purged, "expired items purged"),
                Err(error) => tracing::warn!(%error, "purge of expired items failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::port::{Key, SkRange, Store, Update, Write};
    use crate::testing::{item, TempDir};
    use crate::SqliteOptions;

    fn open(dir: &std::path::Path) -> Arc<SqliteStore> {
        Arc::new(SqliteStore::open(dir, SqliteOptions::default()).unwrap())
    }

    #[tokio::test]
    async fn only_items_past_their_expiry_are_purged() {
        let temp = TempDir::new();
        let store = open(temp.path());
        let now = 1_000;
        for (sk, attrs) in [
            ("past", json!({ "expires_at": now - 1 })),
            ("now", json!({ "expires_at": now })),
            ("later", json!({ "expires_at": now + 1 })),
            ("never", json!({})),
            ("text", json!({ "expires_at": "0" })),
            ("unexpired", json!({ "expires_at": 0 })),
        ] {
            store
                .write(Write::put(item(&Key::new("P", sk), attrs)))
                .await
                .unwrap();
        }
        // An item whose expiry is taken away keeps it no more.
        store
            .update(Update::new(Key::new("P", "unexpired")).remove("expires_at"))
            .await
            .unwrap();
        assert_eq!(store.purge_expired(now).await.unwrap(), 1);
        let left: Vec<String> = store
            .query("P", &SkRange::default())
            .await
            .unwrap()
            .iter()
            .map(|i| i["sk"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(left, ["later", "never", "now", "text", "unexpired"]);
        assert_eq!(store.purge_expired(now).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_large_purge_runs_in_batches_until_done() {
        let temp = TempDir::new();
        let store = open(temp.path());
        for chunk in 0..25 {
            let writes = (0..100)
                .map(|n| {
                    let key = Key::new(format!("P{chunk}"), format!("{n:03}"));
                    Write::put(item(&key, json!({ "expires_at": 10 })))
                })
                .collect();
            store.transact(writes).await.unwrap();
        }
        assert_eq!(store.purge_expired(11).await.unwrap(), 2_500);
        assert!(store
            .query("P7", &SkRange::default())
            .await
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_purge_reads_only_the_expiry_index() {
        let temp = TempDir::new();
        let store = open(temp.path());
        let conn = rusqlite::Connection::open(store.database_path()).unwrap();
        let plan: Vec<String> = conn
            .prepare("EXPLAIN QUERY PLAN SELECT pk, sk FROM items WHERE expires_at < ?1 LIMIT ?2")
            .unwrap()
            .query_map([0, 10], |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter().any(|step| step.contains("items_by_expiry")),
            "{plan:?}"
        );
    }

    #[tokio::test]
    async fn the_background_purge_deletes_expired_items_and_stops_with_the_store() {
        let temp = TempDir::new();
        let store = open(temp.path());
        let key = Key::new("P", "ticket");
        store
            .write(Write::put(item(&key, json!({ "expires_at": 5 }))))
            .await
            .unwrap();
        let task = spawn_purge(&store, Duration::from_millis(10), || 6);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.get(&key).await.unwrap().is_some() {
            assert!(tokio::time::Instant::now() < deadline, "not purged");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(store);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the task ends once the store is gone")
            .unwrap();
    }
}
