//! An event's availability: its counters and every seat's state, as buyers and seat maps read it.
//!
//! Read from the store, a 10,000-seat venue's availability is 10,000 items fetched, decoded,
//! placed in their sections and serialized into 0.9 MB of JSON: about 50 ms a request, the same
//! on either embedded store (BENCHMARKS §10). A store that reports its committed writes in the
//! order they took effect ([`Store::watch`]: the embedded server's, which is its own only
//! writer) lets the process keep each event's availability instead: read once, then updated
//! seat by seat from the reports as holds, confirmations and releases commit. Readers share an
//! immutable [`AvailabilitySnapshot`] until the next change, and its JSON is written once, by the
//! first reader that needs it. A store that cannot report (DynamoDB, written by every Lambda
//! instance) is read on every request, as before.
//!
//! Why the kept view cannot drift from the store: a report carries the item as the write left
//! it, not the write, and a view is built from a read that starts only after its event is
//! registered as loading. Every write committed after that registration is reported to the view
//! (held back until the read is done, then applied in commit order); every write before it is in
//! the read. So each seat ends at its last reported state, or at what the read found when nothing
//! was reported since: the store's state, whatever order the read and the reports interleaved in.
//! Reports come before the writer's caller is answered, so a buyer told "held" reads "held".
//! A report the view cannot place (a seat it does not know, an item it cannot decode) drops the
//! view, which is read afresh by the next reader.
//!
//! Memory: one view per event read since start (10,000 seats: about 2 MB with its JSON).
//!
//! * [`contract`]: availability as the contract shows it.
//! * [`snapshot`]: one event's availability at one moment, shared by its readers.
//! * [`kept`]: the views, and how a report updates them.
//! * [`layout`]: what never changes in a seated event's availability, and its JSON written by
//!   copying around each seat's state.

use std::sync::{Arc, Weak};

use super::catalog::{Catalog, EventKind};
use super::stock::Stock;
use crate::error::Result;
use crate::ids::EventId;
use crate::ports::store::ChangeListener;

mod contract;
mod kept;
mod layout;
mod snapshot;

pub use contract::{Availability, SeatView};
pub use snapshot::AvailabilitySnapshot;

use kept::{KeptViews, Lookup};

/// Every event's availability, kept current when the store reports its changes, read from the
/// store otherwise.
#[derive(Clone)]
pub struct AvailabilityBoard {
    catalog: Catalog,
    /// `None`: the store cannot report its changes, so every read goes to it.
    kept: Option<Arc<KeptViews>>,
}

impl AvailabilityBoard {
    /// Keeps views when `catalog`'s store can report its changes to them.
    pub fn new(catalog: Catalog) -> Self {
        let kept = Arc::new(KeptViews::default());
        let listener: Weak<dyn ChangeListener> = Arc::downgrade(&kept) as _;
        let kept = catalog.store().watch(listener).then_some(kept);
        Self { catalog, kept }
    }

    /// The availability of event `id` now (404 `EVENT_NOT_FOUND` for an unknown event).
    pub async fn read(&self, id: &EventId) -> Result<Arc<AvailabilitySnapshot>> {
        let Some(kept) = &self.kept else {
            return Ok(AvailabilitySnapshot::read(self.from_store(id).await?));
        };
        match kept.lookup(id) {
            Lookup::Published(snapshot) => return Ok(snapshot),
            Lookup::Changed(draft) => return Ok(kept.publish(draft)),
            Lookup::Missing(Some(loading)) => {
                let (read, stock) = self.stored(id).await?;
                if let Some(snapshot) = loading.finish(read, stock) {
                    return Ok(snapshot);
                }
            }
            // Another reader is loading it: this one reads for itself rather than wait.
            Lookup::Missing(None) => {}
        }
        Ok(AvailabilitySnapshot::read(self.from_store(id).await?))
    }

    /// The availability as the store holds it (the event's counters and its seats in map order),
    /// bypassing any kept view: what a view is built from, and what checks compare it with.
    pub async fn from_store(&self, id: &EventId) -> Result<Availability> {
        Ok(self.stored(id).await?.0)
    }

    /// [`Self::from_store`], with the stock shards its counters add up (what a kept view
    /// follows, shard by shard).
    async fn stored(&self, id: &EventId) -> Result<(Availability, Stock)> {
        let event = self.catalog.get(id).await?;
        let stock = self.catalog.stock(id).await?;
        let inventory = stock.total();
        let seats = match event.kind {
            EventKind::Seated => self
                .catalog
                .seats(&event)
                .await?
                .into_iter()
                .filter_map(|s| {
                    let (section, place) = event.locate(&s.seat_id)?;
                    Some(SeatView {
                        section: section.name.clone(),
                        row: place.row,
                        number: place.number,
                        price: section.price_or(event.price),
                        seat_id: s.seat_id,
                        status: s.status,
                    })
                })
                .collect(),
            EventKind::GeneralAdmission => Vec::new(),
        };
        let read = Availability {
            event_id: id.clone(),
            total: inventory.total,
            available: inventory.available,
            held: inventory.held,
            sold: inventory.sold,
            seats,
        };
        Ok((read, stock))
    }
}

#[cfg(test)]
mod tests;
