//! The lobby: who joins before the sale opens, and where each stands once it is drawn.
//!
//! An event with an opening time (`on_sale_at` of its sale, [`crate::domain::sale`]) keeps the
//! joins made before it in a lobby instead of the line: arriving at 9:59:59.9 rather than 9:45
//! earns nothing, since at the opening everyone in the lobby gets a uniformly random place
//! ([`super::draw`]), and joins after the opening queue behind them by arrival.
//!
//! * A lobby join takes a *lobby order* from the lobby's own sharded counters (as a line join
//!   takes its order, [`super::order`]) and writes its ticket, marked `lobby`, and its *entry*, the
//!   public record of the draw (its lobby order and the SHA-256 of its token), in a partition per
//!   counter. Three writes, each on a partition that takes 1/`shards` of the joins.
//! * The first advance of the queue at or after the opening draws: it freezes the lobby
//!   counters' counts into the queue's state with the seed, in the state's own conditional write,
//!   then raises the line's join counters past the lobby (as [`super::holes`] closes holes), so the
//!   line's first `size` orders are the lobby's drawn places and the first join after the opening
//!   gets the next. Joins after the opening wait for the draw (performing it if nobody has).
//! * A lobby ticket's place is computed, not written: from the draw, its lobby order's rank
//!   and the permutation. A *straggler*, a join that took its lobby order as the counts were
//!   frozen, is not in the draw: it is placed at the back of the line when it is next seen (one
//!   conditional write of its ticket), as if it had arrived at the opening.
//! * Someone who leaves the lobby leaves a marker by their lobby order beside their entry. The
//!   lobby's leavers are final at the opening (a lobby ticket left after it is a line ticket,
//!   whose leaving marks its drawn order as usual), so each process reads them once, maps them to
//!   their drawn places and keeps them with the draw, for positions and admission; nothing is
//!   rewritten at the opening. A leave that crosses the draw marks its drawn place too.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::draw::{Draw, Seeds};
use super::keys::{lobby_counter_key, lobby_entries_pk};
use super::order::{read_counts, WaitingRecord};
use super::positions::Leaver;
use crate::domain::records::{from_item, sort_key, to_item};
use crate::error::{Error, Result};
use crate::ids::{EventId, WaitingToken};
use crate::ports::store::{Key, SkRange, Store, Write};

/// Most entries `GET /queue/draw` lists per page.
pub const MAX_ENTRIES_PAGE: usize = 1_000;

/// One person in a lobby, as published: their lobby order and their token's SHA-256 (so each can
/// find their own entry, and nobody else's token is revealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LobbyEntry {
    pub lobby_order: u64,
    pub token_sha256: String,
}

/// What a process knows of a drawn lobby: the draw, and the drawn places of the people who left
/// the lobby before it (sorted). Both are final once drawn, so kept for good.
#[derive(Debug)]
pub(super) struct Drawn {
    pub(super) draw: Draw,
    pub(super) leavers: Vec<u64>,
    /// This process saw the line's counters raised past the drawn places, so its joins may
    /// take orders ([`super::room`]'s `open_line`).
    pub(super) raised: AtomicBool,
}

impl Drawn {
    /// The lobby's leavers with drawn places in `[from, to)`, as having left at the draw.
    pub(super) fn leavers_between(&self, from: u64, to: u64) -> Vec<Leaver> {
        let lo = self.leavers.partition_point(|&o| o < from);
        let hi = self.leavers.partition_point(|&o| o < to);
        self.leavers[lo..hi]
            .iter()
            .map(|&order| Leaver {
                order,
                at_ms: self.draw.drawn_at_ms,
            })
            .collect()
    }
}

/// Where a ticket stands, as the waiting room sees it.
pub(super) enum Standing {
    /// In line: the ticket with its line order (a lobby ticket's drawn place).
    InLine(Arc<WaitingRecord>),
    /// In the lobby: the sale has not opened yet.
    InLobby(Arc<WaitingRecord>),
}

/// The lobbies' seeds and the draws this process has seen.
#[derive(Clone)]
pub(super) struct Lobbies {
    seeds: Seeds,
    drawn: Arc<RwLock<HashMap<EventId, Arc<Drawn>>>>,
}

impl Lobbies {
    pub(super) fn new(secret: &str) -> Self {
        Self {
            seeds: Seeds::new(secret),
            drawn: Arc::default(),
        }
    }

    pub(super) fn seeds(&self) -> &Seeds {
        &self.seeds
    }

    /// The draw of `event`'s lobby if this process has seen it.
    pub(super) fn known(&self, event: &EventId) -> Option<Arc<Drawn>> {
        self.drawn.read().get(event).cloned()
    }

    /// Keeps `draw` (read from the queue's state) with the lobby's leavers, read once.
    pub(super) async fn keep(
        &self,
        store: &dyn Store,
        event: &EventId,
        draw: &Draw,
    ) -> Result<Arc<Drawn>> {
        if let Some(drawn) = self.known(event) {
            return Ok(drawn);
        }
        let mut leavers: Vec<u64> = read_lobby_leavers(store, event, draw.counts.len())
            .await?
            .into_iter()
            .filter_map(|lobby| draw.place(lobby))
            .collect();
        leavers.sort_unstable();
        leavers.dedup();
        let drawn = Arc::new(Drawn {
            draw: draw.clone(),
            leavers,
            raised: AtomicBool::new(false),
        });
        self.drawn.write().insert(event.clone(), drawn.clone());
        Ok(drawn)
    }

    /// The draw of a lobby whose counters read `counts`, at `now_ms`.
    pub(super) fn draw(&self, event: &EventId, counts: Vec<u64>, now_ms: i64) -> Draw {
        Draw::new(self.seeds.of(event), counts, now_ms)
    }
}

/// The lobby counters' counts, read at once.
pub(super) async fn read_lobby_counts(
    store: &dyn Store,
    event: &EventId,
    shards: u32,
) -> Result<Vec<u64>> {
    read_counts(store, shards, |shard| lobby_counter_key(event, shard)).await
}

fn shard_of(lobby: u64, shards: usize) -> (u32, u64) {
    let shards = shards.max(1) as u64;
    ((lobby % shards) as u32, lobby / shards)
}

fn entry_key(event: &EventId, lobby: u64, shards: usize) -> Key {
    let (shard, k) = shard_of(lobby, shards);
    Key::new(lobby_entries_pk(event, shard), sort_key("E#", k))
}

fn lobby_left_key(event: &EventId, lobby: u64, shards: usize) -> Key {
    let (shard, k) = shard_of(lobby, shards);
    Key::new(lobby_entries_pk(event, shard), sort_key("L#", k))
}

/// The public entry of the lobby ticket `ticket` (whose `order` is its lobby order).
pub(super) fn entry_write(ticket: &WaitingRecord, shards: u32) -> Write {
    let entry = LobbyEntry {
        lobby_order: ticket.order,
        token_sha256: token_sha256(&ticket.token),
    };
    let mut item = to_item(
        &entry_key(&ticket.event_id, ticket.order, shards as usize),
        &entry,
    );
    item.insert("expires_at".into(), ticket.expires_at.into());
    Write::put(item)
}

/// The marker of the lobby ticket `ticket` leaving the lobby.
pub(super) fn lobby_left_write(ticket: &WaitingRecord, shards: u32) -> Write {
    let mut item = to_item(
        &lobby_left_key(&ticket.event_id, ticket.order, shards as usize),
        &serde_json::json!({ "lobby_order": ticket.order }),
    );
    item.insert("expires_at".into(), ticket.expires_at.into());
    Write::put(item)
}

/// The lobby orders of everyone who left `event`'s lobby.
async fn read_lobby_leavers(store: &dyn Store, event: &EventId, shards: usize) -> Result<Vec<u64>> {
    let reads = (0..shards as u32).map(|shard| async move {
        store
            .query(&lobby_entries_pk(event, shard), &SkRange::prefix("L#"))
            .await
    });
    let pages = futures::future::try_join_all(reads).await?;
    Ok(pages
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("lobby_order").and_then(|v| v.as_u64()))
        .collect())
}

/// Where a page of the lobby's entries starts: a lobby counter and the count past which to
/// list its entries. Written `<shard>.<count>` in `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryCursor {
    shard: u32,
    after: u64,
}

impl std::str::FromStr for EntryCursor {
    type Err = Error;

    /// Exactly what `next` is written as (the OpenAPI document's pattern): digits, a dot,
    /// digits. Rust's integer parsing alone would also take a sign (`+1.2`).
    fn from_str(text: &str) -> Result<Self> {
        let bad = || Error::InvalidRequest("after: the `next` of a previous page".into());
        let (shard, after) = text.split_once('.').ok_or_else(bad)?;
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(shard) || !digits(after) {
            return Err(bad());
        }
        Ok(Self {
            shard: shard.parse().map_err(|_| bad())?,
            after: after.parse().map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for EntryCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.shard, self.after)
    }
}

/// Up to `limit` of the lobby's entries from `from` on (counter by counter, each in lobby
/// order), and where the next page starts.
pub(super) async fn read_entries(
    store: &dyn Store,
    event: &EventId,
    shards: u32,
    from: Option<EntryCursor>,
    limit: usize,
) -> Result<(Vec<LobbyEntry>, Option<EntryCursor>)> {
    let mut cursor = from.unwrap_or(EntryCursor { shard: 0, after: 0 });
    let mut entries = Vec::new();
    while cursor.shard < shards && entries.len() < limit {
        let range = SkRange::prefix("E#")
            .from(sort_key("E#", cursor.after))
            .limit(limit - entries.len());
        let page = store
            .query(&lobby_entries_pk(event, cursor.shard), &range)
            .await?;
        let full = page.len() == limit - entries.len();
        for item in page {
            let entry: LobbyEntry = from_item(item)?;
            cursor.after = entry.lobby_order / u64::from(shards) + 1;
            entries.push(entry);
        }
        if !full {
            cursor = EntryCursor {
                shard: cursor.shard + 1,
                after: 0,
            };
        }
    }
    let next = (cursor.shard < shards).then_some(cursor);
    Ok((entries, next))
}

/// The lowercase hex SHA-256 of a waiting token, as its lobby entry shows it.
pub fn token_sha256(token: &WaitingToken) -> String {
    hex::encode(Sha256::digest(token.as_str().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_cursor_is_read_back_as_written_and_nothing_else() {
        let cursor = EntryCursor {
            shard: 3,
            after: 1_234,
        };
        assert_eq!(cursor.to_string().parse::<EntryCursor>().unwrap(), cursor);
        for bad in [
            "",
            ".",
            "3",
            "3.",
            ".4",
            "+3.4",
            "3.+4",
            "-3.4",
            "3.4.5",
            "a.4",
            " 3.4",
            "3.4 ",
            "99999999999.4",
        ] {
            assert!(
                matches!(bad.parse::<EntryCursor>(), Err(Error::InvalidRequest(_))),
                "{bad:?} was taken for a cursor"
            );
        }
    }
}
