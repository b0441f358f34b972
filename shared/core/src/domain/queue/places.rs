//! One place in line per account per event.
//!
//! An account that joins an event's line again gets the waiting token it already holds, not a
//! second place: without this, one account could join many times, enter with each token and
//! crowd everyone else out. The account's *place* is an item of its own per (event, account)
//! naming the ticket it holds; it is claimed right after the ticket is written, conditional on
//! still naming the ticket the join read (or on not existing yet), so two joins of one account
//! racing each other end with one place, whichever claims first; the other takes its own ticket
//! back out of line (`WaitingRoom::join_as`).
//!
//! A place stands while its ticket can still be used: waiting for its turn, or admitted and
//! still within its ready window. Once the ticket was entered, left, or its turn passed without
//! entering (or it is past its TTL), the next join of the account takes a new place at the back of
//! the line: the purchase cap (`reservations::purchase_cap`), not the line, is what bounds what
//! one account can buy, and a buyer whose hold lapsed must be able to line up again.
//!
//! Anonymous joins have no place item and cost what they always did.

use serde::{Deserialize, Serialize};

use super::keys::place_key;
use crate::domain::records::{get_record, to_item};
use crate::error::Result;
use crate::ids::{EventId, UserId, WaitingToken};
use crate::ports::store::{Condition, Store, Write};

/// An account's place in one event's line: the ticket it holds there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaceRecord {
    pub event_id: EventId,
    pub user_id: UserId,
    pub token: WaitingToken,
    /// TTL attribute (epoch seconds): the place goes when its ticket does.
    pub expires_at: i64,
}

/// The place `user` holds in `event`'s line, if any is stored.
pub(super) async fn read_place(
    store: &dyn Store,
    event: &EventId,
    user: &UserId,
) -> Result<Option<PlaceRecord>> {
    get_record(store, &place_key(event, user)).await
}

impl PlaceRecord {
    /// The write that makes this the account's place, unless another join changed the place
    /// since it was read as `previous` (`None`: there was none).
    pub(super) fn claiming(&self, previous: Option<&WaitingToken>) -> Write {
        let condition = match previous {
            None => Condition::NotExists,
            Some(token) => Condition::equals("token", token.as_str()),
        };
        Write::Put {
            item: to_item(&place_key(&self.event_id, &self.user_id), self),
            condition: Some(condition),
        }
    }
}
