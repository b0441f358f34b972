//! [`EventBus`] in memory: an unbounded channel drained by a background task, with redelivery on
//! failure like an SQS queue's visibility timeout.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::ports::bus::{DomainEvent, EventBus, EventHandler, PublishError};

const MAX_DELIVERIES: u32 = 6;
/// How many published events are kept for inspection.
const HISTORY: usize = 10_000;

pub struct MemoryBus {
    tx: mpsc::UnboundedSender<DomainEvent>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<DomainEvent>>>,
    history: Mutex<std::collections::VecDeque<DomainEvent>>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            history: Mutex::default(),
        }
    }
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
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
        while let Some(event) = rx.recv().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                for delivery in 1..=MAX_DELIVERIES {
                    match handler.handle_event(event.clone()).await {
                        Ok(()) => return,
                        Err(error) => {
                            tracing::warn!(%error, delivery, detail_type = event.detail_type.as_str(), "event handler failed");
                            tokio::time::sleep(Duration::from_millis(200 << delivery)).await;
                        }
                    }
                }
                tracing::error!(
                    detail_type = event.detail_type.as_str(),
                    "event dead-lettered"
                );
            });
        }
    }
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
        self.tx
            .send(event)
            .map_err(|_| PublishError("in-process bus closed".into()))
    }
}
