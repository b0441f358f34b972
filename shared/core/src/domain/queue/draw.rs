//! The lobby draw: a uniformly random order of everyone who joined before the sale opened,
//! which anyone can recompute.
//!
//! Before an event's opening time (`on_sale_at`), joins go to its *lobby* ([`super::lobby`]),
//! where each takes a *lobby order* from sharded counters, as the line's orders are taken
//! ([`super::order`]). At the opening the counters are frozen into the draw, and each lobby order
//! `ℓ` counted by them has a *rank*, the number of lobby orders taken before it
//! ([`Counts::tickets`]`(0, ℓ)`): the ranks are exactly `0..size`. The draw is a permutation of
//! those ranks keyed by a secret *seed*: the lobby ticket of rank `r` gets the line's order
//! `permute(r)`, and the line after the opening starts at `size`. Nothing is written per ticket:
//! every process computes a ticket's place from the draw (a few hashes), so drawing 100,000 people
//! is one write of the queue's state and a raise of each join counter.
//!
//! **Auditable.** The seed is derived from the platform's secret and the event (so it exists,
//! and cannot change, before anyone joins); its SHA-256, the *commitment*, is published from the
//! moment an opening time is set, and the seed itself once the lobby is drawn (`GET
//! /queue/draw`, with the frozen counts and the list of lobby entries as token hashes). Anyone
//! can then check the seed against the commitment and recompute every place with
//! [`permute`], written out in docs/api.md and `scripts/verify_draw.py`.
//!
//! **The permutation** (`feistel-sha256-v1`): a balanced Feistel network of eight rounds over
//! the smallest even number of bits `2h ≥ 2` whose range `2^2h` holds `size`, the round function
//! the first eight bytes (big-endian) of SHA-256(seed ‖ round byte ‖ right half as eight
//! big-endian bytes), masked to `h` bits; values at or past `size` are encrypted again (cycle
//! walking) until one falls inside. A Feistel network is a bijection whatever its round function,
//! so the result is a permutation of `0..size`; keyed by a secret seed, one indistinguishable
//! from random to whoever does not know it.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::order::Counts;
use crate::ids::EventId;

/// The name of the permutation, published with every draw.
pub const ALGORITHM: &str = "feistel-sha256-v1";

/// Rounds of the Feistel network.
const ROUNDS: u8 = 8;

/// A lobby's draw, kept in the queue's state from the opening on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    /// The seed, hex (its SHA-256 is the commitment published before the opening).
    pub seed: String,
    /// The lobby's join counts at the opening, one per lobby counter.
    pub counts: Vec<u64>,
    /// People the draw placed (lobby orders the counts take): the line's first `size` orders.
    pub size: u64,
    /// When the lobby was drawn (milliseconds since the epoch).
    pub drawn_at_ms: i64,
}

impl Draw {
    /// The draw of a lobby whose counters read `counts`, with `seed`, at `now_ms`.
    pub fn new(seed: Seed, counts: Vec<u64>, now_ms: i64) -> Self {
        let size = counts.iter().sum();
        Self {
            seed: seed.to_hex(),
            counts,
            size,
            drawn_at_ms: now_ms,
        }
    }

    /// The line's order of the lobby ticket at lobby order `lobby`, or `None` if the draw did
    /// not count it (its counter's increment landed after the counts were frozen): such a
    /// straggler is placed at the back of the line by arrival instead.
    pub fn place(&self, lobby: u64) -> Option<u64> {
        let counts = Counts(&self.counts);
        if !counts.is_ticket(lobby) {
            return None;
        }
        let seed = Seed::from_hex(&self.seed)?;
        Some(permute(&seed, self.size, counts.tickets(0, lobby)))
    }
}

/// A draw's secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed([u8; 32]);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed(…)")
    }
}

impl Seed {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// The commitment published before the opening: SHA-256 of the seed's 32 bytes, hex.
    pub fn commitment(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }
}

/// Derives each event's seed from the platform's secret: fixed before anyone joins, unknown to
/// anyone without the secret until it is revealed, and the same in every process.
#[derive(Clone)]
pub struct Seeds {
    key: Vec<u8>,
}

impl Seeds {
    /// `secret` is the platform's (`Config::jwt_secret`); seeds use a key of their own derived
    /// from it, so a revealed seed says nothing about the secret or other keys.
    pub fn new(secret: &str) -> Self {
        Self {
            key: Sha256::digest(["lobby-draw-key:", secret].concat()).to_vec(),
        }
    }

    pub fn of(&self, event: &EventId) -> Seed {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(event.as_str().as_bytes());
        Seed(mac.finalize().into_bytes().into())
    }
}

/// The place among `0..size` of `rank` under the permutation keyed by `seed` (see the module's
/// documentation). `rank` must be below `size`.
pub fn permute(seed: &Seed, size: u64, rank: u64) -> u64 {
    debug_assert!(rank < size, "rank {rank} of a draw of {size}");
    if size <= 1 {
        return rank;
    }
    let half = half_bits(size);
    let mut value = encrypt(seed, half, rank);
    while value >= size {
        value = encrypt(seed, half, value);
    }
    value
}

/// Bits of each half of the network's domain: the least `h ≥ 1` with `4^h ≥ size`.
fn half_bits(size: u64) -> u32 {
    let bits = u64::BITS - (size - 1).leading_zeros();
    bits.div_ceil(2).max(1)
}

fn encrypt(seed: &Seed, half: u32, value: u64) -> u64 {
    let mask = (1u64 << half) - 1;
    let (mut left, mut right) = (value >> half, value & mask);
    for round in 0..ROUNDS {
        let mixed = left ^ (round_function(seed, round, right) & mask);
        left = right;
        right = mixed;
    }
    (left << half) | right
}

fn round_function(seed: &Seed, round: u8, right: u64) -> u64 {
    let mut hash = Sha256::new();
    hash.update(seed.0);
    hash.update([round]);
    hash.update(right.to_be_bytes());
    let digest = hash.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seeds::new("test-secret").of(&"evt_draw".parse().unwrap())
    }

    #[test]
    fn every_size_is_drawn_to_a_permutation() {
        let seed = seed();
        for size in [1, 2, 3, 4, 5, 7, 16, 17, 100, 1_000, 4_097] {
            let mut seen = vec![false; size as usize];
            for rank in 0..size {
                let place = permute(&seed, size, rank);
                assert!(place < size);
                assert!(!seen[place as usize], "size {size}: {place} twice");
                seen[place as usize] = true;
            }
        }
    }

    #[test]
    fn the_order_depends_on_the_seed_and_looks_random() {
        let a = seed();
        let b = Seeds::new("test-secret").of(&"evt_other".parse().unwrap());
        let size = 1_000;
        let by_a: Vec<u64> = (0..size).map(|r| permute(&a, size, r)).collect();
        let by_b: Vec<u64> = (0..size).map(|r| permute(&b, size, r)).collect();
        assert_ne!(by_a, by_b);
        // Early arrivals are spread over the whole line: the first tenth of the lobby lands in
        // every tenth of the line, none with more than twice its share.
        let mut tenths = [0u32; 10];
        for &place in &by_a[..100] {
            tenths[(place / 100) as usize] += 1;
        }
        assert!(tenths.iter().all(|&n| (1..=20).contains(&n)), "{tenths:?}");
        // Nobody keeps their arrival place more often than chance would.
        let fixed = by_a
            .iter()
            .enumerate()
            .filter(|(r, &p)| *r as u64 == p)
            .count();
        assert!(fixed < 10, "{fixed} fixed points");
    }

    /// The values `scripts/verify_draw.py --self-test` checks its own implementation against, so
    /// that the published algorithm and this one cannot drift apart.
    #[test]
    fn known_answers() {
        let seed = Seed::from_hex(&"ab".repeat(32)).unwrap();
        let places: Vec<u64> = (0..10).map(|r| permute(&seed, 10, r)).collect();
        assert_eq!(
            seed.commitment(),
            "9a2db2e23f1504cd056606553ac049c5e718e8f9ce9233876df1a7a1821af885"
        );
        assert_eq!(places, [0, 1, 2, 5, 6, 7, 3, 4, 9, 8]);
        assert_eq!(permute(&seed, 100_000, 12_345), 46_595);
    }

    #[test]
    fn a_draw_places_counted_lobby_orders_and_not_stragglers() {
        // Two lobby counters: shard 0 took lobby orders 0, 2, 4; shard 1 took 1.
        let draw = Draw::new(seed(), vec![3, 1], 0);
        assert_eq!(draw.size, 4);
        let mut places: Vec<u64> = [0, 1, 2, 4]
            .iter()
            .map(|&l| draw.place(l).unwrap())
            .collect();
        places.sort_unstable();
        assert_eq!(places, vec![0, 1, 2, 3]);
        // Lobby order 3 (shard 1's second) and 6 (shard 0's fourth) came after the freeze.
        assert_eq!(draw.place(3), None);
        assert_eq!(draw.place(6), None);
    }
}
