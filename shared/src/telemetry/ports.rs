//! Decorators of the ports that measure every call, so neither the domain nor an adapter knows
//! about metrics: [`instrument`] wraps a platform's ports once, where it is assembled.
//!
//! * every call is timed into `backend_call_duration_seconds{service,method}`;
//! * the bus counts each reservation event as `reservation_status_total{status}` once it is
//!   published (an event the bus refused is no state change anyone will see), and stamps the
//!   publishing span's `traceparent` on the event so that its consumers continue the trace.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::context::current_traceparent;
use super::series;
use crate::domain::Deps;
use crate::ports::store::{Item, Key, SkRange, Store, StoreError, Update, Write};
use crate::ports::{DomainEvent, EventBus, Job, PublishError, ScheduleError, Scheduler};

/// `deps` with its store, scheduler and bus measured (the clock is not a backend).
pub fn instrument(deps: Deps) -> Deps {
    Deps {
        store: Arc::new(InstrumentedStore(deps.store)),
        scheduler: Arc::new(InstrumentedScheduler(deps.scheduler)),
        bus: Arc::new(InstrumentedBus(deps.bus)),
        ..deps
    }
}

/// Times `call` as one call of `service`'s `method`, whatever its outcome.
async fn timed<T>(
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
pub struct InstrumentedStore(pub Arc<dyn Store>);

#[async_trait]
impl Store for InstrumentedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        timed("store", "get", self.0.get(key)).await
    }

    async fn read(
        &self,
        key: &Key,
        visit: &mut (dyn for<'i> FnMut(Option<&'i Item>) + Send),
    ) -> Result<(), StoreError> {
        timed("store", "read", self.0.read(key, visit)).await
    }

    async fn query(&self, pk: &str, range: &SkRange) -> Result<Vec<Item>, StoreError> {
        timed("store", "query", self.0.query(pk, range)).await
    }

    async fn update(&self, update: Update) -> Result<Item, StoreError> {
        timed("store", "update", self.0.update(update)).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        timed("store", "transact", self.0.transact(writes)).await
    }

    async fn write(&self, write: Write) -> Result<(), StoreError> {
        timed("store", "write", self.0.write(write)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        timed("store", "ping", self.0.ping()).await
    }
}

/// A [`Scheduler`] whose calls are timed.
pub struct InstrumentedScheduler(pub Arc<dyn Scheduler>);

#[async_trait]
impl Scheduler for InstrumentedScheduler {
    async fn schedule(&self, at: DateTime<Utc>, job: Job) -> Result<(), ScheduleError> {
        timed("scheduler", "schedule", self.0.schedule(at, job)).await
    }

    async fn cancel(&self, job: &Job) -> Result<(), ScheduleError> {
        timed("scheduler", "cancel", self.0.cancel(job)).await
    }
}

/// An [`EventBus`] whose publishes are timed, counted as reservation state changes, and stamped
/// with the publishing span's trace context.
pub struct InstrumentedBus(pub Arc<dyn EventBus>);

#[async_trait]
impl EventBus for InstrumentedBus {
    async fn publish(&self, mut event: DomainEvent) -> Result<(), PublishError> {
        if event.detail.traceparent.is_none() {
            event.detail.traceparent = current_traceparent();
        }
        let status = series::reservation_status(event.detail_type);
        timed("bus", "publish", self.0.publish(event)).await?;
        if let Some(status) = status {
            series::reservation_entered(status);
        }
        Ok(())
    }
}
