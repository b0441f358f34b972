//! The purchase cap: an account holds and owns at most the event's `max_per_order` tickets in
//! total, across all its orders.
//!
//! `max_per_order` alone limits one hold; without a total, an account that comes through the
//! line again (or with several reservation tokens) could hold one order after another and take
//! the event for itself. The total lives in a counter item per (event, account): its own partition,
//! so it is never a hot item shared by everyone. A hold raises it in the hold's own transaction,
//! conditional on the raise staying within the cap, so two holds of one account racing each
//! other cannot both pass, and a hold refused for the cap changes nothing at all. Releasing a hold
//! (cancel, expiry) lowers it in the release's transaction, which is conditional on the
//! reservation still being a hold: a retried release fails that condition and lowers nothing, so
//! each hold is given back exactly once. A confirmation keeps it: tickets owned count too.
//!
//! The same item makes reservation tokens single-use. A token names the place in line of the
//! waiting token it was issued for, unique in the event, and an account's admissions come in
//! the order of their places (it has one place in line at a time, and a place taken after an
//! admission lands at or beyond the cursor that made it): the places of its tokens only grow.
//! The hold's raise also records its token's place, under the condition that the place recorded
//! before is smaller. So a token used once, or one older than a token the account already held
//! with (an anonymous place it entered late), is refused by the write that counts the tickets,
//! with no item of its own: a marker per token was one more write in every hold's transaction.

use serde::Deserialize;

use super::record::Reservation;
use crate::domain::records::get_record;
use crate::error::{Error, Result};
use crate::ids::{EventId, UserId};
use crate::ports::store::{Condition, Key, Store, Update, Write};

/// The counter of the tickets `user` holds and owns for `event`.
fn cap_key(event: &EventId, user: &UserId) -> Key {
    Key::new(
        ["BUYER#", event.as_str(), "#", user.as_str()].concat(),
        "CAP",
    )
}

/// The attribute of the counter that records the place in line of the newest reservation
/// token the account held with.
const TOKEN_PLACE: &str = "token_place";

/// A token's place as the counter stores it (places in line stay far below `i64::MAX`).
fn stored_place(place: u64) -> i64 {
    i64::try_from(place).unwrap_or(i64::MAX)
}

/// The write that counts `reservation`'s tickets against its account's cap of `max` for the
/// event, unless they would take the account past it (an absent counter is 0), and uses up its
/// reservation token, issued for the place `token_place`, unless that token (or a newer one of
/// the account's) was used already. A token of an earlier release (no place) is left to its
/// marker (`reservation_tokens::legacy_marker`).
pub(super) fn count_toward(reservation: &Reservation, max: u32, token_place: Option<u64>) -> Write {
    let n = i64::from(reservation.quantity);
    let within_cap = Condition::Or(vec![
        Condition::NotExists,
        Condition::LessThan("tickets".into(), i64::from(max) - n + 1),
    ]);
    let update =
        Update::new(cap_key(&reservation.event_id, &reservation.user_id)).add("tickets", n);
    Write::Update(match token_place.map(stored_place) {
        Some(place) => update.set(TOKEN_PLACE, place).when(Condition::And(vec![
            within_cap,
            Condition::Or(vec![
                Condition::Missing(TOKEN_PLACE.into()),
                Condition::LessThan(TOKEN_PLACE.into(), place),
            ]),
        ])),
        None => update.when(within_cap),
    })
}

/// The write that gives `reservation`'s tickets back to its account's cap. Unconditional: the
/// release it is part of is conditional on the hold, which is what makes it happen once, and a
/// release must never be blocked by the counter.
pub(super) fn give_back(reservation: &Reservation) -> Write {
    Write::Update(
        Update::new(cap_key(&reservation.event_id, &reservation.user_id))
            .add("tickets", -i64::from(reservation.quantity)),
    )
}

/// Why a reservation token can no longer be used, as the account's counter tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CapRefusal {
    /// The token was used already.
    TokenUsed,
    /// The account has held with the token of a later place in line since.
    TokenSuperseded,
}

impl From<CapRefusal> for Error {
    fn from(refusal: CapRefusal) -> Self {
        Error::InvalidReservationToken(
            match refusal {
                CapRefusal::TokenUsed => "already used",
                CapRefusal::TokenSuperseded => {
                    "superseded: this account has held with the token of a later place in line"
                }
            }
            .into(),
        )
    }
}

/// An account's counter for an event, as read (an absent one: nothing counted, no token used).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Counter {
    /// The tickets the account holds and owns.
    #[serde(default)]
    pub tickets: i64,
    /// The place in line of the newest token it held with.
    token_place: Option<i64>,
}

impl Counter {
    /// Why the token issued for `token_place` can no longer be used, if it cannot (`None` for
    /// a token of an earlier release, which its marker tells).
    pub fn token_refusal(&self, token_place: Option<u64>) -> Option<CapRefusal> {
        let place = stored_place(token_place?);
        match self.token_place {
            Some(used) if used == place => Some(CapRefusal::TokenUsed),
            Some(used) if used > place => Some(CapRefusal::TokenSuperseded),
            _ => None,
        }
    }

    /// Whether `requested` more tickets would take the account past `max`.
    pub fn over_cap(&self, requested: u32, max: u32) -> bool {
        self.tickets + i64::from(requested) > i64::from(max)
    }
}

/// `user`'s counter for `event`, for telling a refused buyer why.
pub(super) async fn read(store: &dyn Store, event: &EventId, user: &UserId) -> Result<Counter> {
    let counter: Option<Counter> = get_record(store, &cap_key(event, user)).await?;
    Ok(counter.unwrap_or_default())
}
