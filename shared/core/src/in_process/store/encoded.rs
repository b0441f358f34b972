//! The memory store's items, kept small: one ordered set over every item of every partition,
//! each item in one allocation holding its key, its expiry and its attributes as JSON.
//!
//! Why not the items themselves: a million people waiting are two million items (each join's
//! ticket and idempotency record), and as `serde_json` maps (a B-tree of heap-allocated names and
//! values), one small map per partition inside a map of partitions, they took 4.7 KB a person
//! (BENCHMARKS.md §6). Encoded they take their JSON length plus about seventy bytes. The price
//! is a decode on every read and an encode on every write (a join costs 24% more instructions on
//! this store, a status 5%), kept down by two things: a lookup compares hashes held in the tree's
//! nodes rather than following a pointer per comparison ([`Entry`]), and the few hundred most
//! recently read items stay decoded ([`DECODED`]).
//!
//! Entries are ordered by partition (its key's hash, then the key) and sort key, so a partition
//! is one contiguous run of the set and a query is a range walk.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::ops::Bound;

use hashlink::LruCache;
use ref_cast::RefCast;
use serde::Serializer;
use serde_json::Value;

use crate::ports::store::{expires_at, Item, Key, SkRange};

/// Bytes before the key: the lengths of `pk` and `sk` (u32 each) and the expiry (i64), little
/// endian.
const HEADER: usize = 16;

/// The bytes of an entry, ordered by the `(pk, sk)` they start with: what lookups and range
/// bounds are made of, and what every [`Entry`] lends itself as.
///
/// Layout: `[pk len: u32][sk len: u32][expires_at: i64][pk][sk][attributes as JSON]`. A lookup's
/// bytes stop after `sk`. Comparing `pk` and `sk` as bytes is comparing them as strings: UTF-8
/// byte order is code point order.
#[derive(RefCast)]
#[repr(transparent)]
pub struct Packed([u8]);

impl Packed {
    fn len_at(&self, at: usize) -> usize {
        let mut len = [0; 4];
        len.copy_from_slice(&self.0[at..at + 4]);
        u32::from_le_bytes(len) as usize
    }

    fn pk_bytes(&self) -> &[u8] {
        &self.0[HEADER..HEADER + self.len_at(0)]
    }

    fn sk_bytes(&self) -> &[u8] {
        let start = HEADER + self.len_at(0);
        &self.0[start..start + self.len_at(4)]
    }

    fn body(&self) -> &[u8] {
        &self.0[HEADER + self.len_at(0) + self.len_at(4)..]
    }

    fn expires_at(&self) -> i64 {
        let mut at = [0; 8];
        at.copy_from_slice(&self.0[8..16]);
        i64::from_le_bytes(at)
    }

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).expect("keys are stored from strings")
    }

    pub fn pk(&self) -> &str {
        Self::text(self.pk_bytes())
    }

    pub fn sk(&self) -> &str {
        Self::text(self.sk_bytes())
    }

    fn decode(&self) -> Item {
        let mut item: Item = serde_json::from_slice(self.body())
            .expect("the memory store decodes only the JSON it encoded");
        item.insert("pk".into(), Value::String(self.pk().to_owned()));
        item.insert("sk".into(), Value::String(self.sk().to_owned()));
        item
    }
}

/// One stored item, in one allocation (see [`Packed`] for the layout), beside a hash of its
/// partition key.
///
/// Entries are ordered by `(hash of pk, pk, sk)`: a partition is still one contiguous run (all
/// its keys share the hash), and a lookup among two million entries decides almost every
/// comparison on the hash kept inline in the tree's node, instead of following a pointer to the
/// key's bytes at each one (ordered by `(pk, sk)` alone, those cache misses halved the memory
/// store's joins per second).
pub struct Entry {
    pk_hash: u64,
    bytes: Box<[u8]>,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pk_hash.cmp(&other.pk_hash).then_with(|| {
            let (a, b) = (self.packed(), other.packed());
            (a.pk_bytes(), a.sk_bytes()).cmp(&(b.pk_bytes(), b.sk_bytes()))
        })
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl Entry {
    /// The bytes of `key` alone, to look it up or bound a range with.
    fn key(pk: &str, sk: &str) -> Self {
        Self::with(pk, sk, i64::MAX, |_| {})
    }

    /// `item` under `key` (the item's own `pk` and `sk` attributes are not stored twice).
    fn item(key: &Key, item: &Item) -> Self {
        let expires = expires_at(item).unwrap_or(i64::MAX);
        Self::with(&key.pk, &key.sk, expires, |bytes| {
            let attributes = item.iter().filter(|(name, _)| !is_key(name));
            serde_json::Serializer::new(bytes)
                .collect_map(attributes)
                .expect("a JSON object with string names always encodes");
        })
    }

    fn with(pk: &str, sk: &str, expires_at: i64, body: impl FnOnce(&mut Vec<u8>)) -> Self {
        let len = |s: &str| u32::try_from(s.len()).expect("a key under 4 GiB");
        let mut bytes = Vec::with_capacity(HEADER + pk.len() + sk.len() + 256);
        bytes.extend_from_slice(&len(pk).to_le_bytes());
        bytes.extend_from_slice(&len(sk).to_le_bytes());
        bytes.extend_from_slice(&expires_at.to_le_bytes());
        bytes.extend_from_slice(pk.as_bytes());
        bytes.extend_from_slice(sk.as_bytes());
        body(&mut bytes);
        // Copied into an allocation of exactly its size: shrinking the vector in place would
        // keep its spare capacity (mimalloc keeps a block that shrinks by less than half), up to
        // a third of the store's memory.
        Self {
            pk_hash: pk_hash(pk),
            bytes: Box::from(bytes.as_slice()),
        }
    }

    fn packed(&self) -> &Packed {
        Packed::ref_cast(&self.bytes)
    }
}

/// The hash that orders partitions (std's SipHash with fixed keys: the order only has to be the
/// same for every entry of the store; keys made to collide cost comparisons, never correctness).
fn pk_hash(pk: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    pk.hash(&mut hasher);
    hasher.finish()
}

fn is_key(name: &str) -> bool {
    name == "pk" || name == "sk"
}

/// Items kept decoded besides their encoding: the most recently read ones, up to this many.
///
/// What a status or a join reads again and again is a handful of shared records (the event, the
/// queue's state and counters, the inventory): decoding them on every read cost the memory
/// store 30% of its status throughput (BENCHMARKS.md §6). Per-user records (tickets, holds)
/// are read by one client each and mostly miss; a cache that held them all would only hide the
/// decode in benchmarks that poll fewer tickets than it holds.
const DECODED: usize = 256;

/// Every item of the memory store, encoded, and the most recently read ones decoded.
pub struct Items {
    set: BTreeSet<Entry>,
    /// Always the decoding of the entry under the same key: every write of a key drops it here.
    decoded: LruCache<Key, Item>,
}

impl Default for Items {
    fn default() -> Self {
        Self {
            set: BTreeSet::new(),
            decoded: LruCache::new(DECODED),
        }
    }
}

impl std::fmt::Debug for Items {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Items")
            .field("len", &self.set.len())
            .field("decoded", &self.decoded.len())
            .finish()
    }
}

impl Items {
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Lends the item at `key` to `visit`, decoded (from the cache of recent reads if there).
    pub fn read<T>(&mut self, key: &Key, visit: impl FnOnce(Option<&Item>) -> T) -> T {
        if let Some(item) = self.decoded.get(key) {
            return visit(Some(item));
        }
        let probe = Entry::key(&key.pk, &key.sk);
        let Some(entry) = self.set.get(&probe) else {
            return visit(None);
        };
        let item = entry.packed().decode();
        let value = visit(Some(&item));
        self.decoded.insert(key.clone(), item);
        value
    }

    pub fn get(&mut self, key: &Key) -> Option<Item> {
        self.read(key, |item| item.cloned())
    }

    /// Stores `item` under `key`, replacing what was there.
    pub fn put(&mut self, key: &Key, item: &Item) {
        self.decoded.remove(key);
        self.set.replace(Entry::item(key, item));
    }

    pub fn remove(&mut self, key: &Key) {
        self.decoded.remove(key);
        self.set.remove(&Entry::key(&key.pk, &key.sk));
    }

    /// The items of partition `pk` in `range`, decoded, in the range's order and within its limit.
    pub fn query(&self, pk: &str, range: &SkRange) -> Vec<Item> {
        let Some((start, end)) = range.interval() else {
            return Vec::new();
        };
        let lower = Entry::key(pk, start);
        // Without an end the walk stops at the partition's end: no `pk` sorts between `pk` and
        // `pk` followed by the least character, so `(pk + "\0", "")` under `pk`'s hash is above
        // all of `pk`'s keys and below every other partition's.
        let upper = match end {
            Some(end) => Entry::key(pk, &end),
            None => Entry {
                pk_hash: lower.pk_hash,
                ..Entry::key(&format!("{pk}\0"), "")
            },
        };
        let matching = self
            .set
            .range((Bound::Included(&lower), Bound::Excluded(&upper)))
            .map(Entry::packed)
            .filter(|entry| range.contains(entry.sk()))
            .map(Packed::decode);
        let limit = range.limit.unwrap_or(usize::MAX);
        if range.reverse {
            matching.rev().take(limit).collect()
        } else {
            matching.take(limit).collect()
        }
    }

    /// Walks at most `budget` items from `from` (the start when `None`) and removes those that
    /// expired before `now`; returns how many it removed and where to go on (`None`: the end).
    pub fn purge(&mut self, from: Option<Key>, now: i64, budget: usize) -> (usize, Option<Key>) {
        let from = from.map(|key| Entry::key(&key.pk, &key.sk));
        let lower = from.as_ref().map_or(Bound::Unbounded, Bound::Included);
        let mut expired = Vec::new();
        let mut next = None;
        let walked = self.set.range((lower, Bound::Unbounded));
        for (seen, entry) in walked.map(Entry::packed).enumerate() {
            if seen == budget {
                next = Some(Key::new(entry.pk(), entry.sk()));
                break;
            }
            if entry.expires_at() < now {
                expired.push(Entry::key(entry.pk(), entry.sk()));
            }
        }
        for key in &expired {
            let packed = key.packed();
            self.decoded.remove(&Key::new(packed.pk(), packed.sk()));
            self.set.remove(key);
        }
        (expired.len(), next)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ports::store::key_of;

    fn item(pk: &str, sk: &str, attrs: Value) -> Item {
        let mut item = attrs.as_object().cloned().unwrap();
        item.insert("pk".into(), pk.into());
        item.insert("sk".into(), sk.into());
        item
    }

    #[test]
    fn keys_order_by_sort_key_within_a_partition() {
        // As text "a" + "z" > "ab" + "a", but partition "a" comes before partition "ab".
        let key = |pk: &str, sk: &str| Entry::key(pk, sk);
        assert!(key("a", "a") < key("a", "b"));
        assert!(key("a", "\u{e000}") > key("a", "\u{d7ff}z"));
        assert!(key("a", "z") != key("ab", "a"));
        let entry = key("EVENT#1", "SEAT#A-1");
        assert_eq!(
            (entry.packed().pk(), entry.packed().sk()),
            ("EVENT#1", "SEAT#A-1")
        );
    }

    #[test]
    fn an_item_reads_back_exactly_with_its_key_stored_once() {
        let stored = item(
            "P",
            "S",
            json!({"n": 3, "f": 0.5, "big": u64::MAX, "s": "x", "list": [1, {"a": null}], "expires_at": 10}),
        );
        let mut items = Items::default();
        let key = key_of(&stored);
        items.put(&key, &stored);
        assert_eq!(items.get(&key), Some(stored));
        let entry = items.set.first().unwrap().packed();
        assert!(!String::from_utf8_lossy(entry.body()).contains("\"pk\""));
        assert_eq!(entry.expires_at(), 10);
    }

    #[test]
    fn a_query_stays_inside_its_partition() {
        let mut items = Items::default();
        for (pk, sk) in [("a", "1"), ("a", "2"), ("ab", "0"), ("a\0", "x"), ("", "z")] {
            items.put(&Key::new(pk, sk), &item(pk, sk, json!({})));
        }
        let sks = |pk: &str, range: SkRange| -> Vec<String> {
            items
                .query(pk, &range)
                .iter()
                .map(|i| key_of(i).sk)
                .collect()
        };
        assert_eq!(sks("a", SkRange::default()), ["1", "2"]);
        assert_eq!(sks("a", SkRange::default().reverse()), ["2", "1"]);
        assert_eq!(sks("", SkRange::default()), ["z"]);
        assert_eq!(sks("a\0", SkRange::default()), ["x"]);
        assert_eq!(sks("b", SkRange::default()), Vec::<String>::new());
    }

    #[test]
    fn a_purge_walks_in_budgets_and_removes_only_the_expired() {
        let mut items = Items::default();
        for n in 0..10 {
            let expiry = if n % 2 == 0 { json!(5) } else { json!(50) };
            let sk = format!("{n}");
            items.put(
                &Key::new("P", &sk),
                &item("P", &sk, json!({ "expires_at": expiry })),
            );
        }
        items.put(&Key::new("P", "never"), &item("P", "never", json!({})));
        let (removed, next) = items.purge(None, 10, 4);
        assert_eq!(removed, 2);
        let (removed, next) = items.purge(next, 10, 4);
        assert_eq!(removed, 2);
        let (removed, next) = items.purge(next, 10, 4);
        assert_eq!((removed, next), (1, None));
        assert_eq!(items.len(), 6);
    }

    #[test]
    fn a_write_is_read_back_even_when_the_key_was_read_before() {
        let mut items = Items::default();
        let key = Key::new("QUEUE#e", "STATE");
        items.put(&key, &item("QUEUE#e", "STATE", json!({ "v": 1 })));
        assert_eq!(items.get(&key).unwrap()["v"], 1);
        items.put(&key, &item("QUEUE#e", "STATE", json!({ "v": 2 })));
        assert_eq!(items.read(&key, |i| i.unwrap()["v"].clone()), 2);
        items.remove(&key);
        assert_eq!(items.get(&key), None);
        items.put(&key, &item("QUEUE#e", "STATE", json!({ "expires_at": 1 })));
        assert!(items.get(&key).is_some());
        assert_eq!(items.purge(None, 10, 100).0, 1);
        assert_eq!(items.get(&key), None);
        for n in 0..(DECODED + 10) {
            let key = Key::new(format!("T#{n}"), "T");
            items.put(&key, &item(&key.pk, "T", json!({ "n": n })));
            assert_eq!(items.get(&key).unwrap()["n"], n);
        }
        assert_eq!(items.decoded.len(), DECODED);
    }
}
