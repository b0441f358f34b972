//! [`InProcess`]: the platform over one store, with the in-process timers, event bus and
//! webhooks, and handles on each for tests and fault injection.

use std::sync::Arc;

use tacos_core::config::Config;
use tacos_core::in_process::{Journal, MemoryBus, MemoryScheduler, MemoryStore};
use tacos_core::platform::Platform;
use tacos_core::ports::{Clock, Ports, Store, SystemClock};
use tacos_http_client::{HttpKeySource, HttpWebhookSender};

/// A platform on in-process adapters over the store `S`, with handles on them.
///
/// Webhooks are posted over HTTP to the configured public URL (the embedded server itself by
/// default), so the simulator's outcome takes the path a real provider's would; every backend
/// call is timed (`tacos-telemetry`).
pub struct InProcess<S: Store = MemoryStore> {
    pub platform: Arc<Platform>,
    pub store: Arc<S>,
    pub scheduler: Arc<MemoryScheduler>,
    pub bus: Arc<MemoryBus>,
}

impl InProcess<MemoryStore> {
    /// Over a fresh memory store: everything is forgotten when the process ends.
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// As [`InProcess::new`], on `clock` (tests move a manual one).
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Self {
        Self::over(Arc::new(MemoryStore::new()), config, clock, false)
    }
}

impl<S: Store> InProcess<S> {
    /// Over `store`. `journaled`: timers and bus events are kept in the store too, so that
    /// [`InProcess::resume`] re-arms them after a restart.
    pub fn over(store: Arc<S>, config: Config, clock: Arc<dyn Clock>, journaled: bool) -> Self {
        let journal = journaled.then(|| Journal::new(store.clone()));
        let scheduler = Arc::new(match &journal {
            Some(journal) => MemoryScheduler::journaled(clock.clone(), journal.clone()),
            None => MemoryScheduler::new(clock.clone()),
        });
        let bus = Arc::new(match journal {
            Some(journal) => MemoryBus::journaled(journal),
            None => MemoryBus::new(),
        });
        let ports = tacos_telemetry::timed_ports::timed(Ports {
            store: store.clone(),
            scheduler: scheduler.clone(),
            bus: bus.clone(),
            clock,
            webhooks: Arc::new(HttpWebhookSender::to_public_url(
                config.public_url.as_deref(),
            )),
            keys: Arc::new(HttpKeySource::new()),
        });
        Self {
            platform: Arc::new(Platform::new(ports, config)),
            store,
            scheduler,
            bus,
        }
    }

    /// Starts the timer and event-bus consumers on the current runtime.
    pub fn start_background(&self) {
        tokio::spawn(self.scheduler.clone().run(self.platform.clone()));
        tokio::spawn(self.bus.clone().run(self.platform.clone()));
    }

    /// Re-arms what the journal kept across a restart: every timer (those that fell due while
    /// the process was down fire at once) and every event not yet handled. Call before
    /// [`InProcess::start_background`]. Returns (timers, events).
    pub async fn resume(&self) -> Result<(usize, usize), String> {
        let timers = self.scheduler.rearm().await.map_err(|e| e.to_string())?;
        let events = self
            .bus
            .redeliver_journaled()
            .await
            .map_err(|e| e.to_string())?;
        Ok((timers, events))
    }
}
