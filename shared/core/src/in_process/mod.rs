//! In-process adapters: the ports implemented in memory, for the embedded server and the tests.
//!
//! They keep the semantics of their AWS counterparts (conditions, at-least-once timers and events,
//! retries) so that what passes here passes there; the conformance suites check both. The timers
//! and the bus keep their work in a [`Journal`] when given one (the embedded server's durable
//! store), so a restart loses neither. The stores purge expired items when asked
//! ([`spawn_purge`]), as DynamoDB's TTL does on its own.

pub mod bus;
pub mod connections;
pub mod journal;
pub mod keys;
pub mod purge;
pub mod pusher;
pub mod scheduler;
pub mod store;
pub mod webhooks;

pub use bus::MemoryBus;
pub use connections::MemoryConnections;
pub use journal::Journal;
pub use keys::StaticKeys;
pub use purge::spawn_purge;
pub use pusher::MemoryPusher;
pub use scheduler::MemoryScheduler;
pub use store::MemoryStore;
pub use webhooks::RecordedWebhooks;

use std::sync::Arc;

use crate::ports::{Clock, Ports, Store};

/// Ports over `store`, every other port in process: timers and bus in memory (not started: whoever
/// wants them firing runs them), webhooks recorded, no OIDC keys. For tests that put the domain
/// on one real adapter.
pub fn ports_over(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Ports {
    Ports {
        store,
        scheduler: Arc::new(MemoryScheduler::new(clock.clone())),
        bus: Arc::new(MemoryBus::new()),
        clock,
        webhooks: Arc::new(RecordedWebhooks::new()),
        keys: Arc::new(StaticKeys::new(None)),
    }
}
