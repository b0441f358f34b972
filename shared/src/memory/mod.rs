//! In-process adapters: the ports implemented in memory, for the embedded server and the tests.
//!
//! They keep the semantics of their AWS counterparts (conditions, at-least-once timers and events,
//! retries) so that what passes here passes there; the conformance suite checks both.

pub mod bus;
pub mod live;
pub mod scheduler;
pub mod store;

pub use bus::MemoryBus;
pub use live::{MemoryConnections, MemoryPusher};
pub use scheduler::MemoryScheduler;
pub use store::MemoryStore;
