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
//! The same counter keeps the reservation tokens the account has used for the event: the hold's
//! raise also marks its token's `jti` used (`rtkn_<jti>`, valued the token's expiry), under the
//! condition that it is not marked yet. A token names its user and event, so every use of it
//! writes this one item, and the mark costs no write of its own (an item per token did: a
//! transactional write per ticket, issue 15's writes per ticket). A mark matters only while its
//! token could still be verified, so a hold drops the marks of tokens already expired in the same
//! write: the item holds the marks of the last 30 s of its own account's holds, not a history.
//! (Releases before this one kept a marker item per token, `RTKN#<jti>`, which this one does not
//! read: while both run, during a deploy, a token used under the old one in its last 30 s could
//! be used once more under the new one, still within the account's cap and its admission batch.)

use serde_json::Value;

use super::record::Reservation;
use crate::domain::reservation_tokens::ReservationClaims;
use crate::error::Result;
use crate::ids::{EventId, UserId};
use crate::ports::store::{Condition, Item, Key, Store, Update, Write};

/// What a used token's mark on the counter is called: this, then its `jti`.
const USED: &str = "rtkn_";

/// The counter of the tickets `user` holds and owns for `event`.
fn cap_key(event: &EventId, user: &UserId) -> Key {
    Key::new(
        ["BUYER#", event.as_str(), "#", user.as_str()].concat(),
        "CAP",
    )
}

/// The mark of `claims`' token on its account's counter.
fn used_mark(claims: &ReservationClaims) -> String {
    [USED, claims.jti.as_str()].concat()
}

/// The write that counts `reservation`'s tickets against its account's cap of `max` for the
/// event and marks the token it came with used, unless the tickets would take the account past
/// the cap (an absent counter is 0) or the token is marked already; it drops the marks named in
/// `expired` (see [`Stored::expired_marks`]).
pub(super) fn count_toward(
    reservation: &Reservation,
    claims: &ReservationClaims,
    max: u32,
    expired: &[String],
) -> Write {
    let n = i64::from(reservation.quantity);
    let mark = used_mark(claims);
    let mut update = Update::new(cap_key(&reservation.event_id, &reservation.user_id))
        .add("tickets", n)
        .set(&mark, claims.exp);
    for old in expired {
        update = update.remove(old);
    }
    Write::Update(update.when(Condition::And(vec![
        Condition::Missing(mark),
        Condition::Or(vec![
            Condition::NotExists,
            Condition::LessThan("tickets".into(), i64::from(max) - n + 1),
        ]),
    ])))
}

/// `reservation`'s account's counter for its event as stored now: read before a hold for the
/// marks it may drop, and after a refused one for why (a token used, or the cap).
pub(super) struct Stored(Option<Item>);

impl Stored {
    pub(super) async fn read(store: &dyn Store, reservation: &Reservation) -> Result<Self> {
        let key = cap_key(&reservation.event_id, &reservation.user_id);
        Ok(Self(store.get(&key).await?))
    }

    /// The marks of tokens expired by `now_secs`, for the next hold's write to drop. A mark
    /// written after this read is simply left to the hold after.
    pub(super) fn expired_marks(&self, now_secs: i64) -> Vec<String> {
        self.0
            .iter()
            .flatten()
            .filter(|(name, expiry)| {
                name.starts_with(USED) && expiry.as_i64().is_none_or(|exp| exp <= now_secs)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether `claims`' token is marked used: told apart from the cap when the counter's
    /// condition failed.
    pub(super) fn marks_used(&self, claims: &ReservationClaims) -> bool {
        self.0
            .as_ref()
            .is_some_and(|counter| counter.contains_key(&used_mark(claims)))
    }

    /// The tickets the account holds and owns for the event, for telling a refused buyer.
    pub(super) fn tickets(&self) -> i64 {
        self.0
            .as_ref()
            .and_then(|counter| counter.get("tickets"))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }
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
