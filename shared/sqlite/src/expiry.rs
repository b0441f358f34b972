//! Expiry: items whose `expires_at` (unix seconds) is past are deleted by a periodic purge
//! (`tacos_core::in_process::spawn_purge`), as DynamoDB's TTL deletes them. Until purged they read as before (the domain ignores expired
//! records itself), so the purge only reclaims space; it reads through a partial index that
//! holds only items with an expiry.

use async_trait::async_trait;
use tacos_core::ports::ExpiringStore;

use crate::port::StoreError;
use crate::store::SqliteStore;

/// Items deleted per write job, so that a large purge never holds the writer for long.
const PURGE_BATCH: usize = 1_000;

#[async_trait]
impl ExpiringStore for SqliteStore {
    /// Deletes in batches that interleave with other writes.
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use std::sync::Arc;

    use tacos_core::ports::ExpiringStore;

    use super::*;
    use tacos_core::ports::store::ItemText;

    use crate::port::{expires_at, key_of, Key, SkRange, Store, Update, Write};
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
        // Put as text, an item's expiry is read from its text alike (its own, not a nested one).
        for (sk, attrs) in [
            (
                "text-past",
                json!({ "expires_at": now - 1, "m": { "expires_at": now + 9 } }),
            ),
            (
                "text-later",
                json!({ "expires_at": now + 1, "m": { "expires_at": 0 } }),
            ),
        ] {
            let item = item(&Key::new("P", sk), attrs);
            let text = serde_json::to_string(&item).unwrap();
            let text = ItemText::new(key_of(&item), text, expires_at(&item));
            store.write(Write::put_new_text(text)).await.unwrap();
        }
        // An item whose expiry is taken away keeps it no more.
        store
            .update(Update::new(Key::new("P", "unexpired")).remove("expires_at"))
            .await
            .unwrap();
        assert_eq!(store.purge_expired(now).await.unwrap(), 2);
        let left: Vec<String> = store
            .query("P", &SkRange::default())
            .await
            .unwrap()
            .iter()
            .map(|i| i["sk"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            left,
            ["later", "never", "now", "text", "text-later", "unexpired"]
        );
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
            .prepare("EXPLAIN QUERY PLAN SELECT id FROM items WHERE expires_at < ?1 LIMIT ?2")
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
}
