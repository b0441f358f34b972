//! Venues and events described in a file (`TACOS_CATALOG`), created at start.
//!
//! A venue is a seat layout (sections of rows, each with its numbering and price tier) or a
//! standing capacity; an event names the venue it plays at. The file is the operator's: its
//! shape is checked strictly (an unknown field is a typo, refused with its name), unlike request
//! bodies. Loading is idempotent: every event has a fixed `event_id`, and one that exists already
//! is left exactly as it is, so restarting with the same file (or a longer one) duplicates
//! nothing and never touches seats that were sold. Changing an existing event is not loading's
//! business: its id names the event buyers hold tickets for.
//!
//! Parsing the file's text (JSON or YAML) is the embedded server's; this module takes the parsed
//! [`CatalogFile`]. Its schema is in docs/catalog.md, and `catalog/sample.yaml` is a real-sized
//! example.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::catalog::{NewEvent, Section};
use crate::error::{Error, Result};
use crate::ids::EventId;
use crate::platform::Platform;

/// A catalogue: venues, and the events that play at them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default)]
    pub venues: Vec<VenueSpec>,
    pub events: Vec<EventSpec>,
}

/// A place events play at: seated (`sections`) or standing (`capacity`), exactly one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSpec {
    /// What events call it by, unique in the file.
    pub id: String,
    /// Its name as buyers read it.
    pub name: String,
    #[serde(default)]
    pub sections: Option<Vec<Section>>,
    #[serde(default)]
    pub capacity: Option<i64>,
}

/// An event at one of the file's venues.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Fixed, so that loading the file again finds the event it created.
    pub event_id: EventId,
    pub name: String,
    /// The `id` of one of the file's venues.
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    #[serde(default = "crate::domain::catalog::default_currency")]
    pub currency: String,
    /// The price of a place where its section sets none.
    pub price: i64,
    #[serde(default = "crate::domain::catalog::default_rate")]
    pub admission_rate_per_sec: f64,
    #[serde(default = "crate::domain::catalog::default_max_per_order")]
    pub max_per_order: u32,
    /// When the sale opens (joins before it wait in a lobby drawn at random).
    #[serde(default)]
    pub on_sale_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What loading a catalogue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Events created now.
    pub created: Vec<EventId>,
    /// Events that existed already and were left as they are.
    pub kept: Vec<EventId>,
}

impl CatalogFile {
    /// The events as an administrator would ask for them, each with its venue's layout; refused
    /// (naming the event or venue) for a venue that is not in the file, or an id given twice.
    pub fn new_events(&self) -> Result<Vec<NewEvent>> {
        let mut venues: HashMap<&str, &VenueSpec> = HashMap::new();
        for venue in &self.venues {
            if venues.insert(venue.id.as_str(), venue).is_some() {
                return invalid(format!("venues: `{}` is given twice", venue.id));
            }
        }
        let mut ids = std::collections::HashSet::new();
        self.events
            .iter()
            .map(|event| {
                if !ids.insert(&event.event_id) {
                    return invalid(format!("events: `{}` is given twice", event.event_id));
                }
                let Some(venue) = venues.get(event.venue.as_str()) else {
                    return invalid(format!(
                        "events: `{}` plays at venue `{}`, which the file does not describe",
                        event.event_id, event.venue
                    ));
                };
                Ok(NewEvent {
                    name: event.name.clone(),
                    venue: venue.name.clone(),
                    starts_at: event.starts_at,
                    currency: event.currency.clone(),
                    price: event.price,
                    sections: venue.sections.clone(),
                    capacity: venue.capacity,
                    admission_rate_per_sec: event.admission_rate_per_sec,
                    max_per_order: event.max_per_order,
                    event_id: Some(event.event_id.clone()),
                    on_sale_at: event.on_sale_at,
                })
            })
            .collect()
    }
}

/// Creates the catalogue's events that do not exist yet, each checked as an administrator's
/// request is; those that exist are left untouched. Stops at the first event refused, naming it
/// (the events before it stay created: loading again creates the rest once the file is fixed).
pub async fn load(platform: &Platform, catalog: &CatalogFile) -> Result<Loaded> {
    let mut loaded = Loaded::default();
    for event in catalog.new_events()? {
        let id = event.event_id.clone().expect("catalogue events have ids");
        match platform.catalog.get(&id).await {
            Ok(_) => {
                loaded.kept.push(id);
                continue;
            }
            Err(Error::EventNotFound) => {}
            Err(e) => return Err(e),
        }
        match platform.catalog.create(event).await {
            Ok(_) => loaded.created.push(id),
            // Created meanwhile by another process loading the same file.
            Err(Error::EventExists(_)) => loaded.kept.push(id),
            Err(Error::InvalidRequest(why)) => return invalid(format!("events: `{id}`: {why}")),
            Err(e) => return Err(e),
        }
    }
    Ok(loaded)
}

fn invalid<T>(message: String) -> Result<T> {
    Err(Error::InvalidRequest(message))
}
