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

use serde::Deserialize;

use super::record::Reservation;
use crate::domain::records::get_record;
use crate::error::Result;
use crate::ids::{EventId, UserId};
use crate::ports::store::{Condition, Key, Store, Update, Write};

/// The counter of the tickets `user` holds and owns for `event`.
fn cap_key(event: &EventId, user: &UserId) -> Key {
    Key::new(
        ["BUYER#", event.as_str(), "#", user.as_str()].concat(),
        "CAP",
    )
}

/// The write that counts `reservation`'s tickets against its account's cap of `max` for the
/// event, unless they would take the account past it (an absent counter is 0).
pub(super) fn count_toward(reservation: &Reservation, max: u32) -> Write {
    let n = i64::from(reservation.quantity);
    Write::Update(
        Update::new(cap_key(&reservation.event_id, &reservation.user_id))
            .add("tickets", n)
            .when(Condition::Or(vec![
                Condition::NotExists,
                Condition::LessThan("tickets".into(), i64::from(max) - n + 1),
            ])),
    )
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

/// The tickets `user` holds and owns for `event` now, for telling a refused buyer.
pub(super) async fn counted(store: &dyn Store, event: &EventId, user: &UserId) -> Result<i64> {
    #[derive(Deserialize)]
    struct Counter {
        #[serde(default)]
        tickets: i64,
    }
    let counter: Option<Counter> = get_record(store, &cap_key(event, user)).await?;
    Ok(counter.map_or(0, |c| c.tickets))
}
