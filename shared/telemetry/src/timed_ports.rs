//! Decorators of the ports that measure every call, so neither the domain nor an adapter knows
//! about metrics: [`timed`] wraps a platform's ports once, where it is assembled.
//!
//! * every call is timed into `backend_call_duration_seconds{service,method}`;
//! * the bus counts each reservation event as `reservation_status_total{status}` once it is
//!   published (an event the bus refused is no state change anyone will see), and stamps the
//!   publishing span's `traceparent` on the event so that its consumers continue the trace.

use std::sync::{Arc, Weak};
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use jsonwebtoken::jwk::JwkSet;
use tacos_core::ports::store::{
    ChangeListener, Item, Key, Lent, SkRange, Store, StoreError, Update, Write,
};
use tacos_core::ports::{
    DetailType, DomainEvent, EventBus, FetchError, Job, KeySource, Ports, PublishError,
    ScheduleError, Scheduler, SendError, SignedWebhook, WebhookSender,
};
use tacos_core::trace_context::current_traceparent;

use crate::series;

/// `ports` with every backend call measured (the clock is not a backend).
pub fn timed(ports: Ports) -> Ports {
    Ports {
        store: Arc::new(TimedStore(ports.store)),
        scheduler: Arc::new(TimedScheduler(ports.scheduler)),
        bus: Arc::new(TimedBus(ports.bus)),
        webhooks: Arc::new(TimedWebhooks(ports.webhooks)),
        keys: Arc::new(TimedKeys(ports.keys)),
        ..ports
    }
}

/// Times `call` as one call of `service`'s `method`, whatever its outcome.
async fn time<T>(
    service: &'static str,
    method: &'static str,
    call: impl std::future::Future<Output = T>,
) -> T {
    let started = Instant::now();
    let result = call.await;
    series::backend_call(service, method, started.elapsed());
    result
}

/// A [`Store`] whose calls are timed.
pub struct TimedStore(pub Arc<dyn Store>);

#[async_trait]
impl Store for TimedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        time("store", "get", self.0.get(key)).await
    }

    async fn read(
        &self,
        key: &Key,
        visit: &mut (dyn for<'i> FnMut(Option<Lent<'i>>) + Send),
    ) -> Result<(), StoreError> {
        time("store", "read", self.0.read(key, visit)).await
    }

    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        time("store", "query", self.0.query(pk, range)).await
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        time("store", "update", self.0.update(update)).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        time("store", "transact", self.0.transact(writes)).await
    }

    async fn write(&self, write: Write) -> Result<(), StoreError> {
        time("store", "write", self.0.write(write)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        time("store", "ping", self.0.ping()).await
    }

    fn watch(&self, listener: Weak<dyn ChangeListener>) -> bool {
        self.0.watch(listener)
    }
}

/// A [`Scheduler`] whose calls are timed.
pub struct TimedScheduler(pub Arc<dyn Scheduler>);

#[async_trait]
impl Scheduler for TimedScheduler {
    async fn schedule(&self, at: DateTime<Utc>, job: Job) -> Result<(), ScheduleError> {
        time("scheduler", "schedule", self.0.schedule(at, job)).await
    }

    async fn cancel(&self, job: &Job) -> Result<(), ScheduleError> {
        time("scheduler", "cancel", self.0.cancel(job)).await
    }
}

/// An [`EventBus`] whose publishes are timed, counted as reservation state changes, and stamped
/// with the publishing span's trace context.
pub struct TimedBus(pub Arc<dyn EventBus>);

#[async_trait]
impl EventBus for TimedBus {
    async fn publish(&self, mut event: DomainEvent) -> Result<(), PublishError> {
        if event.detail.traceparent.is_none() {
            event.detail.traceparent = current_traceparent();
        }
        let status = series::reservation_status(event.detail_type);
        let expiry_lag = (event.detail_type == DetailType::ReservationExpired)
            .then_some(event.detail.hold_expires_at)
            .flatten()
            .map(|due| {
                (event.detail.occurred_at - due)
                    .to_std()
                    .unwrap_or_default()
            });
        time("bus", "publish", self.0.publish(event)).await?;
        if let Some(status) = status {
            series::reservation_entered(status);
        }
        if let Some(lag) = expiry_lag {
            series::hold_expiry_lag(lag);
        }
        Ok(())
    }
}

/// A [`WebhookSender`] whose deliveries are timed.
pub struct TimedWebhooks(pub Arc<dyn WebhookSender>);

#[async_trait]
impl WebhookSender for TimedWebhooks {
    async fn send(&self, webhook: &SignedWebhook) -> Result<(), SendError> {
        time("webhook", "send", self.0.send(webhook)).await
    }
}

/// A [`KeySource`] whose fetches are timed.
pub struct TimedKeys(pub Arc<dyn KeySource>);

#[async_trait]
impl KeySource for TimedKeys {
    async fn fetch(&self, url: &str) -> Result<JwkSet, FetchError> {
        time("jwks", "fetch", self.0.fetch(url)).await
    }
}
