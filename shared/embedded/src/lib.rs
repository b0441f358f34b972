//! Traffic Tacos in one process: the platform on in-process adapters.
//!
//! [`InProcess`] assembles the platform the embedded server (`tacos-local`) and the tests run:
//! the in-memory store, timers and event bus of `tacos_core::in_process`, webhooks posted over
//! HTTP to the server itself (`tacos-http-client`, so the simulator's outcome takes the same path
//! a real provider's would), every backend call timed (`tacos-telemetry`). It keeps handles on
//! the adapters, for tests and fault injection.

use std::sync::Arc;

use tacos_core::config::Config;
use tacos_core::in_process::{MemoryBus, MemoryScheduler, MemoryStore};
use tacos_core::platform::Platform;
use tacos_core::ports::{Clock, Ports, SystemClock};
use tacos_http_client::{HttpKeySource, HttpWebhookSender};

/// A platform on in-process adapters, with handles on them.
pub struct InProcess {
    pub platform: Arc<Platform>,
    pub store: Arc<MemoryStore>,
    pub scheduler: Arc<MemoryScheduler>,
    pub bus: Arc<MemoryBus>,
}

impl InProcess {
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// The platform on `clock` (tests move a manual one).
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Self {
        let store = Arc::new(MemoryStore::new());
        let scheduler = Arc::new(MemoryScheduler::new(clock.clone()));
        let bus = Arc::new(MemoryBus::new());
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
}
