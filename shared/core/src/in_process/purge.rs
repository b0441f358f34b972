//! The periodic purge of expired items: what DynamoDB's TTL does on its own, the embedded
//! server's stores do when asked ([`ExpiringStore`]), and this task asks them every so often.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::ports::ExpiringStore;

/// Purges expired items every `every`, by the clock `now` (unix seconds), until the store is
/// dropped (the task holds it weakly) or the task is aborted. A failed purge is logged and tried
/// again at the next tick: it only reclaims space, nothing reads an expired item as current.
pub fn spawn_purge<S: ExpiringStore>(
    store: &Arc<S>,
    every: Duration,
    now: impl Fn() -> i64 + Send + 'static,
) -> JoinHandle<()> {
    let store: Weak<S> = Arc::downgrade(store);
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
    use crate::domain::records::to_item;
    use crate::in_process::MemoryStore;
    use crate::ports::{Key, Store, Write};

    #[tokio::test]
    async fn the_background_purge_deletes_expired_items_and_stops_with_the_store() {
        let store = Arc::new(MemoryStore::new());
        let key = Key::new("P", "ticket");
        let item = to_item(&key, &json!({ "expires_at": 5 }));
        store.write(Write::put(item)).await.unwrap();
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
