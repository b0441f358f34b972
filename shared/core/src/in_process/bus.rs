//! [`EventBus`] in memory: an unbounded channel drained by a background task, with redelivery on
//! failure like an SQS queue's visibility timeout.
//!
//! With a [`Journal`] (the embedded server's durable store) an event is written to the store
//! before `publish` returns and removed once its handler took it, as an SQS message is deleted
//! only after it was processed; [`MemoryBus::redeliver_journaled`] sends what a crash left in the
//! journal again at start. A refused event is delivered again after a growing pause (at most
//! [`MAX_PAUSE`]) for about five minutes, as the deployment's SQS queue redelivers a message five
//! times a minute apart, so a store outage of a few minutes delays a payment's confirmation and
//! loses none (retrying for 25 s, as before, dead-lettered two of twelve approvals in an
//! operator's probe of a full disk). An event the handler refused [`MAX_DELIVERIES`] times is
//! moved to the journal's dead letters, where an operator finds it (and the error log says so).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::journal::{Journal, JournaledEvent};
use crate::ports::bus::{DomainEvent, EventBus, EventHandler, PublishError};

const MAX_DELIVERIES: u32 = 16;
/// The pause after an event's first refusal is twice this, and each next one twice the last.
const PAUSE_UNIT: Duration = Duration::from_millis(200);
/// The longest pause between two deliveries of one event, in [`PAUSE_UNIT`]s: 0.4 s doubling to
/// 30 s, so 16 deliveries span about five minutes.
const MAX_PAUSE_UNITS: u32 = 150;
/// How many published events are kept for inspection.
const HISTORY: usize = 10_000;

/// An event on its way to the handler, with its journal id when journaled.
type Delivery = (Option<String>, DomainEvent);

pub struct MemoryBus {
    tx: mpsc::UnboundedSender<Delivery>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Delivery>>>,
    history: Mutex<std::collections::VecDeque<DomainEvent>>,
    journal: Option<Journal>,
    /// [`PAUSE_UNIT`], but in tests that cannot wait minutes.
    pause_unit: Duration,
}

impl Default for MemoryBus {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            history: Mutex::default(),
            journal: None,
            pause_unit: PAUSE_UNIT,
        }
    }
}

impl MemoryBus {
    /// Events in memory only: a crash loses those not yet handled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Events also kept in `journal` until handled.
    pub fn journaled(journal: Journal) -> Self {
        Self {
            journal: Some(journal),
            ..Self::default()
        }
    }

    /// Sends every event the journal still holds to the handler again (at start); returns how
    /// many. The follow-up is idempotent, so an event handled just before a crash is harmless.
    pub async fn redeliver_journaled(&self) -> Result<usize, PublishError> {
        let Some(journal) = &self.journal else {
            return Ok(0);
        };
        let events = journal
            .events()
            .await
            .map_err(|e| PublishError(format!("event journal: {e}")))?;
        let count = events.len();
        for JournaledEvent { id, event } in events {
            self.send(Some(id), event)?;
        }
        Ok(count)
    }

    fn send(&self, id: Option<String>, event: DomainEvent) -> Result<(), PublishError> {
        self.tx
            .send((id, event))
            .map_err(|_| PublishError("in-process bus closed".into()))
    }

    /// The most recent events published, oldest first.
    pub fn published(&self) -> Vec<DomainEvent> {
        self.history.lock().iter().cloned().collect()
    }

    /// Delivers events to `handler` until the runtime stops; call once.
    pub async fn run(self: Arc<Self>, handler: Arc<dyn EventHandler>) {
        let Some(mut rx) = self.rx.lock().take() else {
            tracing::error!("event bus consumer started twice");
            return;
        };
        while let Some((id, event)) = rx.recv().await {
            let handler = handler.clone();
            let journal = self.journal.clone();
            let unit = self.pause_unit;
            tokio::spawn(
                async move { deliver(&*handler, journal.as_ref(), (id, event), unit).await },
            );
        }
    }
}

/// Hands `event` to `handler` until it takes it, then forgets it; dead-letters it after
/// [`MAX_DELIVERIES`] refusals.
async fn deliver(
    handler: &dyn EventHandler,
    journal: Option<&Journal>,
    (id, event): Delivery,
    unit: Duration,
) {
    for delivery in 1..=MAX_DELIVERIES {
        match handler.handle_event(event.clone()).await {
            Ok(()) => {
                if let (Some(journal), Some(id)) = (journal, &id) {
                    if let Err(error) = journal.remove_event(id).await {
                        // Delivered again at the next start; the follow-up is idempotent.
                        tracing::warn!(%error, "handled event not removed from the journal");
                    }
                }
                return;
            }
            Err(error) => {
                tracing::warn!(%error, delivery, detail_type = event.detail_type.as_str(), "event handler failed");
                tokio::time::sleep(pause_after(delivery, unit)).await;
            }
        }
    }
    tracing::error!(
        detail_type = event.detail_type.as_str(),
        reservation_id = %event.detail.reservation_id,
        "event dead-lettered"
    );
    if let (Some(journal), Some(id)) = (journal, id) {
        if let Err(error) = journal.dead_letter(&JournaledEvent { id, event }).await {
            tracing::error!(%error, "dead letter not recorded; the event is delivered again at the next start");
        }
    }
}

/// The pause after the `delivery`-th refusal of an event, in pauses of `unit`.
fn pause_after(delivery: u32, unit: Duration) -> Duration {
    (unit * (1u32 << delivery.min(20))).min(unit * MAX_PAUSE_UNITS)
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: DomainEvent) -> Result<(), PublishError> {
        {
            let mut history = self.history.lock();
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(event.clone());
        }
        let id = match &self.journal {
            Some(journal) => {
                let entry = JournaledEvent {
                    id: journal_id(&event),
                    event: event.clone(),
                };
                journal
                    .put_event(&entry)
                    .await
                    .map_err(|e| PublishError(format!("event journal: {e}")))?;
                Some(entry.id)
            }
            None => None,
        };
        self.send(id, event)
    }
}

/// A time-ordered id for the journal: the event's time, then randomness.
fn journal_id(event: &DomainEvent) -> String {
    format!(
        "{:013}#{}",
        event.detail.occurred_at.timestamp_millis().max(0),
        crate::ids::random_hex()
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::ids::{EventId, ReservationId, UserId};
    use crate::ports::bus::{DetailType, EventDetail};

    /// Refuses every event until `refusals` are used up (a store that is away), then takes them.
    struct Recovering {
        refusals: AtomicU32,
        taken: AtomicU32,
    }

    #[async_trait]
    impl EventHandler for Recovering {
        async fn handle_event(&self, _: DomainEvent) -> Result<(), String> {
            let left = self.refusals.load(Ordering::SeqCst);
            if left > 0 {
                self.refusals.store(left - 1, Ordering::SeqCst);
                return Err("the store is away".into());
            }
            self.taken.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn approval() -> DomainEvent {
        DomainEvent {
            detail_type: DetailType::PaymentApproved,
            detail: EventDetail {
                version: 1,
                reservation_id: ReservationId::generate(),
                event_id: EventId::generate(),
                user_id: UserId::generate(),
                seat_ids: Vec::new(),
                quantity: 1,
                occurred_at: chrono::Utc::now(),
                hold_expires_at: None,
                total_amount: None,
                amount: None,
                currency: None,
                order_id: None,
                payment_intent_id: None,
                reason: None,
                traceparent: None,
            },
        }
    }

    /// An outage of a few minutes (refusals for about 3 of them; here on a clock 200 times
    /// faster, pauses of 1 ms doubling to 150 ms) delays the event, and the handler gets it once
    /// the store is back.
    #[tokio::test]
    async fn an_event_refused_through_a_three_minute_outage_is_handled_after_it() {
        let handler = Arc::new(Recovering {
            refusals: AtomicU32::new(11),
            taken: AtomicU32::new(0),
        });
        let bus = Arc::new(MemoryBus {
            pause_unit: Duration::from_millis(1),
            ..MemoryBus::new()
        });
        tokio::spawn(bus.clone().run(handler.clone()));
        bus.publish(approval()).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while handler.taken.load(Ordering::SeqCst) == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(handler.refusals.load(Ordering::SeqCst), 0);
        assert_eq!(
            handler.taken.load(Ordering::SeqCst),
            1,
            "handled, not dead-lettered"
        );
    }

    #[test]
    fn an_event_is_delivered_again_for_about_five_minutes() {
        let span: Duration = (1..MAX_DELIVERIES)
            .map(|delivery| pause_after(delivery, PAUSE_UNIT))
            .sum();
        assert!(
            (Duration::from_secs(270)..=Duration::from_secs(360)).contains(&span),
            "{span:?}"
        );
        assert_eq!(pause_after(1, PAUSE_UNIT), Duration::from_millis(400));
        assert_eq!(pause_after(40, PAUSE_UNIT), Duration::from_secs(30));
    }
}
