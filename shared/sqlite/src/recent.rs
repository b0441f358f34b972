//! The items most recently written or read, in memory as stored (their JSON text): a point read
//! of one of them costs a lookup and a decode instead of a SQLite read transaction, a statement
//! and a decode.
//!
//! Why: in a purchase, nearly every read is of an item written moments before (the ticket a
//! join wrote, read by every status; the hold, the intent), and each such read through SQLite
//! began a read transaction (the write-ahead log's index checked), stepped a statement and decoded
//! the row's JSON: about a sixth of the durable server's CPU in a purchase flow, and most of
//! what a point read cost over the memory store's (BENCHMARKS.md §2).
//!
//! Why the text and not the decoded item: the writer encodes every item it stores anyway, so
//! keeping the text costs it a move, where keeping a decoded item cost a copy of it (an
//! allocation per attribute) on the one thread every write goes through: 4–5 µs more CPU per
//! join in a same-run A/B, where the text costs nothing measurable (BENCHMARKS.md §8.9). Each
//! text is kept as a [`KeptText`], which also keeps the record the first reader that asked for
//! one decoded from it: decoding is left to the readers, once per text (§8.13).
//!
//! Consistency: this cache never shows what the file does not hold, and never hides what a
//! caller was told is written.
//!
//! * Just before a group's `COMMIT` the writer thread drops every key the group wrote
//!   ([`RecentItems::committing`]); after it, and before answering any of the group's callers,
//!   it sets each to its new item, or leaves it out where it was deleted
//!   ([`RecentItems::committed`]). In between, every read of those keys goes to the file, whose
//!   snapshots only move forward: a reader that has seen the new item in the file cannot then
//!   find the old one here.
//! * A read that misses reads the file, then offers what it read ([`RecentItems::offer`]). The
//!   offer is taken only if no group began or finished its `COMMIT` since the read looked here
//!   (each moves the generation) and none is under way. Otherwise two reads that both missed
//!   could race a commit: one reads the new item from the file and answers it, the other read the
//!   old one in an earlier snapshot and offers it last, and the first reader's next read would see
//!   the item go back.
//! * A group that failed (its `COMMIT` or a statement) changes nothing; its keys are forgotten
//!   anyway ([`RecentItems::forget`]), so an outcome SQLite could not report never lingers here.
//!
//! The store's test `reads_never_go_back_in_time_while_the_item_is_rewritten` races readers
//! against a writer. With the offer's generation check alone it failed in 3 of 15 runs, and still
//! in 6 of 30 once offers were also refused during a `COMMIT`: a key left here through the
//! `COMMIT` was the hole. With the keys dropped too, none of 80 runs failed.
//!
//! Queries are not served from here: a query reads its rows in one read transaction, one
//! snapshot, which items copied out at different moments would not be.
//!
//! Bounded: at most [`SqliteOptions::recent_items`](crate::SqliteOptions::recent_items) items,
//! the least recently used dropped first (0 turns the cache off).

use std::sync::Arc;

use hashlink::LruCache;
use parking_lot::Mutex;

use crate::port::{KeptText, Key};

/// Recently used items by key, and how many groups have been committed (see the module's doc).
pub struct RecentItems {
    inner: Option<Mutex<Inner>>,
}

struct Inner {
    items: LruCache<Key, Arc<KeptText>>,
    /// Moves when a group starts and when it ends its `COMMIT`: an offer made across one is stale.
    generation: u64,
    /// A group is between [`RecentItems::committing`] and its end: no offer is taken.
    committing: bool,
}

/// What a lookup found.
pub enum Lookup {
    /// The item as last committed, encoded (`codec::decode` reads it).
    Hit(Arc<KeptText>),
    /// Not here: read the file, then [`RecentItems::offer`] what was read with this mark.
    Miss(Generation),
}

/// When a missed lookup looked (see [`RecentItems::offer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

impl RecentItems {
    /// Room for `capacity` items; none at all (every lookup misses) when 0.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: (capacity > 0).then(|| {
                Mutex::new(Inner {
                    items: LruCache::new(capacity),
                    generation: 0,
                    committing: false,
                })
            }),
        }
    }

    /// The item of `key` if it is here.
    pub fn get(&self, key: &Key) -> Lookup {
        let Some(inner) = &self.inner else {
            return Lookup::Miss(Generation(0));
        };
        let mut inner = inner.lock();
        match inner.items.get(key) {
            Some(text) => Lookup::Hit(text.clone()),
            None => Lookup::Miss(Generation(inner.generation)),
        }
    }

    /// Keeps `text`, read from the file for `key` after a lookup that missed at `seen`, unless a
    /// group's `COMMIT` began or ended since, or is under way (then what was read may be older
    /// than what another read already answered; the next read of it looks in the file again).
    pub fn offer(&self, key: &Key, text: Arc<KeptText>, seen: Generation) {
        let Some(inner) = &self.inner else {
            return;
        };
        let mut inner = inner.lock();
        if !inner.committing && inner.generation == seen.0 {
            inner.items.insert(key.clone(), text);
        }
    }

    /// A group that wrote `keys` is about to `COMMIT` (called by the writer thread just before
    /// it): those keys are dropped, and offers made from here until [`RecentItems::committed`] or
    /// [`RecentItems::forget`] are refused.
    pub fn committing<'k>(&self, keys: impl IntoIterator<Item = &'k Key>) {
        self.drop_keys(keys, true);
    }

    /// What a committed group left (called by the writer thread after the `COMMIT`, before
    /// answering): each key's new item as stored, or `None` where it was deleted.
    pub fn committed(&self, changes: impl IntoIterator<Item = (Key, Option<Arc<KeptText>>)>) {
        let Some(inner) = &self.inner else {
            return;
        };
        let mut inner = inner.lock();
        inner.generation += 1;
        inner.committing = false;
        for (key, text) in changes {
            match text {
                Some(text) => {
                    inner.items.insert(key, text);
                }
                None => {
                    inner.items.remove(&key);
                }
            }
        }
    }

    /// Drops `keys` (a group that failed wrote them, or tried to).
    pub fn forget<'k>(&self, keys: impl IntoIterator<Item = &'k Key>) {
        self.drop_keys(keys, false);
    }

    /// Drops `keys`, moves the generation, and says whether a `COMMIT` is now under way.
    fn drop_keys<'k>(&self, keys: impl IntoIterator<Item = &'k Key>, committing: bool) {
        let Some(inner) = &self.inner else {
            return;
        };
        let mut inner = inner.lock();
        inner.generation += 1;
        inner.committing = committing;
        for key in keys {
            inner.items.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sk: &str) -> Key {
        Key::new("P", sk)
    }

    /// An item's text: `{"v":n}`.
    fn text(v: u32) -> String {
        format!("{{\"v\":{v}}}")
    }

    fn item(v: u32) -> Arc<KeptText> {
        Arc::new(KeptText::new(text(v)))
    }

    /// The text kept for `sk`, if any.
    fn hit(recent: &RecentItems, sk: &str) -> Option<String> {
        match recent.get(&key(sk)) {
            Lookup::Hit(kept) => Some(kept.text().to_owned()),
            Lookup::Miss(_) => None,
        }
    }

    fn seen(recent: &RecentItems, sk: &str) -> Generation {
        match recent.get(&key(sk)) {
            Lookup::Hit(_) => panic!("{sk} was expected to miss"),
            Lookup::Miss(generation) => generation,
        }
    }

    #[test]
    fn a_commit_sets_and_removes_what_it_wrote() {
        let recent = RecentItems::new(8);
        let a = item(1);
        recent.committed([(key("a"), Some(a.clone()))]);
        assert_eq!(hit(&recent, "a"), Some(a.text().to_owned()));
        recent.committed([(key("a"), None)]);
        assert_eq!(hit(&recent, "a"), None);
    }

    #[test]
    fn an_offer_is_taken_only_if_nothing_was_committed_since_the_lookup() {
        let recent = RecentItems::new(8);
        let old = item(1);
        let new = item(2);
        // A read looks, a commit writes the item anew, the read offers what its older snapshot
        // held: refused, the commit's item stays.
        let looked = seen(&recent, "a");
        recent.committed([(key("a"), Some(new.clone()))]);
        recent.offer(&key("a"), old, looked);
        assert_eq!(hit(&recent, "a"), Some(new.text().to_owned()));
        // A read that overlaps a delete offers the deleted item: refused.
        let b = item(1);
        let looked = seen(&recent, "b");
        recent.committed([(key("b"), None)]);
        recent.offer(&key("b"), b.clone(), looked);
        assert_eq!(hit(&recent, "b"), None);
        // With no commit in between, what was read is kept.
        let looked = seen(&recent, "b");
        recent.offer(&key("b"), b.clone(), looked);
        assert_eq!(hit(&recent, "b"), Some(b.text().to_owned()));
    }

    #[test]
    fn a_commit_under_way_hides_the_items_it_rewrites() {
        let recent = RecentItems::new(8);
        recent.committed([(key("a"), Some(item(1))), (key("b"), Some(item(1)))]);
        recent.committing([&key("a")]);
        assert_eq!(
            hit(&recent, "a"),
            None,
            "read from the file until the commit is through"
        );
        assert_eq!(hit(&recent, "b"), Some(text(1)), "untouched by the group");
        recent.committed([(key("a"), Some(item(2)))]);
        assert_eq!(hit(&recent, "a"), Some(text(2)));
    }

    #[test]
    fn no_offer_is_taken_while_a_commit_is_under_way() {
        let recent = RecentItems::new(8);
        // A read that looked before the commit began, and one that looked during it: both of
        // them may have read the item before the commit or after it, so neither is kept.
        let before = seen(&recent, "a");
        recent.committing([&key("a")]);
        let during = seen(&recent, "a");
        recent.offer(&key("a"), item(1), before);
        recent.offer(&key("a"), item(1), during);
        assert_eq!(hit(&recent, "a"), None);
        recent.committed([(key("a"), Some(item(2)))]);
        recent.offer(&key("a"), item(1), during);
        assert_eq!(hit(&recent, "a"), Some(text(2)));
    }

    #[test]
    fn a_failed_group_forgets_its_keys_and_stales_offers_in_flight() {
        let recent = RecentItems::new(8);
        let a = item(1);
        recent.committed([(key("a"), Some(a.clone()))]);
        let looked = seen(&recent, "c");
        recent.forget([&key("a")]);
        assert_eq!(hit(&recent, "a"), None);
        recent.offer(&key("c"), a, looked);
        assert_eq!(hit(&recent, "c"), None);
    }

    #[test]
    fn the_least_recently_used_item_goes_first_and_zero_keeps_nothing() {
        let recent = RecentItems::new(2);
        for sk in ["a", "b"] {
            recent.committed([(key(sk), Some(item(0)))]);
        }
        assert!(hit(&recent, "a").is_some());
        recent.committed([(key("c"), Some(item(0)))]);
        assert!(hit(&recent, "b").is_none(), "b was the least recently used");
        assert!(hit(&recent, "a").is_some() && hit(&recent, "c").is_some());

        let none = RecentItems::new(0);
        none.committed([(key("a"), Some(item(0)))]);
        let looked = seen(&none, "a");
        none.offer(&key("a"), item(0), looked);
        assert!(hit(&none, "a").is_none());
    }
}
