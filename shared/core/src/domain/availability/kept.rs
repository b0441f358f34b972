//! The availability views the process keeps, and how the store's change reports update them.
//!
//! One lock over every event's slot: a report takes it for a hash lookup and a byte store, a
//! reader for a copy of 10,000 one-byte states; building a snapshot's JSON happens outside it,
//! so the store's writer (which reports from inside its write path) never waits on a reader.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Deserialize;

use super::contract::Availability;
use super::layout::Layout;
use super::snapshot::AvailabilitySnapshot;
use crate::domain::catalog::{event_pk, is_event_pk, Inventory, SeatStatus, SEAT_SK_PREFIX};
use crate::domain::records::from_item;
use crate::domain::stock::{shard_of_sk, Stock};
use crate::ids::EventId;
use crate::ports::store::{ChangeListener, Item, Key};

/// The kept views, by the partition key of their event (what a report's key names).
#[derive(Default)]
pub(super) struct KeptViews {
    slots: Mutex<HashMap<String, Slot>>,
}

enum Slot {
    /// Being read from the store; the changes reported meanwhile wait here, in commit order.
    Loading(Vec<(Key, Option<Item>)>),
    Kept(View),
}

/// One event's availability as the reports left it.
struct View {
    layout: Arc<Layout>,
    /// Each seat's index in the layout, by seat id.
    positions: HashMap<String, usize>,
    statuses: Vec<SeatStatus>,
    /// The counters shard by shard, as reported; their sum is what readers are shown.
    stock: Stock,
    inventory: Inventory,
    /// Counts the changes applied, so that a snapshot of an older state is not kept.
    version: u64,
    published: Option<Arc<AvailabilitySnapshot>>,
}

/// What a reader finds.
pub(super) enum Lookup {
    Published(Arc<AvailabilitySnapshot>),
    /// Kept, but changed since its last snapshot: publish this.
    Changed(Draft),
    /// Not kept: `Some` when this caller is to load it, `None` while another reader does.
    Missing(Option<Loading>),
}

/// A kept view's state, copied out under the lock to be published outside it.
pub(super) struct Draft {
    pk: String,
    version: u64,
    layout: Arc<Layout>,
    statuses: Vec<SeatStatus>,
    inventory: Inventory,
}

/// A load in progress. Dropped unfinished (its reader gave up, or failed), it forgets the load,
/// so the next reader starts another.
pub(super) struct Loading {
    views: Arc<KeptViews>,
    pk: Option<String>,
}

impl KeptViews {
    pub(super) fn lookup(self: &Arc<Self>, id: &EventId) -> Lookup {
        let pk = event_pk(id);
        let mut slots = self.slots.lock();
        match slots.get(&pk) {
            Some(Slot::Kept(view)) => match &view.published {
                Some(snapshot) => Lookup::Published(snapshot.clone()),
                None => Lookup::Changed(view.draft(pk)),
            },
            Some(Slot::Loading(_)) => Lookup::Missing(None),
            None => {
                slots.insert(pk.clone(), Slot::Loading(Vec::new()));
                Lookup::Missing(Some(Loading {
                    views: self.clone(),
                    pk: Some(pk),
                }))
            }
        }
    }

    /// Writes the draft's snapshot (JSON included) outside the lock, and keeps it unless the
    /// view changed meanwhile.
    pub(super) fn publish(&self, draft: Draft) -> Arc<AvailabilitySnapshot> {
        let snapshot = AvailabilitySnapshot::kept(draft.layout, draft.statuses, draft.inventory);
        snapshot.json();
        if let Some(Slot::Kept(view)) = self.slots.lock().get_mut(&draft.pk) {
            if view.version == draft.version {
                view.published = Some(snapshot.clone());
            }
        }
        snapshot
    }
}

impl Loading {
    /// Keeps the view read from the store, with every change reported since the load began,
    /// and returns its snapshot; `None` when a report could not be followed (nothing is kept,
    /// and the caller reads the store itself).
    pub(super) fn finish(
        mut self,
        read: Availability,
        stock: Stock,
    ) -> Option<Arc<AvailabilitySnapshot>> {
        let pk = self.pk.take().expect("a load finishes once");
        let mut view = View::new(read, stock);
        let mut slots = self.views.slots.lock();
        let Some(Slot::Loading(pending)) = slots.remove(&pk) else {
            unreachable!("only its loader replaces a loading slot")
        };
        if !pending
            .iter()
            .all(|(key, item)| view.apply(key, item.as_ref()))
        {
            return None;
        }
        let draft = view.draft(pk.clone());
        slots.insert(pk, Slot::Kept(view));
        drop(slots);
        Some(self.views.publish(draft))
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        if let Some(pk) = self.pk.take() {
            self.views.slots.lock().remove(&pk);
        }
    }
}

impl View {
    fn new(read: Availability, stock: Stock) -> Self {
        let positions = read
            .seats
            .iter()
            .enumerate()
            .map(|(i, seat)| (seat.seat_id.as_str().to_owned(), i))
            .collect();
        let statuses = read.seats.iter().map(|seat| seat.status).collect();
        let inventory = Inventory {
            total: read.total,
            available: read.available,
            held: read.held,
            sold: read.sold,
        };
        Self {
            layout: Arc::new(Layout::new(read.event_id, read.seats)),
            positions,
            statuses,
            stock,
            inventory,
            version: 0,
            published: None,
        }
    }

    /// Sets what `key` now holds; `false` when the view cannot follow it.
    fn apply(&mut self, key: &Key, item: Option<&Item>) -> bool {
        let Some(item) = item else {
            return false;
        };
        if let Some(shard) = shard_of_sk(&key.sk) {
            let Ok(counters) = from_item::<Inventory>(item.clone()) else {
                return false;
            };
            self.stock.set(shard, counters);
            self.inventory = self.stock.total();
        } else if let Some(seat) = key.sk.strip_prefix(SEAT_SK_PREFIX) {
            let status = item
                .get("status")
                .and_then(|s| SeatStatus::deserialize(s).ok());
            let (Some(&index), Some(status)) = (self.positions.get(seat), status) else {
                return false;
            };
            self.statuses[index] = status;
        }
        self.version += 1;
        self.published = None;
        true
    }

    fn draft(&self, pk: String) -> Draft {
        Draft {
            pk,
            version: self.version,
            layout: self.layout.clone(),
            statuses: self.statuses.clone(),
            inventory: self.inventory,
        }
    }
}

impl ChangeListener for KeptViews {
    fn watches(&self, key: &Key) -> bool {
        is_event_pk(&key.pk)
            && (shard_of_sk(&key.sk).is_some() || key.sk.starts_with(SEAT_SK_PREFIX))
    }

    fn committed(&self, key: &Key, item: Option<&Item>) {
        let mut slots = self.slots.lock();
        let followed = match slots.get_mut(&key.pk) {
            Some(Slot::Loading(pending)) => {
                pending.push((key.clone(), item.cloned()));
                true
            }
            Some(Slot::Kept(view)) => view.apply(key, item),
            None => true,
        };
        if !followed {
            tracing::warn!(pk = %key.pk, sk = %key.sk,
                "availability view dropped: a change it cannot follow; read afresh next");
            slots.remove(&key.pk);
        }
    }
}
