//! Live operator control of an event's sale: pause and resume admission, change the admission
//! rate or the hold time, close the sale. Each change is written with its entry in the audit log
//! ([`audit`]) in one transaction, so the log never misses a change nor records one that did not
//! happen.
//!
//! An event's *sale* item (`SALE` in the event's partition) holds what operators changed; an
//! event without one is open, at the admission rate it was created with and the platform's hold
//! time. The waiting room and the hold path ask [`SaleControl::current`], which reads the item
//! at most once per [`SALE_FRESH_MS`] per event and process: a change takes effect everywhere
//! within a second (at once in the process that made it), and on DynamoDB the item sees one read
//! a second per instance (a thousand instances: a third of its partition's 3,000 RCU/s), nothing
//! per request.
//!
//! What each state means to a buyer:
//! * **open**: the waiting room admits people at the rate.
//! * **paused**: nobody more is admitted; places and positions are kept, people admitted before
//!   the pause may still enter and hold, and no admission credit builds up while paused (resuming
//!   does not let a burst in).
//! * **closed** (for good): everyone still waiting is told `closed`; no join, no entry, no new
//!   hold. Holds already placed may still be paid and confirmed.

pub mod audit;
mod settings;

pub use settings::{Sale, SaleChange, SaleSettings, SaleState, HOLD_SECONDS_RANGE};

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use self::audit::{AuditAction, AuditEntry};
use self::settings::SaleRecord;
use crate::domain::auth::Principal;
use crate::domain::catalog::{event_pk, Catalog, Event};
use crate::domain::records::{get_record, to_item};
use crate::error::{Error, Result};
use crate::ids::EventId;
use crate::ports::store::{Condition, Key, StoreError, Write};
use crate::ports::Ports;

/// How long a process goes by the sale item it read before reading it again.
pub const SALE_FRESH_MS: i64 = 1_000;

/// Attempts at a change that keeps meeting another operator's change of the same sale.
const CHANGE_ATTEMPTS: usize = 4;

/// What a process read of one sale, and when.
struct Kept {
    read_at_ms: i64,
    record: Option<SaleRecord>,
}

/// Reads and changes sales; see the module's documentation.
#[derive(Clone)]
pub struct SaleControl {
    ports: Ports,
    catalog: Catalog,
    /// The hold time of a sale nobody changed (`Config::hold_seconds`).
    default_hold_seconds: u64,
    kept: Arc<RwLock<HashMap<EventId, Kept>>>,
}

pub fn sale_key(event: &EventId) -> Key {
    Key::new(event_pk(event), "SALE")
}

impl SaleControl {
    pub fn new(ports: Ports, catalog: Catalog, default_hold_seconds: u64) -> Self {
        Self {
            ports,
            catalog,
            default_hold_seconds,
            kept: Arc::default(),
        }
    }

    /// `event`'s sale as this process last read it, read again when that was over
    /// [`SALE_FRESH_MS`] ago.
    pub async fn current(&self, event: &Event) -> Result<Sale> {
        let now_ms = self.ports.clock.now_ms();
        if let Some(kept) = self.kept.read().get(&event.event_id) {
            if now_ms - kept.read_at_ms < SALE_FRESH_MS {
                return Ok(self.sale(event, kept.record.as_ref()));
            }
        }
        let record = self.read(&event.event_id).await?;
        let sale = self.sale(event, record.as_ref());
        self.keep(&event.event_id, now_ms, record);
        Ok(sale)
    }

    /// Changes `event_id`'s sale for `actor` and logs it; returns the sale as it now stands. A
    /// change that changes nothing (pausing a paused sale) writes nothing and logs nothing, so a
    /// retried request is harmless.
    pub async fn change(
        &self,
        event_id: &EventId,
        actor: &Principal,
        change: SaleChange,
    ) -> Result<Sale> {
        let event = self.catalog.get(event_id).await?;
        for _ in 0..CHANGE_ATTEMPTS {
            let now = self.ports.clock.now();
            let before = self.read(event_id).await?;
            let after = change.apply(before.as_ref(), now)?;
            let (was, is) = (
                self.sale(&event, before.as_ref()),
                self.sale(&event, Some(&after)),
            );
            if is.on_sale_at != was.on_sale_at && !was.before_opening(now) {
                return Err(Error::InvalidState(
                    "the sale has opened: its lobby was drawn, so its opening time can no longer move"
                        .into(),
                ));
            }
            if was.same_as(&is) {
                self.keep(event_id, now.timestamp_millis(), before);
                return Ok(was);
            }
            let entry = AuditEntry::new(
                now,
                actor,
                AuditAction::of(&change),
                was,
                is.clone(),
                after.version,
            );
            let key = sale_key(event_id);
            let write = match &before {
                None => Write::put_new(to_item(&key, &after)),
                Some(b) => Write::Put {
                    item: to_item(&key, &after),
                    condition: Some(Condition::equals("version", b.version)),
                },
            };
            match self.ports.store.transact(vec![write, entry.write()]).await {
                Ok(()) => {
                    tracing::info!(event_id = %event_id, actor = %actor.user_id, action = ?AuditAction::of(&change), state = ?is.state, "sale changed");
                    self.keep(event_id, now.timestamp_millis(), Some(after));
                    return Ok(is);
                }
                // Another operator changed it first: apply this change to theirs.
                Err(StoreError::ConditionFailed { index: 0 }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable(
            "this sale kept changing under the request; retry".into(),
        ))
    }

    async fn read(&self, event_id: &EventId) -> Result<Option<SaleRecord>> {
        get_record(&*self.ports.store, &sale_key(event_id)).await
    }

    fn keep(&self, event_id: &EventId, read_at_ms: i64, record: Option<SaleRecord>) {
        self.kept
            .write()
            .insert(event_id.clone(), Kept { read_at_ms, record });
    }

    fn sale(&self, event: &Event, record: Option<&SaleRecord>) -> Sale {
        Sale {
            event_id: event.event_id.clone(),
            state: record.map_or(SaleState::Open, |r| r.state),
            admission_rate_per_sec: record
                .and_then(|r| r.admission_rate_per_sec)
                .unwrap_or(event.admission_rate_per_sec),
            hold_seconds: record
                .and_then(|r| r.hold_seconds)
                .unwrap_or(self.default_hold_seconds),
            join_challenge_bits: record.and_then(|r| r.join_challenge_bits).unwrap_or(0),
            on_sale_at: record.and_then(|r| r.on_sale_at).or(event.on_sale_at),
            changed_at: record.map(|r| r.changed_at),
        }
    }
}

#[cfg(test)]
mod tests;
