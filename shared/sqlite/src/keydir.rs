//! Where each item's row is: every item's key, in memory, with its row id.
//!
//! Why not SQLite's own index on `(pk, sk)`: items are stored in the order they were written
//! (rows by id), and this map finds them by key. A table or index ordered by key puts each new
//! item on a random page of its b-tree when keys are random, as waiting tokens and payment ids
//! are: every join then wrote a whole 4 KiB page to the write-ahead log (and later checkpointed
//! it), about four times the work of appending rows to the table's last page (measured in
//! docs/storage.md, "Layout"). Rows appended by id share pages; their keys live here. The
//! design is Bitcask's (an append-friendly file with a key directory in memory), with SQLite
//! keeping the rows, their transactions and their crash safety.
//!
//! The price: memory (about 100 bytes a key: 1,000,000 waiting people are about 100 MiB) and
//! a scan of the table when the store opens (keys are not stored apart, so they cannot be
//! inconsistent with the rows).
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
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::RwLock;
use rusqlite::Connection;

use crate::port::Key;

/// A row id of the `items` table.
pub type RowId = i64;

/// A key as the map holds it ([`encode`]).
type EncodedKey = Box<[u8]>;

/// What the group's change of a key replaced, to undo it: the key's earlier change in the
/// group, or none.
type Undo = (EncodedKey, Option<Option<RowId>>);

/// A key as the map orders it: the partition key's length (LEB128), the partition key, the sort
/// key. One partition's keys are adjacent and ordered by sort key, byte-wise, as the port (and
/// DynamoDB) orders them; the length keeps `("ab", "c")` apart from `("a", "bc")`.
fn encode(pk: &str, sk: &str) -> Vec<u8> {
    let mut bytes = partition_prefix(pk, sk.len());
    bytes.extend_from_slice(sk.as_bytes());
    bytes
}

/// The bytes every key of partition `pk` starts with (with room for `extra` more).
fn partition_prefix(pk: &str, extra: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(pk.len() + extra + 5);
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
    bytes
}

/// The least byte string greater than every string that starts with `prefix` (`prefix` never
/// ends in `0xFF`: it ends in a length byte below `0x80` or in UTF-8, which has no `0xFF`).
fn successor(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// A key directory: each item's key and the id of its row.
#[derive(Debug, Default)]
pub struct KeyDir {
    rows: RwLock<BTreeMap<EncodedKey, RowId>>,
    /// The next new row's id. Ids only grow (a rolled-back group's are skipped, a deleted row's
    /// is never given to another item), so a new row is always appended to the table's end.
    next_id: AtomicI64,
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
        let mut rows = BTreeMap::new();
        let mut last = 0;
        let mut statement = conn.prepare("SELECT id, pk, sk FROM items")?;
        let mut cursor = statement.query([])?;
        while let Some(row) = cursor.next()? {
            let id: RowId = row.get(0)?;
            last = last.max(id);
            let (pk, sk): (String, String) = (row.get(1)?, row.get(2)?);
            if let Some(first) = rows.insert(encode(&pk, &sk).into_boxed_slice(), id) {
                return Err(LoadError::Duplicate {
                    pk,
                    sk,
                    first,
                    second: id,
                });
            }
        }
        Ok(Self {
            rows: RwLock::new(rows),
            next_id: AtomicI64::new(last + 1),
        })
    }

    /// How many items the store holds.
    pub fn len(&self) -> usize {
        self.rows.read().len()
    }

    /// The row of `key`'s item, if it has one.
    pub fn get(&self, key: &Key) -> Option<RowId> {
        self.rows
            .read()
            .get(encode(&key.pk, &key.sk).as_slice())
            .copied()
    }

    /// Up to `max` keys of partition `pk` in sort-key order (greatest first with `reverse`),
    /// from `start` (inclusive) to `end` (exclusive; none: the partition's end), and strictly
    /// after (before, with `reverse`) the sort key `after` when given: `(sk, row)`.
    pub fn range(
        &self,
        pk: &str,
        bounds: (&str, Option<&str>),
        reverse: bool,
        after: Option<&str>,
        max: usize,
    ) -> Vec<(String, RowId)> {
        let prefix = partition_prefix(pk, 0);
        let (start, end) = bounds;
        let mut low = Bound::Included(encode(pk, start));
        let mut high = match end {
            Some(end) => Bound::Excluded(encode(pk, end)),
            None => Bound::Excluded(successor(&prefix)),
        };
        if let Some(after) = after {
            let at = Bound::Excluded(encode(pk, after));
            if reverse {
                high = at;
            } else {
                low = at;
            }
        }
        if !bounds_ordered(&low, &high) {
            return Vec::new();
        }
        let rows = self.rows.read();
        let range = rows.range::<[u8], _>((as_slice(&low), as_slice(&high)));
        let entry = |(key, id): (&EncodedKey, &RowId)| {
            // Every key in the range starts with the partition's prefix, and keys are UTF-8
            // after it (they were made from `&str`s).
            let sk = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            (sk, *id)
        };
        if reverse {
            range.rev().take(max).map(entry).collect()
        } else {
            range.take(max).map(entry).collect()
        }
    }

    fn publish(&self, added: &[(EncodedKey, RowId)]) {
        if added.is_empty() {
            return;
        }
        let mut rows = self.rows.write();
        for (key, id) in added {
            rows.insert(key.clone(), *id);
        }
    }

    fn unpublish(&self, keys: impl Iterator<Item = EncodedKey>) {
        let mut rows = self.rows.write();
        for key in keys {
            rows.remove(&key);
        }
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_slice()),
        Bound::Excluded(key) => Bound::Excluded(key.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Whether `low..high` may hold a key (`BTreeMap::range` panics on reversed bounds).
fn bounds_ordered(low: &Bound<Vec<u8>>, high: &Bound<Vec<u8>>) -> bool {
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
    changed: HashMap<EncodedKey, Option<RowId>>,
    undo: Vec<Undo>,
    /// Keys given a new row by the group (some may be deleted again before its end).
    added: Vec<EncodedKey>,
    published: Vec<(EncodedKey, RowId)>,
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
        let encoded = encode(&key.pk, &key.sk);
        let published = || self.dir.rows.read().get(encoded.as_slice()).copied();
        match self.changed.get(encoded.as_slice()) {
            Some(Some(id)) => Slot::Live(*id),
            Some(None) => published().map_or(Slot::Absent, Slot::Freed),
            None => published().map_or(Slot::Absent, Slot::Live),
        }
    }

    /// Records that `key`'s item, which was at `slot` ([`GroupKeys::slot`]), is now in row `id`.
    pub fn written(&mut self, key: &Key, slot: Slot, id: RowId) {
        let encoded = encode(&key.pk, &key.sk).into_boxed_slice();
        if slot == Slot::Absent {
            self.added.push(encoded.clone());
        }
        self.change(encoded, Some(id));
    }

    /// Records that `key`'s item is deleted.
    pub fn deleted(&mut self, key: &Key) {
        self.change(encode(&key.pk, &key.sk).into_boxed_slice(), None);
    }

    fn change(&mut self, key: EncodedKey, id: Option<RowId>) {
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
        let added: Vec<(EncodedKey, RowId)> = std::mem::take(&mut self.added)
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
        let rows = self.dir.rows.read();
        let removed: Vec<EncodedKey> = self
            .changed
            .drain()
            .filter(|(key, id)| id.is_none() && rows.contains_key(key))
            .map(|(key, _)| key)
            .collect();
        drop(rows);
        if !removed.is_empty() {
            self.dir.unpublish(removed.into_iter());
        }
    }

    /// After a failed group: takes back the keys published for it.
    pub fn failed(mut self) {
        let published = std::mem::take(&mut self.published);
        if !published.is_empty() {
            self.dir
                .unpublish(published.into_iter().map(|(key, _)| key));
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
            .map(|(pk, sk, id)| (encode(pk, sk).into_boxed_slice(), *id))
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
