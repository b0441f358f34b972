//! Events on sale and their inventory.
//!
//! An event is immutable once created, so it is cached per process. Its inventory lives in two
//! kinds of items that every hold, confirm, cancel and expiry change in one transaction: one item
//! per seat (seated events) and one counter item (`available`, `held`, `sold`, always summing to
//! `total`), which general-admission holds decrement conditionally. Those writes arrive at the
//! admission rate, not the join rate, so the counter item stays far below DynamoDB's per-item
//! limit.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

pub use super::partitions::{event_pk, is_event_pk};
use super::records::{from_item, to_item};
pub use super::stock::Inventory;
use super::stock::{initial_shards, read_stock, shards_for, stock_key, Stock, MAX_STOCK_SHARDS};
use crate::error::{Error, Result};
use crate::ids::{EventId, ReservationId, SeatId};
use crate::ports::store::{
    Condition, Key, SkRange, Store, StoreError, Write, MAX_TRANSACTION_WRITES,
};
use crate::ports::Ports;

/// Most seats one order may take.
pub const MAX_PER_ORDER_LIMIT: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Seated,
    GeneralAdmission,
}

pub use super::seating::{minor_unit_digits, SeatNumbering, SeatPlace, Section};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: EventId,
    pub name: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub currency: String,
    /// Price of one seat, in the currency's minor unit.
    pub price: i64,
    pub total: i64,
    pub sections: Vec<Section>,
    pub kind: EventKind,
    pub admission_rate_per_sec: f64,
    pub max_per_order: u32,
    /// Number of join counters of the waiting room (see [`super::queue`]).
    pub queue_shards: u32,
    /// Number of items its stock counters are spread over ([`super::stock`]); an event stored
    /// before shards existed has one.
    #[serde(default = "one_shard")]
    pub stock_shards: u16,
    /// When the sale opens, as created (an operator may move it: the sale's is the one that
    /// counts, [`super::sale::Sale::on_sale_at`]). Absent: open from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_sale_at: Option<DateTime<Utc>>,
}

fn one_shard() -> u16 {
    1
}

impl Event {
    /// The section of `seat` and where it is in it, if it is one of this event's seats.
    pub fn locate(&self, seat: &SeatId) -> Option<(&Section, SeatPlace)> {
        let (name, _, _) = seat.parts();
        let section = self.sections.iter().find(|s| s.name == name)?;
        Some((section, section.place_of(seat)?))
    }

    /// Whether `seat` is one of this event's seats.
    pub fn has_seat(&self, seat: &SeatId) -> bool {
        self.locate(seat).is_some()
    }

    /// What `seats` cost together (each at its section's price), or `quantity` general-admission
    /// places at the event's price.
    pub fn price_of(&self, seats: &[SeatId], quantity: u32) -> i64 {
        if seats.is_empty() {
            return self.price * i64::from(quantity);
        }
        seats
            .iter()
            .map(|seat| {
                self.locate(seat)
                    .map_or(self.price, |(s, _)| s.price_or(self.price))
            })
            .sum()
    }

    /// Digits of the currency's minor unit (2 for USD cents, 0 for KRW and JPY).
    pub fn currency_minor_unit(&self) -> u32 {
        minor_unit_digits(&self.currency)
    }
}

/// What an administrator asks for; validated by [`Catalog::create`]. Unknown fields are ignored
/// (as on every request body).
#[derive(Debug, Clone, Deserialize)]
pub struct NewEvent {
    pub name: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    #[serde(default = "default_currency")]
    pub currency: String,
    pub price: i64,
    #[serde(default)]
    pub sections: Option<Vec<Section>>,
    #[serde(default)]
    pub capacity: Option<i64>,
    #[serde(default = "default_rate")]
    pub admission_rate_per_sec: f64,
    #[serde(default = "default_max_per_order")]
    pub max_per_order: u32,
    /// The id the administrator chose (`evt_` and 1–64 letters, digits, `_` or `-`, as every id),
    /// so that an event keeps the id its other systems know it by; generated when absent. An id
    /// already taken is 409 `EVENT_EXISTS`.
    #[serde(default)]
    pub event_id: Option<EventId>,
    /// When the sale opens; joins before it wait in a lobby drawn at random at the opening.
    #[serde(default)]
    pub on_sale_at: Option<DateTime<Utc>>,
}

/// What an event is when its request (or catalogue file) does not say: priced in USD, admitting
/// 50 people a second, at most 4 tickets an account.
pub(crate) fn default_currency() -> String {
    "USD".into()
}
pub(crate) fn default_rate() -> f64 {
    50.0
}
pub(crate) fn default_max_per_order() -> u32 {
    4
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeatStatus {
    Available,
    Held,
    Sold,
}

/// One seat's item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeatRecord {
    pub seat_id: SeatId,
    pub status: SeatStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<ReservationId>,
}

/// The prefix of an event's seats' sort keys (each seat's item is `SEAT#` and its id): with the
/// stock counters ([`super::stock::STOCK_SK`]), what the availability views watch.
pub const SEAT_SK_PREFIX: &str = "SEAT#";
pub fn event_key(id: &EventId) -> Key {
    Key::new(event_pk(id), "META")
}
pub fn seat_key(id: &EventId, seat: &SeatId) -> Key {
    Key::new(event_pk(id), [SEAT_SK_PREFIX, seat.as_str()].concat())
}
const EVENT_INDEX_PK: &str = "EVENTS";

/// Event catalogue and inventory reads.
#[derive(Clone)]
pub struct Catalog {
    ports: Ports,
    /// Join counters of each new event's waiting room (`Config::queue_shards`).
    queue_shards: u32,
    /// The most stock shards a new event gets (`Config::stock_shards`).
    stock_shards: u16,
    /// The items other services keep for each event (its waiting room), written in the event's
    /// own transaction.
    companions: CompanionWrites,
    cache: Arc<RwLock<HashMap<EventId, Arc<Event>>>>,
}

/// The writes that create what another service keeps for a new event, given the event and the
/// time in milliseconds; they commit with the event, or not at all.
pub type CompanionWrites = fn(&Event, i64) -> Vec<Write>;

impl Catalog {
    pub fn new(ports: Ports, queue_shards: u32, companions: CompanionWrites) -> Self {
        Self {
            ports,
            queue_shards,
            stock_shards: 1,
            companions,
            cache: Arc::default(),
        }
    }

    /// Spreads each new event's stock over up to `shards` items ([`super::stock`]).
    pub fn with_stock_shards(mut self, shards: u16) -> Self {
        self.stock_shards = shards.clamp(1, MAX_STOCK_SHARDS);
        self
    }

    /// The store the catalog reads, for the views kept from its changes.
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.ports.store
    }

    /// Validates and stores a new event with all its seats, its counters and its waiting room.
    pub async fn create(&self, new: NewEvent) -> Result<Event> {
        let event = validate(new, self.queue_shards, self.stock_shards)?;
        let id = &event.event_id;
        // Seats and counters first, the event record last: the event is visible only once
        // complete.
        let mut items = seat_writes(&event);
        items.extend(stock_writes(&event));
        for chunk in items.chunks(MAX_TRANSACTION_WRITES) {
            self.create_items(id, chunk.to_vec()).await?;
        }
        let mut writes = event_writes(&event);
        writes.extend((self.companions)(&event, self.ports.clock.now_ms()));
        self.create_items(id, writes).await?;
        tracing::info!(event_id = %id, total = event.total, "event created");
        Ok(event)
    }

    /// Commits `writes`, which create items of event `id`: an item already there means the
    /// event already exists (its id was given, as the demo events' are).
    async fn create_items(&self, id: &EventId, writes: Vec<Write>) -> Result<()> {
        self.ports
            .store
            .transact(writes)
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => Error::EventExists(id.to_string()),
                other => other.into(),
            })
    }

    /// The event, from the cache when this process has seen it.
    pub async fn get(&self, id: &EventId) -> Result<Arc<Event>> {
        if let Some(event) = self.cache.read().get(id) {
            return Ok(event.clone());
        }
        let item = self
            .ports
            .store
            .get(&event_key(id))
            .await?
            .ok_or(Error::EventNotFound)?;
        let event: Arc<Event> = Arc::new(from_item(item)?);
        self.cache.write().insert(id.clone(), event.clone());
        Ok(event)
    }

    /// Every event, soonest first.
    pub async fn list(&self) -> Result<Vec<Arc<Event>>> {
        let index = self
            .ports
            .store
            .query(EVENT_INDEX_PK, &SkRange::default())
            .await?;
        let mut events = Vec::with_capacity(index.len());
        for entry in index {
            let Some(id) = entry
                .get("event_id")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok())
            else {
                continue;
            };
            events.push(self.get(&id).await?);
        }
        Ok(events)
    }

    /// The event's counters: the sum of its stock shards'.
    pub async fn inventory(&self, id: &EventId) -> Result<Inventory> {
        Ok(self.stock(id).await?.total())
    }

    /// The event's counters shard by shard.
    pub async fn stock(&self, id: &EventId) -> Result<Stock> {
        read_stock(&*self.ports.store, id).await
    }

    /// Seat items of an event, in natural order (`A-2` before `A-10`).
    pub async fn seats(&self, event: &Event) -> Result<Vec<SeatRecord>> {
        let items = self
            .ports
            .store
            .query(&event_pk(&event.event_id), &SkRange::prefix(SEAT_SK_PREFIX))
            .await?;
        let mut seats: Vec<SeatRecord> = items.into_iter().map(from_item).collect::<Result<_>>()?;
        let order: HashMap<&str, usize> = event
            .sections
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        seats.sort_by_cached_key(|s| {
            let (section, _, _) = s.seat_id.parts();
            let place = event.locate(&s.seat_id).map(|(_, p)| (p.row, p.number));
            (order.get(section).copied().unwrap_or(usize::MAX), place)
        });
        Ok(seats)
    }
}

/// The items of a new event's seats, each available.
fn seat_writes(event: &Event) -> Vec<Write> {
    let id = &event.event_id;
    event
        .sections
        .iter()
        .flat_map(Section::seat_ids)
        .map(|seat_id| {
            Write::put_new(to_item(
                &seat_key(id, &seat_id),
                &SeatRecord {
                    seat_id,
                    status: SeatStatus::Available,
                    reservation_id: None,
                },
            ))
        })
        .collect()
}

/// The items of a new event's stock counters, each shard's share available.
fn stock_writes(event: &Event) -> Vec<Write> {
    let id = &event.event_id;
    let seats: Vec<SeatId> = event.sections.iter().flat_map(Section::seat_ids).collect();
    initial_shards(event.total, &seats, event.stock_shards)
        .iter()
        .zip(0..)
        .map(|(counters, shard)| Write::put_new(to_item(&stock_key(id, shard), counters)))
        .collect()
}

/// The items that complete a new event once its seats and counters are stored: its record, and
/// its entry in the index of events by start time.
fn event_writes(event: &Event) -> Vec<Write> {
    let id = &event.event_id;
    vec![
        Write::put_new(to_item(&event_key(id), event)),
        Write::put(to_item(
            &Key::new(
                EVENT_INDEX_PK,
                format!("{}#{id}", event.starts_at.to_rfc3339()),
            ),
            &serde_json::json!({ "event_id": id }),
        )),
    ]
}

/// Checks an administrator's request and builds the event; the first check that fails names
/// its field.
fn validate(new: NewEvent, queue_shards: u32, stock_shards: u16) -> Result<Event> {
    check_listing(&new)?;
    check_sale(&new)?;
    let (kind, sections, total) = match (new.sections, new.capacity) {
        (Some(sections), None) => {
            let total = seats_in(&sections)?;
            (EventKind::Seated, sections, total)
        }
        (None, Some(capacity)) => {
            if !(1..=1_000_000).contains(&capacity) {
                return invalid("capacity: 1 to 1000000");
            }
            (EventKind::GeneralAdmission, Vec::new(), capacity)
        }
        _ => return invalid("sections or capacity: give exactly one"),
    };
    Ok(Event {
        event_id: new.event_id.unwrap_or_else(EventId::generate),
        name: new.name,
        venue: new.venue,
        starts_at: new.starts_at,
        currency: new.currency,
        price: new.price,
        total,
        sections,
        kind,
        admission_rate_per_sec: new.admission_rate_per_sec,
        max_per_order: new.max_per_order,
        queue_shards: queue_shards.max(1),
        stock_shards: shards_for(total, stock_shards),
        on_sale_at: new.on_sale_at,
    })
}

/// Checks what a buyer reads of the event: its name, venue, currency and price.
fn check_listing(new: &NewEvent) -> Result<()> {
    if new.name.trim().is_empty() || new.name.chars().count() > 200 {
        return invalid("name: 1 to 200 characters");
    }
    if new.venue.trim().is_empty() || new.venue.chars().count() > 200 {
        return invalid("venue: 1 to 200 characters");
    }
    if new.currency.len() != 3 || !new.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return invalid("currency: three upper-case letters such as USD");
    }
    if !valid_price(new.price) {
        return invalid("price: a positive integer in minor units, at most 100000000");
    }
    check_rfc3339("starts_at", new.starts_at)?;
    if let Some(at) = new.on_sale_at {
        check_rfc3339("on_sale_at", at)?;
    }
    Ok(())
}

/// Checks that `at` can be written as RFC 3339 (the contract's times), whose years have four
/// digits: the parser also reads `+10000-01-01T00:00:00Z`, which was then stored and answered
/// back as sent (found by a probe).
pub(crate) fn check_rfc3339(field: &str, at: DateTime<Utc>) -> Result<()> {
    if (0..=9999).contains(&at.year()) {
        Ok(())
    } else {
        invalid(&format!("{field}: an RFC 3339 time, years 0000 to 9999"))
    }
}

/// A price in the currency's minor unit (cents for USD, won for KRW): positive, and at most
/// 100,000,000 (a million dollars or euros, a hundred million won or yen).
fn valid_price(price: i64) -> bool {
    (1..=100_000_000).contains(&price)
}

/// Checks an admission rate, set at creation or changed by an operator
/// ([`crate::domain::sale`]): people per second, above 0 and at most 100,000.
pub(crate) fn check_admission_rate(rate: f64) -> Result<()> {
    if rate.is_finite() && rate > 0.0 && rate <= 100_000.0 {
        Ok(())
    } else {
        invalid("admission_rate_per_sec: a number above 0 and at most 100000")
    }
}

/// Checks how the event sells: its waiting room's admission rate and the most seats per order.
fn check_sale(new: &NewEvent) -> Result<()> {
    check_admission_rate(new.admission_rate_per_sec)?;
    if !(1..=MAX_PER_ORDER_LIMIT).contains(&new.max_per_order) {
        return invalid("max_per_order: 1 to 10");
    }
    Ok(())
}

/// The number of seats of a seated event's sections, once they are checked: 1 to 50 sections
/// with unique short names, each 1 to 200 rows of 1 to 200 seats, 20000 seats in all.
fn seats_in(sections: &[Section]) -> Result<i64> {
    if sections.is_empty() || sections.len() > 50 {
        return invalid("sections: 1 to 50 sections");
    }
    let mut names = std::collections::HashSet::new();
    let mut total: i64 = 0;
    for section in sections {
        if !(1..=8).contains(&section.name.len())
            || !section.name.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return invalid("sections[].name: 1 to 8 letters or digits");
        }
        // Unique whatever their case: seats `VIP-1-1` and `vip-1-1` side by side would be one
        // seat to whoever reads a ticket or a seat map.
        if !names.insert(section.name.to_ascii_uppercase()) {
            return invalid("sections[].name: section names must be unique, whatever their case");
        }
        if !(1..=200).contains(&section.rows) || !(1..=200).contains(&section.seats_per_row) {
            return invalid("sections[].rows and seats_per_row: 1 to 200");
        }
        if section.price.is_some_and(|p| !valid_price(p)) {
            return invalid(
                "sections[].price: a positive integer in minor units, at most 100000000",
            );
        }
        total += i64::from(section.rows * section.seats_per_row);
    }
    if total > 20_000 {
        return invalid("sections: at most 20000 seats");
    }
    Ok(total)
}

/// A refusal of the request, naming the field and what it may hold.
fn invalid<T>(message: &str) -> Result<T> {
    Err(Error::InvalidRequest(message.to_string()))
}

/// Seat writes of one reservation, each conditional on the seat's current state.
pub(crate) fn seat_transition(
    event: &EventId,
    seat: &SeatId,
    from: SeatStatus,
    holder: Option<&ReservationId>,
    to: SeatStatus,
    new_holder: Option<&ReservationId>,
) -> Write {
    let mut condition = vec![Condition::equals(
        "status",
        serde_json::to_value(from).expect("status"),
    )];
    if let Some(holder) = holder {
        condition.push(Condition::equals("reservation_id", holder.as_str()));
    }
    let mut update = crate::ports::Update::new(seat_key(event, seat))
        .set("status", serde_json::to_value(to).expect("status"))
        .when(Condition::And(condition));
    update = match new_holder {
        Some(holder) => update.set("reservation_id", holder.as_str()),
        None => update.remove("reservation_id"),
    };
    Write::Update(update)
}
