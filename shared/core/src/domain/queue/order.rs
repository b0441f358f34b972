//! Order without a hot item.
//!
//! A join increments one of the event's `S` join counters (chosen at random, each its own
//! partition; the joins of one process at once share increments, `super::counting`) and gets
//! ticket
//! `(shard s, k-th in that shard)`, whose place in line is the *order* `o = (k-1)·S + s`. Orders
//! interleave the shards round-robin; with `S = 1` (the embedded default) they are exact arrival
//! order, with `S = 64` (AWS) each counter takes 1/64 of the joins and the order is arrival order
//! up to the statistical skew of random sharding. Orders that no ticket holds yet (a shard that has
//! fewer joins than another) are *holes*, skipped when counting people.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entry::EntryStamp;
use super::keys::{counter_key, ticket_key};
use crate::domain::records::{get_shared, Expiring};
use crate::domain::request_keys::KeyStamp;
use crate::error::{Error, Result};
use crate::ids::{EventId, UserId, WaitingToken};
use crate::ports::store::{Key, Store, StoreError};
use crate::ports::Ports;

/// How long a waiting token lives at all.
pub(super) const WAITING_TOKEN_TTL_SECS: i64 = 6 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    Waiting,
    Entered,
    Left,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaitingRecord {
    pub token: WaitingToken,
    pub event_id: EventId,
    /// The ticket's place in line; for a ticket still marked `lobby`, its lobby order, whose
    /// place the draw decides ([`super::lobby`]).
    pub order: u64,
    /// Joined before the sale opened and not yet placed by hand (a straggler the draw missed is
    /// placed at the back, which clears it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lobby: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    pub state: TicketState,
    pub joined_at: DateTime<Utc>,
    /// TTL attribute (epoch seconds).
    pub expires_at: i64,
    /// For a join made with an idempotency key: the request it answered and the answer, for
    /// replays ([`crate::domain::request_keys`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<KeyStamp>,
    /// For a ticket entered with an idempotency key: that request, and the token it answered
    /// ([`super::entry`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryStamp>,
}

impl Expiring for WaitingRecord {
    fn expires_at(&self) -> Option<i64> {
        Some(self.expires_at)
    }
}

/// Join counts per shard, and the arithmetic of orders over them.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) counts: Vec<u64>,
}

impl Line {
    pub(super) fn shards(&self) -> u64 {
        self.counts.len() as u64
    }

    /// The line, knowing that the ticket at `order` exists (so do those before it in its shard),
    /// however old the counts are.
    pub(super) fn including(mut self, order: u64) -> Self {
        let s = self.shards();
        if let Some(count) = self.counts.get_mut((order % s) as usize) {
            *count = (*count).max(order / s + 1);
        }
        self
    }

    /// One past the greatest order any ticket holds.
    pub(super) fn end(&self) -> u64 {
        let s = self.shards();
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(shard, &c)| (c - 1) * s + shard as u64 + 1)
            .max()
            .unwrap_or(0)
    }

    /// Whether `order` was taken by a join ([`Counts::is_ticket`]).
    pub(super) fn is_ticket(&self, order: u64) -> bool {
        self.counts().is_ticket(order)
    }

    /// Tickets (not holes) with order in `[a, b)` ([`Counts::tickets`]).
    pub(super) fn tickets(&self, a: u64, b: u64) -> u64 {
        self.counts().tickets(a, b)
    }

    fn counts(&self) -> Counts<'_> {
        Counts(&self.counts)
    }
}

/// Join counts, one per counter, borrowed: what telling tickets from holes needs, without a
/// [`Line`] of their own (a lobby's draw asks it of the counts it froze, once per ticket placed).
#[derive(Debug, Clone, Copy)]
pub(super) struct Counts<'a>(pub(super) &'a [u64]);

impl Counts<'_> {
    fn shards(self) -> u64 {
        self.0.len() as u64
    }

    /// Whether `order` was taken by a join (a ticket, or a join that never wrote its ticket):
    /// its shard's count reaches past it.
    pub(super) fn is_ticket(self, order: u64) -> bool {
        let s = self.shards();
        self.0
            .get((order % s) as usize)
            .is_some_and(|&count| order / s < count)
    }

    /// Tickets (not holes) with order in `[a, b)`.
    pub(super) fn tickets(self, a: u64, b: u64) -> u64 {
        if b <= a {
            return 0;
        }
        let s = self.shards();
        self.0
            .iter()
            .enumerate()
            .map(|(shard, &count)| {
                let shard = shard as u64;
                // Tickets j = 0..count of this shard sit at orders j·s + shard.
                let lo = if a > shard {
                    (a - shard).div_ceil(s)
                } else {
                    0
                };
                let hi = if b > shard {
                    (b - shard).div_ceil(s).min(count)
                } else {
                    0
                };
                hi.saturating_sub(lo)
            })
            .sum()
    }
}

/// The join counts of the event's `shards` counters, read at once.
pub(super) async fn read_line(store: &dyn Store, event: &EventId, shards: u32) -> Result<Line> {
    let counts = read_counts(store, shards, |shard| counter_key(event, shard)).await?;
    Ok(Line { counts })
}

/// A sharded counter's item, as far as a reader of its count cares.
#[derive(Deserialize)]
struct Counted {
    #[serde(default)]
    count: u64,
}

/// The counts of `shards` sharded counters (`counter` names each; 0 for one never counted), read
/// at once.
pub(super) async fn read_counts(
    store: &dyn Store,
    shards: u32,
    counter: impl Fn(u32) -> Key,
) -> Result<Vec<u64>> {
    let keys: Vec<Key> = (0..shards).map(counter).collect();
    let reads = keys.iter().map(|key| async move {
        let mut count = 0;
        store
            .read(key, &mut |item| {
                count = item
                    .and_then(|lent| lent.decode::<Counted>().ok())
                    .map_or(0, |counted| counted.count)
            })
            .await?;
        Ok::<u64, StoreError>(count)
    });
    Ok(futures::future::try_join_all(reads).await?)
}

/// The ticket of `token`, unless it is unknown or past its TTL (the store may keep an expired item
/// a while before deleting it).
pub(super) async fn read_ticket(ports: &Ports, token: &WaitingToken) -> Result<WaitingRecord> {
    read_shared_ticket(ports, token)
        .await
        .map(Arc::unwrap_or_clone)
}

/// As [`read_ticket`], shared: the status every waiting person asks for every few seconds reads
/// its ticket this way, decoded once for all those reads where the store keeps it in memory.
pub(super) async fn read_shared_ticket(
    ports: &Ports,
    token: &WaitingToken,
) -> Result<Arc<WaitingRecord>> {
    let ticket: Arc<WaitingRecord> = get_shared(&*ports.store, &ticket_key(token))
        .await?
        .ok_or(Error::TokenNotFound)?;
    if ticket.expires_at < ports.clock.now().timestamp() {
        return Err(Error::TokenNotFound);
    }
    Ok(ticket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_counts_every_order() {
        let line = Line { counts: vec![5] };
        assert_eq!(line.end(), 5);
        assert_eq!(line.tickets(0, 5), 5);
        assert_eq!(line.tickets(2, 4), 2);
        assert_eq!(line.tickets(4, 2), 0);
    }

    #[test]
    fn shards_interleave_and_skip_holes() {
        // Shard 0 has 3 tickets (orders 0, 4, 8), shard 1 has 1 (order 1), shards 2 and 3 none.
        let line = Line {
            counts: vec![3, 1, 0, 0],
        };
        assert_eq!(line.end(), 9);
        assert_eq!(line.tickets(0, 9), 4);
        assert_eq!(line.tickets(1, 8), 2); // orders 1 and 4
        assert_eq!(line.tickets(2, 4), 0); // holes only
    }

    #[test]
    fn a_ticket_proves_its_shard_reached_it_however_old_the_counts() {
        // Counts read before the ticket at order 6 (shard 0 of 2, its 4th) existed.
        let line = Line { counts: vec![1, 1] }.including(6);
        assert_eq!(line.counts, vec![4, 1]);
        assert_eq!(line.tickets(0, 6), 4, "orders 0, 1, 2 and 4");
        // Fresher counts are kept.
        assert_eq!(Line { counts: vec![9] }.including(3).counts, vec![9]);
    }
}
