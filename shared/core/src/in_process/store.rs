//! [`Store`] in memory: one map per partition, every transaction under one lock.
//!
//! A single lock makes each transaction trivially atomic and isolated, as DynamoDB's are; the
//! critical sections are microseconds long, far below what the HTTP layer costs per request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::ports::store::{
    key_of, Item, Key, SkRange, Store, StoreError, Update, Write, MAX_TRANSACTION_WRITES,
};

#[derive(Debug, Default)]
pub struct MemoryStore {
    partitions: Mutex<HashMap<String, BTreeMap<String, Item>>>,
    /// Fault injection: while set, every call fails as an unreachable store would.
    down: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with [`StoreError::Unavailable`] until called again with `false`.
    pub fn set_unavailable(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Number of items stored (for memory benchmarks and tests).
    pub fn len(&self) -> usize {
        self.partitions.lock().values().map(BTreeMap::len).sum()
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
}

/// The least string above every string that starts with `prefix` (`None`: no bound, as for the
/// empty prefix). Sort keys compare byte-wise, which for UTF-8 is code point order.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars = prefix.chars();
    let last = chars.next_back()?;
    let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32)?;
    let mut end = chars.as_str().to_string();
    end.push(next);
    Some(end)
}

fn lookup<'a>(parts: &'a HashMap<String, BTreeMap<String, Item>>, key: &Key) -> Option<&'a Item> {
    parts.get(&key.pk).and_then(|p| p.get(&key.sk))
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check_up()?;
        Ok(lookup(&self.partitions.lock(), key).cloned())
    }

    async fn read(
        &self,
        key: &Key,
        visit: &mut (dyn for<'i> FnMut(Option<&'i Item>) + Send),
    ) -> Result<(), StoreError> {
        self.check_up()?;
        // Under the lock, like `get`'s clone: decoding a borrowed item takes less time than
        // copying it did.
        visit(lookup(&self.partitions.lock(), key));
        Ok(())
    }

    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        self.check_up()?;
        let parts = self.partitions.lock();
        let Some(partition) = parts.get(pk) else {
            return Ok(Vec::new());
        };
        // The range of sort keys that can match, so that a query (forward or newest first) reads
        // only the items it returns: a reverse query used to copy every matching item to keep
        // `limit` of them, and admission batches, one per advance, are all under one prefix.
        let start = match &range.from {
            Some(from) if from.as_str() > range.prefix.as_str() => from.as_str(),
            _ => range.prefix.as_str(),
        };
        let end = match (range.to.as_deref(), prefix_end(&range.prefix)) {
            (Some(to), Some(prefix_end)) => Some(if to < prefix_end.as_str() {
                to.to_string()
            } else {
                prefix_end
            }),
            (Some(to), None) => Some(to.to_string()),
            (None, prefix_end) => prefix_end,
        };
        if end.as_deref().is_some_and(|end| end <= start) {
            return Ok(Vec::new());
        }
        let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let matching = partition
            .range::<str, _>((Bound::Included(start), upper))
            .filter(|(sk, _)| range.contains(sk))
            .map(|(_, item)| item);
        let limit = range.limit.unwrap_or(usize::MAX);
        Ok(if range.reverse {
            matching.rev().take(limit).cloned().collect()
        } else {
            matching.take(limit).cloned().collect()
        })
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        self.check_up()?;
        let mut parts = self.partitions.lock();
        if let Some(condition) = &update.condition {
            if !condition.holds(lookup(&parts, &update.key)) {
                return Err(StoreError::ConditionFailed { index: 0 });
            }
        }
        let item = parts
            .entry(update.key.pk.clone())
            .or_default()
            .entry(update.key.sk.clone())
            .or_insert_with(|| update.new_item());
        update.apply_to(item);
        Ok(item.clone())
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.check_up()?;
        if writes.is_empty() || writes.len() > MAX_TRANSACTION_WRITES {
            return Err(StoreError::Invalid(format!(
                "{} writes in one transaction",
                writes.len()
            )));
        }
        let keys: Vec<Key> = writes.iter().map(Write::key).collect();
        if keys.len() > 1 && keys.iter().collect::<HashSet<_>>().len() != keys.len() {
            return Err(StoreError::Invalid(
                "two writes to one item in a transaction".into(),
            ));
        }
        let mut parts = self.partitions.lock();
        for (index, (write, key)) in writes.iter().zip(&keys).enumerate() {
            if let Some(condition) = write.condition() {
                if !condition.holds(lookup(&parts, key)) {
                    return Err(StoreError::ConditionFailed { index });
                }
            }
        }
        for (write, key) in writes.into_iter().zip(keys) {
            match write {
                Write::Put { item, .. } => {
                    debug_assert_eq!(key_of(&item), key);
                    parts.entry(key.pk).or_default().insert(key.sk, item);
                }
                Write::Update(update) => {
                    let item = parts
                        .entry(key.pk)
                        .or_default()
                        .entry(key.sk)
                        .or_insert_with(|| update.new_item());
                    update.apply_to(item);
                }
                Write::Delete { .. } => {
                    if let Some(partition) = parts.get_mut(&key.pk) {
                        partition.remove(&key.sk);
                        if partition.is_empty() {
                            parts.remove(&key.pk);
                        }
                    }
                }
                Write::Check { .. } => {}
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check_up()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_just_past_its_last_character() {
        assert_eq!(prefix_end("BATCH#").as_deref(), Some("BATCH$"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(prefix_end("a\u{10ffff}"), None);
    }

    #[tokio::test]
    async fn reverse_queries_with_a_limit_read_the_newest_first() {
        let store = MemoryStore::new();
        let put = |sk: String| {
            Write::put(crate::domain::records::to_item(
                &Key::new("P", sk),
                &serde_json::json!({}),
            ))
        };
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
}
