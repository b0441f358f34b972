//! [`Store`] in memory: every item in one ordered set, every transaction under one lock.
//!
//! A single lock makes each transaction trivially atomic and isolated, as DynamoDB's are; the
//! critical sections are microseconds long, far below what the HTTP layer costs per request.
//! Items are kept encoded ([`encoded`]: a million people waiting fit in well under a gigabyte)
//! and purged once past their expiry, as DynamoDB's TTL purges them ([`ExpiringStore`]).

mod encoded;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Weak;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::ports::store::{
    key_of, ChangeListener, Condition, ExpiringStore, Item, Key, Lent, SkRange, Store, StoreError,
    Update, Watchers, Write, MAX_TRANSACTION_WRITES,
};

use encoded::Items;

/// Items walked per hold of the lock during a purge, so that purging two million items never
/// holds up a request for more than about a millisecond.
const PURGE_BATCH: usize = 10_000;

#[derive(Debug, Default)]
pub struct MemoryStore {
    items: Mutex<Items>,
    /// Fault injection: while set, every call fails as an unreachable store would.
    down: AtomicBool,
    /// Fault injection: while set, every write fails and reads still answer, as a full disk or a
    /// throttled table does (the common outage: a down store also fails its reads).
    writes_failing: AtomicBool,
    /// Told of each write under the lock that made it, so in the order writes took effect.
    watchers: Watchers,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with [`StoreError::Unavailable`] until called again with `false`.
    pub fn set_unavailable(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Makes every write fail with [`StoreError::Unavailable`], reads still answering, until
    /// called again with `false`.
    pub fn set_writes_failing(&self, failing: bool) {
        self.writes_failing.store(failing, Ordering::SeqCst);
    }

    /// Number of items stored (for memory benchmarks and tests).
    pub fn len(&self) -> usize {
        self.items.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "in-process store switched off".into(),
            ))
        } else {
            Ok(())
        }
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        self.check_up()?;
        if self.writes_failing.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "in-process store refuses writes".into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// One write of a transaction as this store applies it: its item decoded if it came as text
/// (this store keeps attributes, encoded its own way), so that a text that is not an item fails
/// the transaction before any of it is written.
struct Change {
    key: Key,
    condition: Option<Condition>,
    then: Then,
}

enum Then {
    Put(Item),
    Update(Update),
    Delete,
    Check,
}

impl Change {
    fn of(write: Write) -> Result<Self, StoreError> {
        let key = write.key();
        Ok(match write {
            Write::Put { item, condition } => Self {
                key,
                condition,
                then: Then::Put(item),
            },
            Write::PutText { item, condition } => Self {
                key,
                condition,
                then: Then::Put(item.to_item()?),
            },
            Write::Update(mut update) => Self {
                key,
                condition: update.condition.take(),
                then: Then::Update(update),
            },
            Write::Delete { condition, .. } => Self {
                key,
                condition,
                then: Then::Delete,
            },
            Write::Check { condition, .. } => Self {
                key,
                condition: Some(condition),
                then: Then::Check,
            },
        })
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check_up()?;
        Ok(self.items.lock().get(key))
    }

    async fn read(
        &self,
        key: &Key,
        visit: &mut (dyn for<'i> FnMut(Option<Lent<'i>>) + Send),
    ) -> Result<(), StoreError> {
        self.check_up()?;
        // Under the lock, lent: no clone of an item the caller only decodes.
        self.items
            .lock()
            .read(key, |item| visit(item.map(Lent::Item)));
        Ok(())
    }

    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        self.check_up()?;
        Ok(self.items.lock().query(pk, range))
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        self.check_writable()?;
        let mut items = self.items.lock();
        let current = items.get(&update.key);
        if let Some(condition) = &update.condition {
            if !condition.holds(current.as_ref()) {
                return Err(StoreError::ConditionFailed { index: 0 });
            }
        }
        let mut item = current.unwrap_or_else(|| update.new_item());
        update.apply_to(&mut item);
        items.put(&update.key, &item);
        self.watchers.report(&update.key, Some(&item));
        Ok(item)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.check_writable()?;
        if writes.is_empty() || writes.len() > MAX_TRANSACTION_WRITES {
            return Err(StoreError::Invalid(format!(
                "{} writes in one transaction",
                writes.len()
            )));
        }
        let writes = writes
            .into_iter()
            .map(Change::of)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let keys: Vec<&Key> = writes.iter().map(|change| &change.key).collect();
        if keys.len() > 1 && keys.iter().collect::<HashSet<_>>().len() != keys.len() {
            return Err(StoreError::Invalid(
                "two writes to one item in a transaction".into(),
            ));
        }
        let mut items = self.items.lock();
        // Every item is read once: its conditions are checked on it, and an update applies to it.
        let mut current = Vec::with_capacity(writes.len());
        for (index, change) in writes.iter().enumerate() {
            let item = match (&change.then, &change.condition) {
                // A blind put needs nothing of the item it replaces.
                (Then::Put(_), None) => None,
                _ => items.get(&change.key),
            };
            if let Some(condition) = &change.condition {
                if !condition.holds(item.as_ref()) {
                    return Err(StoreError::ConditionFailed { index });
                }
            }
            current.push(item);
        }
        for (Change { key, then, .. }, item) in writes.into_iter().zip(current) {
            match then {
                Then::Put(item) => {
                    debug_assert_eq!(key_of(&item), key);
                    items.put(&key, &item);
                    self.watchers.report(&key, Some(&item));
                }
                Then::Update(update) => {
                    let mut item = item.unwrap_or_else(|| update.new_item());
                    update.apply_to(&mut item);
                    items.put(&key, &item);
                    self.watchers.report(&key, Some(&item));
                }
                Then::Delete => {
                    items.remove(&key);
                    self.watchers.report(&key, None);
                }
                Then::Check => {}
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check_up()
    }

    fn watch(&self, listener: Weak<dyn ChangeListener>) -> bool {
        self.watchers.add(listener);
        true
    }
}

#[async_trait]
impl ExpiringStore for MemoryStore {
    /// Walks the whole store in batches, releasing the lock between them.
    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        self.check_up()?;
        let (mut purged, mut next) = self.items.lock().purge(None, now, PURGE_BATCH);
        while next.is_some() {
            tokio::task::yield_now().await;
            let (removed, after) = self.items.lock().purge(next, now, PURGE_BATCH);
            purged += removed;
            next = after;
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(sk: String) -> Write {
        Write::put(crate::domain::records::to_item(
            &Key::new("P", sk),
            &serde_json::json!({}),
        ))
    }

    #[tokio::test]
    async fn reverse_queries_with_a_limit_read_the_newest_first() {
        let store = MemoryStore::new();
        for n in 0..50 {
            store.write(put(format!("B#{n:03}"))).await.unwrap();
        }
        store.write(put("A".into())).await.unwrap();
        store.write(put("C".into())).await.unwrap();
        let sks =
            |items: Vec<Item>| -> Vec<String> { items.iter().map(|i| key_of(i).sk).collect() };
        let newest = store
            .query("P", &SkRange::prefix("B#").reverse().limit(2))
            .await
            .unwrap();
        assert_eq!(sks(newest), ["B#049", "B#048"]);
        let below = SkRange::prefix("B#").to("B#010").reverse().limit(1);
        assert_eq!(sks(store.query("P", &below).await.unwrap()), ["B#009"]);
        let between = SkRange::prefix("B#").between("B#047", "ZZZ");
        assert_eq!(
            sks(store.query("P", &between).await.unwrap()),
            ["B#047", "B#048", "B#049"]
        );
        let empty = SkRange::prefix("B#").between("B#020", "B#010");
        assert!(store.query("P", &empty).await.unwrap().is_empty());
        assert_eq!(
            store.query("P", &SkRange::default()).await.unwrap().len(),
            52
        );
        let all_reversed = store
            .query("P", &SkRange::default().reverse().limit(1))
            .await
            .unwrap();
        assert_eq!(sks(all_reversed), ["C"]);
    }

    #[tokio::test]
    async fn expired_items_are_purged_and_the_rest_stay_readable() {
        let store = MemoryStore::new();
        let now = 1_000;
        for n in 0..(PURGE_BATCH + 10) {
            let expiry = if n % 3 == 0 { now - 1 } else { now + 1 };
            let key = Key::new(format!("IDEM#{n}"), "IDEM");
            let item =
                crate::domain::records::to_item(&key, &serde_json::json!({ "expires_at": expiry }));
            store.write(Write::put(item)).await.unwrap();
        }
        let expected = (PURGE_BATCH + 10).div_ceil(3);
        assert_eq!(store.purge_expired(now).await.unwrap(), expected);
        assert_eq!(store.len(), PURGE_BATCH + 10 - expected);
        assert_eq!(store.get(&Key::new("IDEM#0", "IDEM")).await.unwrap(), None);
        let kept = store
            .get(&Key::new("IDEM#1", "IDEM"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept["expires_at"], now + 1);
        assert_eq!(store.purge_expired(now).await.unwrap(), 0);
    }
}
