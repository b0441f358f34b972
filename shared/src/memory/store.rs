//! [`Store`] in memory: one map per partition, every transaction under one lock.
//!
//! A single lock makes each transaction trivially atomic and isolated, as DynamoDB's are; the
//! critical sections are microseconds long, far below what the HTTP layer costs per request.

use std::collections::{BTreeMap, HashMap, HashSet};
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

fn lookup<'a>(parts: &'a HashMap<String, BTreeMap<String, Item>>, key: &Key) -> Option<&'a Item> {
    parts.get(&key.pk).and_then(|p| p.get(&key.sk))
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check_up()?;
        Ok(lookup(&self.partitions.lock(), key).cloned())
    }

    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        self.check_up()?;
        let parts = self.partitions.lock();
        let Some(partition) = parts.get(pk) else {
            return Ok(Vec::new());
        };
        let start = match &range.from {
            Some(from) if from.as_str() > range.prefix.as_str() => from.clone(),
            _ => range.prefix.clone(),
        };
        let matching = partition
            .range(start..)
            .take_while(|(sk, _)| sk.starts_with(&range.prefix))
            .filter(|(sk, _)| range.contains(sk))
            .map(|(_, item)| item);
        let limit = range.limit.unwrap_or(usize::MAX);
        Ok(if range.reverse {
            let mut all: Vec<Item> = matching.cloned().collect();
            all.reverse();
            all.truncate(limit);
            all
        } else {
            matching.take(limit).cloned().collect()
        })
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        self.check_up()?;
        let mut parts = self.partitions.lock();
        let current = lookup(&parts, &update.key);
        if let Some(condition) = &update.condition {
            if !condition.holds(current) {
                return Err(StoreError::ConditionFailed { index: 0 });
            }
        }
        let next = update.apply(current.cloned());
        parts
            .entry(update.key.pk.clone())
            .or_default()
            .insert(update.key.sk.clone(), next.clone());
        Ok(next)
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
        if keys.iter().collect::<HashSet<_>>().len() != keys.len() {
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
                    let next = update.apply(lookup(&parts, &key).cloned());
                    parts.entry(key.pk).or_default().insert(key.sk, next);
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
