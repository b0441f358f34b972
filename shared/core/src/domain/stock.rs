//! An event's stock counters, spread over shards so that no one item takes every sale.
//!
//! Every hold and every sale moves the counters (`available`, `held`, `sold`) in the same
//! transaction as the seats and the reservation. Kept in one item per event, that item takes two
//! transactional writes (4 WCU) per ticket sold, and DynamoDB's 1,000 WCU/s per item caps an
//! event at about 250 tickets a second. So a large event's stock is split over up to
//! `TACOS_STOCK_SHARDS` items, each counting its own share with the same invariant,
//! `available + held + sold == total`; the event's counters are their sum.
//!
//! * **Seated events**: each seat belongs to one shard, by a hash of its id that never changes,
//!   and a shard's total is the number of its seats. A seat's hold, sale and release move its
//!   own shard's counters, so the shard's conditions hold whenever the seat's does, and the seat
//!   (`AVAILABLE` → `HELD`, conditionally) stays the one guard against selling it twice.
//! * **General admission**: the places are dealt out evenly; a hold takes its quantity from one
//!   shard that has enough, starting at a random one so concurrent buyers spread, or from
//!   several when none has enough alone. Each shard's write is conditional on its own
//!   `available`, so the shards can never sell more than they hold between them. A process plans
//!   from what it last read of the shards ([`KnownStock`]) and reads them again when a plan fails
//!   or the read is a second old; a hold is refused only when a fresh read shows too little.
//!
//! The reservation records which shards it took from ([`StockShare`]), so that its confirmation
//! or release moves the same ones. Shard 0 is the item an unsharded event has always had
//! (`INV`), and an event or a reservation stored before shards existed reads as one shard: the
//! data of older versions needs no migration.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::partitions::event_pk;
use super::records::decode;
use crate::error::{Error, Result};
use crate::ids::{EventId, SeatId};
use crate::ports::store::{Condition, Key, SkRange, Store, Update, Write};

/// The sort key of shard 0, in the event's partition: the one counter item of an unsharded
/// event. Shard `n > 0` is `INV#` and `n` in three digits.
pub const STOCK_SK: &str = "INV";

/// The fewest places a shard is given: a small event keeps one counter item (fewer items to
/// read, and a general-admission hold rarely has to gather its places from several).
pub const MIN_STOCK_PER_SHARD: i64 = 64;

/// The most shards an event may have (`TACOS_STOCK_SHARDS` is clamped to it).
pub const MAX_STOCK_SHARDS: u16 = 64;

/// How long a process plans general-admission holds from its last read of the shards.
const KNOWN_FRESH_MS: i64 = 1_000;

/// How many times a general-admission hold plans again after a shard turned out emptier than
/// read.
pub const REPLANS: usize = 3;

/// The inventory counters, of an event or of one of its stock shards;
/// `available + held + sold == total` after every transaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub total: i64,
    pub available: i64,
    pub held: i64,
    pub sold: i64,
}

/// Places taken from one shard by one reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockShare {
    pub shard: u16,
    pub quantity: u32,
}

/// The key of an event's stock shard `shard`.
pub fn stock_key(event: &EventId, shard: u16) -> Key {
    let sk = if shard == 0 {
        STOCK_SK.to_owned()
    } else {
        format!("{STOCK_SK}#{shard:03}")
    };
    Key::new(event_pk(event), sk)
}

/// The shard a stock item's sort key names, if it is one.
pub fn shard_of_sk(sk: &str) -> Option<u16> {
    match sk.strip_prefix(STOCK_SK)? {
        "" => Some(0),
        rest => rest.strip_prefix('#')?.parse().ok().filter(|&n| n > 0),
    }
}

/// How many shards a new event of `total` places gets, at most `max`.
pub fn shards_for(total: i64, max: u16) -> u16 {
    let wanted = (total.max(1) + MIN_STOCK_PER_SHARD - 1) / MIN_STOCK_PER_SHARD;
    wanted.clamp(1, i64::from(max.clamp(1, MAX_STOCK_SHARDS))) as u16
}

/// The shard of a seat: from a hash of its id, so it never changes.
pub fn seat_shard(seat: &SeatId, shards: u16) -> u16 {
    if shards <= 1 {
        return 0;
    }
    let digest = Sha256::digest(seat.as_str().as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (n % u64::from(shards)) as u16
}

/// Each shard's counters as a new event starts: a seated event's shard holds its seats, a
/// general-admission event's places are dealt out evenly.
pub fn initial_shards(total: i64, seats: &[SeatId], shards: u16) -> Vec<Inventory> {
    let shards = shards.max(1);
    let totals: Vec<i64> = if seats.is_empty() {
        let n = i64::from(shards);
        (0..n)
            .map(|i| total / n + i64::from(i < total % n))
            .collect()
    } else {
        let mut totals = vec![0; usize::from(shards)];
        for seat in seats {
            totals[usize::from(seat_shard(seat, shards))] += 1;
        }
        totals
    };
    totals
        .into_iter()
        .map(|total| Inventory {
            total,
            available: total,
            held: 0,
            sold: 0,
        })
        .collect()
}

/// The shares of a seated hold: its seats counted per shard.
pub fn seated_shares(seats: &[SeatId], shards: u16) -> Vec<StockShare> {
    let mut shares: Vec<StockShare> = Vec::new();
    for seat in seats {
        let shard = seat_shard(seat, shards);
        match shares.iter_mut().find(|s| s.shard == shard) {
            Some(share) => share.quantity += 1,
            None => shares.push(StockShare { shard, quantity: 1 }),
        }
    }
    shares.sort_by_key(|s| s.shard);
    shares
}

/// A general-admission hold's shares, given each shard's `available` places: the first shard
/// from `start` on that has them all, else places gathered from the shards in turn. `None`:
/// not enough between them.
pub fn plan_shares(available: &[i64], quantity: u32, start: usize) -> Option<Vec<StockShare>> {
    let n = available.len();
    if n == 0 || available.iter().map(|&a| a.max(0)).sum::<i64>() < i64::from(quantity) {
        return None;
    }
    let in_turn = (0..n).map(|i| (start + i) % n);
    if let Some(shard) = in_turn
        .clone()
        .find(|&s| available[s] >= i64::from(quantity))
    {
        return Some(vec![StockShare {
            shard: shard as u16,
            quantity,
        }]);
    }
    let mut left = i64::from(quantity);
    let mut shares = Vec::new();
    for shard in in_turn {
        if left == 0 {
            break;
        }
        let take = available[shard].max(0).min(left);
        if take > 0 {
            shares.push(StockShare {
                shard: shard as u16,
                quantity: take as u32,
            });
            left -= take;
        }
    }
    shares.sort_by_key(|s| s.shard);
    Some(shares)
}

/// A hold's writes to the stock: each share's places from `available` to `held`, on the
/// condition that the shard has them.
pub fn take(event: &EventId, shares: &[StockShare]) -> Vec<Write> {
    move_places(event, shares, "available", "held")
}

/// A settled hold's writes to the stock: each share's places from `held` to `to` (`"sold"` or
/// `"available"`), on the condition that the shard holds them.
pub fn settle(event: &EventId, shares: &[StockShare], to: &str) -> Vec<Write> {
    move_places(event, shares, "held", to)
}

/// Each share's places moved from counter `from` to counter `to` of its shard, on the condition
/// that `from` counts them.
fn move_places(event: &EventId, shares: &[StockShare], from: &str, to: &str) -> Vec<Write> {
    shares
        .iter()
        .map(|share| {
            let n = i64::from(share.quantity);
            Write::Update(
                Update::new(stock_key(event, share.shard))
                    .add(from, -n)
                    .add(to, n)
                    .when(Condition::AtLeast(from.into(), n)),
            )
        })
        .collect()
}

/// An event's counters, shard by shard (index = shard).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stock(Vec<Inventory>);

impl Stock {
    pub fn new(shards: Vec<Inventory>) -> Self {
        Self(shards)
    }

    /// The event's counters: the sum of its shards'.
    pub fn total(&self) -> Inventory {
        self.0.iter().fold(
            Inventory {
                total: 0,
                available: 0,
                held: 0,
                sold: 0,
            },
            |sum, s| Inventory {
                total: sum.total + s.total,
                available: sum.available + s.available,
                held: sum.held + s.held,
                sold: sum.sold + s.sold,
            },
        )
    }

    /// Each shard's counters.
    pub fn shards(&self) -> &[Inventory] {
        &self.0
    }

    /// Sets shard `shard`'s counters (a shard beyond those known is added, empty ones between).
    pub fn set(&mut self, shard: u16, counters: Inventory) {
        let i = usize::from(shard);
        if self.0.len() <= i {
            self.0.resize(i + 1, Inventory::default());
        }
        self.0[i] = counters;
    }

    fn available(&self) -> Vec<i64> {
        self.0.iter().map(|s| s.available).collect()
    }
}

/// Reads every stock shard of an event (one query of its partition); `EVENT_NOT_FOUND` when it
/// has none.
pub async fn read_stock(store: &dyn Store, event: &EventId) -> Result<Stock> {
    let items = store
        .query(&event_pk(event), &SkRange::prefix(STOCK_SK))
        .await?;
    let mut stock = Stock::default();
    for item in &items {
        let Some(shard) = item
            .get("sk")
            .and_then(|sk| sk.as_str())
            .and_then(shard_of_sk)
        else {
            continue;
        };
        stock.set(shard, decode(item)?);
    }
    if stock.0.is_empty() {
        return Err(Error::EventNotFound);
    }
    Ok(stock)
}

/// What this process last read of each general-admission event's shards, to plan holds from
/// without a read each.
#[derive(Clone, Default)]
pub struct KnownStock(Arc<Mutex<HashMap<EventId, Known>>>);

struct Known {
    read_at_ms: i64,
    available: Vec<i64>,
}

impl KnownStock {
    /// Plans a hold of `quantity` places of `event`: from the last read if it is fresh and
    /// shows enough, else from a new one (`fresh` forces it: the last plan failed). `Err`
    /// `InsufficientInventory` when a fresh read shows too few.
    pub async fn plan(
        &self,
        store: &dyn Store,
        event: &EventId,
        quantity: u32,
        now_ms: i64,
        fresh: bool,
    ) -> Result<Vec<StockShare>> {
        let start = rand::random::<u32>() as usize;
        if !fresh {
            let known = self.0.lock().get(event).and_then(|k| {
                (now_ms - k.read_at_ms < KNOWN_FRESH_MS)
                    .then(|| plan_shares(&k.available, quantity, start))
                    .flatten()
            });
            if let Some(shares) = known {
                return Ok(shares);
            }
        }
        let stock = read_stock(store, event).await?;
        let available = stock.available();
        let planned = plan_shares(&available, quantity, start);
        self.0.lock().insert(
            event.clone(),
            Known {
                read_at_ms: now_ms,
                available,
            },
        );
        planned.ok_or_else(|| Error::InsufficientInventory {
            requested: quantity,
            available: stock.total().available,
        })
    }

    /// Counts `shares` as taken in this process's knowledge (a hold it placed).
    pub fn taken(&self, event: &EventId, shares: &[StockShare]) {
        if let Some(known) = self.0.lock().get_mut(event) {
            for share in shares {
                if let Some(a) = known.available.get_mut(usize::from(share.shard)) {
                    *a -= i64::from(share.quantity);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(s: &str) -> SeatId {
        s.parse().unwrap()
    }

    #[test]
    fn shard_keys_keep_the_unsharded_item_as_shard_zero() {
        let event: EventId = "evt_1".parse().unwrap();
        assert_eq!(stock_key(&event, 0).sk, "INV");
        assert_eq!(stock_key(&event, 7).sk, "INV#007");
        assert_eq!(shard_of_sk("INV"), Some(0));
        assert_eq!(shard_of_sk("INV#007"), Some(7));
        assert_eq!(shard_of_sk("INV#000"), None, "shard 0 has one name");
        assert_eq!(shard_of_sk("INVX"), None);
        assert_eq!(shard_of_sk("SEAT#A-1"), None);
    }

    #[test]
    fn small_events_keep_one_counter_and_large_ones_spread() {
        assert_eq!(shards_for(10, 16), 1);
        assert_eq!(shards_for(64, 16), 1);
        assert_eq!(shards_for(65, 16), 2);
        assert_eq!(shards_for(100_000, 16), 16);
        assert_eq!(shards_for(100_000, 1), 1);
        assert_eq!(shards_for(0, 16), 1);
    }

    #[test]
    fn general_admission_is_dealt_out_evenly_and_seats_by_their_shard() {
        let ga = initial_shards(10, &[], 4);
        assert_eq!(
            ga.iter().map(|s| s.total).collect::<Vec<_>>(),
            vec![3, 3, 2, 2]
        );
        let seats: Vec<SeatId> = (1..=100).map(|n| seat(&format!("A-{n}"))).collect();
        let seated = initial_shards(100, &seats, 4);
        assert_eq!(seated.iter().map(|s| s.total).sum::<i64>(), 100);
        for s in &seats {
            assert_eq!(seat_shard(s, 4), seat_shard(s, 4), "stable");
        }
        let shares = seated_shares(&seats[..10], 4);
        assert_eq!(shares.iter().map(|s| s.quantity).sum::<u32>(), 10);
        assert!(shares.windows(2).all(|w| w[0].shard < w[1].shard));
        assert!(seated.iter().all(|s| s.total > 10), "spread: {seated:?}");
    }

    #[test]
    fn a_plan_takes_one_shard_when_one_has_enough_else_gathers() {
        let one = |shard, quantity| StockShare { shard, quantity };
        assert_eq!(plan_shares(&[5, 5, 5], 3, 1), Some(vec![one(1, 3)]));
        assert_eq!(
            plan_shares(&[0, 2, 5], 3, 0),
            Some(vec![one(2, 3)]),
            "skips shards without enough"
        );
        assert_eq!(
            plan_shares(&[1, 2, 1], 4, 2),
            Some(vec![one(0, 1), one(1, 2), one(2, 1)])
        );
        assert_eq!(plan_shares(&[1, 2, 0], 4, 0), None);
        assert_eq!(plan_shares(&[], 1, 0), None);
        assert_eq!(plan_shares(&[-1, 3], 3, 0), Some(vec![one(1, 3)]));
    }

    #[test]
    fn events_and_reservations_stored_before_shards_read_as_one_shard() {
        use crate::domain::catalog::Event;
        use crate::domain::reservations::Reservation;
        let event: Event = serde_json::from_value(serde_json::json!({
            "event_id": "evt_1", "name": "Night", "venue": "Hall",
            "starts_at": "2026-12-31T20:00:00Z", "currency": "USD", "price": 100,
            "total": 500, "sections": [], "kind": "general_admission",
            "admission_rate_per_sec": 10.0, "max_per_order": 4, "queue_shards": 1
        }))
        .unwrap();
        assert_eq!(event.stock_shards, 1);
        let reservation: Reservation = serde_json::from_value(serde_json::json!({
            "reservation_id": "rsv_1", "status": "HOLD", "event_id": "evt_1",
            "seat_ids": [], "quantity": 3, "user_id": "usr_1", "total_amount": 300,
            "currency": "USD", "hold_expires_at": "2026-12-31T20:00:00Z",
            "order_id": null, "payment_intent_id": null,
            "created_at": "2026-12-31T19:59:00Z"
        }))
        .unwrap();
        assert_eq!(
            reservation.shares(),
            vec![StockShare {
                shard: 0,
                quantity: 3
            }],
            "all from the one counter item, `INV`"
        );
        assert!(reservation.view().get("stock").is_none());
    }

    #[test]
    fn the_stock_sums_its_shards() {
        let mut stock = Stock::new(initial_shards(10, &[], 2));
        stock.set(
            1,
            Inventory {
                total: 5,
                available: 2,
                held: 1,
                sold: 2,
            },
        );
        assert_eq!(
            stock.total(),
            Inventory {
                total: 10,
                available: 7,
                held: 1,
                sold: 2
            }
        );
        stock.set(3, Inventory::default());
        assert_eq!(stock.shards().len(), 4);
    }
}
