//! One event's availability at one moment, as every reader until the next change shares it.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use super::contract::Availability;
use super::layout::Layout;
use crate::domain::catalog::{Inventory, SeatStatus};

/// One event's availability at one moment, shared by every reader until the next change: its
/// JSON ([`AvailabilitySnapshot::json`]), and its fields through `Deref`.
#[derive(Debug)]
pub struct AvailabilitySnapshot {
    source: Source,
    json: OnceLock<Arc<[u8]>>,
}

#[derive(Debug)]
enum Source {
    /// Read from the store.
    Read(Availability),
    /// A kept view's state; its fields are built only if someone asks for them.
    Kept {
        layout: Arc<Layout>,
        statuses: Vec<SeatStatus>,
        inventory: Inventory,
        fields: OnceLock<Availability>,
    },
}

impl AvailabilitySnapshot {
    pub(super) fn read(availability: Availability) -> Arc<Self> {
        Arc::new(Self {
            source: Source::Read(availability),
            json: OnceLock::new(),
        })
    }

    pub(super) fn kept(
        layout: Arc<Layout>,
        statuses: Vec<SeatStatus>,
        inventory: Inventory,
    ) -> Arc<Self> {
        Arc::new(Self {
            source: Source::Kept {
                layout,
                statuses,
                inventory,
                fields: OnceLock::new(),
            },
            json: OnceLock::new(),
        })
    }

    /// The contract's JSON of it, written by the first caller and shared by the others.
    pub fn json(&self) -> Arc<[u8]> {
        self.json
            .get_or_init(|| {
                let json = match &self.source {
                    Source::Read(availability) => {
                        serde_json::to_vec(availability).expect("availability serializes")
                    }
                    Source::Kept {
                        layout,
                        statuses,
                        inventory,
                        ..
                    } => layout.json(inventory, statuses),
                };
                json.into()
            })
            .clone()
    }
}

impl Serialize for AvailabilitySnapshot {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl Deref for AvailabilitySnapshot {
    type Target = Availability;

    fn deref(&self) -> &Availability {
        match &self.source {
            Source::Read(availability) => availability,
            Source::Kept {
                layout,
                statuses,
                inventory,
                fields,
            } => fields.get_or_init(|| layout.availability(inventory, statuses)),
        }
    }
}
