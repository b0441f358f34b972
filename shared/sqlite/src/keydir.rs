//! Where each item's row is: every item's key, in memory, with its row id.
//!
//! Why not SQLite's own index on `(pk, sk)`: items are stored in the order they were written
//! (rows by id), and this directory finds them by key. A table or index ordered by key puts
//! each new item on a random page of its b-tree when keys are random, as waiting tokens and
//! payment ids are: every join then wrote a whole 4 KiB page to the write-ahead log (and later
//! checkpointed it), about four times the work of appending rows to the table's last page
//! (measured in docs/storage.md, "Layout"). Rows appended by id share pages; their keys live
//! here. The design is Bitcask's (an append-friendly file with a key directory in memory), with
//! SQLite keeping the rows, their transactions and their crash safety.
//!
//! The directory is 64 hash tables of partitions ([`KeyDir`]), hashed by partition key, each
//! partition holding its sort keys in order: a point lookup is one probe and a range is a walk
//! of one partition's keys, the only ranges the port asks for. Most partitions hold one item (a
//! waiting ticket, a reservation, a payment: DynamoDB's way of spreading a table), whose whole
//! key is the entry's one allocation. A single map ordered by the whole key, as this was first,
//! put every new random key at the end of a descent through a million others, each behind its
//! own pointer: a fifth of the writer thread's time per join (BENCHMARKS §8.14).
//!
//! The price: memory (about 120 bytes a key, the tables' spare buckets included: 1,000,000
//! waiting people are about 120 MiB, 45 more than the ordered map took) and a scan of the table
//! when the store opens (keys are not stored apart, so they cannot be inconsistent with the
//! rows).
//!
//! Consistency with SQLite, whose `COMMIT` stays the one moment a write takes effect:
//! - the writer thread is the only one that changes the map, through [`GroupKeys`];
//! - a key *added* by a write group is published before its `COMMIT` (a reader that finds it
//!   early reads its row id in a snapshot without that row and answers "no item", as it would
//!   have before the commit) and taken back if the group fails;
//! - a key *removed* is unpublished after its `COMMIT` (a reader that still finds it reads a
//!   deleted row: no item, as after the commit);
//! - an item deleted and written again in one group keeps its row id, so its key never moves;
//! - row ids only grow and are never given to another item (a rolled-back group's are skipped),
//!   and a reader reads a row by id *and* key all the same: a stale id reads as no item.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicI64, Ordering};

use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::RwLock;
use rusqlite::Connection;

use crate::port::Key;

/// A row id of the `items` table.
pub type RowId = i64;

/// What the group's change of a key replaced, to undo it: the key's earlier change in the
/// group, or none.
type Undo = (Key, Option<Option<RowId>>);

/// A key as a partition's entry holds it: the partition key's length (LEB128), the partition
/// key, the sort key, in one allocation.
fn encode(pk: &str, sk: &str) -> Box<[u8]> {
    let mut bytes = Vec::with_capacity(pk.len() + sk.len() + 5);
    let mut len = pk.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes.extend_from_slice(pk.as_bytes());
    bytes.extend_from_slice(sk.as_bytes());
    bytes.into_boxed_slice()
}

/// Where the partition key of an [`encode`]d key ends.
fn pk_end(encoded: &[u8]) -> (usize, usize) {
    let (mut len, mut shift, mut at) = (0usize, 0, 0);
    while let Some(&byte) = encoded.get(at) {
        len |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
    }
    (at, at + len)
}

/// One partition: its key, and its keys' rows.
#[derive(Debug)]
struct Partition {
    /// [`encode`]`(pk, sk)` while the partition holds the one item of sort key `sk`, as most do
    /// (a ticket, a reservation, a payment); `encode(pk, "")` once it holds several.
    key: Box<[u8]>,
    rows: Rows,
}

#[derive(Debug)]
enum Rows {
    One(RowId),
    /// Two items or more, by sort key in byte order (as the port, and DynamoDB, order them).
    /// Boxed so that the million entries of one item are 32 bytes, not 48 (the map itself is
    /// three words).
    #[allow(clippy::box_collection)]
    Many(Box<BTreeMap<Box<str>, RowId>>),
}

impl Partition {
    fn pk(&self) -> &[u8] {
        let (start, end) = pk_end(&self.key);
        &self.key[start..end]
    }

    /// The sort key of the one item (empty when the partition holds several).
    fn one_sk(&self) -> &str {
        let (_, end) = pk_end(&self.key);
        // Made from a `&str` ([`encode`]).
        std::str::from_utf8(&self.key[end..]).unwrap_or_default()
    }

    fn get(&self, sk: &str) -> Option<RowId> {
        match &self.rows {
            Rows::One(id) => (self.one_sk() == sk).then_some(*id),
            Rows::Many(keys) => keys.get(sk).copied(),
        }
    }

    /// Sets `key.sk`'s row; returns the row it had.
    fn insert(&mut self, key: &Key, id: RowId) -> Option<RowId> {
        let other = match &mut self.rows {
            Rows::Many(keys) => return keys.insert(key.sk.as_str().into(), id),
            Rows::One(other) => *other,
        };
        if self.one_sk() == key.sk {
            self.rows = Rows::One(id);
            return Some(other);
        }
        let one: Box<str> = self.one_sk().into();
        let keys = BTreeMap::from([(one, other), (key.sk.as_str().into(), id)]);
        self.key = encode(&key.pk, "");
        self.rows = Rows::Many(Box::new(keys));
        None
    }

    /// Removes `key.sk`, which it holds; returns whether the partition is left empty.
    fn remove(&mut self, key: &Key) -> bool {
        let Rows::Many(keys) = &mut self.rows else {
            return true;
        };
        keys.remove(key.sk.as_str());
        if keys.len() == 1 {
            if let Some((last, id)) = keys.pop_first() {
                self.key = encode(&key.pk, &last);
                self.rows = Rows::One(id);
            }
        }
        false
    }
}

/// Tables the directory's partitions are spread over ([`KeyDir`]).
const SHARDS: usize = 64;

/// One shard of the directory: a hash table of partitions, hashed by partition key alone (with
/// the directory's one hasher, so that a hash picks the shard and then the bucket).
struct Index {
    partitions: HashTable<Partition>,
    hasher: DefaultHashBuilder,
    len: usize,
}

impl Index {
    fn new(hasher: DefaultHashBuilder) -> Self {
        Self {
            partitions: HashTable::new(),
            hasher,
            len: 0,
        }
    }

    fn partition(&self, hash: u64, pk: &str) -> Option<&Partition> {
        self.partitions.find(hash, |p| p.pk() == pk.as_bytes())
    }

    fn get(&self, hash: u64, key: &Key) -> Option<RowId> {
        self.partition(hash, &key.pk)?.get(&key.sk)
    }

    /// Sets `key`'s row; returns the row it had.
    fn insert(&mut self, hash: u64, key: &Key, id: RowId) -> Option<RowId> {
        let found = self
            .partitions
            .find_mut(hash, |p| p.pk() == key.pk.as_bytes());
        let before = match found {
            Some(partition) => partition.insert(key, id),
            None => {
                let partition = Partition {
                    key: encode(&key.pk, &key.sk),
                    rows: Rows::One(id),
                };
                let hasher = &self.hasher;
                self.partitions
                    .insert_unique(hash, partition, |p| hasher.hash_one(p.pk()));
                None
            }
        };
        if before.is_none() {
            self.len += 1;
        }
        before
    }

    fn remove(&mut self, hash: u64, key: &Key) {
        let Ok(mut entry) = self
            .partitions
            .find_entry(hash, |p| p.pk() == key.pk.as_bytes())
        else {
            return;
        };
        if entry.get().get(&key.sk).is_none() {
            return;
        }
        self.len -= 1;
        if entry.get_mut().remove(key) {
            entry.remove();
        }
    }
}

/// A key directory: each item's key and the id of its row.
///
/// Its partitions are spread over [`SHARDS`] tables, each under its own lock. A hash table
/// doubles when it fills, moving every entry while its lock is held: one table would stop every
/// read and write for all of it (428 ms for the longest of a million joins, BENCHMARKS §8.14), a
/// shard for a 64th of that, and only for its own keys.
pub struct KeyDir {
    shards: Box<[RwLock<Index>]>,
    hasher: DefaultHashBuilder,
    /// The next new row's id. Ids only grow (a rolled-back group's are skipped, a deleted row's
    /// is never given to another item), so a new row is always appended to the table's end.
    next_id: AtomicI64,
}

impl Default for KeyDir {
    fn default() -> Self {
        let hasher = DefaultHashBuilder::default();
        Self {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(Index::new(hasher.clone())))
                .collect(),
            hasher,
            next_id: AtomicI64::new(0),
        }
    }
}

impl fmt::Debug for KeyDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyDir").field("len", &self.len()).finish()
    }
}

/// Two rows of one key: the table holds something this store never writes.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("two rows ({first} and {second}) hold the item ({pk:?}, {sk:?})")]
    Duplicate {
        pk: String,
        sk: String,
        first: RowId,
        second: RowId,
    },
}

impl KeyDir {
    /// Reads every row's key (a scan of the table).
    pub fn load(conn: &Connection) -> Result<Self, LoadError> {
        let mut dir = Self::default();
        let mut last = 0;
        let mut statement = conn.prepare("SELECT id, pk, sk FROM items")?;
        let mut cursor = statement.query([])?;
        while let Some(row) = cursor.next()? {
            let id: RowId = row.get(0)?;
            last = last.max(id);
            let key = Key::new(row.get::<_, String>(1)?, row.get::<_, String>(2)?);
            if let Some(first) = dir.insert(&key, id) {
                return Err(LoadError::Duplicate {
                    pk: key.pk,
                    sk: key.sk,
                    first,
                    second: id,
                });
            }
        }
        dir.next_id = AtomicI64::new(last + 1);
        Ok(dir)
    }

    /// The hash of partition `pk`, and the shard that holds it.
    fn shard(&self, pk: &str) -> (u64, &RwLock<Index>) {
        let hash = self.hasher.hash_one(pk.as_bytes());
        // Bits the tables use for neither the bucket (the low bits) nor the control byte (the top
        // seven), so that every shard's keys spread over all of its buckets.
        let shard = (hash >> 40) as usize % SHARDS;
        (hash, &self.shards[shard])
    }

    /// Sets `key`'s row; returns the row it had.
    fn insert(&self, key: &Key, id: RowId) -> Option<RowId> {
        let (hash, shard) = self.shard(&key.pk);
        shard.write().insert(hash, key, id)
    }

    /// How many items the store holds.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.read().len).sum()
    }

    /// The row of `key`'s item, if it has one.
    pub fn get(&self, key: &Key) -> Option<RowId> {
        let (hash, shard) = self.shard(&key.pk);
        shard.read().get(hash, key)
    }

    /// Up to `max` keys of partition `pk` in sort-key order (greatest first with `reverse`),
    /// from `start` (inclusive) to `end` (exclusive; none: the partition's end), and strictly
    /// after (before, with `reverse`) the sort key `after` when given: `(sk, row)`. Sort keys
    /// are ordered byte-wise, as the port (and DynamoDB) orders them.
    pub fn range(
        &self,
        pk: &str,
        bounds: (&str, Option<&str>),
        reverse: bool,
        after: Option<&str>,
        max: usize,
    ) -> Vec<(String, RowId)> {
        let (start, end) = bounds;
        let mut low = Bound::Included(start);
        let mut high = end.map_or(Bound::Unbounded, Bound::Excluded);
        if let Some(after) = after {
            let at = Bound::Excluded(after);
            if reverse {
                high = at;
            } else {
                low = at;
            }
        }
        if !bounds_ordered(low, high) {
            return Vec::new();
        }
        let (hash, shard) = self.shard(pk);
        let rows = shard.read();
        let Some(partition) = rows.partition(hash, pk) else {
            return Vec::new();
        };
        match &partition.rows {
            Rows::One(id) => {
                let sk = partition.one_sk();
                if max > 0 && RangeBounds::<str>::contains(&(low, high), sk) {
                    vec![(sk.to_string(), *id)]
                } else {
                    Vec::new()
                }
            }
            Rows::Many(keys) => {
                let range = keys
                    .range::<str, _>((low, high))
                    .map(|(sk, id)| (sk.to_string(), *id));
                if reverse {
                    range.rev().take(max).collect()
                } else {
                    range.take(max).collect()
                }
            }
        }
    }

    fn publish(&self, added: &[(Key, RowId)]) {
        for (key, id) in added {
            self.insert(key, *id);
        }
    }

    fn unpublish<'k>(&self, keys: impl Iterator<Item = &'k Key>) {
        for key in keys {
            let (hash, shard) = self.shard(&key.pk);
            shard.write().remove(hash, key);
        }
    }
}

/// Whether `low..high` may hold a key (`BTreeMap::range` panics on reversed bounds).
fn bounds_ordered(low: Bound<&str>, high: Bound<&str>) -> bool {
    match (low, high) {
        (Bound::Included(low), Bound::Excluded(high))
        | (Bound::Excluded(low), Bound::Excluded(high)) => low < high,
        _ => true,
    }
}

/// Where a key's item is, as the writer sees it during a write group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The item is in this row.
    Live(RowId),
    /// The item was deleted by this group from this row, which it takes back if written again
    /// (so that a key never moves between published row ids).
    Freed(RowId),
    /// No item, and no row to take back.
    Absent,
}

/// The writer's view of the keys during one write group: the published map plus what the
/// group has changed so far, with an undo log so that a job rolled back to its savepoint takes
/// its key changes back too.
pub struct GroupKeys<'d> {
    dir: &'d KeyDir,
    changed: HashMap<Key, Option<RowId>>,
    undo: Vec<Undo>,
    /// Keys given a new row by the group (some may be deleted again before its end).
    added: Vec<Key>,
    published: Vec<(Key, RowId)>,
}

impl<'d> GroupKeys<'d> {
    pub fn new(dir: &'d KeyDir) -> Self {
        Self {
            dir,
            changed: HashMap::new(),
            undo: Vec::new(),
            added: Vec::new(),
            published: Vec::new(),
        }
    }

    /// A row id no row has had: for an item new to the store.
    pub fn new_row(&self) -> RowId {
        self.dir.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn slot(&self, key: &Key) -> Slot {
        let published = || self.dir.get(key);
        match self.changed.get(key) {
            Some(Some(id)) => Slot::Live(*id),
            Some(None) => published().map_or(Slot::Absent, Slot::Freed),
            None => published().map_or(Slot::Absent, Slot::Live),
        }
    }

    /// Records that `key`'s item, which was at `slot` ([`GroupKeys::slot`]), is now in row `id`.
    pub fn written(&mut self, key: &Key, slot: Slot, id: RowId) {
        if slot == Slot::Absent {
            self.added.push(key.clone());
        }
        self.change(key.clone(), Some(id));
    }

    /// Records that `key`'s item is deleted.
    pub fn deleted(&mut self, key: &Key) {
        self.change(key.clone(), None);
    }

    fn change(&mut self, key: Key, id: Option<RowId>) {
        let before = self.changed.insert(key.clone(), id);
        self.undo.push((key, before));
    }

    /// A point to roll back to ([`GroupKeys::roll_back_to`]).
    pub fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Takes back every change since `mark` (its job was rolled back to its savepoint).
    pub fn roll_back_to(&mut self, mark: usize) {
        while self.undo.len() > mark {
            let Some((key, before)) = self.undo.pop() else {
                break;
            };
            match before {
                Some(before) => self.changed.insert(key, before),
                None => self.changed.remove(&key),
            };
        }
    }

    /// Before `COMMIT`: publishes the keys the group added (see the module's doc for why
    /// before).
    pub fn publish_added(&mut self) {
        // A key rolled back with its job is no longer in `changed`; one deleted again is `None`.
        let added: Vec<(Key, RowId)> = std::mem::take(&mut self.added)
            .into_iter()
            .filter_map(|key| {
                let id = (*self.changed.get(&key)?)?;
                Some((key, id))
            })
            .collect();
        self.dir.publish(&added);
        self.published = added;
    }

    /// After a successful `COMMIT`: unpublishes the keys the group deleted; the group is done.
    pub fn committed(mut self) {
        let removed: Vec<Key> = self
            .changed
            .drain()
            .filter(|(key, id)| id.is_none() && self.dir.get(key).is_some())
            .map(|(key, _)| key)
            .collect();
        if !removed.is_empty() {
            self.dir.unpublish(removed.iter());
        }
    }

    /// After a failed group: takes back the keys published for it.
    pub fn failed(mut self) {
        let published = std::mem::take(&mut self.published);
        if !published.is_empty() {
            self.dir.unpublish(published.iter().map(|(key, _)| key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(keys: &[(&str, &str, RowId)]) -> KeyDir {
        let dir = KeyDir::default();
        let added: Vec<_> = keys
            .iter()
            .map(|(pk, sk, id)| (Key::new(*pk, *sk), *id))
            .collect();
        dir.publish(&added);
        dir
    }

    #[test]
    fn keys_of_one_partition_are_adjacent_in_sort_key_byte_order() {
        let dir = dir(&[
            ("a", "bc", 1),
            ("ab", "c", 2),
            ("a", "b", 3),
            ("a", "é", 4),
            ("a", "z", 5),
            ("a\u{7f}", "", 6),
        ]);
        let sks = |reverse| -> Vec<String> {
            dir.range("a", ("", None), reverse, None, 10)
                .into_iter()
                .map(|(sk, _)| sk)
                .collect()
        };
        assert_eq!(sks(false), ["b", "bc", "z", "é"]);
        assert_eq!(sks(true), ["é", "z", "bc", "b"]);
        assert_eq!(dir.get(&Key::new("ab", "c")), Some(2));
        assert_eq!(dir.get(&Key::new("a", "bc")), Some(1));
        assert_eq!(dir.get(&Key::new("abc", "")), None);
    }

    #[test]
    fn a_range_pages_from_a_sort_key_either_way() {
        let dir = dir(&[("p", "1", 1), ("p", "2", 2), ("p", "3", 3), ("p", "4", 4)]);
        let page = |bounds, reverse, after| -> Vec<RowId> {
            dir.range("p", bounds, reverse, after, 2)
                .into_iter()
                .map(|(_, id)| id)
                .collect()
        };
        assert_eq!(page(("", None), false, None), [1, 2]);
        assert_eq!(page(("", None), false, Some("2")), [3, 4]);
        assert_eq!(page(("", None), true, Some("3")), [2, 1]);
        assert_eq!(page(("2", Some("4")), true, None), [3, 2]);
        assert_eq!(page(("3", Some("2")), false, None), Vec::<RowId>::new());
        assert_eq!(
            page(("2", Some("3")), false, Some("2")),
            Vec::<RowId>::new()
        );
    }

    #[test]
    fn a_partition_of_one_key_answers_ranges_like_any_other() {
        let dir = dir(&[("one", "m", 1)]);
        let page = |bounds, reverse, after, max| -> Vec<RowId> {
            dir.range("one", bounds, reverse, after, max)
                .into_iter()
                .map(|(_, id)| id)
                .collect()
        };
        let none = Vec::<RowId>::new();
        assert_eq!(page(("", None), false, None, 10), [1]);
        assert_eq!(page(("m", Some("n")), false, None, 10), [1]);
        assert_eq!(page(("n", None), false, None, 10), none);
        assert_eq!(
            page(("a", Some("m")), false, None, 10),
            none,
            "the end is excluded"
        );
        assert_eq!(page(("", None), false, Some("m"), 10), none);
        assert_eq!(page(("", None), true, Some("n"), 10), [1]);
        assert_eq!(page(("", None), true, Some("m"), 10), none);
        assert_eq!(page(("", None), false, None, 0), none);
        assert!(dir.range("other", ("", None), false, None, 10).is_empty());
    }

    #[test]
    fn a_partition_grows_and_shrinks_through_every_shape() {
        let dir = KeyDir::default();
        let k = |sk: &str| Key::new("p", sk);
        dir.publish(&[(k("b"), 1)]);
        dir.publish(&[(k("a"), 2), (k("c"), 3)]);
        assert_eq!(dir.len(), 3);
        dir.publish(&[(k("c"), 5)]);
        assert_eq!(
            (dir.len(), dir.get(&k("c"))),
            (3, Some(5)),
            "a key's row moved"
        );
        dir.unpublish([k("a"), k("c")].iter());
        assert_eq!(dir.len(), 1);
        assert_eq!(dir.get(&k("b")), Some(1));
        assert_eq!(
            dir.range("p", ("", None), false, None, 10),
            [("b".to_string(), 1)]
        );
        // Removing a key twice, or one never there, changes nothing.
        dir.unpublish([k("b"), k("b"), k("x")].iter());
        assert_eq!(dir.len(), 0);
        let partitions: usize = dir.shards.iter().map(|s| s.read().partitions.len()).sum();
        assert_eq!(partitions, 0, "no empty partition is kept");
        dir.publish(&[(k("b"), 4)]);
        assert_eq!((dir.len(), dir.get(&k("b"))), (1, Some(4)));
    }

    #[test]
    fn long_partition_keys_are_told_apart_from_their_sort_keys() {
        // 200 bytes: the partition key's length takes two bytes before it.
        let long = "p".repeat(200);
        let dir = dir(&[(&long, "x", 1), (&long[..199], "px", 2), (&long, "", 3)]);
        assert_eq!(dir.get(&Key::new(long.as_str(), "x")), Some(1));
        assert_eq!(dir.get(&Key::new(&long[..199], "px")), Some(2));
        assert_eq!(dir.get(&Key::new(long.as_str(), "")), Some(3));
        assert_eq!(dir.get(&Key::new(&long[..199], "x")), None);
        let sks: Vec<String> = dir
            .range(&long, ("", None), false, None, 10)
            .into_iter()
            .map(|(sk, _)| sk)
            .collect();
        assert_eq!(sks, ["", "x"]);
        dir.unpublish([Key::new(long.as_str(), "")].iter());
        assert_eq!(
            dir.range(&long, ("", None), false, None, 10),
            [("x".to_string(), 1)]
        );
    }

    #[test]
    fn keys_spread_over_the_shards_are_each_found_once() {
        let dir = KeyDir::default();
        let keys: Vec<(Key, RowId)> = (0..5_000)
            .map(|n| (Key::new(format!("WTKN#{n}"), "WTKN"), n))
            .chain((0..50).map(|n| (Key::new("QUEUE#e", format!("LEFT#{n:03}")), 10_000 + n)))
            .collect();
        dir.publish(&keys);
        assert_eq!(dir.len(), 5_050);
        assert!(keys.iter().all(|(key, id)| dir.get(key) == Some(*id)));
        let used = dir.shards.iter().filter(|s| s.read().len > 0).count();
        assert_eq!(used, SHARDS, "5,000 partitions reach every shard");
        dir.unpublish(keys.iter().step_by(2).map(|(key, _)| key));
        assert_eq!(dir.len(), 2_525);
        assert_eq!(dir.get(&keys[0].0), None);
        assert_eq!(dir.get(&keys[1].0), Some(1));
        let left = dir.range("QUEUE#e", ("LEFT#", None), false, None, 100);
        assert_eq!(left.len(), 25);
        assert_eq!(left[0], ("LEFT#001".to_string(), 10_001));
    }

    #[test]
    fn a_group_publishes_added_keys_before_commit_and_removed_ones_after() {
        let dir = dir(&[("p", "kept", 1), ("p", "gone", 2)]);
        let (new, kept, gone) = (
            Key::new("p", "new"),
            Key::new("p", "kept"),
            Key::new("p", "gone"),
        );
        let mut group = GroupKeys::new(&dir);
        group.written(&new, Slot::Absent, 3);
        group.deleted(&gone);
        assert_eq!(group.slot(&gone), Slot::Freed(2));
        assert_eq!(group.slot(&kept), Slot::Live(1));
        assert_eq!(
            dir.get(&new),
            None,
            "nothing is published while the group runs"
        );
        group.publish_added();
        assert_eq!(dir.get(&new), Some(3));
        assert_eq!(
            dir.get(&gone),
            Some(2),
            "a deleted key stays until the commit"
        );
        group.committed();
        assert_eq!(dir.get(&gone), None);
        assert_eq!(dir.len(), 2);
    }

    #[test]
    fn a_failed_group_takes_back_what_it_published() {
        let dir = dir(&[("p", "gone", 2)]);
        let mut group = GroupKeys::new(&dir);
        group.written(&Key::new("p", "new"), Slot::Absent, 3);
        group.deleted(&Key::new("p", "gone"));
        group.publish_added();
        group.failed();
        assert_eq!(dir.get(&Key::new("p", "new")), None);
        assert_eq!(dir.get(&Key::new("p", "gone")), Some(2));
    }

    #[test]
    fn a_job_rolled_back_to_its_savepoint_takes_back_its_keys_only() {
        let dir = dir(&[("p", "a", 1)]);
        let mut group = GroupKeys::new(&dir);
        group.written(&Key::new("p", "b"), Slot::Absent, 2);
        let mark = group.mark();
        group.deleted(&Key::new("p", "a"));
        group.deleted(&Key::new("p", "b"));
        group.written(&Key::new("p", "c"), Slot::Absent, 3);
        group.roll_back_to(mark);
        assert_eq!(group.slot(&Key::new("p", "a")), Slot::Live(1));
        assert_eq!(group.slot(&Key::new("p", "b")), Slot::Live(2));
        assert_eq!(group.slot(&Key::new("p", "c")), Slot::Absent);
        group.publish_added();
        group.committed();
        assert_eq!(dir.get(&Key::new("p", "a")), Some(1));
        assert_eq!(dir.get(&Key::new("p", "b")), Some(2));
        assert_eq!(
            dir.get(&Key::new("p", "c")),
            None,
            "rolled back: never published"
        );
    }
}
